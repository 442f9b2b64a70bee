/* Names of the values of every TRACE_VALUES group of trace/events.def (see trace/trace_values.h). */
#include "trace/trace_values.h"

#define TRACE_CONSTANT TRACE_DEF_NOTHING
#define TRACE_STREAM_HEADER TRACE_DEF_NOTHING
#define TRACE_RECORD_HEADER TRACE_DEF_NOTHING
#define TRACE_CHUNK_HEADER TRACE_DEF_NOTHING
#define TRACE_EVENT TRACE_DEF_NOTHING
#define TRACE_STRING_EVENT TRACE_DEF_NOTHING
#define TRACE_ARRAY_EVENT TRACE_DEF_NOTHING
#define TRACE_ATTRIBUTED_EVENT TRACE_DEF_NOTHING
#define TRACE_VALUES(group, c_enum, doc, values) values
#define VALUE(c_name, number, text) const char TRACE_NAME(c_name)[] = text;
#include "trace/events.def"
#undef TRACE_VALUES
#undef VALUE

/* A switch, so two values of one group with the same number do not compile. */
#define TRACE_VALUES(group, c_enum, doc, values)  \
	const char *c_enum##_name(unsigned value) \
	{                                         \
		switch (value) {                  \
			values                    \
		}                                 \
		return "?";                       \
	}
#define VALUE(c_name, number, text) \
	case number:                \
		return TRACE_NAME(c_name);
#include "trace/events.def"
