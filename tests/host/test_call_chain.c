/*
 * Host tests of call-chain interning (kernel/trace/call_chain.h) over fake frame-pointer chains:
 * the table answers only for the chain it holds (never another chain's id), a chain it lost or
 * meets at another stack address is defined again under a new id, the walk stops where the bounds
 * say or at a zero return address, and an attributed record (the tracepoints' encoder, the
 * allocators' cached one) is never older than the call_chain record written before it.
 */
#include <string.h>

#include "kernel/lib/testing.h"
#include "kernel/trace/trace_encoders.h"

/* A fake stack: frame k is the two words { saved frame pointer, return address } at word 4k. */
#define FAKE_FRAMES 10
static uintptr_t fake_stack[FAKE_FRAMES * 4] __attribute__((aligned(16)));

/* Builds a chain of `depth` frames with these return addresses; returns its innermost frame. */
static const void *fake_chain(const uint64_t *ip, unsigned depth)
{
	memset(fake_stack, 0, sizeof(fake_stack));
	for (unsigned k = 0; k < depth; k++) {
		fake_stack[4 * k] = k + 1 < depth ? (uintptr_t)&fake_stack[4 * (k + 1)] : 0;
		fake_stack[4 * k + 1] = ip[k];
	}
	return fake_stack;
}

static uint64_t fake_time;
static uint64_t fake_clock(void)
{
	return fake_time += 10;
}

#define SUBBUF (TRACE_CHUNK_HEADER_BYTES + TRACE_RECORD_MAX)
static uint8_t storage[2 * SUBBUF];
static struct trace_chain_table table;

static void start_tracer(struct tracer *t)
{
	trace_init(t, storage, SUBBUF, 2, TRACE_POLICY_LOSSLESS, fake_clock);
	t->chains = &table;
	trace_chain_forget(t);
}

/* The records written so far (no sink: they wait in the first sub-buffer), by index. */
static const struct trace_record_header *record(const struct tracer *t, unsigned index)
{
	uint32_t off = TRACE_CHUNK_HEADER_BYTES;
	for (unsigned i = 0; off < trace_open_bytes(t); i++) {
		const struct trace_record_header *h = (const void *)(t->open_base + off);
		if (i == index)
			return h;
		off += h->length;
	}
	return NULL;
}

/* Two chains in the same entry (the same first frame: its address and return address). */
/*
 * Records `index` and `index + 1` are a call_chain and the pmm_alloc that names its id `chain`,
 * stamped no earlier than the definition.
 */
static void expect_defined_then_alloc(const struct tracer *t, unsigned index, uint32_t chain)
{
	const struct trace_record_header *def = record(t, index), *alloc = record(t, index + 1);
	ASSERT_TRUE(def && alloc);
	EXPECT_EQ(def->type, TRACE_ID_call_chain);
	EXPECT_EQ(alloc->type, TRACE_ID_pmm_alloc);
	EXPECT_TRUE(alloc->timestamp >= def->timestamp);
	EXPECT_EQ(((const struct trace_payload_pmm_alloc *)(alloc + 1))->chain, chain);
}

/* Record `index` is a pmm_alloc stamped `stamp` that names chain `chain` (NULL when absent). */
static const struct trace_record_header *expect_alloc_stamped(const struct tracer *t, unsigned index,
							      uint64_t stamp, uint32_t chain)
{
	const struct trace_record_header *r = record(t, index);
	if (!r)
		return NULL;
	EXPECT_EQ(r->type, TRACE_ID_pmm_alloc);
	EXPECT_EQ(r->timestamp, stamp);
	EXPECT_EQ(((const struct trace_payload_pmm_alloc *)(r + 1))->chain, chain);
	return r;
}

static const uint64_t chain_a[8] = { 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000, 0x8000 };
static const uint64_t chain_b[8] = { 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6666, 0x7000, 0x8000 };

