/*
 * Call chains for attribution: who asked for an allocation. Every pmm_alloc, kmalloc, slab_alloc
 * and vmm_reserve record (TRACE_ATTRIBUTED_EVENT in trace/events.def) carries `chain`, the id of
 * the return addresses above its tracepoint, innermost first; the host names them from the
 * kernel's ELF (analyzer attribution).
 *
 * The chain is found by walking frame pointers from the attributed encoder's own frame (the
 * kernel is built with -fno-omit-frame-pointer; kernel_entry64 clears the frame pointer, so the
 * walk ends at 0 there): ip0 is the return address into the function that holds the tracepoint
 * (the allocator, or its caller when the allocator is inlined there), ip1 that function's, and so
 * on. Layout assumed, as on x86-64 and AArch64 with frame pointers: a frame pointer points at
 * { saved caller frame pointer, return address }.
 *
 * Interning (as Perfetto interns callstacks): a chain is written once, as a call_chain record
 * with a new id, right before the first record that uses it; later records carry only the id.
 * The tracer's table (struct trace_chain_table: TRACE_CHAIN_ENTRIES entries, direct-mapped by
 * the walk's first frame: its address and its return address)
 * remembers which chains the stream already defines, each with the frame pointers its walk
 * followed; a chain it no longer holds (another chain took its entry), or met from another
 * stack address (another kernel stack, another depth), is simply defined again under a new id.
 * So:
 *   - ids go 1, 2, 3, ... in stream order, each defined once (an id advances only when its
 *     call_chain record was written into the ring, which then reaches the stream); a record
 *     whose call_chain was lost (ring full under trace=drop, no device yet) carries
 *     TRACE_CHAIN_NONE; one list of return addresses may have several ids (the analyzer
 *     interns them by their addresses);
 *   - exact, never sampled: an entry answers only for the chain it holds, compared in full
 *     (every frame pointer followed and every return address, so the depth too), so a record
 *     never carries another chain's id;
 *   - a tracer without a table (chains == NULL: host tests' own tracers) defines every chain
 *     anew, which is the same stream with more call_chain records;
 *   - trace_discard forgets the table with the records it drops, and every tracepoint's cache
 *     (struct trace_chain_cache: an allocator's traced copy compares the chain it met last
 *     first, with no hash, and asks the table only when that is not its chain).
 *
 * Bounds and safety: at most TRACE_SITE_DEPTH frames. Defining a chain, a next frame pointer is
 * followed only when it is word-aligned and lies above the current one by at most
 * TRACE_CHAIN_STACK_SPAN bytes (a caller's frame is always higher on a downward-growing stack,
 * and no kernel stack is that large), so a garbage or user-mode frame pointer ends the walk
 * before it is read. Looking a chain up, a next frame pointer is followed only when it equals
 * the entry's, which that test passed from the same frame when the chain was defined (the lookup
 * starts only from the entry's own first frame), so it passes it now: the lookup needs no bounds
 * test of its own. A chain ends where its next frame pointer may not be followed or at a zero
 * return address (nothing after it is a caller), so an entry's return address is 0 exactly from
 * its chain's end on; past the end its frame pointers name trace_chain_end_frame, a static frame
 * that names itself with return address 0, so the lookup needs no test of the depth: a chain
 * whose next frame pointer leaves the entry's frames is the entry's only where the entry's
 * return address is 0 and that pointer may not be followed (this chain ends there too); one
 * whose next frame pointer happens to be the end frame's address walks into it, and its return
 * addresses there (0) are what the call_chain record carries past a chain's end. Cost of a
 * chain the table holds (the hot path, inline in the attributed encoder): per frame one load
 * and one compare of the frame pointer, one load and one compare of the return address (6
 * instructions; 8.5 with a bounds test per frame, guest bench); where it ends at 0, an or and
 * two tests; one multiply for the entry (none from a tracepoint's cache); a new chain is walked
 * again out of line (trace_chain_define_here), and so is one a cache lacks
 * (trace_chain_cache_fill). The table costs
 * TRACE_CHAIN_ENTRIES * 132 bytes, static, and a cache of 144 bytes per tracepoint that has one.
 * Allocates nothing and takes no lock.
 */
#ifndef PAGESCOPE_TRACE_CALL_CHAIN_H
#define PAGESCOPE_TRACE_CALL_CHAIN_H

#include "tracer.h"

#define TRACE_CHAIN_STACK_SPAN (64u * 1024u)
#define TRACE_CHAIN_ENTRIES_LOG2 9
#define TRACE_CHAIN_ENTRIES (1u << TRACE_CHAIN_ENTRIES_LOG2)

/* A chain the stream defines: the frame pointers its walk went through (fp[0] the frame it
 * started from, fp[i] the frame holding ip[i]; &trace_chain_end_frame past its end) and its
 * return addresses (0 past its end); fp[0] == 0: an empty entry. 128 bytes, so that an entry's
 * address is one shift of its number. */
