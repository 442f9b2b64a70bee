/* The frame-pointer walk behind alloc_site records; rules and bounds in call_chain.h. */
#include "call_chain.h"
#include "tracepoints.h"

void trace_emit_call_chain(struct tracer *t, const void *frame)
{
	uint64_t ip[TRACE_SITE_DEPTH] = { 0 };
	const uintptr_t *fp = frame;
	for (unsigned depth = 0; fp && depth < TRACE_SITE_DEPTH; depth++) {
		ip[depth] = fp[1];
		uintptr_t next = fp[0];
		if (next % sizeof(uintptr_t) || next <= (uintptr_t)fp ||
		    next - (uintptr_t)fp >= TRACE_CHAIN_STACK_SPAN)
			break;
		fp = (const uintptr_t *)next;
	}
	_Static_assert(TRACE_SITE_DEPTH == 8, "alloc_site carries ip0..ip7");
	trace_emit_alloc_site(t, ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6], ip[7]);
}
