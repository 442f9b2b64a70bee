/*
 * Multiboot2 information parser. Layout (all little-endian, tags 8-byte aligned):
 *
 *   info:  u32 total_size | u32 reserved | tag | tag | ... | end tag {type 0, size 8}
 *   tag:   u32 type | u32 size (header included, padding excluded) | payload
 *   1 cmdline: NUL-terminated string        4 basic meminfo: u32 mem_lower_kib, u32 mem_upper_kib
 *   2 loader name: string                   3 module: u32 start, u32 end, string
 *   6 memory map: u32 entry_size, u32 entry_version, entries {u64 base, u64 length, u32 type, u32 0}
 *
 * Every size is checked before it is trusted: a tag running past total_size, a total_size beyond
 * what is readable, or a memory-map entry size too small for its fields is an error, not a read
 * out of bounds.
 */
#include "multiboot2.h"
#include "kernel/lib/string.h"

#define TAG_END 0
#define TAG_CMDLINE 1
#define TAG_LOADER_NAME 2
#define TAG_MODULE 3
#define TAG_BASIC_MEMINFO 4
#define TAG_MEMORY_MAP 6

struct tag_header {
	uint32_t type;
	uint32_t size;
};

static uint32_t read_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t read_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Copies a string that must end within `len` bytes; returns false if it was cut short. */
static bool copy_string(char *dst, size_t dst_size, const uint8_t *src, size_t len)
{
	size_t n = KLIB(strnlen)((const char *)src, len);
	bool terminated = n < len;
	bool fits = n < dst_size;
	size_t copy = fits ? n : dst_size - 1;
	memcpy(dst, src, copy);
	dst[copy] = '\0';
	return terminated && fits;
}

static const char *parse_memory_map(const uint8_t *payload, uint32_t payload_size, struct boot_info *out,
				    void (*warn)(const char *fmt, ...))
{
	if (payload_size < 8)
		return "memory map tag too small for its header";
	uint32_t entry_size = read_u32(payload);
	if (entry_size < 20 || entry_size % 4 != 0)
		return "memory map entry size is smaller than an entry or misaligned";
	/* 64-bit sums: an entry size near 2^32 must not wrap past the end of the tag. */
	for (uint64_t off = 8; off + entry_size <= payload_size; off += entry_size) {
		const uint8_t *e = payload + off;
		if (out->memory_map_count == BOOT_MEMORY_MAP_MAX) {
			warn("multiboot2: more than %u memory map entries; the rest are ignored\n",
			     BOOT_MEMORY_MAP_MAX);
			out->warnings++;
			break;
		}
		out->memory_map[out->memory_map_count++] = (struct boot_memory_entry){
			.base = read_u64(e), .length = read_u64(e + 8), .type = read_u32(e + 16)
		};
	}
	return NULL;
}

static const char *parse_tag(uint32_t type, const uint8_t *payload, uint32_t payload_size,
			     struct boot_info *out, void (*warn)(const char *fmt, ...))
{
	switch (type) {
	case TAG_CMDLINE:
		if (!copy_string(out->cmdline, sizeof(out->cmdline), payload, payload_size)) {
			warn("multiboot2: command line unterminated or longer than %u bytes; truncated\n",
			     BOOT_CMDLINE_MAX - 1);
			out->warnings++;
			out->cmdline_cut = true;
		}
		return NULL;
	case TAG_LOADER_NAME:
		copy_string(out->loader_name, sizeof(out->loader_name), payload, payload_size);
		return NULL;
	case TAG_BASIC_MEMINFO:
		if (payload_size < 8)
			return "basic meminfo tag too small";
		out->have_basic_meminfo = true;
		out->mem_lower_kib = read_u32(payload);
		out->mem_upper_kib = read_u32(payload + 4);
		return NULL;
	case TAG_MODULE: {
		if (payload_size < 8)
			return "module tag too small";
		if (out->module_count == BOOT_MODULES_MAX) {
			warn("multiboot2: more than %u modules; the rest are ignored\n", BOOT_MODULES_MAX);
			out->warnings++;
			return NULL;
		}
		struct boot_module *m = &out->modules[out->module_count];
		m->start = read_u32(payload);
		m->end = read_u32(payload + 4);
		if (m->end < m->start)
			return "module ends before it starts";
		copy_string(m->name, sizeof(m->name), payload + 8, payload_size - 8);
		out->module_count++;
		return NULL;
	}
	case TAG_MEMORY_MAP:
		return parse_memory_map(payload, payload_size, out, warn);
	default:
		return NULL; /* tags we did not ask for are allowed and skipped */
	}
}

const char *multiboot2_parse(const void *info, uint64_t available, uint64_t info_phys,
			     struct boot_info *out, void (*warn)(const char *fmt, ...))
{
	const uint8_t *base = info;
	memset(out, 0, sizeof(*out));
	if (available < 16)
		return "information block smaller than its header and an end tag";
	uint32_t total = read_u32(base);
	if (total < 16 || total > available)
		return "information block total_size is implausible";
	out->info_phys = info_phys;
	out->info_size = total;

	bool saw_end = false;
	for (uint32_t off = 8; off + sizeof(struct tag_header) <= total;) {
		uint32_t type = read_u32(base + off), size = read_u32(base + off + 4);
		if (size < sizeof(struct tag_header) || size > total - off)
			return "a tag's size runs past the end of the information block";
		if (type == TAG_END) {
			saw_end = true;
			break;
		}
		const char *err = parse_tag(type, base + off + 8, size - 8, out, warn);
		if (err)
			return err;
		off += (size + 7) & ~7u;
	}
	if (!saw_end)
		return "no end tag";
	return NULL;
}

const char *multiboot2_memory_type_name(uint32_t type)
{
	switch (type) {
	case MB2_MEMORY_AVAILABLE:
		return "available";
	case MB2_MEMORY_RESERVED:
		return "reserved";
	case MB2_MEMORY_ACPI_RECLAIMABLE:
		return "ACPI reclaimable";
	case MB2_MEMORY_NVS:
		return "ACPI NVS";
	case MB2_MEMORY_BAD:
		return "bad RAM";
	default:
		return "unknown (reserved)";
	}
}
