/*
 * The bodies of the fixed and attributed encoders, generated from trace/events.def, inline: the
 * out-of-line encoders of tracepoints.h are made from them (tracepoints.c), and an allocator's
 * out-of-line tracing function may inline the one it emits (page_allocator.c), so that its
 * fields go straight from registers into the ring instead of through a call of ten arguments.
 *
 * Per record on the fast path: one compare for room in the open sub-buffer, the payload stores,
 * the header (type, flags and length in one store; timestamp), the per-type count and the
 * new cursor. No call: the slow path (a sub-buffer to close, losses to report) is the separate
 * trace_emit_slow_NAME (tracepoints.c), which reads the clock again because it may write loss
 * records first and timestamps never decrease along the stream.
 *
 * Two phases (generated for every fixed and attributed event; page_allocator.h's traced free
 * uses pmm_free's), for an operation whose fields but its cost are known before its work:
 *
 *   if (trace_can_begin_NAME(t)) {              room at the cursor (else: the one-phase encoder)
 *           h = trace_begin_NAME(t, fields...);  the payload stored at the cursor, uncommitted;
 *           ... the operation ...                `cost` holds its start (trace_cost_start)
 *           trace_end_NAME(t, h);                clock read: cost = now - start, header, commit
 *   }
 *
 * so that only h lives across the operation, not the fields nor the start. Between begin and
 * end nothing may write into the ring (tracer.h: the window has the same rule as the fast path's
 * reserve and commit, only wider): the operation emits no event and cannot fault. The record's
 * timestamp is the clock at its end, as a one-phase record's.
 */
#ifndef PAGESCOPE_TRACE_TRACE_ENCODERS_H
#define PAGESCOPE_TRACE_TRACE_ENCODERS_H

#include "tracepoints.h"

#define TRACE_RECORD_HEADER_BYTES ((uint32_t)sizeof(struct trace_record_header))

/*
 * A payload field's store into the ring. Byte fields are stored one by one (a volatile store
 * each): merged, GCC builds the bytes that lie side by side in a register from a constant
 * template first, 6 instructions for pmm_free's zone and owner where 2 stores do.
 */
#define TRACE_OP_FILL(type, name) TRACE_FILL_##type(name)
#define TRACE_FILL_u8(name) *(volatile trace_u8 *)&p->name = name;
#define TRACE_FILL_u16(name) p->name = name;
#define TRACE_FILL_u32(name) p->name = name;
#define TRACE_FILL_u64(name) p->name = name;

#define FIELD TRACE_FIELD_SEQ
#define TRACE_CONSTANT TRACE_DEF_NOTHING
#define TRACE_VALUES TRACE_DEF_NOTHING
#define TRACE_STREAM_HEADER TRACE_DEF_NOTHING
#define TRACE_RECORD_HEADER TRACE_DEF_NOTHING
#define TRACE_CHUNK_HEADER TRACE_DEF_NOTHING
#define TRACE_STRING_EVENT TRACE_DEF_NOTHING
#define TRACE_ARRAY_EVENT TRACE_DEF_NOTHING
/*
 * The end phase's work on a field: a `cost` field holds the operation's start until the end,
 * which turns it into the cost (events.def: ticks from the operation's entry to its event);
 * nothing for any other field. TRACE_IS_COST(name) is 1 for `cost` and 0 for any other name (a
 * name with a TRACE_PROBE_ macro of its own shifts a 1 into the second place).
 */
#define TRACE_PROBE_cost ~, 1
#define TRACE_SECOND_(a, b, ...) b
#define TRACE_SECOND(...) TRACE_SECOND_(__VA_ARGS__)
#define TRACE_IS_COST(name) TRACE_SECOND(TRACE_CAT(TRACE_PROBE_, name), 0, ~)
#define TRACE_OP_END(type, name) TRACE_CAT(TRACE_END_COST_, TRACE_IS_COST(name))(name)
#define TRACE_END_COST_0(name)
#define TRACE_END_COST_1(name) p->name = trace_cost_of(p->name, end);

