/*
 * Host tests of the tracer ring (kernel/trace/tracer.c) with a fake sink: sub-buffer wrap-around,
 * lossless waiting, drop-mode counting, early buffering, trace=off, no recursion, and the
 * two-phase encoders (kernel/trace/trace_encoders.h).
 */
#include <stdlib.h>
#include <string.h>

#include "kernel/lib/testing.h"
#include "kernel/trace/stream_header.h"
#include "kernel/trace/trace_encoders.h"

enum fake_completion {
	COMPLETE_AT_ONCE,   /* the device finishes a buffer as soon as it is submitted */
	COMPLETE_ON_WAIT,   /* it finishes one only when the tracer waits (a slow device) */
	COMPLETE_NEVER,     /* a dead device */
};

struct fake_sink {
	enum fake_completion completion;
	uint8_t *bytes; /* everything submitted, in order */
	size_t len, cap;
	uint32_t outstanding, submits, waits;
	struct tracer *reenter; /* when set, submit emits an event into this tracer */
};

static void fake_submit(void *ctx, const void *data, uint32_t len)
{
	struct fake_sink *s = ctx;
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->bytes = realloc(s->bytes, s->cap);
	}
	memcpy(s->bytes + s->len, data, len);
	s->len += len;
	s->outstanding++;
	s->submits++;
	if (s->reenter)
		trace_emit_kfree(s->reenter, 0xdead, 1, 0);
}

static uint32_t fake_reclaim(void *ctx, bool wait)
{
	struct fake_sink *s = ctx;
	uint32_t done = 0;
	if (wait)
		s->waits++;
	if (s->completion == COMPLETE_AT_ONCE)
		done = s->outstanding;
	else if (s->completion == COMPLETE_ON_WAIT && wait && s->outstanding)
		done = 1;
	s->outstanding -= done;
	return done;
}

static uint64_t fake_time;
static uint64_t fake_clock(void)
{
	return ++fake_time;
}

#define SUBBUF (TRACE_CHUNK_HEADER_BYTES + TRACE_RECORD_MAX)
#define SUBBUFS 4
static uint8_t storage[SUBBUFS * SUBBUF];
/*
 * pmm_alloc records that fit in the ring with no slot given back: records never straddle
 * sub-buffers, so each holds a whole number of them. With a sink that gives nothing back (or none
 * attached) exactly this many are kept and every later one is lost.
 */
#define ALLOC_RECORD_BYTES (sizeof(struct trace_record_header) + sizeof(struct trace_payload_pmm_alloc))
#define ALLOCS_IN_RING (SUBBUFS * ((SUBBUF - TRACE_CHUNK_HEADER_BYTES) / ALLOC_RECORD_BYTES))
static const char test_header[] = "HEADER";

static void attach(struct tracer *t, struct fake_sink *s)
{
	struct trace_sink sink = { fake_submit, fake_reclaim, s };
	ASSERT_TRUE(trace_attach_sink(t, &sink, test_header, sizeof(test_header)));
}

/* What arrived: chunks walked by their headers after the stream header, records by length in
 * each; bad_chunks counts chunks out of number order or that their records do not fill. */
struct arrival {
	uint32_t records, chunks, bad_chunks;
	uint64_t per_type[TRACE_EVENT_ID_LIMIT];
	uint64_t lost[TRACE_LOSS_REASONS];
	uint64_t last_addr; /* of pmm_alloc, to check the order */
	bool ordered, ended;
};

static struct arrival walk(const struct fake_sink *s)
{
	struct arrival a = { .ordered = true };
	size_t off = sizeof(test_header);
	EXPECT_TRUE(s->len >= off && memcmp(s->bytes, test_header, off) == 0);
	size_t chunk_end = off;
	while (off + sizeof(struct trace_record_header) <= s->len) {
		if (off == chunk_end) {
			struct trace_chunk_header c;
			memcpy(&c, s->bytes + off, sizeof(c));
			if (c.number != a.chunks || c.bytes <= sizeof(c) || off + c.bytes > s->len)
				a.bad_chunks++;
			a.chunks++;
			chunk_end = off + c.bytes;
			off += sizeof(c);
		}
		struct trace_record_header h;
		memcpy(&h, s->bytes + off, sizeof(h));
		if (h.length < sizeof(h) || off + h.length > chunk_end || h.type >= TRACE_EVENT_ID_LIMIT)
			break;
		a.per_type[h.type]++;
		if (h.type == TRACE_ID_loss) {
			struct trace_payload_loss p;
			memcpy(&p, s->bytes + off + sizeof(h), sizeof(p));
			a.lost[p.reason] += p.count;
		} else if (h.type == TRACE_ID_pmm_alloc) {
			struct trace_payload_pmm_alloc p;
			memcpy(&p, s->bytes + off + sizeof(h), sizeof(p));
			if (a.per_type[h.type] > 1 && p.addr != a.last_addr + 1)
				a.ordered = false;
			a.last_addr = p.addr;
		} else if (h.type == TRACE_ID_trace_end) {
			a.ended = true;
		}
		a.records++;
		off += h.length;
	}
	EXPECT_EQ(off, s->len); /* nothing unparsable, no padding */
	EXPECT_EQ(off, chunk_end); /* the last chunk's records fill it */
	return a;
}

