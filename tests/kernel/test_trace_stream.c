/*
 * In-kernel test of the trace transport: with a trace device attached (make trace), a flush sends
 * every record written so far; without one, every record is still accounted for (kept or counted
 * as lost for want of a device); with trace=off, a tracepoint writes nothing. Throughput is not
 * measured here but by `scenario=trace-throughput` (kernel/workload/), so a traced test boot holds
 * no filler records.
 */
#include "kernel/lib/testing.h"
#include "kernel/trace/tracepoints.h"

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

/*
 * With a device: whatever was recorded so far leaves the ring when flushed, and in lossless mode
 * nothing is lost. No filler records: a traced test boot carries only allocator events (the
 * transport's throughput is measured by `scenario=trace-throughput`).
 */
TEST(trace_stream_flush_sends_everything_recorded)
{
	struct tracer *t = &trace_global;
	if (!trace_enabled) {
		/* trace=off: a tracepoint must not write anything. */
		uint64_t before = t->emitted[TRACE_ID_pmm_alloc];
		trace_pmm_alloc(0, 1, 1, 0, 0, 0, 0);
		EXPECT_EQ(t->emitted[TRACE_ID_pmm_alloc], before);
		return;
	}
	if (!t->sink.submit) {
		check_counting_without_device(t);
		return;
	}
	uint64_t lost_before = total_lost(t);
	/* this test's phase_begin and snapshots are in the open sub-buffer (its chunk) */
	EXPECT_LT(TRACE_CHUNK_HEADER_BYTES, trace_open_bytes(t));
	uint64_t written = t->bytes_closed + trace_open_bytes(t);
	uint64_t open_bytes = trace_open_bytes(t);
	uint64_t sent_before = t->bytes_submitted;
	trace_flush(t);
	/*
	 * The open sub-buffer was closed (no bytes added or lost) and sent, exactly its bytes (its
	 * chunk header and records), and the device gave back all; in either mode a closed
	 * sub-buffer is always sent (drop mode drops records that find no room, never written ones),
	 * and a flush waits in both.
	 */
	EXPECT_EQ(t->bytes_closed, written);
	EXPECT_EQ(trace_open_bytes(t), 0);
	EXPECT_EQ(t->bytes_submitted - sent_before, open_bytes);
	EXPECT_EQ(t->submitted, t->closed);
	EXPECT_EQ(t->reclaimed, t->submitted);
	if (t->policy == TRACE_POLICY_LOSSLESS)
		EXPECT_EQ(total_lost(t), lost_before);
}
