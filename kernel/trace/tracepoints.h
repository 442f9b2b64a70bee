/*
 * The tracepoint API, generated from trace/events.def. Allocator code calls, for an event NAME:
 *
 *   fixed events     trace_NAME(fields...)                  e.g. trace_pmm_free(addr, pages, held,
 *                                                                zone, owner, cost)
 *   attributed       trace_NAME(fields but chain...)        the encoder finds the call chain
 *                                                           (call_chain.h) and fills `chain`
 *   string events    trace_NAME(fields..., const char *text) e.g. trace_phase_begin("boot")
 *   array events     trace_NAME_begin(fields...); trace_NAME_add(item fields...) per item;
 *                    trace_NAME_end()                       e.g. the pmm free-extent snapshot
 *
 * An allocator's out-of-line tracing function may instead inline trace_encoders.h's encoders,
 * which take the record's timestamp from a clock reading it made anyway (an operation's cost: see
 * trace_cost_start), so that an operation's event reads the clock once.
 *
 * Argument order is the field order in events.def. Each call is one test of `trace_enabled`
 * (false under trace=off: a single not-taken branch) and, when tracing, a call to an encoder that
 * writes into `trace_global`: trace_emit_global_NAME(...) for a fixed or attributed event (below),
 * trace_emit_NAME(&trace_global, ...) for a string or array event. Tests and the kernel's other
 * tracers call the trace_emit_NAME(struct tracer *, ...) encoders on tracers of their own. Safe
 * before the device exists and from any allocator path: the tracer allocates nothing (see
 * tracer.h for early events and recursion).
 */
#ifndef PAGESCOPE_TRACE_TRACEPOINTS_H
#define PAGESCOPE_TRACE_TRACEPOINTS_H

#include "call_chain.h"
#include "tracer.h"
#include "trace/trace_format.h"

/* The kernel's tracer: 16 sub-buffers of 64 KiB, which is also the early-boot buffer. */
#define TRACE_GLOBAL_SUBBUF_BYTES (64 * 1024)
#define TRACE_GLOBAL_SUBBUF_COUNT 16

extern struct tracer trace_global;
/* False under trace=off; true from the first instruction in the kernel, false on the host. */
extern bool trace_enabled;

/*
 * Field lists are walked with a counting FOR_EACH: FIELD(type, name) becomes "(type, name)," so
 * a list is a comma-separated sequence with one empty element at the end (the only element of an
 * empty list); TRACE_EACH(op, list) applies op(type, name) to each field.
 */
#define TRACE_FIELD_SEQ(type, name) (type, name),
#define FIELD TRACE_FIELD_SEQ
#define TRACE_CAT_(a, b) a##b
#define TRACE_CAT(a, b) TRACE_CAT_(a, b)
#define TRACE_NARGS(...) \
	TRACE_NARGS_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define TRACE_NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, n, ...) n
#define TRACE_EACH(op, ...) TRACE_CAT(TRACE_EACH_, TRACE_NARGS(__VA_ARGS__))(op, __VA_ARGS__)
#define TRACE_EACH_1(op, end)
#define TRACE_EACH_2(op, f, ...) op f TRACE_EACH_1(op, __VA_ARGS__)
#define TRACE_EACH_3(op, f, ...) op f TRACE_EACH_2(op, __VA_ARGS__)
#define TRACE_EACH_4(op, f, ...) op f TRACE_EACH_3(op, __VA_ARGS__)
#define TRACE_EACH_5(op, f, ...) op f TRACE_EACH_4(op, __VA_ARGS__)
#define TRACE_EACH_6(op, f, ...) op f TRACE_EACH_5(op, __VA_ARGS__)
#define TRACE_EACH_7(op, f, ...) op f TRACE_EACH_6(op, __VA_ARGS__)
#define TRACE_EACH_8(op, f, ...) op f TRACE_EACH_7(op, __VA_ARGS__)
#define TRACE_EACH_9(op, f, ...) op f TRACE_EACH_8(op, __VA_ARGS__)
#define TRACE_EACH_10(op, f, ...) op f TRACE_EACH_9(op, __VA_ARGS__)
#define TRACE_EACH_11(op, f, ...) op f TRACE_EACH_10(op, __VA_ARGS__)
#define TRACE_EACH_12(op, f, ...) op f TRACE_EACH_11(op, __VA_ARGS__)
#define TRACE_EACH_13(op, f, ...) op f TRACE_EACH_12(op, __VA_ARGS__)
#define TRACE_EACH_14(op, f, ...) op f TRACE_EACH_13(op, __VA_ARGS__)
#define TRACE_EACH_15(op, f, ...) op f TRACE_EACH_14(op, __VA_ARGS__)
#define TRACE_EACH_16(op, f, ...) op f TRACE_EACH_15(op, __VA_ARGS__)

#define TRACE_OP_PARAM(type, name) , trace_##type name
#define TRACE_OP_ARG(type, name) , name
#define TRACE_OP_STORE(type, name) p->name = name;

/* ", type name, ..." for an encoder; "type name, ..." (leading comma dropped) for a tracepoint. */
#define TRACE_PARAMS(...) TRACE_EACH(TRACE_OP_PARAM, __VA_ARGS__)
#define TRACE_ARGS(...) TRACE_EACH(TRACE_OP_ARG, __VA_ARGS__)
#define TRACE_DROP_FIRST_(first, ...) __VA_ARGS__
#define TRACE_NO_LEADING_COMMA(...) TRACE_DROP_FIRST_(__VA_ARGS__)

