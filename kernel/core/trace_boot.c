/*
 * Kernel glue of the tracer: at boot, applies `trace=`, measures the clock, finds the virtio
 * console and starts streaming to it (header first, then everything buffered since the first
 * instruction); at the end, writes the trace_end record and drains the ring.
 *
 * Before trace_boot_start the tracer already records (trace_global is initialised at compile
 * time), into its 1 MiB ring: that is the early buffer. A missing or unusable device is not an
 * error: it is reported once, and events keep being counted (as lost, reason no_device) so the
 * console summary at the end still says how much happened.
 */
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/io.h"
#include "kernel/core/boot.h"
#include "kernel/core/log.h"
#include "kernel/core/options.h"
#include "kernel/drivers/virtio_console.h"
#include "kernel/trace/stream_header.h"
#include "kernel/trace/tracepoints.h"
#include "build/build_id.h"

static struct virtio_console console;
static uint8_t stream_header[TRACE_HEADER_MAX];
static uint64_t clock_hz;

/* Time spent in the device (submit + reclaim), to report the transport's throughput. */
static uint64_t device_ticks;

static void timed_submit(void *ctx, const void *data, uint32_t len)
{
	uint64_t start = rdtsc();
	virtio_console_submit(ctx, data, len);
	device_ticks += rdtsc() - start;
}

static uint32_t timed_reclaim(void *ctx, bool wait)
{
	uint64_t start = rdtsc();
	uint32_t done = virtio_console_reclaim(ctx, wait);
	device_ticks += rdtsc() - start;
	return done;
}

/*
 * TSC ticks per second, against PIT channel 2 (1.193182 MHz) counting down 10 ms in mode 0 with
 * the speaker gated off; bit 5 of port 0x61 rises when it reaches zero. Under QEMU -icount both
 * run on virtual time, so this gives 1 GHz: one tick per instruction.
 */
#define PIT_HZ 1193182u
#define PIT_GATE_PORT 0x61
#define PIT_GATE_ON 0x01
#define PIT_SPEAKER_ON 0x02
#define PIT_OUTPUT_HIGH 0x20
static uint64_t measure_tsc_hz(void)
{
	const uint16_t count = PIT_HZ / 100;
	uint8_t gate = (uint8_t)((inb(PIT_GATE_PORT) & ~PIT_SPEAKER_ON) & ~PIT_GATE_ON);
	outb(PIT_GATE_PORT, gate);
	outb(0x43, 0xB0); /* channel 2, low then high byte, mode 0, binary */
	outb(0x42, count & 0xFF);
	outb(0x42, count >> 8);
	outb(PIT_GATE_PORT, gate | PIT_GATE_ON); /* rising gate starts the count */
	uint64_t start = rdtsc();
	for (uint64_t polls = 0; !(inb(PIT_GATE_PORT) & PIT_OUTPUT_HIGH); polls++)
		if (polls > 100000000ull)
			return 0; /* no PIT: the header says "unknown frequency" */
	return (rdtsc() - start) * PIT_HZ / count;
}

/*
 * Guest ticks one tracepoint costs on the hot path: N pmm_alloc records into a private tracer
 * of the kernel tracer's sub-buffer size whose sink finishes at once (sub-buffer switches
 * included, so this is the amortised cost), minus an empty loop of the same length. The
 * trace_enabled test of the tracepoint wrapper adds 3 more. Under -icount ticks = instructions.
 */
static uint8_t bench_storage[2 * TRACE_GLOBAL_SUBBUF_BYTES];
static void discard_submit(void *ctx, const void *data, uint32_t len)
{
	(void)data;
	*(uint32_t *)ctx += len ? 1 : 0;
}
static uint32_t discard_reclaim(void *ctx, bool wait)
{
	(void)wait;
	uint32_t done = *(uint32_t *)ctx;
	*(uint32_t *)ctx = 0;
	return done;
}

