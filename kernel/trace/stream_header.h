/*
 * The stream header: the first bytes of every trace, written once when the device is attached
 * (layout in trace/events.def TRACE_STREAM_HEADER, bytes in trace/FORMAT.md).
 */
#ifndef PAGESCOPE_TRACE_STREAM_HEADER_H
#define PAGESCOPE_TRACE_STREAM_HEADER_H

#include "kernel/lib/compiler.h"
#include "trace/trace_format.h"

/* What the header says about the run; values of the u8 fields are TRACE_CLOCK_* etc. */
struct trace_run_info {
	uint8_t clock;
	uint64_t clock_hz; /* 0 = unknown */
	uint64_t start_timestamp;
	uint64_t first_timestamp; /* trace_first_timestamp(tracer, start_timestamp) */
	uint8_t vmm_backend;
	uint8_t trace_mode;
	uint64_t memory_bytes;
	const char *cmdline;
	const char *build_id;
};

/* Room for the fixed part and two strings of the lengths trace_header_encode keeps. */
#define TRACE_HEADER_STRING_MAX 1024
#define TRACE_HEADER_MAX (sizeof(struct trace_stream_header) + 2 * TRACE_HEADER_STRING_MAX)

/*
 * Writes the header into buf (at least TRACE_HEADER_MAX bytes) and returns its length. Strings
 * longer than TRACE_HEADER_STRING_MAX are cut there.
 */
uint32_t trace_header_encode(void *buf, const struct trace_run_info *info);

#endif
