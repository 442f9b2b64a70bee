/*
 * The encoders behind the tracepoints, generated from trace/events.def, and the kernel's tracer.
 * Each encoder reserves room in the open sub-buffer (one compare on the fast path), stores the
 * payload fields in place and commits the header (see tracer.h); the fixed and attributed ones
 * are trace_encoders.h's inline bodies.
 */
#include "tracepoints.h"
#include "trace_encoders.h"
#include "kernel/lib/string.h"

#define RECORD_HEADER_BYTES ((uint32_t)sizeof(struct trace_record_header))

/* 64-byte aligned so that a record header never spans more cache lines than it must. */
static uint8_t trace_global_storage[TRACE_GLOBAL_SUBBUF_COUNT * TRACE_GLOBAL_SUBBUF_BYTES]
	__attribute__((aligned(64)));

/* The call chains trace_global's stream defines (call_chain.h); trace_global keeps it for good
 * (trace_discard keeps the table: tracer.c). */
static struct trace_chain_table trace_global_chains;

struct tracer trace_global = TRACE_TRACER_INITIALIZER(trace_global_storage,
	TRACE_GLOBAL_SUBBUF_BYTES, TRACE_GLOBAL_SUBBUF_COUNT, TRACE_POLICY_LOSSLESS, trace_clock_tsc,
	.chains = &trace_global_chains);

#ifdef PAGESCOPE_HOST
bool trace_enabled = false;
#else
bool trace_enabled = true;
#endif

#define FIELD TRACE_FIELD_SEQ
#define TRACE_CONSTANT TRACE_DEF_NOTHING
#define TRACE_VALUES TRACE_DEF_NOTHING
#define TRACE_STREAM_HEADER TRACE_DEF_NOTHING
#define TRACE_RECORD_HEADER TRACE_DEF_NOTHING
#define TRACE_CHUNK_HEADER TRACE_DEF_NOTHING
/* Fixed events: the out-of-line encoders and slow paths around trace_encoders.h's bodies. */
#define TRACE_FIXED_ENCODER(name, ...)                                                  \
	void trace_emit_slow_##name(struct tracer *t TRACE_PARAMS(__VA_ARGS__))          \
	{                                                                                \
		struct trace_record_header *h = trace_reserve_slow(                      \
			t, RECORD_HEADER_BYTES + sizeof(struct trace_payload_##name));   \
		if (h)                                                                   \
			trace_fill_##name(t, h, trace_now(t) TRACE_ARGS(__VA_ARGS__));        \
	}                                                                                \
	void trace_emit_##name(struct tracer *t TRACE_PARAMS(__VA_ARGS__))               \
	{                                                                                \
		trace_emit_inline_##name(t, trace_now(t) TRACE_ARGS(__VA_ARGS__));       \
	}
#define TRACE_EVENT(name, id, doc, fields)                                               \
	TRACE_FIXED_ENCODER(name, fields)                                                \
	void trace_emit_global_##name(TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(fields)))    \
	{                                                                                \
		trace_emit_inline_##name(&trace_global,                                  \
					 trace_now(&trace_global) TRACE_ARGS(fields));   \
	}
/*
 * An attributed event's encoders: the plain one with `chain` as its last field; the one its
 * tracepoint calls, on trace_global, which walks from its own frame (so ip0 is in the
 * tracepoint's function) and looks the chain up in trace_global's table, with its route for a
 * chain the table does not hold, out of line and last (trace_encoders.h says why); and the
 * cached encoder's route for a chain its cache does not hold (`frame` is its caller's, still
 * live below it).
 */
#define TRACE_ATTRIBUTED_EVENT(name, id, doc, fields)                                    \
	TRACE_FIXED_ENCODER(name, fields FIELD(u32, chain))                              \
	static NOINLINE void trace_emit_defining_##name(struct tracer *t, const void *frame \
							TRACE_PARAMS(fields));           \
	void trace_emit_global_##name(TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(fields)))    \
	{                                                                                \
		struct tracer *t = &trace_global;                                        \
		const void *frame = __builtin_frame_address(0);                          \
		uint32_t chain = trace_chain_lookup_in(&trace_global_chains, frame);     \
		if (unlikely(chain == TRACE_CHAIN_NONE)) {                               \
			trace_emit_defining_##name(t, frame TRACE_ARGS(fields));         \
			/* not a tail call: the chain starts at this frame */            \
			__asm__ volatile("");                                            \
			return;                                                          \
		}                                                                        \
		trace_emit_inline_##name(t, trace_now(t) TRACE_ARGS(fields), chain);     \
	}                                                                                \
	static void trace_emit_defining_##name(struct tracer *t, const void *frame TRACE_PARAMS(fields)) \
	{                                                                                \
		uint32_t chain = trace_chain_define_here(t, frame);                      \
		trace_emit_inline_##name(t, trace_now(t) TRACE_ARGS(fields), chain);     \
	}                                                                                \
	void trace_emit_filling_##name(struct tracer *t, struct trace_chain_cache *site_cache, \
				       const void *frame TRACE_PARAMS(fields))           \
	{                                                                                \
		uint32_t chain = trace_chain_cache_fill(t, site_cache, frame);           \
		trace_emit_inline_##name(t, trace_now(t) TRACE_ARGS(fields), chain);     \
	}
#define TRACE_STRING_EVENT(name, id, doc, fields)                                        \
	void trace_emit_##name(struct tracer *t TRACE_PARAMS(fields), const char *text)  \
	{                                                                                \
		uint16_t text_bytes = (uint16_t)KLIB(strnlen)(text, TRACE_STRING_MAX);   \
		const uint32_t len =                                                     \
			RECORD_HEADER_BYTES + sizeof(struct trace_payload_##name) + text_bytes; \
		struct trace_record_header *h = trace_reserve(t, len);                   \
		if (unlikely(!h))                                                        \
			return;                                                          \
		struct trace_payload_##name *p = (struct trace_payload_##name *)(h + 1); \
		TRACE_EACH(TRACE_OP_STORE, fields)                                       \
		p->text_bytes = text_bytes;                                              \
		KLIB(memcpy)(p + 1, text, text_bytes);                                   \
		trace_commit(t, h, TRACE_ID_##name, 0, len);                             \
	}
#define TRACE_ARRAY_EVENT(name, id, doc, fields, item_fields)                            \
	void trace_emit_##name##_begin(struct tracer *t TRACE_PARAMS(fields))            \
	{                                                                                \
		struct trace_payload_##name payload, *p = &payload;                      \
		TRACE_EACH(TRACE_OP_STORE, fields)                                       \
		p->item_count = 0;                                                       \
		trace_array_begin(t, TRACE_ID_##name, p, sizeof(*p),                     \
				  sizeof(struct trace_item_##name));                     \
	}                                                                                \
	void trace_emit_##name##_add(struct tracer *t TRACE_PARAMS(item_fields))         \
	{                                                                                \
		struct trace_item_##name *p = trace_array_item(t, TRACE_ID_##name);      \
		if (unlikely(!p))                                                        \
			return;                                                          \
		TRACE_EACH(TRACE_OP_STORE, item_fields)                                  \
	}
#include "trace/events.def"
