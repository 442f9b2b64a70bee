/* The chain table behind the attributed records' `chain` ids; rules and bounds in call_chain.h. */
#include "call_chain.h"
#include "tracepoints.h"
#include "kernel/lib/string.h"

const uintptr_t trace_chain_end_frame[2] = { (uintptr_t)trace_chain_end_frame, 0 };

/*
 * The frames of `frame`'s chain into e (the end frame and 0 past its end); returns its depth. A
 * zero return address ends the chain too (what follows it is not a caller), so that in an entry
 * ip[i] == 0 means the chain has ended by frame i, which the lookup's test of its end relies on.
 */
static unsigned walk(const void *frame, struct trace_chain_entry *e)
{
	const uintptr_t *fp = frame;
	unsigned depth = 0;
	for (;;) {
		e->fp[depth] = (uintptr_t)fp;
		e->ip[depth++] = fp[1];
		if (depth == TRACE_SITE_DEPTH || !fp[1] || !trace_chain_may_follow(fp, fp[0]))
			break;
		fp = (const uintptr_t *)fp[0];
	}
	for (unsigned i = depth; i < TRACE_SITE_DEPTH; i++) {
		e->fp[i] = (uintptr_t)trace_chain_end_frame;
		e->ip[i] = 0;
	}
	return depth;
}

uint32_t trace_chain_define_here(struct tracer *t, const void *frame)
{
	struct trace_chain_entry found;
	walk(frame, &found);
	const uint64_t *ip = found.ip;
	uint32_t id = t->chains_defined + 1;
	uint64_t written = t->emitted[TRACE_ID_call_chain];
	_Static_assert(TRACE_SITE_DEPTH == 8, "call_chain carries ip0..ip7");
	trace_emit_call_chain(t, id, ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6], ip[7]);
	if (t->emitted[TRACE_ID_call_chain] == written)
		return TRACE_CHAIN_NONE;
	t->chains_defined = id;
	if (t->chains) {
		/* the newest chain takes the entry: the one it displaces is defined again if it recurs */
		unsigned slot = trace_chain_slot((uintptr_t)frame, found.ip[0]);
		t->chains->entry[slot] = found;
		t->chains->id[slot] = id;
	}
	return id;
}

/* Every cache trace_chain_cache_fill filled, for trace_chain_forget. */
static struct trace_chain_cache *caches_filled;

uint32_t trace_chain_cache_fill(struct tracer *t, struct trace_chain_cache *cache,
				const void *frame)
{
	uint32_t id = trace_chain_here(t, frame);
	if (id == TRACE_CHAIN_NONE)
		return id;
	/* the table's entry holds it now (found there or just defined into it): a copy of it costs
	 * less than walking the frames again, which only a tracer without a table does */
	if (t->chains) {
		const uintptr_t *fp = frame;
		cache->entry = t->chains->entry[trace_chain_slot((uintptr_t)fp, fp[1])];
	} else {
		walk(frame, &cache->entry);
	}
	cache->id = id;
	if (!cache->listed) {
		cache->listed = true;
		cache->next = caches_filled;
		caches_filled = cache;
	}
	return id;
}

void trace_chain_forget(struct tracer *t)
{
	if (t->chains)
		KLIB(memset)(t->chains, 0, sizeof(*t->chains));
	for (struct trace_chain_cache *c = caches_filled; c; c = c->next) {
		KLIB(memset)(&c->entry, 0, sizeof(c->entry));
		c->id = TRACE_CHAIN_NONE;
	}
}
