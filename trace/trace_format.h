/*
 * C view of the trace format, generated from trace/events.def (the single definition; the byte
 * layout and its diagram are in trace/FORMAT.md). For every event NAME with id N it gives:
 *
 *   TRACE_ID_NAME = N            in enum trace_event_id
 *   struct trace_payload_NAME    the bytes after the record header; for string and array events
 *                                it ends with the u16 text byte count / item count
 *   struct trace_item_NAME       one array item (array events only)
 *
 * An attributed event (TRACE_ATTRIBUTED_EVENT) is a fixed event with `chain` appended.
 *
 * plus struct trace_record_header, struct trace_chunk_header, struct trace_stream_header, the constants, the named values
 * (trace_values.h), and TRACE_EVENT_ID_LIMIT (highest id + 1). The structs are packed and the machine is
 * little-endian, so a struct written in place is the wire format.
 */
#ifndef PAGESCOPE_TRACE_FORMAT_H
#define PAGESCOPE_TRACE_FORMAT_H

#include <stdint.h>
#include "trace_values.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the trace format is little-endian");

typedef uint8_t trace_u8;
typedef uint16_t trace_u16;
typedef uint32_t trace_u32;
typedef uint64_t trace_u64;

#define TRACE_PACKED __attribute__((packed))
#define TRACE_STRUCT_FIELD(type, name) trace_##type name;

/* Every macro of events.def, as no-ops; each generator below redefines the ones it needs. */
#define TRACE_DEF_NOTHING(...)
#define TRACE_CONSTANT TRACE_DEF_NOTHING
#define TRACE_VALUES TRACE_DEF_NOTHING
#define TRACE_STREAM_HEADER TRACE_DEF_NOTHING
#define TRACE_CHUNK_HEADER TRACE_DEF_NOTHING
#define TRACE_RECORD_HEADER TRACE_DEF_NOTHING
#define TRACE_EVENT TRACE_DEF_NOTHING
#define TRACE_STRING_EVENT TRACE_DEF_NOTHING
#define TRACE_ARRAY_EVENT TRACE_DEF_NOTHING
#define FIELD TRACE_STRUCT_FIELD
/* An allocation's record is a fixed event whose last field is its call chain's id. */
#define TRACE_ATTRIBUTED_EVENT(name, id, doc, fields) \
	TRACE_EVENT(name, id, doc, fields FIELD(u32, chain))

/* Constants. */
#undef TRACE_CONSTANT
#define TRACE_CONSTANT(name, value, doc) name = value,
enum {
#include "events.def"
};
#undef TRACE_CONSTANT
#define TRACE_CONSTANT TRACE_DEF_NOTHING

/* The three headers. */
#undef TRACE_STREAM_HEADER
#undef TRACE_CHUNK_HEADER
#undef TRACE_RECORD_HEADER
#define TRACE_STREAM_HEADER(fields) struct TRACE_PACKED trace_stream_header { fields };
#define TRACE_CHUNK_HEADER(fields) struct TRACE_PACKED trace_chunk_header { fields };
#define TRACE_RECORD_HEADER(fields) struct TRACE_PACKED trace_record_header { fields };
#include "events.def"
#undef TRACE_STREAM_HEADER
#undef TRACE_CHUNK_HEADER
#undef TRACE_RECORD_HEADER
#define TRACE_STREAM_HEADER TRACE_DEF_NOTHING
#define TRACE_CHUNK_HEADER TRACE_DEF_NOTHING
#define TRACE_RECORD_HEADER TRACE_DEF_NOTHING

/* Event ids. */
#undef TRACE_EVENT
#undef TRACE_STRING_EVENT
#undef TRACE_ARRAY_EVENT
#define TRACE_EVENT(name, id, doc, fields) TRACE_ID_##name = id,
#define TRACE_STRING_EVENT(name, id, doc, fields) TRACE_ID_##name = id,
#define TRACE_ARRAY_EVENT(name, id, doc, fields, item_fields) TRACE_ID_##name = id,
enum trace_event_id {
#include "events.def"
};

/* Highest id + 1: the size of a union of char[id + 1] arrays is the largest of them. */
#undef TRACE_EVENT
#undef TRACE_STRING_EVENT
#undef TRACE_ARRAY_EVENT
#define TRACE_EVENT(name, id, doc, fields) char name[id + 1];
#define TRACE_STRING_EVENT(name, id, doc, fields) char name[id + 1];
#define TRACE_ARRAY_EVENT(name, id, doc, fields, item_fields) char name[id + 1];
union trace_event_id_bound {
#include "events.def"
};
#define TRACE_EVENT_ID_LIMIT ((unsigned)sizeof(union trace_event_id_bound))

/* Payloads and items. */
#undef TRACE_EVENT
#undef TRACE_STRING_EVENT
#undef TRACE_ARRAY_EVENT
#define TRACE_EVENT(name, id, doc, fields) struct TRACE_PACKED trace_payload_##name { fields };
#define TRACE_STRING_EVENT(name, id, doc, fields) \
	struct TRACE_PACKED trace_payload_##name { fields trace_u16 text_bytes; };
#define TRACE_ARRAY_EVENT(name, id, doc, fields, item_fields)                  \
	struct TRACE_PACKED trace_payload_##name { fields trace_u16 item_count; }; \
	struct TRACE_PACKED trace_item_##name { item_fields };
#include "events.def"

/* Every record must fit in TRACE_RECORD_MAX even at its smallest. */
#undef TRACE_EVENT
#undef TRACE_STRING_EVENT
#undef TRACE_ARRAY_EVENT
#define TRACE_FITS(name)                                                                    \
	_Static_assert(sizeof(struct trace_record_header) + sizeof(struct trace_payload_##name) \
			       <= TRACE_RECORD_MAX / 2,                                          \
		       #name " is too big for a record");
#define TRACE_EVENT(name, id, doc, fields) TRACE_FITS(name)
#define TRACE_STRING_EVENT(name, id, doc, fields) TRACE_FITS(name)
#define TRACE_ARRAY_EVENT(name, id, doc, fields, item_fields) TRACE_FITS(name)
#include "events.def"
#undef TRACE_FITS

#undef TRACE_CONSTANT
#undef TRACE_VALUES
#undef TRACE_STREAM_HEADER
#undef TRACE_CHUNK_HEADER
#undef TRACE_RECORD_HEADER
#undef TRACE_EVENT
#undef TRACE_STRING_EVENT
#undef TRACE_ARRAY_EVENT
#undef TRACE_ATTRIBUTED_EVENT
#undef FIELD

_Static_assert(sizeof(struct trace_record_header) == 12, "record header layout (FORMAT.md)");
_Static_assert(sizeof(struct trace_chunk_header) == 8, "chunk header layout (FORMAT.md)");
_Static_assert(TRACE_EVENT_ID_LIMIT <= 256, "event ids are a u8");
_Static_assert(TRACE_RECORD_MAX <= 65535, "record length is a u16");

#endif
