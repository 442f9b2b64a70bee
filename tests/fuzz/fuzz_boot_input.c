/*
 * libFuzzer harness for the boot inputs a loader or firmware controls: the multiboot2 information
 * block (multiboot2_parse) and the memory map it carries (page_allocator_init through the normaliser, then a
 * few allocations and pmm_check). Any crash, sanitizer report or broken pmm invariant is a bug.
 *
 *   make fuzz FUZZ_SECONDS=60
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/boot/multiboot2.h"
#include "kernel/mm/pmm.h"
#include "tests/host/host_env.h"
#include <machine/memory_zones.h>

static void ignore_warning(const char *fmt, ...)
{
	(void)fmt;
}

/* "Physical memory" the pmm may take record pages from: 64 MiB of reserve at 0. */
#define ARENA_BYTES (64ull << 20)

static void exercise_pmm(const struct boot_info *bi)
{
	static struct pmm_memory_map_entry map[BOOT_MEMORY_MAP_MAX];
	static struct page_allocator pmm;
	for (unsigned i = 0; i < bi->memory_map_count; i++) {
		/* Keep RAM inside the arena so record pages taken through phys_to_virt are real. */
		map[i] = (struct pmm_memory_map_entry){ bi->memory_map[i].base % ARENA_BYTES,
							 bi->memory_map[i].length % ARENA_BYTES,
							 bi->memory_map[i].type };
	}
	struct pmm_reservation reservation = { 0, 1 << 20, MM_OWNER_FIRMWARE };
	struct pmm_config config = {
		.memory_map = map, .memory_map_count = bi->memory_map_count,
		.reservations = &reservation, .reservation_count = 1,
		.zone_end = MACHINE_ZONE_ENDS,
		.metadata_zone = PMM_ALLOC_ANY,
	};
	struct page_allocator_config chosen = { PMM_ALLOCATOR_regions, &config };
	if (page_allocator_init(&pmm, &chosen) != PMM_OK)
		return;
	paddr_t got[8];
	for (unsigned i = 0; i < 8; i++)
		got[i] = page_alloc(&pmm, 1 + i * 3, (enum pmm_alloc_zone)(i % 3), 1u << (i % 4), MM_OWNER_TEST);
	for (unsigned i = 0; i < 8; i += 2)
		if (got[i] != PMM_ALLOC_FAILED && page_free(&pmm, got[i], 1 + i * 3) != PMM_OK)
			abort();
	const char *broken = page_allocator_check(&pmm);
	if (broken) {
		fprintf(stderr, "page_allocator_check: %s\n", broken);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *arena;
	if (!arena)
		arena = host_phys_arena_create(0, ARENA_BYTES);
	static struct boot_info bi;
	/* The parser reads the block through memcpy only, from an exactly-sized copy. */
	uint8_t *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (multiboot2_parse(copy, size, 0x10000, &bi, ignore_warning) == NULL) {
		if (bi.memory_map_count > BOOT_MEMORY_MAP_MAX || bi.module_count > BOOT_MODULES_MAX)
			abort();
		exercise_pmm(&bi);
	}
	free(copy);
	return 0;
}
