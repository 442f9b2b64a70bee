/*
 * The named values of trace/events.def as C: for every TRACE_VALUES(group, c_enum, doc, values)
 * group it gives
 *
 *   enum c_enum { c_name = number, ... }     the values themselves
 *   TRACE_VALUE_LIMIT(c_enum)                highest number + 1 (a bound for tables and checks)
 *   const char *c_enum_name(unsigned value)  the analyzer's name of a value, "?" for an unknown
 *                                            one (kernel/trace/trace_values.c)
 *   TRACE_NAME(c_name)                       that name as a static string (an address constant,
 *                                            so static tables can use it)
 *
 * so zones, owners, regions, flags and page sizes are written once, where the analyzer reads
 * them too. Nothing but these macros may define such a value elsewhere.
 */
#ifndef PAGESCOPE_TRACE_VALUES_H
#define PAGESCOPE_TRACE_VALUES_H

#define TRACE_DEF_NOTHING(...)
#define TRACE_CONSTANT TRACE_DEF_NOTHING
#define TRACE_STREAM_HEADER TRACE_DEF_NOTHING
#define TRACE_RECORD_HEADER TRACE_DEF_NOTHING
#define TRACE_CHUNK_HEADER TRACE_DEF_NOTHING
#define TRACE_EVENT TRACE_DEF_NOTHING
#define TRACE_STRING_EVENT TRACE_DEF_NOTHING
#define TRACE_ARRAY_EVENT TRACE_DEF_NOTHING
#define TRACE_ATTRIBUTED_EVENT TRACE_DEF_NOTHING

#define TRACE_VALUES(group, c_enum, doc, values) enum c_enum { values };
#define VALUE(c_name, number, text) c_name = number,
#include "events.def"
#undef TRACE_VALUES
#undef VALUE

/* The size of a union of char[number + 1] members is the highest number + 1. */
#define TRACE_VALUES(group, c_enum, doc, values) \
	union c_enum##_value_bound { values };    \
	const char *c_enum##_name(unsigned value);
#define VALUE(c_name, number, text) char c_name[number + 1];
#include "events.def"
#undef TRACE_VALUES
#undef VALUE
#define TRACE_VALUE_LIMIT(c_enum) ((unsigned)sizeof(union c_enum##_value_bound))

#define TRACE_NAME(c_name) trace_value_text_##c_name
#define TRACE_VALUES(group, c_enum, doc, values) values
#define VALUE(c_name, number, text) extern const char TRACE_NAME(c_name)[];
#include "events.def"
#undef TRACE_VALUES
#undef VALUE

#undef TRACE_CONSTANT
#undef TRACE_STREAM_HEADER
#undef TRACE_RECORD_HEADER
#undef TRACE_CHUNK_HEADER
#undef TRACE_EVENT
#undef TRACE_STRING_EVENT
#undef TRACE_ARRAY_EVENT
#undef TRACE_ATTRIBUTED_EVENT

#endif
