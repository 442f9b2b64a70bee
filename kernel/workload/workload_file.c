/*
 * Validation of a workload file: every rule of trace/WORKLOAD.md, checked in one pass over the
 * whole file before the replay starts. Works on the bytes as given (a boot module read through
 * the direct map); reads each field with memcpy, so nothing needs to be aligned.
 */
#include "workload_file.h"
#include "kernel/lib/format.h"
#include "kernel/lib/string.h"

/* Payload size of each op code, plus one (0 = no such op). */
#define FIELD(type, name)
#define WORKLOAD_CONSTANT(...)
#define WORKLOAD_VALUE(...)
#define WORKLOAD_HEADER(...)
#define WORKLOAD_OP_HEADER(...)
#define WORKLOAD_OP(name, code, doc, fields) [code] = sizeof(struct workload_op_##name) + 1,
static const uint16_t payload_size_plus_one[WORKLOAD_OP_LIMIT] = {
#include "trace/workload.def"
};
#undef WORKLOAD_OP
#define WORKLOAD_OP(name, code, doc, fields) [code] = #name,
static const char *const op_names[WORKLOAD_OP_LIMIT] = {
#include "trace/workload.def"
};
#undef WORKLOAD_OP
#undef WORKLOAD_CONSTANT
#undef WORKLOAD_VALUE
#undef WORKLOAD_HEADER
#undef WORKLOAD_OP_HEADER
#undef FIELD

const char *workload_op_name(unsigned code)
{
	return code < WORKLOAD_OP_LIMIT && op_names[code] ? op_names[code] : "?";
}

enum process_state { PROCESS_UNBORN, PROCESS_LIVE, PROCESS_EXITED };
static uint8_t process_state[WORKLOAD_MAX_PROCESSES];
static char message[160];

#define PROT_BITS (WORKLOAD_PROT_READ | WORKLOAD_PROT_WRITE | WORKLOAD_PROT_EXEC)
#define MAP_FLAG_BITS (WORKLOAD_MAP_SHARED | WORKLOAD_MAP_FIXED | WORKLOAD_MAP_ANONYMOUS | WORKLOAD_MAP_STACK)

static const char *fail(uint64_t *offset, uint64_t at, const char *fmt, ...) PRINTF_LIKE(3, 4);
static const char *fail(uint64_t *offset, uint64_t at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	*offset = at;
	return message;
}

/* A page-aligned, non-empty range inside the user half. */
static bool range_ok(uint64_t addr, uint64_t length)
{
	return length && addr % WORKLOAD_PAGE_SIZE == 0 && length % WORKLOAD_PAGE_SIZE == 0 &&
	       addr < WORKLOAD_ADDRESS_LIMIT && length <= WORKLOAD_ADDRESS_LIMIT - addr;
}

/* The rules on an op's fields and on the lifecycle of the processes it names. */
static const char *check_op(const struct workload_file *f, const struct workload_op_header *h,
			    const void *payload, uint64_t at, uint64_t *offset)
{
	if (h->pid >= f->process_count)
		return fail(offset, at, "%s op for process %u of %u", workload_op_name(h->op), h->pid,
			    f->process_count);
	uint8_t *state = &process_state[h->pid];
	if (h->op == WORKLOAD_OP_start) {
		if (*state != PROCESS_UNBORN)
			return fail(offset, at, "process %u starts twice", h->pid);
		*state = PROCESS_LIVE;
		return NULL;
	}
	if (*state != PROCESS_LIVE)
		return fail(offset, at, "%s op for process %u, which %s", workload_op_name(h->op), h->pid,
			    *state == PROCESS_UNBORN ? "has not started" : "has exited");
	switch (h->op) {
	case WORKLOAD_OP_fork: {
		struct workload_op_fork op;
		memcpy(&op, payload, sizeof(op));
		if (op.child >= f->process_count || process_state[op.child] != PROCESS_UNBORN)
			return fail(offset, at, "process %u forks child %u, which is not a new process",
				    h->pid, op.child);
		process_state[op.child] = PROCESS_LIVE;
		return NULL;
	}
	case WORKLOAD_OP_exit:
		*state = PROCESS_EXITED;
		return NULL;
	case WORKLOAD_OP_brk: {
		struct workload_op_brk op;
		memcpy(&op, payload, sizeof(op));
		if (op.heap_bytes >= WORKLOAD_ADDRESS_LIMIT)
			return fail(offset, at, "brk of %#lx bytes", (unsigned long)op.heap_bytes);
		return NULL;
	}
	case WORKLOAD_OP_map: {
		struct workload_op_map op;
		memcpy(&op, payload, sizeof(op));
		if (!range_ok(op.addr, op.length) || (op.prot & ~PROT_BITS) || (op.map_flags & ~MAP_FLAG_BITS))
			return fail(offset, at, "bad map [%#lx, +%#lx) prot %#x flags %#x",
				    (unsigned long)op.addr, (unsigned long)op.length, op.prot, op.map_flags);
		return NULL;
	}
	case WORKLOAD_OP_unmap: {
		struct workload_op_unmap op;
		memcpy(&op, payload, sizeof(op));
		if (!range_ok(op.addr, op.length))
			return fail(offset, at, "bad unmap [%#lx, +%#lx)", (unsigned long)op.addr,
				    (unsigned long)op.length);
		return NULL;
	}
	case WORKLOAD_OP_protect: {
		struct workload_op_protect op;
		memcpy(&op, payload, sizeof(op));
		if (!range_ok(op.addr, op.length) || (op.prot & ~PROT_BITS))
			return fail(offset, at, "bad protect [%#lx, +%#lx) prot %#x", (unsigned long)op.addr,
				    (unsigned long)op.length, op.prot);
		return NULL;
	}
	case WORKLOAD_OP_remap: {
		struct workload_op_remap op;
		memcpy(&op, payload, sizeof(op));
		if (!range_ok(op.old_addr, op.old_length) || !range_ok(op.new_addr, op.new_length))
			return fail(offset, at, "bad remap [%#lx, +%#lx) -> [%#lx, +%#lx)",
				    (unsigned long)op.old_addr, (unsigned long)op.old_length,
				    (unsigned long)op.new_addr, (unsigned long)op.new_length);
		return NULL;
	}
	default: /* exec: no fields */
		return NULL;
	}
}

