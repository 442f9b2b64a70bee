/*
 * In-kernel test of the whole trace transport: with a trace device attached (make trace), pushes
 * 4 MiB of trace_bench records through the kernel's tracer and its device and reports the
 * throughput; without one, checks that every record is still accounted for (kept or counted as
 * lost for want of a device); with trace=off, that a tracepoint writes nothing. The records sit in
 * a phase named "trace-throughput" so the analyzer can leave them out.
 */
#include "kernel/lib/testing.h"
#include "kernel/trace/tracepoints.h"

#define SELFTEST_BYTES (4u << 20)
#define BENCH_RECORD_BYTES (sizeof(struct trace_record_header) + sizeof(struct trace_payload_trace_bench))

static uint64_t total_lost(const struct tracer *t)
{
	uint64_t lost = 0;
	for (unsigned r = 0; r < TRACE_LOSS_REASONS; r++)
		lost += t->lost[r];
	return lost;
}

/*
 * Without a device nothing can be sent, so there is no transport to measure: what must hold then
 * is that tracepoints keep counting (the end-of-trace totals stay true) and nothing is sent.
 */
static void check_counting_without_device(struct tracer *t)
{
	uint64_t emitted_before = t->emitted[TRACE_ID_trace_bench];
	uint64_t lost_before = t->lost[TRACE_LOSS_NO_DEVICE];
	uint64_t submitted_before = t->bytes_submitted;
	for (uint64_t i = 0; i < 1000; i++)
		trace_emit_trace_bench(t, i, ~i);
	/* Each record was either kept in the early buffer or counted as lost for want of a device. */
	EXPECT_EQ((t->emitted[TRACE_ID_trace_bench] - emitted_before) +
			  (t->lost[TRACE_LOSS_NO_DEVICE] - lost_before),
		  1000);
	EXPECT_EQ(t->bytes_submitted, submitted_before);
}

TEST(trace_stream_carries_megabytes_without_loss)
{
	struct tracer *t = &trace_global;
	if (!trace_enabled) {
		/* trace=off: a tracepoint must not write anything. */
		uint64_t before = t->emitted[TRACE_ID_pmm_alloc];
		trace_pmm_alloc(0, 1, 0, 0, 0);
		EXPECT_EQ(t->emitted[TRACE_ID_pmm_alloc], before);
		return;
	}
	if (!t->sink.submit) {
		check_counting_without_device(t);
		return;
	}
	uint64_t records = SELFTEST_BYTES / BENCH_RECORD_BYTES;
	trace_emit_phase_begin(t, "trace-throughput");
	trace_flush(t);
	uint64_t lost_before = total_lost(t);
	uint64_t written_before = t->emitted[TRACE_ID_trace_bench];
	uint64_t loss_records_before = t->emitted[TRACE_ID_loss];
	uint64_t bytes_before = t->bytes_submitted;
	uint64_t start = trace_now(t);
	for (uint64_t i = 0; i < records; i++)
		trace_emit_trace_bench(t, i, ~i);
	trace_flush(t);
	uint64_t ticks = trace_now(t) - start;
	uint64_t bytes = t->bytes_submitted - bytes_before;
	uint64_t written = t->emitted[TRACE_ID_trace_bench] - written_before;
	uint64_t lost = total_lost(t) - lost_before;
	uint64_t loss_records = t->emitted[TRACE_ID_loss] - loss_records_before;
	trace_emit_phase_end(t, "trace-throughput");

	/*
	 * Every record was either written and sent, or counted as lost; what was sent is exactly the
	 * records written plus the loss records that report the rest (losses after the last written
	 * record are reported later, so they are not in these bytes). Lossless mode loses nothing.
	 * How much drop mode drops depends on how fast the host drains the device, so it is not fixed.
	 */
	EXPECT_EQ(written + lost, records);
	EXPECT_EQ(bytes, written * BENCH_RECORD_BYTES +
				 loss_records * (sizeof(struct trace_record_header) +
						 sizeof(struct trace_payload_loss)));
	if (t->policy == TRACE_POLICY_LOSSLESS)
		EXPECT_EQ(lost, 0);
	if (t->clock_hz && ticks)
		testing_note("trace: %llu bytes in %llu ticks = %llu MB/s (%llu ticks per record)",
			     (unsigned long long)bytes, (unsigned long long)ticks,
			     (unsigned long long)(bytes * (t->clock_hz / 1000) / ticks / 1000),
			     (unsigned long long)(ticks / records));
}
