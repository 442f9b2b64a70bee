/*
 * The tracer's slow paths: moving between sub-buffers, handing them to the sink, reporting
 * losses, assembling array records, and ending the stream. The ring, its invariants and the
 * policies are described in tracer.h; the fast path lives there too (trace_reserve/commit).
 */
#include "tracer.h"
#include "call_chain.h"
#include "kernel/lib/string.h"
#include "kernel/mm/mm_env.h"

#define RECORD_HEADER_BYTES ((uint32_t)sizeof(struct trace_record_header))
#define LOSS_RECORD_BYTES (RECORD_HEADER_BYTES + (uint32_t)sizeof(struct trace_payload_loss))

STATIC_ASSERT(RECORD_HEADER_BYTES + sizeof(struct trace_payload_trace_end) +
			      TRACE_EVENT_ID_LIMIT * sizeof(struct trace_item_trace_end) <=
		      TRACE_RECORD_MAX,
	      "trace_end must fit in one record");

void trace_init(struct tracer *t, uint8_t *storage, uint32_t subbuf_bytes, uint32_t subbuf_count,
		enum trace_policy policy, uint64_t (*clock)(void))
{
	MM_ASSERT(subbuf_bytes >= TRACE_CHUNK_HEADER_BYTES + TRACE_RECORD_MAX && subbuf_count >= 2 &&
			  subbuf_count <= TRACE_SUBBUFS_MAX,
		  "trace_init: bad geometry %u x %u", subbuf_count, subbuf_bytes);
	*t = (struct tracer)TRACE_TRACER_INITIALIZER(storage, subbuf_bytes, subbuf_count, policy,
						      clock);
}

void trace_discard(struct tracer *t)
{
	MM_ASSERT(!t->sink.submit, "trace_discard: records already went to a sink");
	struct trace_chain_table *chains = t->chains;
	trace_init(t, t->storage, t->subbuf_bytes, t->subbuf_count, t->policy, t->clock);
	t->chains = chains;
	trace_chain_forget(t);
}

static uint8_t *subbuf_base(const struct tracer *t, uint32_t number)
{
	return t->storage + (uint64_t)(number % t->subbuf_count) * t->subbuf_bytes;
}

static bool has_unreported_losses(const struct tracer *t)
{
	for (unsigned r = 0; r < TRACE_LOSS_REASONS; r++)
		if (t->lost_unreported[r])
			return true;
	return false;
}

/* Re-arms the fast path when nothing needs the slow one. */
static void update_limit(struct tracer *t)
{
	bool fast = t->has_open && !t->busy && !has_unreported_losses(t);
	t->room_end = fast ? t->open_base + t->subbuf_bytes : NULL;
}

static void note_loss(struct tracer *t, uint8_t reason)
{
	t->lost[reason]++;
	t->lost_unreported[reason]++;
	t->room_end = NULL;
}

static void submit_closed(struct tracer *t)
{
	if (!t->sink.submit)
		return;
	for (; t->submitted != t->closed; t->submitted++) {
		uint32_t bytes = t->used[t->submitted % t->subbuf_count];
		t->sink.submit(t->sink.ctx, subbuf_base(t, t->submitted), bytes);
		t->bytes_submitted += bytes;
	}
}

/* Takes back what the sink finished; returns false when nothing came back. */
static bool reclaim(struct tracer *t, bool wait)
{
	if (!t->sink.reclaim || t->reclaimed == t->submitted)
		return false;
	uint32_t done = t->sink.reclaim(t->sink.ctx, wait);
	MM_ASSERT(done <= t->submitted - t->reclaimed, "trace: sink finished %u of %u buffers", done,
		  t->submitted - t->reclaimed);
	t->reclaimed += done;
	return done != 0;
}

/* Whether the open sub-buffer holds a record (else closing it would send an empty chunk). */
static bool open_has_records(const struct tracer *t)
{
	return t->has_open && trace_open_bytes(t) > TRACE_CHUNK_HEADER_BYTES;
}

/* Closes the open sub-buffer, which holds a record: its chunk header is written now, when its
 * bytes are known, and it goes to the sink if there is one. */
