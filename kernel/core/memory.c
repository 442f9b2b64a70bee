/*
 * Memory bring-up: replaces the boot page tables with the kernel's own and starts the pmm.
 *
 *  1. Kernel page tables are built from a small pool of pages inside the kernel image (the pmm does
 *     not exist yet, and the pool's pages are reserved with the image, so nothing else can hand
 *     them out). They map:
 *       - the kernel image with W^X: .text read+execute, .rodata read-only, .data/.bss read+write
 *         and NX; the low boot stub is not mapped at all;
 *       - the boot stack at the top of the scratchpad (64 KiB, NX), with an unmapped guard page
 *         below it so an overflow faults instead of corrupting memory;
 *       - the direct map: every RAM range of the memory map at DIRECT_MAP_BASE + physical, with
 *         1 GiB pages when the CPU has them, else 2 MiB, 4 KiB only at unaligned edges. Holes and
 *         reserved ranges are not mapped at all, so nothing that is not RAM is ever mapped
 *         write-back cacheable.
 *  2. CR3 switches to them: the boot identity map (and the boot tables' higher-half copy of low
 *     memory) is gone; phys_to_virt now goes through the direct map.
 *  3. The pmm starts from the memory map with the firmware area, kernel image, boot stack and boot
 *     modules reserved. Because the direct map is already the physical window, the pmm's
 *     bookkeeping pointers stay valid for the kernel's whole life (pmm.h requires a fixed window).
 *  4. The kernel page table switches its page source from the pool to the pmm. The pool's tables
 *     (root, the 256 pinned upper-half tables, the direct map and image tables) are never freed:
 *     they hold permanent mappings.
 */
#include "memory.h"
#include "boot.h"
#include "log.h"
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/vm.h"

struct pmm kernel_pmm;
struct pagetable kernel_pagetable;
struct page_source kernel_page_source;
struct direct_map_stats direct_map_stats;
uint64_t memory_free_pages_at_boot;

extern char kernel_text_start[], kernel_text_end[], kernel_rodata_start[], kernel_rodata_end[];
extern char kernel_data_start[], kernel_image_end[];

/*
 * Boot page-table pool: the root, the 256 pinned upper-half tables, and room for the image, stack
 * and direct-map tables. With 2 MiB pages the direct map takes one table per GiB of RAM span, so
 * without 1 GiB pages this pool bounds the RAM the kernel can map (checked, with a clear panic).
 */
