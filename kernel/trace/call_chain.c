/* The chain table behind the attributed records' `chain` ids; rules and bounds in call_chain.h. */
#include "call_chain.h"
#include "tracepoints.h"
#include "kernel/lib/string.h"

uint32_t trace_chain_define(struct tracer *t, const uint64_t ip[TRACE_SITE_DEPTH],
			    struct trace_chain_entry *set)
{
	uint32_t id = t->chains_defined + 1;
	uint64_t written = t->emitted[TRACE_ID_call_chain];
	_Static_assert(TRACE_SITE_DEPTH == 8, "call_chain carries ip0..ip7");
	trace_emit_call_chain(t, id, ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6], ip[7]);
	if (t->emitted[TRACE_ID_call_chain] == written)
		return TRACE_CHAIN_NONE;
	t->chains_defined = id;
	if (set) {
		/* the newest chain in way 0, the one it displaces in way 1 */
		for (unsigned way = TRACE_CHAIN_WAYS - 1; way > 0; way--)
			set[way] = set[way - 1];
		KLIB(memcpy)(set[0].ip, ip, sizeof(set[0].ip));
		set[0].id = id;
	}
	return id;
}

void trace_chain_forget(struct tracer *t)
{
	if (t->chains)
		KLIB(memset)(t->chains, 0, sizeof(*t->chains));
}
