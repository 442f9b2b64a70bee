/*
 * C view of the workload format, generated from trace/workload.def (the single definition; the
 * byte layout and the validity rules are in trace/WORKLOAD.md). For every op NAME with code N:
 *
 *   WORKLOAD_OP_NAME = N           in enum workload_op_code
 *   struct workload_op_NAME        the bytes after the op header (empty for exec and exit)
 *
 * plus struct workload_header, struct workload_op_header, the constants and named bits, and
 * WORKLOAD_OP_LIMIT (highest code + 1). Structs are packed and the machine is little-endian, so a
 * struct read in place is the file's bytes.
 */
#ifndef PAGESCOPE_WORKLOAD_FORMAT_H
#define PAGESCOPE_WORKLOAD_FORMAT_H

#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the workload format is little-endian");

typedef uint8_t workload_u8;
typedef uint16_t workload_u16;
typedef uint32_t workload_u32;
typedef uint64_t workload_u64;

#define WORKLOAD_PACKED __attribute__((packed))
#define FIELD(type, name) workload_##type name;
#define WORKLOAD_DEF_NOTHING(...)

/* Constants and named bits. */
#define WORKLOAD_CONSTANT(name, value, doc) name = value,
#define WORKLOAD_VALUE(group, name, value, text) name = value,
#define WORKLOAD_HEADER WORKLOAD_DEF_NOTHING
#define WORKLOAD_OP_HEADER WORKLOAD_DEF_NOTHING
#define WORKLOAD_OP WORKLOAD_DEF_NOTHING
enum {
#include "workload.def"
};
#undef WORKLOAD_CONSTANT
#undef WORKLOAD_VALUE
#define WORKLOAD_CONSTANT WORKLOAD_DEF_NOTHING
#define WORKLOAD_VALUE WORKLOAD_DEF_NOTHING

/* The two headers. */
#undef WORKLOAD_HEADER
#undef WORKLOAD_OP_HEADER
#define WORKLOAD_HEADER(fields) struct WORKLOAD_PACKED workload_header { fields };
#define WORKLOAD_OP_HEADER(fields) struct WORKLOAD_PACKED workload_op_header { fields };
#include "workload.def"
#undef WORKLOAD_HEADER
#undef WORKLOAD_OP_HEADER
#define WORKLOAD_HEADER WORKLOAD_DEF_NOTHING
#define WORKLOAD_OP_HEADER WORKLOAD_DEF_NOTHING

/* Op codes, and the highest + 1 (the size of a union of char[code + 1] arrays). */
#undef WORKLOAD_OP
#define WORKLOAD_OP(name, code, doc, fields) WORKLOAD_OP_##name = code,
enum workload_op_code {
#include "workload.def"
};
#undef WORKLOAD_OP
#define WORKLOAD_OP(name, code, doc, fields) char name[code + 1];
union workload_op_code_bound {
#include "workload.def"
};
#define WORKLOAD_OP_LIMIT ((unsigned)sizeof(union workload_op_code_bound))

/* Payloads. */
#undef WORKLOAD_OP
#define WORKLOAD_OP(name, code, doc, fields) struct WORKLOAD_PACKED workload_op_##name { fields };
#include "workload.def"

#undef WORKLOAD_CONSTANT
#undef WORKLOAD_VALUE
#undef WORKLOAD_HEADER
#undef WORKLOAD_OP_HEADER
#undef WORKLOAD_OP
#undef WORKLOAD_DEF_NOTHING
#undef FIELD

_Static_assert(sizeof(struct workload_header) == 30, "workload header layout (WORKLOAD.md)");
_Static_assert(sizeof(struct workload_op_header) == 8, "op header layout (WORKLOAD.md)");
_Static_assert(WORKLOAD_OP_LIMIT <= 256, "op codes are a u8");

#endif
