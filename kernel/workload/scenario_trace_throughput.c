/*
 * trace-throughput: measures the trace transport, not an allocator. Pushes 4 MiB of trace_bench
 * filler records through the kernel's tracer and its virtio console and reports bytes per second
 * of guest time. The records sit in the phase "trace-throughput:filler" and carry no allocator
 * meaning (the analyzer skips them); they are kept out of every other boot so that a traced test
 * or scenario holds only allocator events.
 *
 * Without a device, or under trace=off, there is nothing to measure: that is refused (exit status
 * KERNEL_EXIT_BAD_INPUT) rather than reported as a figure.
 */
#include "scenario.h"
#include "kernel/core/log.h"
#include "kernel/trace/tracepoints.h"

#define FILLER_BYTES (4u << 20)
#define FILLER_RECORD_BYTES \
	(sizeof(struct trace_record_header) + sizeof(struct trace_payload_trace_bench))

static uint64_t total_lost(const struct tracer *t)
{
	uint64_t lost = 0;
	for (unsigned r = 0; r < TRACE_LOSS_REASONS; r++)
		lost += t->lost[r];
	return lost;
}

void scenario_trace_throughput(struct scenario_run *run)
{
	struct tracer *t = &trace_global;
	if (!trace_enabled || !t->sink.submit) {
		scenario_refuse(run, "needs tracing on and a trace device (make trace SCENARIO=%s)",
				run->name);
		return;
	}
	uint64_t records = FILLER_BYTES / FILLER_RECORD_BYTES;
	scenario_stage_begin(run, "filler");
	trace_flush(t);
	uint64_t lost_before = total_lost(t);
	uint64_t written_before = t->emitted[TRACE_ID_trace_bench];
	uint64_t loss_records_before = t->emitted[TRACE_ID_loss];
	uint64_t bytes_before = t->bytes_submitted;
	uint32_t chunks_before = t->submitted;
	uint64_t start = trace_now(t);
	for (uint64_t i = 0; i < records; i++)
		trace_emit_trace_bench(t, i, ~i);
	trace_flush(t);
	uint64_t ticks = trace_now(t) - start;
	uint64_t bytes = t->bytes_submitted - bytes_before;
	uint64_t written = t->emitted[TRACE_ID_trace_bench] - written_before;
	uint64_t lost = total_lost(t) - lost_before;
	uint64_t loss_records = t->emitted[TRACE_ID_loss] - loss_records_before;
	uint64_t chunks = t->submitted - chunks_before;
	scenario_stage_end(run, "filler");

	/*
	 * Every record was either written and sent, or counted as lost; what was sent is exactly the
	 * records written plus the loss records that report the rest (losses after the last written
	 * record are reported later, so they are not in these bytes) and the header of each chunk
	 * (sub-buffer) they filled. Lossless mode loses nothing.
	 * How much drop mode drops depends on how fast the host drains the device, so it is not fixed.
	 */
	uint64_t expected_bytes = written * FILLER_RECORD_BYTES +
				  loss_records * (sizeof(struct trace_record_header) +
						  sizeof(struct trace_payload_loss)) +
				  chunks * TRACE_CHUNK_HEADER_BYTES;
	if (written + lost != records || bytes != expected_bytes)
		scenario_error(run, "%lu records: %lu written, %lu lost; %lu bytes sent, %lu expected",
			       records, written, lost, bytes, expected_bytes);
	if (t->policy == TRACE_POLICY_LOSSLESS && lost)
		scenario_error(run, "lossless transport lost %lu events", lost);
	kprintf("trace-throughput: %lu records, %lu bytes sent, %lu lost", records, bytes, lost);
	if (t->clock_hz && ticks)
		kprintf(", %lu ticks = %lu KB/s of guest time (%lu ticks per record)", ticks,
			bytes * t->clock_hz / ticks / 1000, ticks / records);
	kprintf("\n");
}
