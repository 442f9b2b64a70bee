/*
 * In-kernel tests of memory bring-up: the kernel's own page tables (W^X image, no identity map,
 * direct map of RAM only) and the pmm on the real machine's memory map.
 */
#define PAGE_ALLOCATOR_SHARED_COPIES /* allocates rarely: the shared copies (page_allocator.h) */
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/exceptions.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/core/boot.h"
#include "kernel/core/memory.h"
#include "kernel/lib/testing.h"
#include "tests/kernel/fault_probe.h"
#include <machine/memory_zones.h>

extern char kernel_text_start[];
static const uint64_t read_only_value = 0x5eed;
static uint8_t data_ret_instruction[16] = { 0xC3 }; /* `ret`, in .data */


/* The boot identity map is gone: low virtual addresses fault. */
TEST(memory_identity_map_is_removed)
{
	EXPECT_TRUE(page_fault_at(probe_read, (void *)0x100000, 0, PF_PRESENT));
	EXPECT_TRUE(page_fault_at(probe_read, (void *)(KERNEL_IMAGE_PHYS + 0x2000), 0, PF_PRESENT));
}

/* W^X on the kernel image: code is not writable, constants are not writable, data is not executable. */
TEST(memory_kernel_image_is_write_xor_execute)
{
	EXPECT_TRUE(page_fault_at(probe_write, kernel_text_start, PF_PRESENT | PF_WRITE, 0));
	EXPECT_TRUE(page_fault_at(probe_write, (void *)&read_only_value, PF_PRESENT | PF_WRITE, 0));
	EXPECT_TRUE(page_fault_at(probe_call, data_ret_instruction, PF_PRESENT | PF_INSTRUCTION_FETCH, 0));
	EXPECT_EQ(read_only_value, 0x5eed);
}

/* A guard page below the boot stack is unmapped, so an overflow faults. */
TEST(memory_boot_stack_has_guard_page)
{
	EXPECT_TRUE(page_fault_at(probe_read, (void *)(KERNEL_STACK_TOP - KERNEL_STACK_SIZE - 8), 0,
				  PF_PRESENT));
}

/* Every RAM range of the memory map is in the direct map; holes between them are not mapped. */
TEST(memory_direct_map_covers_ram_and_nothing_else)
{
	uint64_t previous_end = 0;
	for (unsigned i = 0; i < boot_info.memory_map_count; i++) {
		const struct boot_memory_entry *e = &boot_info.memory_map[i];
		struct pt_translation t;
		uint64_t first = ALIGN_UP(e->base, PAGE_SIZE), last = ALIGN_DOWN(e->base + e->length, PAGE_SIZE);
		bool ram = e->type == MB2_MEMORY_AVAILABLE || e->type == MB2_MEMORY_ACPI_RECLAIMABLE ||
			   e->type == MB2_MEMORY_NVS;
		if (first >= last)
			continue;
		enum vm_status st = pt_translate(&kernel_vmm.pt, DIRECT_MAP_BASE + first, &t);
		if (ram) {
			EXPECT_EQ(st, VM_OK);
			EXPECT_EQ(t.pa, first);
			EXPECT_EQ(t.prot & PT_EXECUTE, 0);
			EXPECT_EQ(pt_translate(&kernel_vmm.pt, DIRECT_MAP_BASE + last - PAGE_SIZE, &t), VM_OK);
			EXPECT_EQ(t.pa, last - PAGE_SIZE);
		} else {
			EXPECT_EQ(st, VM_ERR_NOT_MAPPED);
		}
		if (previous_end && first > previous_end + PAGE_SIZE) /* a hole in the map */
			EXPECT_EQ(pt_translate(&kernel_vmm.pt, DIRECT_MAP_BASE + previous_end, &t),
				  VM_ERR_NOT_MAPPED);
		previous_end = ALIGN_UP(e->base + e->length, PAGE_SIZE);
	}
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	EXPECT_GE(direct_map_stats.bytes_mapped, s.zone[PMM_ZONE_DMA32].total_pages * PAGE_SIZE);
	if (cpu_features.pages_1g && direct_map_stats.bytes_mapped >= 2 * GiB)
		EXPECT_GE(direct_map_stats.pages_1g, 1);
	if (!cpu_features.pages_1g)
		EXPECT_EQ(direct_map_stats.pages_1g, 0);
}