struct trace_chain_entry {
	uintptr_t fp[TRACE_SITE_DEPTH];
	uint64_t ip[TRACE_SITE_DEPTH];
};

/* The entries, and beside them each entry's chain id. */
struct trace_chain_table {
	struct trace_chain_entry entry[TRACE_CHAIN_ENTRIES];
	uint32_t id[TRACE_CHAIN_ENTRIES];
};

/* Where an entry's frames go past its chain's end: { itself, return address 0 }. */
extern const uintptr_t trace_chain_end_frame[2];

/*
 * The id of the chain of `frame` (a frame pointer: the attributed encoder's own, or that of the
 * allocator function whose caller is ip0), defining it first (writing its call_chain record) when
 * the stream does not have it yet. Returns TRACE_CHAIN_NONE when that record was lost.
 */
uint32_t trace_chain_define_here(struct tracer *t, const void *frame);

/* Forgets every chain (the stream no longer holds their definitions): the table's and the
 * caches'. */
void trace_chain_forget(struct tracer *t);

/* Whether the walk may go from frame `fp` to `next`, its saved frame pointer: one test for
 * "word-aligned, above fp by 8 .. TRACE_CHAIN_STACK_SPAN bytes" (see the bounds above). */
static ALWAYS_INLINE bool trace_chain_may_follow(const uintptr_t *fp, uintptr_t next)
{
	uintptr_t lowest = next - sizeof(uintptr_t);
	/* an empty asm keeps `lowest` one lea: folded, GCC rebuilds -8 - fp + next in three steps
	 * and a copy per frame (10 instructions per attributed event, guest bench) */
	__asm__("" : "+r"(lowest));
	uintptr_t step = lowest - (uintptr_t)fp;
	return !(step & ~(uintptr_t)(TRACE_CHAIN_STACK_SPAN - sizeof(uintptr_t)));
}

_Static_assert(sizeof(struct trace_chain_entry) == 128, "an entry's offset is its number << 7");

/* The byte offset in the table of the entry of a chain whose walk starts at `frame`, whose return
 * address is ip0: the top bits of a multiplicative hash, taken already shifted into place (a
 * shift and a mask, where the entry's number and then its address took five instructions). The
 * frame's own address keeps apart the callers of one helper (their frames lie at other depths),
 * which would evict each other on every call if ip0 alone chose the entry. */
static ALWAYS_INLINE uintptr_t trace_chain_offset(uintptr_t frame, uint64_t ip0)
{
	return (uintptr_t)(((frame ^ ip0) * 0x9e3779b97f4a7c15ull) >>
			   (64 - TRACE_CHAIN_ENTRIES_LOG2 - 7)) &
	       ((uintptr_t)(TRACE_CHAIN_ENTRIES - 1) << 7);
}

/* The number of that entry. */
static ALWAYS_INLINE unsigned trace_chain_slot(uintptr_t frame, uint64_t ip0)
{
	return (unsigned)(trace_chain_offset(frame, ip0) >> 7);
}

/* The id at `id` (the compared entry's) when every return address compared equal
 * (differ == 0). */
static ALWAYS_INLINE uint32_t trace_chain_hit(const uint32_t *id, uint64_t differ)
{
	if (differ)
		return TRACE_CHAIN_NONE;
	/* an entry is filled only with the id its call_chain record was written under (>= 1), so
	 * the caller's test for TRACE_CHAIN_NONE is this one's (2 guest instructions per event) */
	uint32_t found = *id;
	if (found == TRACE_CHAIN_NONE)
		__builtin_unreachable();
	return found;
}

/*
 * The compare's answer where its chain leaves the entry's frames at frame i (fp, frame i - 1, is
 * the entry's; its saved frame pointer `next` is not): a hit only where the entry's chain has
 * ended by frame i, its return address there being 0 (see walk in call_chain.c), and this
 * chain ends there too: `next` may not be followed (0, where every
 * kernel stack's walk ends, is tested first: it spares the usual end the bounds test).
 */
static ALWAYS_INLINE uint32_t trace_chain_ended(const uint32_t *id, uint64_t differ,
						const struct trace_chain_entry *e, unsigned i,
						const uintptr_t *fp, uintptr_t next)
{
	/* e is read again through an empty asm: else GCC loads each frame's return address into
	 * a register before the frame's compare, for this exit, which costs a register and,
	 * where registers are short, a spill per frame (8 instructions per vmm_reserve event) */
	__asm__("" : "+r"(e));
	differ |= e->ip[i];
	if (next && trace_chain_may_follow(fp, next))
		return TRACE_CHAIN_NONE;
	return trace_chain_hit(id, differ);
}

/*
 * *id when entry e holds the chain of `frame` (whose saved frame pointer is `next` and return
 * address `ip0`), else TRACE_CHAIN_NONE. Reads at most TRACE_SITE_DEPTH frames, each only after
 * its address matched the entry's (see the safety argument above).
 */