#define TRACE_CONSTANT TRACE_DEF_NOTHING
#define TRACE_VALUES TRACE_DEF_NOTHING
#define TRACE_STREAM_HEADER TRACE_DEF_NOTHING
#define TRACE_RECORD_HEADER TRACE_DEF_NOTHING
#define TRACE_CHUNK_HEADER TRACE_DEF_NOTHING

/*
 * Encoders (defined in tracepoints.c) and the tracepoints that feed trace_global. A fixed or
 * attributed event's tracepoint calls an encoder of its own on trace_global,
 * trace_emit_global_NAME, whose tracer (and chain table) is at an address known at link time:
 * it takes one argument fewer than trace_emit_NAME (one fewer on the stack where the fields
 * fill the registers: vmm_reserve's seven, vmm_release's six) and loads no tracer pointer.
 */
#define TRACE_EVENT(name, id, doc, fields)                                           \
	void trace_emit_##name(struct tracer *t TRACE_PARAMS(fields));               \
	void trace_emit_global_##name(TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(fields))); \
	static inline void trace_##name(TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(fields))) \
	{                                                                            \
		if (unlikely(trace_enabled))                                         \
			trace_emit_global_##name(TRACE_NO_LEADING_COMMA(0 TRACE_ARGS(fields))); \
	}
/*
 * An attributed event: trace_emit_NAME takes every field, `chain` last (tests give any id);
 * trace_emit_global_NAME finds the chain of its caller (call_chain.h) in trace_global's table
 * and passes its id.
 */
#define TRACE_ATTRIBUTED_EVENT(name, id, doc, fields)                                \
	void trace_emit_##name(struct tracer *t TRACE_PARAMS(fields FIELD(u32, chain))); \
	void trace_emit_global_##name(TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(fields))); \
	static inline void trace_##name(TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(fields))) \
	{                                                                            \
		if (unlikely(trace_enabled))                                         \
			trace_emit_global_##name(TRACE_NO_LEADING_COMMA(0 TRACE_ARGS(fields))); \
	}
#define TRACE_STRING_EVENT(name, id, doc, fields)                                    \
	void trace_emit_##name(struct tracer *t TRACE_PARAMS(fields), const char *text); \
	static inline void trace_##name(                                             \
		TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(fields), const char *text))    \
	{                                                                            \
		if (unlikely(trace_enabled))                                         \
			trace_emit_##name(&trace_global TRACE_ARGS(fields), text);   \
	}
#define TRACE_ARRAY_EVENT(name, id, doc, fields, item_fields)                        \
	void trace_emit_##name##_begin(struct tracer *t TRACE_PARAMS(fields));       \
	void trace_emit_##name##_add(struct tracer *t TRACE_PARAMS(item_fields));    \
	static inline void trace_##name##_begin(                                     \
		TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(fields)))                      \
	{                                                                            \
		if (unlikely(trace_enabled))                                         \
			trace_emit_##name##_begin(&trace_global TRACE_ARGS(fields)); \
	}                                                                            \
	static inline void trace_##name##_add(                                       \
		TRACE_NO_LEADING_COMMA(0 TRACE_PARAMS(item_fields)))                 \
	{                                                                            \
		if (unlikely(trace_enabled))                                         \
			trace_emit_##name##_add(&trace_global TRACE_ARGS(item_fields)); \
	}                                                                            \
	static inline void trace_##name##_end(void)                                  \
	{                                                                            \
		if (unlikely(trace_enabled))                                         \
			trace_array_end(&trace_global, TRACE_ID_##name);             \
	}
#include "trace/events.def"
#undef TRACE_EVENT
#undef TRACE_STRING_EVENT
#undef TRACE_ARRAY_EVENT
#undef TRACE_ATTRIBUTED_EVENT
#undef TRACE_CONSTANT
#undef TRACE_VALUES
#undef TRACE_STREAM_HEADER
#undef TRACE_RECORD_HEADER
#undef TRACE_CHUNK_HEADER
#undef FIELD

/*
 * An operation's cost (the `cost` field, trace/events.def): take trace_cost_start() at the
 * operation's entry and pass trace_cost_since(start) to its tracepoint, whose argument is read
 * before the tracepoint runs, so the event's own tracing is not in it. Both read the clock only
 * while tracing (a load and a branch otherwise).
 */
static inline uint64_t trace_cost_start(void)
{
	return unlikely(trace_enabled) ? trace_clock_raw(&trace_global) : 0;
}

/* The cost field of an operation that started at `start` (trace_cost_start) and ended at
 * `end`, raw clock readings both (trace_clock_raw): a u64, so one subtraction with nothing to
 * saturate (a u32 took 3 more instructions per event to saturate). */
static inline uint64_t trace_cost_of(uint64_t start, uint64_t end)
{
	return end - start;
}

static inline uint64_t trace_cost_since(uint64_t start)
{
	if (likely(!trace_enabled))
		return 0;
	return trace_cost_of(start, trace_clock_raw(&trace_global));
}

#endif