static bool find_owner(void *cookie, const struct pmm_region_info *r)
{
	const struct pmm_region_info *want = cookie;
	if (r->state == PMM_REGION_USED && r->owner == want->owner && r->base <= want->base &&
	    want->base < r->base + r->pages * PAGE_SIZE) {
		((struct pmm_region_info *)cookie)->pages = 1; /* found */
		return false;
	}
	return true;
}

static bool reserved_for(paddr_t pa, enum mm_owner owner)
{
	struct pmm_region_info want = { .base = pa, .owner = owner, .pages = 0 };
	page_allocator_for_each_used(&kernel_pmm, find_owner, &want);
	return want.pages == 1;
}

/* What must not be handed out is reserved, under the right owner, before the pmm hands out anything. */
TEST(memory_pmm_reserves_firmware_image_stack_and_boot_info)
{
	extern char kernel_image_end[];
	EXPECT_TRUE(reserved_for(0x1000, MM_OWNER_FIRMWARE)); /* usable RAM below 1 MiB is held back */
	EXPECT_TRUE(reserved_for(KERNEL_IMAGE_PHYS, MM_OWNER_KERNEL_IMAGE));
	EXPECT_TRUE(reserved_for((uintptr_t)kernel_image_end - HIGHER_HALF_BASE - 1, MM_OWNER_KERNEL_IMAGE));
	EXPECT_TRUE(reserved_for(KERNEL_STACK_PHYS_BASE, MM_OWNER_KERNEL_IMAGE));
	EXPECT_TRUE(reserved_for(boot_info.info_phys, MM_OWNER_BOOTSTRAP));
	for (unsigned i = 0; i < boot_info.module_count; i++)
		EXPECT_TRUE(reserved_for(boot_info.modules[i].start, MM_OWNER_BOOT_MODULE));
}

/*
 * The pmm has the machine's zones, and allocations honour them: DMA below 16 MiB, DMA32 below
 * 4 GiB, and reach high memory.
 */
