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
 * The tracer's table (struct trace_chain_table, TRACE_CHAIN_SETS sets of 2 ways, the last used
 * first) remembers which chains the stream already defines; a chain it no longer holds is simply
 * defined again under a new id. So:
 *   - ids go 1, 2, 3, ... in stream order, each defined once (an id advances only when its
 *     call_chain record was written into the ring, which then reaches the stream); a record
 *     whose call_chain was lost (ring full under trace=drop, no device yet) carries
 *     TRACE_CHAIN_NONE;
 *   - a tracer without a table (chains == NULL: host tests' own tracers) defines every chain
 *     anew, which is the same stream with more call_chain records;
 *   - trace_discard forgets the table with the records it drops.
 *
 * Bounds and safety: at most TRACE_SITE_DEPTH frames. A next frame pointer is followed only when
 * it is word-aligned and lies above the current one by at most TRACE_CHAIN_STACK_SPAN bytes (a
 * caller's frame is always higher on a downward-growing stack, and no kernel stack is that
 * large), so a garbage or user-mode frame pointer ends the walk before it is read. Cost: the walk,
 * one hash and the compare of one set (2 x TRACE_SITE_DEPTH words) per attributed record; the
 * table costs TRACE_CHAIN_SETS * 2 * 72 bytes, static. Allocates nothing and takes no lock.
 */
#ifndef PAGESCOPE_TRACE_CALL_CHAIN_H
#define PAGESCOPE_TRACE_CALL_CHAIN_H

#include "tracer.h"

#define TRACE_CHAIN_STACK_SPAN (64u * 1024u)
#define TRACE_CHAIN_SETS_LOG2 10
#define TRACE_CHAIN_SETS (1u << TRACE_CHAIN_SETS_LOG2)
#define TRACE_CHAIN_WAYS 2

/* A chain the stream defines: its return addresses (0 past its end) and id (0 = empty way). */
struct trace_chain_entry {
	uint64_t ip[TRACE_SITE_DEPTH];
	uint32_t id;
};

struct trace_chain_table {
	struct trace_chain_entry set[TRACE_CHAIN_SETS][TRACE_CHAIN_WAYS];
};

/* Writes a new chain's call_chain record and remembers it in `set` (NULL: no table). Returns its
 * id, or TRACE_CHAIN_NONE when the record was lost. */
uint32_t trace_chain_define(struct tracer *t, const uint64_t ip[TRACE_SITE_DEPTH],
			    struct trace_chain_entry *set);

/* Forgets every chain (the stream no longer holds their definitions). */
void trace_chain_forget(struct tracer *t);

/*
 * The id of the chain of `frame`, the __builtin_frame_address(0) of the attributed encoder,
 * defining it first when the stream does not have it yet.
 */
static ALWAYS_INLINE uint32_t trace_chain_here(struct tracer *t, const void *frame)
{
	uint64_t ip[TRACE_SITE_DEPTH];
	uint64_t hash = 0;
	const uintptr_t *fp = frame;
	unsigned depth = 0;
#pragma GCC unroll 8
	while (depth < TRACE_SITE_DEPTH) {
		uint64_t address = fp[1];
		ip[depth++] = address;
		hash = hash * 3 + address;
		if (depth == TRACE_SITE_DEPTH)
			break;
		/* one test for "word-aligned, above fp by 8 .. TRACE_CHAIN_STACK_SPAN bytes" */
		uintptr_t step = fp[0] - (uintptr_t)fp - sizeof(uintptr_t);
		if (step & ~(uintptr_t)(TRACE_CHAIN_STACK_SPAN - sizeof(uintptr_t)))
			break;
		fp = (const uintptr_t *)(fp[0]);
	}
	for (unsigned i = depth; i < TRACE_SITE_DEPTH; i++)
		ip[i] = 0;
	struct trace_chain_entry *set = NULL;
	if (likely(t->chains)) {
		set = t->chains->set[(hash * 0x9e3779b97f4a7c15ull) >> (64 - TRACE_CHAIN_SETS_LOG2)];
#pragma GCC unroll 2
		for (unsigned way = 0; way < TRACE_CHAIN_WAYS; way++) {
			uint64_t differ = 0;
#pragma GCC unroll 8
			for (unsigned i = 0; i < TRACE_SITE_DEPTH; i++)
				differ |= set[way].ip[i] ^ ip[i];
			if (!differ && set[way].id)
				return set[way].id;
		}
	}
	return trace_chain_define(t, ip, set);
}

#endif