static void emit_allocs(struct tracer *t, uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		trace_emit_pmm_alloc(t, first + i, 1, 1, 0, 0, 8, 0, 0);
}

TEST(trace_ring_wraps_around_its_sub_buffers_in_order)
{
	static struct tracer t;
	struct fake_sink s = { .completion = COMPLETE_AT_ONCE };
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	attach(&t, &s);
	emit_allocs(&t, 0, 5000); /* 155 KB through a 16 KiB ring: every slot reused ~9 times */
	trace_finish(&t);
	struct arrival a = walk(&s);
	EXPECT_EQ(a.per_type[TRACE_ID_pmm_alloc], 5000);
	EXPECT_EQ(a.bad_chunks, 0);
	EXPECT_TRUE(a.ordered);
	EXPECT_TRUE(a.ended);
	EXPECT_GE(s.submits, 1 + 5000 * 31 / SUBBUF);
	free(s.bytes);
}

TEST(trace_lossless_producer_waits_for_a_slow_sink_and_loses_nothing)
{
	static struct tracer t;
	struct fake_sink s = { .completion = COMPLETE_ON_WAIT };
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	attach(&t, &s);
	emit_allocs(&t, 0, 3000);
	trace_finish(&t);
	struct arrival a = walk(&s);
	EXPECT_EQ(a.per_type[TRACE_ID_pmm_alloc], 3000);
	EXPECT_EQ(a.per_type[TRACE_ID_loss], 0);
	EXPECT_EQ(t.lost[TRACE_LOSS_RING_FULL], 0);
	EXPECT_GE(s.waits, 3000 * 31 / SUBBUF - 4); /* it had to wait for nearly every slot */
	EXPECT_TRUE(a.ordered);
	EXPECT_EQ(a.bad_chunks, 0);
	free(s.bytes);
}

TEST(trace_drop_mode_counts_what_it_drops_and_reports_it_in_loss_records)
{
	static struct tracer t;
	struct fake_sink s = { .completion = COMPLETE_ON_WAIT };
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_DROP, fake_clock);
	attach(&t, &s);
	emit_allocs(&t, 0, 3000); /* the ring holds ALLOCS_IN_RING: the rest dropped, none waited for */
	EXPECT_EQ(s.waits, 1);    /* only the header's */
	uint64_t dropped = t.lost[TRACE_LOSS_RING_FULL];
	EXPECT_EQ(dropped, 3000 - ALLOCS_IN_RING);
	trace_finish(&t);
	struct arrival a = walk(&s);
	EXPECT_EQ(a.per_type[TRACE_ID_pmm_alloc] + dropped, 3000);
	EXPECT_EQ(a.lost[TRACE_LOSS_RING_FULL], dropped);
	EXPECT_EQ(a.bad_chunks, 0);
	EXPECT_TRUE(a.ended);
	free(s.bytes);
}

TEST(trace_early_events_wait_in_the_ring_until_the_sink_attaches)
{
	static struct tracer t;
	struct fake_sink s = { .completion = COMPLETE_AT_ONCE };
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	emit_allocs(&t, 0, 300); /* ~9 KB: fits the 16 KiB early buffer */
	EXPECT_EQ(s.len, 0);
	attach(&t, &s);
	emit_allocs(&t, 300, 300);
	trace_finish(&t);
	struct arrival a = walk(&s);
	EXPECT_EQ(a.per_type[TRACE_ID_pmm_alloc], 600);
	EXPECT_EQ(a.per_type[TRACE_ID_loss], 0);
	EXPECT_TRUE(a.ordered);
	EXPECT_EQ(a.bad_chunks, 0);
	free(s.bytes);
}