#define TRACE_FIXED_ENCODER_BODY(name, ...)                                             \
	void trace_emit_slow_##name(struct tracer *t TRACE_PARAMS(__VA_ARGS__));         \
	static ALWAYS_INLINE void trace_store_##name(struct trace_record_header *h       \
						     TRACE_PARAMS(__VA_ARGS__))          \
	{                                                                                \
		struct trace_payload_##name *p = (struct trace_payload_##name *)(h + 1); \
		TRACE_EACH(TRACE_OP_FILL, __VA_ARGS__)                                        \
	}                                                                                \
	static ALWAYS_INLINE void trace_fill_##name(struct tracer *t,                    \
						    struct trace_record_header *h,       \
						    uint64_t timestamp TRACE_PARAMS(__VA_ARGS__)) \
	{                                                                                \
		trace_store_##name(h TRACE_ARGS(__VA_ARGS__));                           \
		trace_commit_at(t, h, TRACE_ID_##name, 0, TRACE_BYTES_##name, timestamp); \
	}                                                                                \
	static ALWAYS_INLINE void trace_emit_inline_##name(struct tracer *t,            \
							   uint64_t timestamp TRACE_PARAMS(__VA_ARGS__)) \
	{                                                                                \
		if (unlikely(!trace_can_begin_##name(t))) {                              \
			trace_emit_slow_##name(t TRACE_ARGS(__VA_ARGS__));                    \
			return;                                                          \
		}                                                                        \
		trace_fill_##name(t, (struct trace_record_header *)t->cursor,            \
				  timestamp TRACE_ARGS(__VA_ARGS__));                         \
	}                                                                                \
	static ALWAYS_INLINE struct trace_record_header *trace_begin_##name(            \
		struct tracer *t TRACE_PARAMS(__VA_ARGS__))                              \
	{                                                                                \
		struct trace_record_header *h = (struct trace_record_header *)t->cursor; \
		trace_store_##name(h TRACE_ARGS(__VA_ARGS__));                           \
		/* the record's end is computed again at its commit, not kept from the  \
		 * room test across the operation */                                    \
		__asm__("" : "+r"(h));                                                   \
		return h;                                                                \
	}                                                                                \
	static ALWAYS_INLINE void trace_end_##name(struct tracer *t,                     \
						   struct trace_record_header *h)        \
	{                                                                                \
		uint64_t end = trace_clock_raw(t);                                       \
		struct trace_payload_##name *p = (struct trace_payload_##name *)(h + 1); \
		TRACE_EACH(TRACE_OP_END, __VA_ARGS__)                                         \
		(void)p;                                                                 \
		trace_commit_at(t, h, TRACE_ID_##name, 0, TRACE_BYTES_##name,            \
				trace_clock_at(end));                                    \
	}
/* A record's bytes, its header included, and whether they fit at the cursor (two phases: before
 * trace_begin_NAME; one phase: trace_emit_inline_NAME's own test). */
#define TRACE_RECORD_BYTES(name)                                                         \
	enum { TRACE_BYTES_##name = TRACE_RECORD_HEADER_BYTES + sizeof(struct trace_payload_##name) }; \
	static ALWAYS_INLINE bool trace_can_begin_##name(const struct tracer *t)         \
	{                                                                                \
		return trace_has_room(t, TRACE_BYTES_##name);                            \
	}
#define TRACE_EVENT(name, id, doc, fields) TRACE_RECORD_BYTES(name) TRACE_FIXED_ENCODER_BODY(name, fields)
/*
 * An attributed event from `frame` (call_chain.h), with the tracepoint's own cache compared first
 * (the allocators' traced copies: page_allocator.h): a chain the cache holds costs the walk that
 * compares it; one it does not hold is trace_emit_filling_NAME's (tracepoints.c), out of line and
 * last, so that no field lives across a call (where one did, the traced copies kept the fields in
 * registers they must save and restore): it takes the table's id or writes the call_chain record,
 * reads the clock again (the caller's timestamp would be too early after that record) and writes
 * the event.
 */
#define TRACE_ATTRIBUTED_EVENT(name, id, doc, fields)                                    \
	TRACE_RECORD_BYTES(name)                                                         \
	TRACE_FIXED_ENCODER_BODY(name, fields FIELD(u32, chain))                         \
	void trace_emit_filling_##name(struct tracer *t, struct trace_chain_cache *site_cache, \
				       const void *frame TRACE_PARAMS(fields));          \
	static ALWAYS_INLINE void trace_emit_inline_cached_##name(                       \
		struct tracer *t, struct trace_chain_cache *site_cache, const void *frame, \
		uint64_t timestamp TRACE_PARAMS(fields))                                 \
	{                                                                                \
		uint32_t chain = trace_chain_lookup_cached(site_cache, frame);           \
		if (unlikely(chain == TRACE_CHAIN_NONE)) {                               \
			trace_emit_filling_##name(t, site_cache, frame TRACE_ARGS(fields)); \
			return;                                                          \
		}                                                                        \
		trace_emit_inline_##name(t, timestamp TRACE_ARGS(fields), chain);        \
	}
#include "trace/events.def"
#undef TRACE_EVENT
#undef TRACE_ATTRIBUTED_EVENT
#undef TRACE_STRING_EVENT
#undef TRACE_ARRAY_EVENT
#undef TRACE_CONSTANT
#undef TRACE_VALUES
#undef TRACE_STREAM_HEADER
#undef TRACE_RECORD_HEADER
#undef TRACE_CHUNK_HEADER
#undef FIELD

#endif
