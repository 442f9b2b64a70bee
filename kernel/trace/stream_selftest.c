/*
 * In-kernel test of the whole trace transport: pushes 4 MiB of trace_bench records through the
 * kernel's tracer and its device, and reports the throughput. Runs with `test` when a trace
 * device is attached (make trace); skipped elsewhere (host tests, boots without --trace-out).
 * The records sit in a phase named "trace-throughput" so the analyzer can leave them out.
 */
#include "kernel/lib/testing.h"
#include "tracepoints.h"

#define SELFTEST_BYTES (4u << 20)
#define BENCH_RECORD_BYTES (sizeof(struct trace_record_header) + sizeof(struct trace_payload_trace_bench))

static uint64_t total_lost(const struct tracer *t)
{
	uint64_t lost = 0;
	for (unsigned r = 0; r < TRACE_LOSS_REASONS; r++)
		lost += t->lost[r];
	return lost;
}

TEST(trace_stream_carries_megabytes_without_loss)
{
	struct tracer *t = &trace_global;
	if (!trace_enabled || !t->sink.submit) {
		testing_note("no trace device attached: nothing to measure");
		return;
	}
	uint64_t lost_before = total_lost(t);
	uint64_t records = SELFTEST_BYTES / BENCH_RECORD_BYTES;
	trace_emit_phase_begin(t, "trace-throughput");
	trace_flush(t);
	uint64_t bytes_before = t->bytes_submitted;
	uint64_t start = t->clock();
	for (uint64_t i = 0; i < records; i++)
		trace_emit_trace_bench(t, i, ~i);
	trace_flush(t);
	uint64_t ticks = t->clock() - start;
	uint64_t bytes = t->bytes_submitted - bytes_before;
	trace_emit_phase_end(t, "trace-throughput");

	EXPECT_EQ(bytes, records * BENCH_RECORD_BYTES);
	if (t->policy == TRACE_POLICY_LOSSLESS)
		EXPECT_EQ(total_lost(t), lost_before);
	if (t->clock_hz && ticks)
		testing_note("trace: %llu bytes in %llu ticks = %llu MB/s (%llu ticks per record)",
			     (unsigned long long)bytes, (unsigned long long)ticks,
			     (unsigned long long)(bytes * (t->clock_hz / 1000) / ticks / 1000),
			     (unsigned long long)(ticks / records));
}