TEST(trace_early_overflow_is_counted_as_no_device_and_reported)
{
	static struct tracer t;
	struct fake_sink s = { .completion = COMPLETE_AT_ONCE };
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	emit_allocs(&t, 0, 1000); /* 31 KB into 16 KiB with no device */
	uint64_t lost = t.lost[TRACE_LOSS_NO_DEVICE];
	EXPECT_EQ(lost, 1000 - ALLOCS_IN_RING);
	attach(&t, &s);
	trace_finish(&t);
	struct arrival a = walk(&s);
	EXPECT_EQ(a.per_type[TRACE_ID_pmm_alloc] + lost, 1000);
	EXPECT_EQ(a.lost[TRACE_LOSS_NO_DEVICE], lost);
	free(s.bytes);
}

/*
 * The header's first_timestamp is the stream's earliest clock reading: record seq 0's time when it
 * waited in the ring for the sink (also after an early overflow, which loses later records, never
 * the first), else the header's own time. The expected values come from the fake clock's ticks.
 */
TEST(trace_first_timestamp_is_record_zeros_time_or_the_headers)
{
	static struct tracer t;
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	EXPECT_EQ(trace_first_timestamp(&t, 5), 5); /* nothing recorded yet */
	fake_time = 100;
	emit_allocs(&t, 0, 1000); /* the first is stamped 101; the ring overflows after it */
	EXPECT_GE(t.lost[TRACE_LOSS_NO_DEVICE], 1);
	EXPECT_EQ(trace_first_timestamp(&t, fake_time + 1), 101);
	EXPECT_EQ(trace_first_timestamp(&t, 50), 50); /* never later than the header's own time */
	struct fake_sink s = { .completion = COMPLETE_AT_ONCE };
	attach(&t, &s);
	EXPECT_EQ(trace_first_timestamp(&t, 7000), 7000); /* the ring's start is no longer seq 0 */
	trace_finish(&t);
	free(s.bytes);
}

/*
 * A waiting reclaim that returns nothing is the sink saying the device is broken (the virtio
 * driver returns that only when the device reports a failure: a slow device is waited for).
 * Lossless mode then drops and counts instead of hanging; the ring keeps what it holds.
 */
TEST(trace_broken_device_drops_instead_of_hanging)
{
	static struct tracer t;
	struct fake_sink s = { .completion = COMPLETE_AT_ONCE };
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	attach(&t, &s);
	s.completion = COMPLETE_NEVER;
	emit_allocs(&t, 0, 1000);
	EXPECT_EQ(t.lost[TRACE_LOSS_RING_FULL], 1000 - ALLOCS_IN_RING);
	EXPECT_EQ(t.emitted[TRACE_ID_pmm_alloc], ALLOCS_IN_RING);
	free(s.bytes);
}

TEST(trace_sink_that_emits_events_cannot_recurse)
{
	static struct tracer t;
	struct fake_sink s = { .completion = COMPLETE_AT_ONCE, .reenter = &t };
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	attach(&t, &s);
	emit_allocs(&t, 0, 1000);
	trace_finish(&t);
	struct arrival a = walk(&s);
	EXPECT_EQ(a.per_type[TRACE_ID_pmm_alloc], 1000);
	EXPECT_EQ(a.per_type[TRACE_ID_kfree], 0);
	EXPECT_EQ(t.lost[TRACE_LOSS_RECURSION], s.submits); /* one per submit, the header's too */
	/* All were reported except the last, which happened while trace_finish flushed. */
	EXPECT_EQ(a.lost[TRACE_LOSS_RECURSION] + 1, t.lost[TRACE_LOSS_RECURSION]);
	free(s.bytes);
}

TEST(trace_second_open_snapshot_is_dropped_as_recursion)
{
	static struct tracer t;
	struct fake_sink s = { .completion = COMPLETE_AT_ONCE };
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	attach(&t, &s);
	trace_emit_pmm_snapshot_begin(&t, 10, 0x100000, 0x200000);
	trace_emit_pmm_snapshot_add(&t, 0x1000, 10);
	trace_emit_vmm_snapshot_begin(&t, 1, 2);
	trace_emit_vmm_snapshot_add(&t, 0x2000, 3); /* ignored: not the open array */
	trace_array_end(&t, TRACE_ID_vmm_snapshot);  /* ignored too */
	trace_array_end(&t, TRACE_ID_pmm_snapshot);
	trace_finish(&t);
	struct arrival a = walk(&s);
	EXPECT_EQ(a.per_type[TRACE_ID_pmm_snapshot], 1);
	EXPECT_EQ(a.per_type[TRACE_ID_vmm_snapshot], 0);
	EXPECT_EQ(a.lost[TRACE_LOSS_RECURSION], 1);
	free(s.bytes);
}