TEST(memory_pmm_allocations_land_in_their_zone)
{
	EXPECT_EQ(page_allocator_zone_end(&kernel_pmm, PMM_ZONE_DMA), MACHINE_ZONE_DMA_END);
	EXPECT_EQ(page_allocator_zone_end(&kernel_pmm, PMM_ZONE_DMA32), MACHINE_ZONE_DMA32_END);
	paddr_t dma = page_alloc(&kernel_pmm, 16, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_DMA);
	ASSERT_NE(dma, PMM_ALLOC_FAILED);
	EXPECT_LE(dma + 16 * PAGE_SIZE, MACHINE_ZONE_DMA_END);
	paddr_t low = page_alloc(&kernel_pmm, 1000, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST);
	ASSERT_NE(low, PMM_ALLOC_FAILED);
	EXPECT_LE(low + 1000 * PAGE_SIZE, MACHINE_ZONE_DMA32_END);
	paddr_t any = page_alloc(&kernel_pmm, 3, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	ASSERT_NE(any, PMM_ALLOC_FAILED);
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	if (s.zone[PMM_ZONE_NORMAL].free_pages > page_allocator_held_pages(&kernel_pmm, 3, 1))
		EXPECT_GE(any, MACHINE_ZONE_DMA32_END); /* `any` prefers high memory when there is some */
	EXPECT_EQ(page_free(&kernel_pmm, dma, 16), PMM_OK);
	EXPECT_EQ(page_free(&kernel_pmm, low, 1000), PMM_OK);
	EXPECT_EQ(page_free(&kernel_pmm, any, 3), PMM_OK);
	EXPECT_EQ(page_free(&kernel_pmm, any, 3), PMM_ERR_DOUBLE_FREE);
	EXPECT_TRUE(page_allocator_check(&kernel_pmm) == NULL);
}

/* 2 MiB and (when memory allows) 1 GiB aligned runs, as large pages need. */
TEST(memory_pmm_large_page_aligned_runs)
{
	paddr_t two_mib = page_alloc(&kernel_pmm, 512, PMM_ALLOC_ANY, 512, MM_OWNER_TEST);
	ASSERT_NE(two_mib, PMM_ALLOC_FAILED);
	EXPECT_TRUE(IS_ALIGNED(two_mib, 2 * MiB));
	EXPECT_EQ(page_free(&kernel_pmm, two_mib, 512), PMM_OK);
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	if (s.free_pages >= 3 * 262144 && page_allocator_can_serve(&kernel_pmm, 262144, 262144)) {
		paddr_t one_gib = page_alloc(&kernel_pmm, 262144, PMM_ALLOC_ANY, 262144, MM_OWNER_TEST);
		ASSERT_NE(one_gib, PMM_ALLOC_FAILED);
		EXPECT_TRUE(IS_ALIGNED(one_gib, 1 * GiB));
		EXPECT_EQ(page_free(&kernel_pmm, one_gib, 262144), PMM_OK);
	}
}

/* Writing a pattern through the direct map to every page of a large run reads back intact. */
TEST(memory_direct_map_writes_every_page_of_a_large_run)
{
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	uint64_t pages = MIN(s.largest_free_extent / 2, (uint64_t)(256 * MiB / PAGE_SIZE));
	while (!page_allocator_can_serve(&kernel_pmm, pages, 1)) /* buddy: up to its largest order */
		pages /= 2;
	ASSERT_TRUE(pages >= 256);
	paddr_t run = page_alloc(&kernel_pmm, pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	ASSERT_NE(run, PMM_ALLOC_FAILED);
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t *p = phys_to_virt(run + i * PAGE_SIZE);
		p[0] = run + i * PAGE_SIZE;
		p[PAGE_SIZE / 8 - 1] = ~(run + i * PAGE_SIZE);
	}
	uint64_t bad = 0;
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t *p = phys_to_virt(run + i * PAGE_SIZE);
		bad += p[0] != run + i * PAGE_SIZE || p[PAGE_SIZE / 8 - 1] != ~(run + i * PAGE_SIZE);
	}
	EXPECT_EQ(bad, 0);
	EXPECT_EQ(page_free(&kernel_pmm, run, pages), PMM_OK);
}

/*
 * Exhausting every zone ends in a clean allocation failure, not a panic; freeing everything brings
 * the free count back to its value at boot.
 */
TEST(memory_pmm_exhaust_and_free_everything_returns_to_boot_count)
{
	static paddr_t addrs[4096];
	static uint64_t sizes[4096];
	unsigned n = 0;
	struct pmm_stats before, exhausted, after;
	page_allocator_stats(&kernel_pmm, &before);
	EXPECT_EQ(before.free_pages, memory_free_pages_at_boot);
	for (int order = 20; order >= 0 && n < ARRAY_SIZE(addrs); order--) {
		for (;;) {
			if (n == ARRAY_SIZE(addrs))
				break;
			paddr_t pa = page_alloc(&kernel_pmm, 1ull << order, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
			if (pa == PMM_ALLOC_FAILED)
				break;
			addrs[n] = pa;
			sizes[n++] = 1ull << order;
		}
	}
	page_allocator_stats(&kernel_pmm, &exhausted);
	EXPECT_EQ(exhausted.free_pages, 0);
	EXPECT_EQ(page_alloc(&kernel_pmm, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
	for (unsigned i = 0; i < n; i++)
		EXPECT_EQ(page_free(&kernel_pmm, addrs[i], sizes[i]), PMM_OK);
	page_allocator_stats(&kernel_pmm, &after);
	/* Pages the pmm took for its own records while memory was being carved up stay with it. */
	EXPECT_EQ(after.free_pages + after.metadata_pages, before.free_pages + before.metadata_pages);
	if (after.metadata_pages == before.metadata_pages)
		EXPECT_EQ(after.free_extents, before.free_extents);
	EXPECT_TRUE(page_allocator_check(&kernel_pmm) == NULL);
	testing_note("exhausted with %u allocations; %lu free pages at boot", n, before.free_pages);
}