TEST(call_chain_table_answers_only_for_the_chain_it_holds)
{
	struct tracer t;
	start_tracer(&t);
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(chain_a, 8)), TRACE_CHAIN_NONE);
	EXPECT_EQ(trace_chain_define_here(&t, fake_chain(chain_a, 8)), 1);
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(chain_a, 8)), 1);
	/* differs only in its sixth frame, or only in its depth: not chain 1 */
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(chain_b, 8)), TRACE_CHAIN_NONE);
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(chain_a, 7)), TRACE_CHAIN_NONE);
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(chain_a, 4)), TRACE_CHAIN_NONE);
	/* b takes the entry; a, forgotten, is defined again under a new id, never b's */
	EXPECT_EQ(trace_chain_here(&t, fake_chain(chain_b, 8)), 2);
	EXPECT_EQ(trace_chain_here(&t, fake_chain(chain_b, 8)), 2);
	EXPECT_EQ(trace_chain_here(&t, fake_chain(chain_a, 8)), 3);
	EXPECT_EQ(trace_chain_here(&t, fake_chain(chain_a, 8)), 3);
	EXPECT_EQ(t.emitted[TRACE_ID_call_chain], 3);
	/* each definition carries its chain's addresses */
	const struct trace_record_header *h = record(&t, 1);
	ASSERT_TRUE(h && h->type == TRACE_ID_call_chain);
	const struct trace_payload_call_chain *p = (const void *)(h + 1);
	EXPECT_EQ(p->chain, 2);
	EXPECT_EQ(p->ip5, 0x6666);
	EXPECT_EQ(p->ip7, 0x8000);
}

TEST(call_chain_walk_stops_at_a_frame_pointer_it_may_not_follow)
{
	struct tracer t;
	start_tracer(&t);
	const void *frame = fake_chain(chain_a, 8);
	fake_stack[4 * 2] = (uintptr_t)&fake_stack[4 * 2] - 64; /* frame 3 below frame 2: stop */
	EXPECT_EQ(trace_chain_define_here(&t, frame), 1);
	const struct trace_payload_call_chain *p = (const void *)(record(&t, 0) + 1);
	EXPECT_EQ(p->ip2, 0x3000);
	EXPECT_EQ(p->ip3, 0);
	EXPECT_EQ(trace_chain_lookup(&t, frame), 1);
	fake_stack[4 * 2] = (uintptr_t)&fake_stack[4 * 3] + 4; /* not word-aligned: stop there too */
	EXPECT_EQ(trace_chain_lookup(&t, frame), 1);
}

TEST(call_chain_table_answers_only_from_the_frames_it_walked)
{
	struct tracer t;
	start_tracer(&t);
	/* chain a from frame 0, then the same return addresses one frame higher on the stack */
	EXPECT_EQ(trace_chain_define_here(&t, fake_chain(chain_a, 4)), 1);
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(chain_a, 4)), 1);
	memmove(&fake_stack[4], &fake_stack[0], 16 * sizeof(uintptr_t));
	for (unsigned k = 1; k < 4; k++)
		fake_stack[4 * k] = (uintptr_t)&fake_stack[4 * (k + 1)];
	EXPECT_EQ(trace_chain_lookup(&t, &fake_stack[4]), TRACE_CHAIN_NONE);
	EXPECT_EQ(trace_chain_define_here(&t, &fake_stack[4]), 2);
	EXPECT_EQ(trace_chain_lookup(&t, &fake_stack[4]), 2);
	/* the entry's chain ends at frame 3; one that goes on from there is another chain */
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(chain_a, 8)), TRACE_CHAIN_NONE);
	/* a frame 3 whose saved frame pointer is the end frame's address: the same return
	 * addresses as the entry's (0 past ip3), so its id */
	const void *frame = fake_chain(chain_a, 4);
	fake_stack[4 * 3] = (uintptr_t)trace_chain_end_frame;
	EXPECT_EQ(trace_chain_lookup(&t, frame), 1);
	EXPECT_EQ(trace_chain_define_here(&t, frame), 3);
	const struct trace_payload_call_chain *p = (const void *)(record(&t, 2) + 1);
	EXPECT_EQ(p->ip3, 0x4000);
	EXPECT_EQ(p->ip4, 0);
}