TEST(trace_off_leaves_the_kernel_tracer_untouched)
{
	uint64_t records_before = trace_records_written(&trace_global);
	bool was_enabled = trace_enabled;
	trace_enabled = false;
	trace_pmm_alloc(0x1000, 1, 1, 0, 0, 1, 0);
	trace_pmm_free(0x2000, 3, 4, 1, 2, 5);
	trace_phase_begin("off");
	trace_pmm_snapshot_begin(1, 0x100000, 0x200000);
	trace_pmm_snapshot_add(0, 1);
	trace_pmm_snapshot_end();
	EXPECT_EQ(trace_records_written(&trace_global), records_before);
	EXPECT_EQ(trace_open_bytes(&trace_global), TRACE_CHUNK_HEADER_BYTES);

	trace_enabled = true;
	trace_pmm_alloc(0x1000, 1, 1, 0, 0, 1, 0); /* a call_chain (the chain is new), then the pmm_alloc */
	trace_phase_begin("on");
	trace_pmm_free(0x2000, 3, 4, 1, 2, 5);
	EXPECT_EQ(trace_records_written(&trace_global), records_before + 4);
	EXPECT_EQ(trace_global.emitted[TRACE_ID_pmm_free], 1);
	const struct trace_payload_pmm_free *freed = (const void *)(trace_global.cursor -
								   sizeof(struct trace_payload_pmm_free));
	EXPECT_EQ(freed->addr, 0x2000);
	EXPECT_EQ(freed->held, 4);
	EXPECT_EQ(freed->cost, 5);
	trace_discard(&trace_global);
	trace_enabled = was_enabled;
}

TEST(trace_two_phase_record_is_committed_only_at_its_end_with_its_cost)
{
	struct tracer t;
	trace_init(&t, storage, SUBBUF, SUBBUFS, TRACE_POLICY_LOSSLESS, fake_clock);
	fake_time = 100;
	trace_emit_kfree(&t, 0xabc, 16, 3); /* a record before it (clock 101), which begin must keep */
	uint64_t start = trace_clock_raw(&t); /* 102: the operation's start, as trace_cost_start */
	ASSERT_TRUE(trace_can_begin_pmm_free(&t));
	struct trace_record_header *h = trace_begin_pmm_free(&t, 0x5000, 3, 4, 1, 2, start);
	/* begun: the fields are at the cursor, but no record is written and the cursor stays */
	EXPECT_EQ((uint8_t *)h, t.cursor);
	EXPECT_EQ(trace_records_written(&t), 1);
	EXPECT_EQ(trace_open_bytes(&t), TRACE_CHUNK_HEADER_BYTES + sizeof(struct trace_record_header) +
						sizeof(struct trace_payload_kfree));
	fake_time += 40; /* the operation's work: the clock at 142 */
	trace_end_pmm_free(&t, h);
	/* ended: one pmm_free record, stamped with the clock read at its end (143), its cost that
	 * reading minus the start (143 - 102) */
	EXPECT_EQ(trace_records_written(&t), 2);
	EXPECT_EQ(t.emitted[TRACE_ID_pmm_free], 1);
	EXPECT_EQ((uint8_t *)h + h->length, t.cursor);
	EXPECT_EQ(h->type, TRACE_ID_pmm_free);
	EXPECT_EQ(h->flags, 0);
	EXPECT_EQ(h->length, 12 + 8 + 4 + 4 + 1 + 1 + 8); /* FORMAT.md: header, then the fields */
	EXPECT_EQ(h->timestamp, 143);
	const struct trace_payload_pmm_free *p = (const void *)(h + 1);
	EXPECT_EQ(p->addr, 0x5000);
	EXPECT_EQ(p->pages, 3);
	EXPECT_EQ(p->held, 4);
	EXPECT_EQ(p->zone, 1);
	EXPECT_EQ(p->owner, 2);
	EXPECT_EQ(p->cost, 41);
	const struct trace_record_header *before = (const void *)(storage + TRACE_CHUNK_HEADER_BYTES);
	EXPECT_EQ(before->type, TRACE_ID_kfree);
	EXPECT_EQ(before->timestamp, 101);
}
