/*
 * The multiboot2 boot information, parsed and copied into a struct the kernel owns (so the
 * loader's memory can be reused). Arch-free: host tests feed it malformed input.
 */
#ifndef PAGESCOPE_BOOT_MULTIBOOT2_H
#define PAGESCOPE_BOOT_MULTIBOOT2_H

#include "kernel/lib/compiler.h"

#define MB2_BOOT_MAGIC 0x36D76289u

/* Memory map entry types (multiboot2 numbering). */
#define MB2_MEMORY_AVAILABLE 1
#define MB2_MEMORY_RESERVED 2
#define MB2_MEMORY_ACPI_RECLAIMABLE 3
#define MB2_MEMORY_NVS 4
#define MB2_MEMORY_BAD 5

#define BOOT_MEMORY_MAP_MAX 128
#define BOOT_MODULES_MAX 16
#define BOOT_CMDLINE_MAX 512
#define BOOT_NAME_MAX 64

struct boot_memory_entry {
	uint64_t base;
	uint64_t length;
	uint32_t type;
};

struct boot_module {
	uint64_t start; /* physical, inclusive */
	uint64_t end;   /* physical, exclusive */
	char name[BOOT_NAME_MAX];
};

struct boot_info {
	uint64_t info_phys; /* where the loader's information block is, and its size */
	uint64_t info_size;
	char cmdline[BOOT_CMDLINE_MAX];
	bool cmdline_cut; /* the loader's command line did not fit (or was unterminated): cut short */
	char loader_name[BOOT_NAME_MAX];
	bool have_basic_meminfo;
	uint32_t mem_lower_kib, mem_upper_kib;
	struct boot_memory_entry memory_map[BOOT_MEMORY_MAP_MAX];
	unsigned memory_map_count;
	struct boot_module modules[BOOT_MODULES_MAX];
	unsigned module_count;
	unsigned warnings; /* recoverable oddities reported through the warn callback */
};

/*
 * Parses the multiboot2 information block at `info` (the loader's bytes, as mapped), whose physical
 * address is `info_phys`, into `out`. `available` bounds how many bytes may be read at `info`
 * (pass the mapped size; the block's own total_size must fit inside it). Returns NULL on success
 * or a message naming what is malformed; recoverable oddities (too many entries, a truncated
 * string) are reported through `warn` and counted in out->warnings.
 */
const char *multiboot2_parse(const void *info, uint64_t available, uint64_t info_phys,
			     struct boot_info *out, void (*warn)(const char *fmt, ...));

const char *multiboot2_memory_type_name(uint32_t type);

#endif