static void close_open(struct tracer *t)
{
	uint32_t bytes = trace_open_bytes(t);
	struct trace_chunk_header *chunk = (struct trace_chunk_header *)t->open_base;
	chunk->bytes = bytes;
	chunk->number = t->closed;
	t->used[t->closed % t->subbuf_count] = bytes;
	t->bytes_closed += bytes;
	t->closed++;
	t->has_open = false;
	t->cursor = t->open_base;
	submit_closed(t);
}

/* Opens the next sub-buffer once its slot is free; false (and why) when it cannot. */
static bool open_next(struct tracer *t, uint8_t *loss_reason)
{
	while (t->closed - t->reclaimed + 1 > t->subbuf_count) {
		if (!t->sink.submit) {
			*loss_reason = TRACE_LOSS_NO_DEVICE;
			return false;
		}
		/* A waiting reclaim returns nothing only for a device that failed: drop, don't hang. */
		if (!reclaim(t, t->policy == TRACE_POLICY_LOSSLESS)) {
			*loss_reason = TRACE_LOSS_RING_FULL;
			return false;
		}
	}
	t->open_base = subbuf_base(t, t->closed);
	t->cursor = t->open_base + TRACE_CHUNK_HEADER_BYTES;
	t->has_open = true;
	return true;
}

/* Room for len bytes in the open sub-buffer, moving to the next one if needed. */
static void *make_room(struct tracer *t, uint32_t len, uint8_t *loss_reason)
{
	if (t->has_open && trace_open_bytes(t) + len > t->subbuf_bytes)
		close_open(t); /* it holds a record: a chunk header and any record fit in an empty one */
	if (!t->has_open && !open_next(t, loss_reason))
		return NULL;
	return t->cursor;
}

/* Writes one loss record per reason with unreported losses; false if there was no room. */
static bool report_losses(struct tracer *t, uint8_t *loss_reason)
{
	for (uint8_t r = 0; r < TRACE_LOSS_REASONS; r++) {
		if (!t->lost_unreported[r])
			continue;
		struct trace_record_header *h = make_room(t, LOSS_RECORD_BYTES, loss_reason);
		if (!h)
			return false;
		struct trace_payload_loss *p = (struct trace_payload_loss *)(h + 1);
		p->count = t->lost_unreported[r];
		p->reason = r;
		trace_commit(t, h, TRACE_ID_loss, 0, LOSS_RECORD_BYTES);
		t->lost_unreported[r] = 0;
	}
	return true;
}

void *trace_reserve_slow(struct tracer *t, uint32_t len)
{
	MM_ASSERT(len <= TRACE_RECORD_MAX, "trace_reserve: %u-byte record", len);
	if (t->busy) {
		note_loss(t, TRACE_LOSS_RECURSION);
		return NULL;
	}
	t->busy = true;
	t->room_end = NULL;
	uint8_t loss_reason = TRACE_LOSS_RING_FULL;
	void *record = NULL;
	if (report_losses(t, &loss_reason))
		record = make_room(t, len, &loss_reason);
	if (!record)
		note_loss(t, loss_reason);
	t->busy = false;
	update_limit(t);
	return record;
}

bool trace_attach_sink(struct tracer *t, const struct trace_sink *sink, const void *header,
		       uint32_t header_bytes)
{
	t->busy = true;
	t->room_end = NULL;
	sink->submit(sink->ctx, header, header_bytes);
	bool header_sent = sink->reclaim(sink->ctx, true) == 1;
	if (header_sent) {
		t->sink = *sink;
		t->bytes_submitted += header_bytes;
		submit_closed(t);
	}
	t->busy = false;
	update_limit(t);
	return header_sent;
}

void trace_flush(struct tracer *t)
{
	if (t->busy || !t->sink.submit)
		return;
	t->busy = true;
	t->room_end = NULL;
	if (open_has_records(t))
		close_open(t);
	while (t->reclaimed != t->submitted && reclaim(t, true))
		;
	t->busy = false;
	update_limit(t);
}