static ALWAYS_INLINE uint32_t trace_chain_compare(const struct trace_chain_entry *e,
						  const uint32_t *id, const uintptr_t *fp,
						  uintptr_t next, uint64_t ip0)
{
	if (e->fp[0] != (uintptr_t)fp)
		return TRACE_CHAIN_NONE;
	uint64_t differ = ip0 ^ e->ip[0];
	/* fp is frame i - 1, whose saved frame pointer `next` is frame i's address once it equals
	 * the entry's. Unrolled by hand: each frame's exit then has its own code with constant
	 * offsets (4 instructions where the chain ends at 0), where a loop's exits share one block
	 * that takes i as a variable (12, guest bench). */
	_Static_assert(TRACE_SITE_DEPTH == 8, "the walk below compares frames 1 .. 7");
#define TRACE_CHAIN_COMPARE_FRAME(i)                                                    \
	if (next != e->fp[i])                                                           \
		return trace_chain_ended(id, differ, e, i, fp, next);                  \
	fp = (const uintptr_t *)next;                                                   \
	differ |= fp[1] ^ e->ip[i];                                                     \
	next = fp[0];
	TRACE_CHAIN_COMPARE_FRAME(1)
	TRACE_CHAIN_COMPARE_FRAME(2)
	TRACE_CHAIN_COMPARE_FRAME(3)
	TRACE_CHAIN_COMPARE_FRAME(4)
	TRACE_CHAIN_COMPARE_FRAME(5)
	TRACE_CHAIN_COMPARE_FRAME(6)
	TRACE_CHAIN_COMPARE_FRAME(7)
#undef TRACE_CHAIN_COMPARE_FRAME
	return trace_chain_hit(id, differ);
}

/*
 * The id of the chain of `frame` when `table` (NULL: none) holds it, else TRACE_CHAIN_NONE (then
 * trace_chain_define_here defines it).
 */
static ALWAYS_INLINE uint32_t trace_chain_lookup_in(const struct trace_chain_table *table,
						    const void *frame)
{
	if (unlikely(!table))
		return TRACE_CHAIN_NONE;
	const uintptr_t *fp = frame;
	uintptr_t next = fp[0];
	uint64_t ip0 = fp[1];
	uintptr_t at = trace_chain_offset((uintptr_t)fp, ip0);
	const struct trace_chain_entry *e =
		(const struct trace_chain_entry *)((const char *)table->entry + at);
	/* id[number] lies at (at >> 7) * 4 bytes into the ids */
	const uint32_t *id = (const uint32_t *)((const char *)table->id + (at >> 5));
	return trace_chain_compare(e, id, fp, next, ip0);
}

/*
 * A tracepoint's own entry: the chain it met last, which it compares before the table (one
 * tracepoint mostly meets one chain: an allocator's traced copy is per file, so its callers are
 * few). Compared in full as a table entry is, with no hash to compute and its id beside it at an
 * address known at link time, it saves a lookup 9 instructions (guest bench, pmm_alloc). A chain
 * it does not hold is trace_chain_cache_fill's, out of line, which takes the table's answer (or
 * defines the chain) and copies it in; so the cache holds only chains the stream defines, under
 * their ids (an id stays valid after its table entry is displaced: ids are never reused), and
 * trace_chain_forget empties every cache that was ever filled (`next` lists them).
 */
struct trace_chain_cache {
	struct trace_chain_entry entry; /* entry.fp[0] == 0: empty */
	uint32_t id;
	bool listed;
	struct trace_chain_cache *next;
};

/* The id of the chain of `frame` when `cache` holds it, else TRACE_CHAIN_NONE. */
static ALWAYS_INLINE uint32_t trace_chain_lookup_cached(const struct trace_chain_cache *cache,
							const void *frame)
{
	const uintptr_t *fp = frame;
	return trace_chain_compare(&cache->entry, &cache->id, fp, fp[0], fp[1]);
}

/* The id of the chain of `frame` (t's table's, or defined anew: TRACE_CHAIN_NONE when its record
 * was lost), which `cache` then holds (but a lost one). */
uint32_t trace_chain_cache_fill(struct tracer *t, struct trace_chain_cache *cache,
				const void *frame);

/* trace_chain_lookup_in on the tracer's own table. */
static ALWAYS_INLINE uint32_t trace_chain_lookup(const struct tracer *t, const void *frame)
{
	return trace_chain_lookup_in(t->chains, frame);
}

/* The id of the chain of `frame`, defining it first when the stream does not have it yet. */
static ALWAYS_INLINE uint32_t trace_chain_here(struct tracer *t, const void *frame)
{
	uint32_t id = trace_chain_lookup(t, frame);
	return likely(id != TRACE_CHAIN_NONE) ? id : trace_chain_define_here(t, frame);
}

#endif
