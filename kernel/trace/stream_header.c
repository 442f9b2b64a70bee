/* Encoder of the stream header; see stream_header.h. */
#include "stream_header.h"
#include "kernel/lib/string.h"

STATIC_ASSERT(TRACE_HEADER_MAX <= 65535, "header_bytes is a u16");

uint32_t trace_header_encode(void *buf, const struct trace_run_info *info)
{
	struct trace_stream_header *h = buf;
	uint16_t cmdline_bytes = (uint16_t)KLIB(strnlen)(info->cmdline, TRACE_HEADER_STRING_MAX);
	uint16_t build_id_bytes = (uint16_t)KLIB(strnlen)(info->build_id, TRACE_HEADER_STRING_MAX);
	uint32_t total = (uint32_t)sizeof(*h) + cmdline_bytes + build_id_bytes;
	*h = (struct trace_stream_header){
		.magic = TRACE_MAGIC,
		.version = TRACE_FORMAT_VERSION,
		.header_bytes = (uint16_t)total,
		.clock = info->clock,
		.vmm_backend = info->vmm_backend,
		.trace_mode = info->trace_mode,
		.max_event_id = TRACE_EVENT_ID_LIMIT - 1,
		.clock_hz = info->clock_hz,
		.start_timestamp = info->start_timestamp,
		.first_timestamp = info->first_timestamp,
		.memory_bytes = info->memory_bytes,
		.cmdline_bytes = cmdline_bytes,
		.build_id_bytes = build_id_bytes,
	};
	char *strings = (char *)(h + 1);
	KLIB(memcpy)(strings, info->cmdline, cmdline_bytes);
	KLIB(memcpy)(strings + cmdline_bytes, info->build_id, build_id_bytes);
	return total;
}
