/*
 * Reading a workload file (trace/workload.def, trace/WORKLOAD.md) in the kernel: the whole file is
 * validated before anything is replayed, so a truncated or malformed file is refused with the byte
 * offset of its first problem and never replayed halfway.
 */
#ifndef PAGESCOPE_WORKLOAD_FILE_H
#define PAGESCOPE_WORKLOAD_FILE_H

#include "kernel/lib/compiler.h"
#include "trace/workload_format.h"

struct workload_file {
	const uint8_t *data;
	uint64_t size;
	char name[WORKLOAD_MAX_NAME + 1];
	uint32_t process_count;
	uint32_t op_count;
	uint64_t ops_offset;                   /* the first op */
	uint64_t ops_by_code[WORKLOAD_OP_LIMIT]; /* ops of each code */
};

/*
 * Checks every rule of WORKLOAD.md over the whole file: header, each op's code, length, process
 * number and fields, the processes' lifecycle (start or fork before use, nothing after exit), the
 * op count and the file's exact length. Returns NULL and fills `out` when valid; otherwise a
 * message (kept until the next call) with *offset the byte where the problem is.
 */
const char *workload_validate(const void *data, uint64_t size, struct workload_file *out,
			      uint64_t *offset);

/* The op at *cursor (start at out->ops_offset) of a validated file; advances the cursor. */
const struct workload_op_header *workload_next_op(const struct workload_file *file, uint64_t *cursor);

/* The payload after an op header. */
static inline const void *workload_op_payload(const struct workload_op_header *op)
{
	return op + 1;
}

/* The op's name ("map", ...), or "?" for an unknown code. */
const char *workload_op_name(unsigned code);

#endif
