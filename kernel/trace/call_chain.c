/* The chain table behind the attributed records' `chain` ids; rules and bounds in call_chain.h. */
#include "call_chain.h"
#include "tracepoints.h"
#include "kernel/lib/string.h"

/* The return addresses of `frame`'s chain into ip (0 past its end); returns how many. */
static unsigned walk(const void *frame, uint64_t ip[TRACE_SITE_DEPTH])
{
	const uintptr_t *fp = frame;
	unsigned depth = 0;
	for (;;) {
		ip[depth++] = fp[1];
		if (depth == TRACE_SITE_DEPTH || !trace_chain_may_follow(fp, fp[0]))
			break;
		fp = (const uintptr_t *)fp[0];
	}
	for (unsigned i = depth; i < TRACE_SITE_DEPTH; i++)
		ip[i] = 0;
	return depth;
}

uint32_t trace_chain_define_here(struct tracer *t, const void *frame)
{
	uint64_t ip[TRACE_SITE_DEPTH];
	unsigned depth = walk(frame, ip);
	uint32_t id = t->chains_defined + 1;
	uint64_t written = t->emitted[TRACE_ID_call_chain];
	_Static_assert(TRACE_SITE_DEPTH == 8, "call_chain carries ip0..ip7");
	trace_emit_call_chain(t, id, ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6], ip[7]);
	if (t->emitted[TRACE_ID_call_chain] == written)
		return TRACE_CHAIN_NONE;
	t->chains_defined = id;
	if (t->chains) {
		/* the newest chain takes the entry: the one it displaces is defined again if it recurs */
		struct trace_chain_entry *e = &t->chains->entry[trace_chain_slot(ip[0], ip[1], ip[2])];
		KLIB(memcpy)(e->ip, ip, sizeof(e->ip));
		e->depth = depth;
		e->id = id;
	}
	return id;
}

void trace_chain_forget(struct tracer *t)
{
	if (t->chains)
		KLIB(memset)(t->chains, 0, sizeof(*t->chains));
}