TEST(call_chain_ends_at_a_zero_return_address)
{
	struct tracer t;
	start_tracer(&t);
	/* frame 2 returns to 0 (no caller), yet its saved frame pointer may be followed */
	static const uint64_t through_zero[5] = { 0x1000, 0x2000, 0, 0x4000, 0x5000 };
	EXPECT_EQ(trace_chain_define_here(&t, fake_chain(through_zero, 5)), 1);
	const struct trace_payload_call_chain *p = (const void *)(record(&t, 0) + 1);
	EXPECT_EQ(p->ip1, 0x2000);
	EXPECT_EQ(p->ip2, 0);
	EXPECT_EQ(p->ip3, 0);
	EXPECT_EQ(p->ip4, 0);
	/* the chain that ends after frame 1 has the same return addresses: chain 1 */
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(through_zero, 2)), 1);
	/* one that goes on with a caller at frame 2 is another chain */
	EXPECT_EQ(trace_chain_lookup(&t, fake_chain(chain_a, 5)), TRACE_CHAIN_NONE);
}

/* Attributed records as the kernel's tracepoints emit them (trace_NAME calls
 * trace_emit_global_NAME, on trace_global), `count` of them from one call in a loop: the same
 * chain each time (the count is hidden from the compiler, which would otherwise unroll the loop
 * into two calls). */
static NOINLINE void emit_attributed_allocs(unsigned count)
{
	__asm__("" : "+r"(count));
	for (unsigned i = 1; i <= count; i++)
		trace_emit_global_pmm_alloc(0x1000 * i, 1, 1, 0, 0, 8, 7);
	__asm__ volatile(""); /* not a tail call: this frame is the chain's first caller */
}

TEST(attributed_record_is_never_older_than_its_call_chain)
{
	struct tracer *t = &trace_global;
	uint64_t (*clock)(void) = t->clock;
	trace_discard(t); /* no records, no chains */
	t->clock = fake_clock;
	fake_time = 1000;
	emit_attributed_allocs(2);
	/* the first record's chain is new: its call_chain (clock 1010), then the record, stamped
	 * after it (1020) */
	expect_defined_then_alloc(t, 0, 1);
	EXPECT_EQ(record(t, 1)->timestamp, 1020);
	/* the second's is the same chain: no call_chain, the clock's next reading, the same id */
	const struct trace_record_header *again = expect_alloc_stamped(t, 2, 1030, 1);
	ASSERT_TRUE(again != NULL);
	EXPECT_EQ(((const struct trace_payload_pmm_alloc *)(again + 1))->addr, 0x2000);
	EXPECT_EQ(((const struct trace_payload_pmm_alloc *)(again + 1))->cost, 7);
	EXPECT_EQ(t->emitted[TRACE_ID_call_chain], 1);
	/* from another place: another chain, defined under id 2 */
	trace_emit_global_pmm_alloc(0x3000, 1, 1, 0, 0, 8, 7);
	expect_defined_then_alloc(t, 3, 2);
	trace_discard(t);
	t->clock = clock;
}

TEST(call_chain_cache_answers_only_for_the_chain_it_holds)
{
	struct tracer t;
	start_tracer(&t);
	static struct trace_chain_cache cache;
	EXPECT_EQ(trace_chain_lookup_cached(&cache, fake_chain(chain_a, 8)), TRACE_CHAIN_NONE);
	EXPECT_EQ(trace_chain_cache_fill(&t, &cache, fake_chain(chain_a, 8)), 1);
	EXPECT_EQ(trace_chain_lookup_cached(&cache, fake_chain(chain_a, 8)), 1);
	/* differs only in its sixth frame, or only in its depth: not chain 1 */
	EXPECT_EQ(trace_chain_lookup_cached(&cache, fake_chain(chain_b, 8)), TRACE_CHAIN_NONE);
	EXPECT_EQ(trace_chain_lookup_cached(&cache, fake_chain(chain_a, 7)), TRACE_CHAIN_NONE);
	/* b is new to the table too: defined as 2, and the cache holds it instead of a */
	EXPECT_EQ(trace_chain_cache_fill(&t, &cache, fake_chain(chain_b, 8)), 2);
	EXPECT_EQ(trace_chain_lookup_cached(&cache, fake_chain(chain_b, 8)), 2);
	EXPECT_EQ(trace_chain_lookup_cached(&cache, fake_chain(chain_a, 8)), TRACE_CHAIN_NONE);
	EXPECT_EQ(t.emitted[TRACE_ID_call_chain], 2);
	trace_chain_forget(&t);
}