#define BOOT_POOL_PAGES (1 + 256 + 96)
static uint8_t boot_pool[BOOT_POOL_PAGES][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static unsigned boot_pool_used;

static paddr_t kernel_image_phys(const void *va)
{
	return (uintptr_t)va - HIGHER_HALF_BASE;
}

static paddr_t boot_pool_alloc(void *ctx, uint64_t pages, uint64_t align, enum mm_owner owner)
{
	(void)ctx, (void)owner;
	if (pages != 1 || align != 1 || boot_pool_used == BOOT_POOL_PAGES)
		return PAGE_SOURCE_FAILED;
	uint8_t *page = boot_pool[boot_pool_used++];
	/* Zeroed by .bss clearing; the page tables expect the content unspecified anyway. */
	return kernel_image_phys(page);
}

static void boot_pool_free(void *ctx, paddr_t pa, uint64_t pages)
{
	(void)ctx;
	panic("boot_pool_free: boot page-table page %#lx (%lu pages) freed; those tables are permanent",
	      pa, pages);
}

static const struct page_source boot_pool_source = { boot_pool_alloc, boot_pool_free, NULL };

static void map_or_panic(uint64_t va, paddr_t pa, uint64_t count, enum pt_page_size size,
			 unsigned prot, const char *what)
{
	enum vm_status st = pt_map(&kernel_pagetable, va, pa, count, size, prot, PT_DATA_BORROWED);
	if (st != VM_OK)
		panic("memory_init: mapping %s at %#lx failed: %s (boot pool %u/%u pages used)", what, va,
		      vm_status_name(st), boot_pool_used, BOOT_POOL_PAGES);
}

static void map_kernel_range(const void *start, const void *end, unsigned prot, const char *what)
{
	uint64_t va = ALIGN_DOWN((uint64_t)start, PAGE_SIZE);
	uint64_t pages = (ALIGN_UP((uint64_t)end, PAGE_SIZE) - va) / PAGE_SIZE;
	if (pages)
		map_or_panic(va, kernel_image_phys((void *)va), pages, PT_PAGE_4K, prot, what);
}

static bool is_ram(uint32_t type)
{
	return type == MB2_MEMORY_AVAILABLE || type == MB2_MEMORY_ACPI_RECLAIMABLE ||
	       type == MB2_MEMORY_NVS;
}

/*
 * Maps [base, end) of RAM into the direct map with the largest pages alignment allows: each step
 * takes the largest usable page size aligned at `base` and maps up to the next boundary of a larger
 * size (or the end), so small pages appear only at unaligned edges.
 */
static void direct_map_range(paddr_t base, paddr_t end)
{
	static const enum pt_page_size sizes[] = { PT_PAGE_1G, PT_PAGE_2M, PT_PAGE_4K };
	static const uint64_t bytes[] = { 1 * GiB, 2 * MiB, 4 * KiB };
	uint64_t *counters[] = { &direct_map_stats.pages_1g, &direct_map_stats.pages_2m,
				 &direct_map_stats.pages_4k };
	unsigned first_size = cpu_features.pages_1g ? 0 : 1;
	base = ALIGN_UP(base, PAGE_SIZE);
	end = ALIGN_DOWN(end, PAGE_SIZE);
	while (base < end) {
		unsigned i = first_size;
		while (!IS_ALIGNED(base, bytes[i]) || end - base < bytes[i])
			i++;
		uint64_t limit = end;
		for (unsigned larger = first_size; larger < i; larger++)
			limit = MIN(limit, ALIGN_DOWN(base, bytes[larger]) + bytes[larger]);
		uint64_t count = (limit - base) / bytes[i];
		map_or_panic(DIRECT_MAP_BASE + base, base, count, sizes[i], PT_READ | PT_WRITE | PT_GLOBAL,
			     "the direct map");
		*counters[i] += count;
		direct_map_stats.bytes_mapped += count * bytes[i];
		base += count * bytes[i];
	}
}

static void build_kernel_page_tables(const struct boot_info *bi)
{
	enum vm_status st = pt_create_kernel(&kernel_pagetable, &boot_pool_source);
	if (st != VM_OK)
		panic("memory_init: cannot create the kernel page table: %s", vm_status_name(st));

	map_kernel_range(kernel_text_start, kernel_text_end, PT_READ | PT_EXECUTE | PT_GLOBAL, ".text");
	map_kernel_range(kernel_rodata_start, kernel_rodata_end, PT_READ | PT_GLOBAL, ".rodata");
	map_kernel_range(kernel_data_start, kernel_image_end, PT_READ | PT_WRITE | PT_GLOBAL,
			 ".data/.bss");
	map_or_panic(KERNEL_STACK_TOP - KERNEL_STACK_SIZE, KERNEL_STACK_PHYS_BASE,
		     KERNEL_STACK_SIZE / PAGE_SIZE, PT_PAGE_4K, PT_READ | PT_WRITE | PT_GLOBAL,
		     "the boot stack");

	for (unsigned i = 0; i < bi->memory_map_count; i++) {
		const struct boot_memory_entry *e = &bi->memory_map[i];
		if (!is_ram(e->type) || e->length == 0)
			continue;
		if (e->base >= DIRECT_MAP_SIZE || e->length > DIRECT_MAP_SIZE - e->base)
			panic("memory_init: RAM at %#lx+%#lx lies beyond the 4 TiB direct map", e->base,
			      e->length);
		direct_map_range(e->base, e->base + e->length);
	}
}

static void switch_to_kernel_page_tables(void)
{
	if (cpu_features.pge)
		write_cr4(read_cr4() | CR4_PGE);
	pt_activate(&kernel_pagetable);
	mm_phys_window = DIRECT_MAP_BASE;
}

static void start_pmm(const struct boot_info *bi)
{
	static struct pmm_memory_map_entry map[BOOT_MEMORY_MAP_MAX];
	static struct pmm_reservation reservations[3 + BOOT_MODULES_MAX];
	static struct pmm_region initial_records[4096];

	for (unsigned i = 0; i < bi->memory_map_count; i++)
		map[i] = (struct pmm_memory_map_entry){ bi->memory_map[i].base, bi->memory_map[i].length,
							bi->memory_map[i].type };
	size_t n = 0;
	reservations[n++] = (struct pmm_reservation){ 0, 1 * MiB, MM_OWNER_FIRMWARE };
	reservations[n++] = (struct pmm_reservation){
		KERNEL_IMAGE_PHYS, kernel_image_phys(kernel_image_end) - KERNEL_IMAGE_PHYS,
		MM_OWNER_KERNEL_IMAGE
	};
	reservations[n++] = (struct pmm_reservation){ KERNEL_STACK_PHYS_BASE, KERNEL_STACK_SIZE,
						      MM_OWNER_KERNEL_IMAGE };
	for (unsigned i = 0; i < bi->module_count; i++) {
		const struct boot_module *m = &bi->modules[i];
		if (m->end > m->start)
			reservations[n++] = (struct pmm_reservation){ m->start, m->end - m->start,
								      MM_OWNER_BOOT_MODULE };
	}
	struct pmm_config config = {
		.memory_map = map,
		.memory_map_count = bi->memory_map_count,
		.reservations = reservations,
		.reservation_count = n,
		.initial_records = initial_records,
		.initial_record_count = ARRAY_SIZE(initial_records),
		.metadata_zone = PMM_ALLOC_ANY,
	};
	enum pmm_status st = pmm_init(&kernel_pmm, &config);
	if (st != PMM_OK)
		panic("memory_init: pmm_init failed: %s", pmm_status_name(st));
	kernel_page_source = pmm_page_source(&kernel_pmm);
	kernel_pagetable.source = &kernel_page_source;
}

static void print_memory_summary(void)
{
	struct pmm_stats s;
	pmm_get_stats(&kernel_pmm, &s);
	memory_free_pages_at_boot = s.free_pages;
	kprintf("direct map: %lu MiB of RAM at %#llx: %lu x 1 GiB, %lu x 2 MiB, %lu x 4 KiB pages%s\n",
		direct_map_stats.bytes_mapped >> 20, DIRECT_MAP_BASE, direct_map_stats.pages_1g,
		direct_map_stats.pages_2m, direct_map_stats.pages_4k,
		cpu_features.pages_1g ? "" : " (CPU has no 1 GiB pages)");
	kprintf("kernel page tables: %u boot pool pages of %u; identity map removed\n", boot_pool_used,
		BOOT_POOL_PAGES);
	kprintf("pmm: %lu MiB managed, %lu MiB free in %lu extents (largest %lu pages)\n",
		s.total_pages >> 8, s.free_pages >> 8, s.free_extents, s.largest_free_extent);
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		kprintf("pmm:   zone %-6s %8lu pages free of %8lu, %lu extents\n", pmm_zone_name(z),
			s.zone[z].free_pages, s.zone[z].total_pages, s.zone[z].free_extents);
}

void memory_init(const struct boot_info *bi)
{
	build_kernel_page_tables(bi);
	switch_to_kernel_page_tables();
	start_pmm(bi);
	print_memory_summary();
}
