/*
 * Call chains for attribution: who asked for an allocation. Right before each pmm_alloc,
 * kmalloc, slab_alloc and vmm_reserve record, its tracepoint (tracepoints.h) emits an alloc_site
 * record (trace/events.def) with the return addresses of the frames above the function that
 * allocates, innermost first; the host names them from the kernel's ELF (analyzer/attribution.py).
 *
 * The chain is found by walking frame pointers (the kernel is built with
 * -fno-omit-frame-pointer; kernel_entry64 clears the frame pointer, so the walk ends at 0 there).
 * Layout assumed, as on x86-64 and AArch64 with frame pointers: a frame pointer points at
 * { saved caller frame pointer, return address }.
 *
 * Bounds and safety: at most TRACE_SITE_DEPTH frames. A next frame pointer is followed only when
 * it is word-aligned and lies above the current one by less than TRACE_CHAIN_STACK_SPAN bytes
 * (a caller's frame is always higher on a downward-growing stack, and no kernel stack is that
 * large), so a garbage or user-mode frame pointer ends the walk before it is read. Allocates
 * nothing and takes no lock: it only reads the current stack.
 */
#ifndef PAGESCOPE_TRACE_CALL_CHAIN_H
#define PAGESCOPE_TRACE_CALL_CHAIN_H

#include "tracer.h"

#define TRACE_CHAIN_STACK_SPAN (64u * 1024u)

/* The events whose records get an alloc_site right before them (a compile-time constant test). */
#define TRACE_ATTRIBUTED(id)                                                        \
	((id) == TRACE_ID_pmm_alloc || (id) == TRACE_ID_kmalloc ||                  \
	 (id) == TRACE_ID_slab_alloc || (id) == TRACE_ID_vmm_reserve)

/*
 * Emits the alloc_site record of the frame `frame` (the __builtin_frame_address(0) of the
 * allocating function): its return address first, then its callers'.
 */
void trace_emit_call_chain(struct tracer *t, const void *frame);

#endif
