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
#define TRACE_FIXED_ENCODER_BODY(name, ...)                                             \
	void trace_emit_slow_##name(struct tracer *t TRACE_PARAMS(__VA_ARGS__));         \
	static ALWAYS_INLINE void trace_fill_##name(struct tracer *t,                    \
						    struct trace_record_header *h,       \
						    uint64_t timestamp TRACE_PARAMS(__VA_ARGS__)) \
	{                                                                                \
		struct trace_payload_##name *p = (struct trace_payload_##name *)(h + 1); \
		TRACE_EACH(TRACE_OP_FILL, __VA_ARGS__)                                        \
		trace_commit_at(t, h, TRACE_ID_##name, 0,                                \
				TRACE_RECORD_HEADER_BYTES + sizeof(struct trace_payload_##name), \
				timestamp);                                              \
	}                                                                                \
	static ALWAYS_INLINE void trace_emit_inline_##name(struct tracer *t,            \
							   uint64_t timestamp TRACE_PARAMS(__VA_ARGS__)) \
	{                                                                                \
		const uint32_t len = TRACE_RECORD_HEADER_BYTES + sizeof(struct trace_payload_##name); \
		if (unlikely(!trace_has_room(t, len))) {                                 \
			trace_emit_slow_##name(t TRACE_ARGS(__VA_ARGS__));                    \
			return;                                                          \
		}                                                                        \
		trace_fill_##name(t, (struct trace_record_header *)t->cursor,            \
				  timestamp TRACE_ARGS(__VA_ARGS__));                         \
	}
#define TRACE_EVENT(name, id, doc, fields) TRACE_FIXED_ENCODER_BODY(name, fields)
/*
 * An attributed event from `frame` (call_chain.h): a chain the table holds costs the walk that
 * compares it; a new one is trace_emit_defining_NAME's (tracepoints.c), out of line and last, so
 * that no field lives across a call (where one did, the traced copies kept the fields in
 * registers they must save and restore): it writes the call_chain record, reads the clock again
 * (the caller's timestamp would be too early after that record) and writes the event.
 */
#define TRACE_ATTRIBUTED_EVENT(name, id, doc, fields)                                    \
	TRACE_FIXED_ENCODER_BODY(name, fields FIELD(u32, chain))                         \
	void trace_emit_defining_##name(struct tracer *t, const void *frame TRACE_PARAMS(fields)); \
	static ALWAYS_INLINE void trace_emit_inline_stamped_##name(                      \
		struct tracer *t, const void *frame, uint64_t timestamp TRACE_PARAMS(fields)) \
	{                                                                                \
		uint32_t chain = trace_chain_lookup_in(trace_chains_of(t), frame);       \
		if (unlikely(chain == TRACE_CHAIN_NONE)) {                               \
			trace_emit_defining_##name(t, frame TRACE_ARGS(fields));         \
			return;                                                          \
		}                                                                        \
		trace_emit_inline_##name(t, timestamp TRACE_ARGS(fields), chain);        \
	}                                                                                \
	/* The same with the tracepoint's own cache compared first (call_chain.h); a chain it \
	 * does not hold is trace_emit_filling_NAME's, out of line and last as above. */  \
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