#define BENCH_EVENTS 8192
static void measure_hot_path(void)
{
	static struct tracer bench;
	uint32_t in_flight = 0;
	/* No clock: the kernel's tracers read the timestamp counter inline (trace_now). */
	trace_init(&bench, bench_storage, TRACE_GLOBAL_SUBBUF_BYTES, 2, TRACE_POLICY_LOSSLESS, NULL);
	struct trace_sink sink = { discard_submit, discard_reclaim, &in_flight };
	static const char header[] = "bench";
	trace_attach_sink(&bench, &sink, header, sizeof(header));

	uint64_t start = rdtsc();
	for (uint64_t i = 0; i < BENCH_EVENTS; i++) {
		__asm__ volatile("" : "+r"(i));
		trace_emit_pmm_alloc(&bench, i << 12, 1, 1, 0, 0, 4, 0, 1);
	}
	uint64_t traced = rdtsc() - start;
	start = rdtsc();
	for (uint64_t i = 0; i < BENCH_EVENTS; i++)
		__asm__ volatile("" : "+r"(i));
	uint64_t empty = rdtsc() - start;
	uint64_t per_event_x10 = (traced - empty) * 10 / BENCH_EVENTS;
	kprintf("trace: hot path %lu.%lu ticks per event (amortised over %u pmm_alloc records of %zu "
		"bytes)\n",
		per_event_x10 / 10, per_event_x10 % 10, BENCH_EVENTS,
		sizeof(struct trace_record_header) + sizeof(struct trace_payload_pmm_alloc));
}

static uint64_t available_memory(const struct boot_info *bi)
{
	uint64_t bytes = 0;
	for (unsigned i = 0; i < bi->memory_map_count; i++)
		if (bi->memory_map[i].type == MB2_MEMORY_AVAILABLE)
			bytes += bi->memory_map[i].length;
	return bytes;
}

static const char *probe_problem(enum virtio_console_probe probe)
{
	return probe == VIRTIO_CONSOLE_ABSENT ? "no virtio console on the PCI bus"
					      : "the virtio console has no legacy I/O BAR or usable queue";
}

void trace_boot_start(void)
{
	if (kernel_options.trace == TRACE_MODE_OFF) {
		trace_enabled = false;
		trace_discard(&trace_global);
		kprintf("trace: off\n");
		return;
	}
	bool drop = kernel_options.trace == TRACE_MODE_DROP;
	trace_global.policy = drop ? TRACE_POLICY_DROP : TRACE_POLICY_LOSSLESS;
	clock_hz = measure_tsc_hz();
	trace_global.clock_hz = clock_hz;
	measure_hot_path();

	enum virtio_console_probe probe = virtio_console_init(&console, TRACE_GLOBAL_SUBBUF_COUNT);
	if (probe != VIRTIO_CONSOLE_READY) {
		kprintf("trace: %s; events are counted, not sent\n", probe_problem(probe));
		return;
	}
	uint64_t now = kernel_clock_now();
	struct trace_run_info info = {
		.clock = TRACE_CLOCK_TSC,
		.clock_hz = clock_hz,
		.start_timestamp = now,
		.first_timestamp = trace_first_timestamp(&trace_global, now),
		.vmm_backend = (uint8_t)kernel_options.vmm,
		.trace_mode = drop ? TRACE_MODE_CODE_DROP : TRACE_MODE_CODE_LOSSLESS,
		.memory_bytes = available_memory(&boot_info),
		.cmdline = boot_info.cmdline,
		.build_id = PAGESCOPE_BUILD_ID,
	};
	uint32_t header_bytes = trace_header_encode(stream_header, &info);
	struct trace_sink sink = { timed_submit, timed_reclaim, &console };
	if (!trace_attach_sink(&trace_global, &sink, stream_header, header_bytes)) {
		kprintf("trace: the virtio console did not take the stream header; events are counted, "
			"not sent\n");
		return;
	}
	kprintf("trace: %s, streaming to the virtio console at pci %02x:%02x.%x io %#x; clock %lu Hz, "
		"counting from the kernel's entry (timestamp counter %lu there); %lu records from early "
		"boot\n",
		drop ? "drop mode" : "lossless", console.pci.bus, console.pci.device,
		console.pci.function, console.io_base, clock_hz, kernel_clock_origin,
		trace_records_written(&trace_global));
}

void trace_boot_finish(void)
{
	if (!trace_enabled)
		return;
	trace_finish(&trace_global);
	const struct tracer *t = &trace_global;
	kprintf("trace: %lu records, %lu bytes sent; lost: %lu ring full, %lu no device, %lu "
		"recursion\n",
		trace_records_written(t), t->bytes_submitted, t->lost[TRACE_LOSS_RING_FULL],
		t->lost[TRACE_LOSS_NO_DEVICE], t->lost[TRACE_LOSS_RECURSION]);
	if (device_ticks && clock_hz)
		kprintf("trace: the device took %lu ticks for them: %lu KB/s of guest time\n",
			device_ticks, t->bytes_submitted * clock_hz / device_ticks / 1000);
}