const char *workload_validate(const void *data, uint64_t size, struct workload_file *out,
			      uint64_t *offset)
{
	const uint8_t *bytes = data;
	struct workload_header h;
	*out = (struct workload_file){ .data = bytes, .size = size };
	if (size < sizeof(h))
		return fail(offset, 0, "file of %lu bytes is shorter than a workload header (%zu)",
			    (unsigned long)size, sizeof(h));
	memcpy(&h, bytes, sizeof(h));
	if (h.magic != WORKLOAD_MAGIC)
		return fail(offset, 0, "bad magic: not a pagescope workload file");
	if (h.version != WORKLOAD_FORMAT_VERSION)
		return fail(offset, 8, "format version %u, this kernel reads %u", h.version,
			    WORKLOAD_FORMAT_VERSION);
	if (h.name_bytes > WORKLOAD_MAX_NAME || h.header_bytes != sizeof(h) + h.name_bytes)
		return fail(offset, 10, "header says %u bytes with a %u-byte name", h.header_bytes,
			    h.name_bytes);
	if (h.header_bytes > size)
		return fail(offset, size, "file ends inside the header");
	if (h.process_count == 0 || h.process_count > WORKLOAD_MAX_PROCESSES)
		return fail(offset, 12, "%u processes (1 to %u allowed)", h.process_count,
			    WORKLOAD_MAX_PROCESSES);
	if (h.op_bytes != size - h.header_bytes)
		return fail(offset, size < h.header_bytes + h.op_bytes ? size : h.header_bytes + h.op_bytes,
			    "header announces %lu bytes of ops, the file holds %lu: %s",
			    (unsigned long)h.op_bytes, (unsigned long)(size - h.header_bytes),
			    h.op_bytes > size - h.header_bytes ? "truncated" : "trailing bytes");
	memcpy(out->name, bytes + sizeof(h), h.name_bytes);
	out->name[h.name_bytes] = '\0';
	out->process_count = h.process_count;
	out->op_count = h.op_count;
	out->ops_offset = h.header_bytes;

	memset(process_state, PROCESS_UNBORN, h.process_count);
	uint64_t at = h.header_bytes;
	uint32_t ops = 0;
	while (at < size) {
		struct workload_op_header op;
		if (size - at < sizeof(op))
			return fail(offset, at, "truncated op header (%lu bytes left)",
				    (unsigned long)(size - at));
		memcpy(&op, bytes + at, sizeof(op));
		uint16_t expected = op.op < WORKLOAD_OP_LIMIT ? payload_size_plus_one[op.op] : 0;
		if (!expected)
			return fail(offset, at, "unknown op code %u", op.op);
		if (op.flags)
			return fail(offset, at, "%s op with reserved flags %#x", workload_op_name(op.op),
				    op.flags);
		if (op.length != sizeof(op) + expected - 1)
			return fail(offset, at, "%s op of %u bytes, expected %zu", workload_op_name(op.op),
				    op.length, sizeof(op) + expected - 1);
		if (op.length > size - at)
			return fail(offset, at, "truncated %s op: %u bytes announced, %lu left",
				    workload_op_name(op.op), op.length, (unsigned long)(size - at));
		const char *problem = check_op(out, &op, bytes + at + sizeof(op), at, offset);
		if (problem)
			return problem;
		out->ops_by_code[op.op]++;
		ops++;
		at += op.length;
	}
	if (ops != h.op_count)
		return fail(offset, 16, "header announces %u ops, the file holds %u", h.op_count, ops);
	return NULL;
}

const struct workload_op_header *workload_next_op(const struct workload_file *file, uint64_t *cursor)
{
	if (*cursor >= file->size)
		return NULL;
	const struct workload_op_header *op = (const void *)(file->data + *cursor);
	*cursor += op->length;
	return op;
}
