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
 * the chain's first TRACE_CHAIN_KEY_FRAMES return addresses) remembers which chains the stream
 * already defines; a chain it no longer holds (another chain took its entry) is simply defined
 * again under a new id. So:
 *   - ids go 1, 2, 3, ... in stream order, each defined once (an id advances only when its
 *     call_chain record was written into the ring, which then reaches the stream); a record
 *     whose call_chain was lost (ring full under trace=drop, no device yet) carries
 *     TRACE_CHAIN_NONE;
 *   - exact, never sampled: an entry answers only for the chain it holds, compared in full
 *     (every return address and the depth), so a record never carries another chain's id;
 *   - a tracer without a table (chains == NULL: host tests' own tracers) defines every chain
 *     anew, which is the same stream with more call_chain records;
 *   - trace_discard forgets the table with the records it drops.
 *
 * Bounds and safety: at most TRACE_SITE_DEPTH frames. A next frame pointer is followed only when
 * it is word-aligned and lies above the current one by at most TRACE_CHAIN_STACK_SPAN bytes (a
 * caller's frame is always higher on a downward-growing stack, and no kernel stack is that
 * large), so a garbage or user-mode frame pointer ends the walk before it is read. Cost of a
 * chain the table holds (the hot path, inline in the attributed encoder): one walk that compares
 * each return address with the entry's as it reads it (no copy), one multiply for the entry;
 * a new chain is walked again out of line (trace_chain_define_here). The table costs
 * TRACE_CHAIN_ENTRIES * 80 bytes, static. Allocates nothing and takes no lock.
 */
#ifndef PAGESCOPE_TRACE_CALL_CHAIN_H
#define PAGESCOPE_TRACE_CALL_CHAIN_H

#include "tracer.h"

#define TRACE_CHAIN_STACK_SPAN (64u * 1024u)
#define TRACE_CHAIN_ENTRIES_LOG2 11
#define TRACE_CHAIN_ENTRIES (1u << TRACE_CHAIN_ENTRIES_LOG2)
/* Return addresses that pick a chain's entry: the allocator's caller alone (ip0, or ip1 when
 * ip0 lies in the allocator itself, as in kmalloc) would crowd the callers of one helper into
 * one entry, where they would evict each other on every call. */
#define TRACE_CHAIN_KEY_FRAMES 3

/* A chain the stream defines: its return addresses (0 past its end), how many (1 ..
 * TRACE_SITE_DEPTH) and its id (0 = empty entry). */
struct trace_chain_entry {
	uint64_t ip[TRACE_SITE_DEPTH];
	uint32_t depth;
	uint32_t id;
};

struct trace_chain_table {
	struct trace_chain_entry entry[TRACE_CHAIN_ENTRIES];
};

/*
 * The id of the chain of `frame` (a frame pointer: the attributed encoder's own, or that of the
 * allocator function whose caller is ip0), defining it first (writing its call_chain record) when
 * the stream does not have it yet. Returns TRACE_CHAIN_NONE when that record was lost.
 */
uint32_t trace_chain_define_here(struct tracer *t, const void *frame);

/* Forgets every chain (the stream no longer holds their definitions). */
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

/* The entry of a chain whose first return addresses are these (0 past the chain's end). */
static ALWAYS_INLINE unsigned trace_chain_slot(uint64_t ip0, uint64_t ip1, uint64_t ip2)
{
	return (unsigned)(((ip0 + ip1 * 3 + ip2 * 9) * 0x9e3779b97f4a7c15ull) >>
			  (64 - TRACE_CHAIN_ENTRIES_LOG2));
}

/*
 * The id of the chain of `frame` when the table holds it, else TRACE_CHAIN_NONE (then
 * trace_chain_define_here defines it). Walks at most TRACE_SITE_DEPTH frames.
 */
static ALWAYS_INLINE uint32_t trace_chain_lookup(const struct tracer *t, const void *frame)
{
	_Static_assert(TRACE_CHAIN_KEY_FRAMES == 3, "the key is ip0, ip1, ip2");
	const struct trace_chain_table *table = t->chains;
	if (unlikely(!table))
		return TRACE_CHAIN_NONE;
	const uintptr_t *fp = frame;
	uint64_t key[TRACE_CHAIN_KEY_FRAMES] = { fp[1], 0, 0 };
	unsigned depth = 1;
#pragma GCC unroll 2
	for (unsigned i = 1; i < TRACE_CHAIN_KEY_FRAMES; i++) {
		uintptr_t next = fp[0];
		if (!trace_chain_may_follow(fp, next))
			break;
		fp = (const uintptr_t *)next;
		key[i] = fp[1];
		depth = i + 1;
	}
	const struct trace_chain_entry *e = &table->entry[trace_chain_slot(key[0], key[1], key[2])];
	uint64_t differ = (key[0] ^ e->ip[0]) | (key[1] ^ e->ip[1]) | (key[2] ^ e->ip[2]);
	if (depth == TRACE_CHAIN_KEY_FRAMES) {
#pragma GCC unroll 8
		for (unsigned i = TRACE_CHAIN_KEY_FRAMES; i < TRACE_SITE_DEPTH; i++) {
			uintptr_t next = fp[0];
			if (!trace_chain_may_follow(fp, next))
				break;
			fp = (const uintptr_t *)next;
			differ |= fp[1] ^ e->ip[i];
			depth = i + 1;
		}
	}
	differ |= depth ^ e->depth;
	return differ ? TRACE_CHAIN_NONE : e->id;
}

/* The id of the chain of `frame`, defining it first when the stream does not have it yet. */
static ALWAYS_INLINE uint32_t trace_chain_here(struct tracer *t, const void *frame)
{
	uint32_t id = trace_chain_lookup(t, frame);
	return likely(id != TRACE_CHAIN_NONE) ? id : trace_chain_define_here(t, frame);
}

#endif