void trace_finish(struct tracer *t)
{
	uint8_t ignored_reason;
	t->policy = TRACE_POLICY_LOSSLESS;
	t->busy = true;
	report_losses(t, &ignored_reason);
	t->busy = false;
	update_limit(t);

	struct trace_payload_trace_end end = {
		.records = trace_records_written(t),
		.lost_ring_full = t->lost[TRACE_LOSS_RING_FULL],
		.lost_no_device = t->lost[TRACE_LOSS_NO_DEVICE],
		.lost_recursion = t->lost[TRACE_LOSS_RECURSION],
		.bytes = t->bytes_closed + trace_open_bytes(t) -
			 (uint64_t)(t->closed + t->has_open) * TRACE_CHUNK_HEADER_BYTES,
	};
	if (trace_array_begin(t, TRACE_ID_trace_end, &end, sizeof(end),
			      sizeof(struct trace_item_trace_end))) {
		for (unsigned id = 0; id < TRACE_EVENT_ID_LIMIT; id++) {
			struct trace_item_trace_end *item = trace_array_item(t, TRACE_ID_trace_end);
			item->count = t->emitted[id];
		}
		trace_array_end(t, TRACE_ID_trace_end);
	}
	trace_flush(t);
}

/* ---- array records --------------------------------------------------------------------------- */

bool trace_array_begin(struct tracer *t, uint8_t type, const void *payload, uint16_t payload_bytes,
		       uint16_t item_bytes)
{
	struct trace_array_builder *a = &t->array;
	if (a->open) {
		note_loss(t, TRACE_LOSS_RECURSION);
		return false;
	}
	a->open = true;
	a->type = type;
	a->fixed_bytes = (uint16_t)(RECORD_HEADER_BYTES + payload_bytes);
	a->item_bytes = item_bytes;
	a->items = 0;
	a->used = a->fixed_bytes;
	KLIB(memcpy)(a->part + RECORD_HEADER_BYTES, payload, payload_bytes);
	return true;
}

/*
 * Writes the part built so far. A lost part is counted like any lost record; later parts still
 * follow, and the reader sees the loss record between them.
 */
static void emit_part(struct tracer *t, uint8_t flags)
{
	struct trace_array_builder *a = &t->array;
	uint16_t count = a->items;
	KLIB(memcpy)(a->part + a->fixed_bytes - sizeof(count), &count, sizeof(count));
	void *record = trace_reserve(t, a->used);
	if (record) {
		KLIB(memcpy)(record, a->part, a->used);
		trace_commit(t, record, a->type, flags, a->used);
	}
	a->used = a->fixed_bytes;
	a->items = 0;
}

void *trace_array_item(struct tracer *t, uint8_t type)
{
	struct trace_array_builder *a = &t->array;
	if (!a->open || a->type != type)
		return NULL;
	if (a->used + a->item_bytes > TRACE_RECORD_MAX)
		emit_part(t, TRACE_FLAG_CONTINUED);
	void *item = a->part + a->used;
	a->used += a->item_bytes;
	a->items++;
	return item;
}

void trace_array_end(struct tracer *t, uint8_t type)
{
	struct trace_array_builder *a = &t->array;
	if (!a->open || a->type != type)
		return;
	emit_part(t, 0);
	a->open = false;
}

uint64_t trace_clock_tsc(void)
{
#ifdef PAGESCOPE_HOST
	return __builtin_ia32_rdtsc();
#else
	return kernel_clock_now();
#endif
}

uint64_t trace_records_written(const struct tracer *t)
{
	uint64_t records = 0;
	for (unsigned id = 0; id < TRACE_EVENT_ID_LIMIT; id++)
		records += t->emitted[id];
	return records;
}

uint64_t trace_first_timestamp(const struct tracer *t, uint64_t now)
{
	if (t->sink.submit || trace_records_written(t) == 0)
		return now;
	const struct trace_record_header *first =
		(const void *)(t->storage + TRACE_CHUNK_HEADER_BYTES);
	return first->timestamp < now ? first->timestamp : now;
}