TEST(call_chain_cache_takes_the_id_the_table_holds_without_a_new_record)
{
	struct tracer t;
	start_tracer(&t);
	static struct trace_chain_cache cache;
	EXPECT_EQ(trace_chain_define_here(&t, fake_chain(chain_a, 5)), 1);
	EXPECT_EQ(trace_chain_define_here(&t, fake_chain(chain_a, 3)), 2);
	EXPECT_EQ(trace_chain_cache_fill(&t, &cache, fake_chain(chain_a, 3)), 2);
	EXPECT_EQ(trace_chain_lookup_cached(&cache, fake_chain(chain_a, 3)), 2);
	EXPECT_EQ(t.emitted[TRACE_ID_call_chain], 2);
	trace_chain_forget(&t);
}

TEST(call_chain_forget_empties_every_filled_cache)
{
	struct tracer t;
	start_tracer(&t);
	static struct trace_chain_cache first, second;
	EXPECT_EQ(trace_chain_cache_fill(&t, &first, fake_chain(chain_a, 8)), 1);
	EXPECT_EQ(trace_chain_cache_fill(&t, &second, fake_chain(chain_a, 8)), 1);
	trace_chain_forget(&t);
	/* the stream that defined id 1 is gone: neither cache may answer 1 again */
	EXPECT_EQ(trace_chain_lookup_cached(&first, fake_chain(chain_a, 8)), TRACE_CHAIN_NONE);
	EXPECT_EQ(trace_chain_lookup_cached(&second, fake_chain(chain_a, 8)), TRACE_CHAIN_NONE);
	t.chains_defined = 0;
	EXPECT_EQ(trace_chain_cache_fill(&t, &second, fake_chain(chain_a, 8)), 1);
	EXPECT_EQ(t.emitted[TRACE_ID_call_chain], 2);
	trace_chain_forget(&t);
}

TEST(call_chain_cache_stays_empty_when_the_definition_is_lost)
{
	struct tracer t;
	start_tracer(&t);
	static struct trace_chain_cache cache;
	/* no sink: once both sub-buffers are full every record is lost (no_device) */
	while (t.lost[TRACE_LOSS_NO_DEVICE] == 0)
		trace_emit_pmm_free(&t, 0x1000, 1, 1, 0, 0, 1);
	EXPECT_EQ(trace_chain_cache_fill(&t, &cache, fake_chain(chain_a, 8)), TRACE_CHAIN_NONE);
	EXPECT_EQ(trace_chain_lookup_cached(&cache, fake_chain(chain_a, 8)), TRACE_CHAIN_NONE);
	trace_chain_forget(&t);
}

TEST(cached_attributed_record_carries_the_chain_of_its_frame)
{
	struct tracer t;
	start_tracer(&t);
	static struct trace_chain_cache cache;
	fake_time = 1000;
	const void *frame = fake_chain(chain_a, 8);
	/* a chain the cache lacks: defined (the record is stamped again after its call_chain) */
	trace_emit_inline_cached_pmm_alloc(&t, &cache, frame, 500, 0x1000, 1, 1, 0, 0, 8, 7);
	expect_defined_then_alloc(&t, 0, 1);
	/* the cache holds it now: the caller's stamp, no call_chain */
	trace_emit_inline_cached_pmm_alloc(&t, &cache, frame, fake_time + 1, 0x2000, 1, 1, 0, 0, 8, 7);
	const struct trace_record_header *again = expect_alloc_stamped(&t, 2, fake_time + 1, 1);
	ASSERT_TRUE(again != NULL);
	/* another chain from the same tracepoint: not chain 1 */
	trace_emit_inline_cached_pmm_alloc(&t, &cache, fake_chain(chain_b, 8), fake_time + 1, 0x3000,
					   1, 1, 0, 0, 8, 7);
	const struct trace_record_header *other = record(&t, 4);
	ASSERT_TRUE(other != NULL && record(&t, 3)->type == TRACE_ID_call_chain);
	EXPECT_EQ(((const struct trace_payload_pmm_alloc *)(other + 1))->chain, 2);
	EXPECT_EQ(t.emitted[TRACE_ID_call_chain], 2);
	trace_chain_forget(&t);
}
