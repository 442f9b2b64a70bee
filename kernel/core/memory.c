/*
 * Memory bring-up: replaces the boot page tables with the kernel's own address space (a VMM kernel
 * context, bookkept by the backend the command line chose) and starts the pmm and kmalloc.
 *
 *  1. The kernel context is built from a small pool of pages inside the kernel image (the pmm does
 *     not exist yet, and the pool's pages are reserved with the image, so nothing else can hand
 *     them out). Every range below is first reserved in the context's bookkeeping (vmm_reserve_at)
 *     and then mapped, so the VMM knows the kernel's layout exactly:
 *       - the kernel image with W^X: .text read+execute, .rodata read-only, .data/.bss read+write
 *         and NX; the low boot stub is not mapped at all;
 *       - the boot stack at the top of the scratchpad (64 KiB, NX), with an unmapped guard page
 *         below it so an overflow faults instead of corrupting memory;
 *       - the direct map: every RAM range of the memory map at DIRECT_MAP_BASE + physical, with
 *         1 GiB pages when the CPU has them, else 2 MiB, 4 KiB only at unaligned edges. Holes and
 *         reserved ranges are not mapped at all, so nothing that is not RAM is ever mapped
 *         write-back cacheable.
 *  2. CR3 switches to it: the boot identity map (and the boot tables' higher-half copy of low
 *     memory) is gone; phys_to_virt now goes through the direct map.
 *  3. The pmm starts from the memory map with the firmware area, kernel image, boot stack, the
 *     multiboot information and the boot modules reserved, and with the machine's zone ends
 *     (<machine/memory_zones.h>). Because the direct map is already the physical window, the pmm's
 *     bookkeeping pointers stay valid for the kernel's whole life (pmm.h requires a fixed window).
 *  4. kernel_page_source switches from the pool to the pmm: one page source for the kernel's whole
 *     life, so structures built during boot need no re-plumbing. Pool pages that are freed later go
 *     back to the pool and serve single-page requests first.
 */
#include "memory.h"
#include "boot.h"
#include "log.h"
#include "kernel/arch/amd64/cpu.h"
#include <machine/memory_zones.h>
#include <machine/pte.h>
#include "kernel/arch/amd64/vm.h"
#include "kernel/arch/amd64/vm_regions.h"

struct page_allocator kernel_pmm;
struct vmm_context kernel_vmm;
struct slab_arena kernel_slabs;
struct kmalloc_heap kernel_heap;
struct page_source kernel_page_source;
struct direct_map_stats direct_map_stats;
uint64_t memory_free_pages_at_boot;

extern char kernel_text_start[], kernel_text_end[], kernel_rodata_start[], kernel_rodata_end[];
extern char kernel_data_start[], kernel_image_end[];

/*
 * Boot page-table pool: the root, the 256 pinned upper-half tables, and room for the image, stack,
 * direct-map tables and list-backend records. With 2 MiB pages the direct map takes one table per
 * GiB of RAM span, so without 1 GiB pages this pool bounds the RAM the kernel can map (checked,
 * with a clear panic).
 */
#define BOOT_POOL_PAGES (1 + 256 + 96)
static uint8_t boot_pool[BOOT_POOL_PAGES][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static unsigned boot_pool_used;
static unsigned boot_pool_returned[BOOT_POOL_PAGES]; /* indices of pool pages given back */
static unsigned boot_pool_returned_count;
static bool pmm_started;

static paddr_t kernel_image_phys(const void *va)
{
	return (uintptr_t)va - HIGHER_HALF_BASE;
}

static bool in_boot_pool(paddr_t pa)
{
	return pa >= kernel_image_phys(boot_pool[0]) &&
	       pa < kernel_image_phys(boot_pool[BOOT_POOL_PAGES - 1]) + PAGE_SIZE;
}

struct page_source_cost page_source_cost;

static void count_cost(uint64_t *calls, uint64_t *ticks, uint64_t *worst, uint64_t started)
{
	uint64_t spent = rdtsc() - started;
	++*calls;
	*ticks += spent;
	*worst = MAX(*worst, spent);
}

static paddr_t kernel_pages_alloc(void *ctx, uint64_t pages, uint64_t align, enum mm_owner owner)
{
	(void)ctx;
	if (pages == 1 && align == 1 && boot_pool_returned_count)
		return kernel_image_phys(boot_pool[boot_pool_returned[--boot_pool_returned_count]]);
	if (pmm_started) {
		struct page_source_cost *c = &page_source_cost;
		uint64_t started = rdtsc();
		paddr_t pa = page_alloc(&kernel_pmm, pages, PMM_ALLOC_ANY, align, owner);
		count_cost(&c->allocs, &c->alloc_ticks, &c->worst_alloc, started);
		return pa == PMM_ALLOC_FAILED ? PAGE_SOURCE_FAILED : pa;
	}
	if (pages != 1 || align != 1 || boot_pool_used == BOOT_POOL_PAGES)
		return PAGE_SOURCE_FAILED;
	return kernel_image_phys(boot_pool[boot_pool_used++]);
}

static void kernel_pages_free(void *ctx, paddr_t pa, uint64_t pages)
{
	(void)ctx;
	if (in_boot_pool(pa)) {
		MM_ASSERT(pages == 1, "kernel_pages_free: %lu pages at %#lx in the boot pool", pages, pa);
		boot_pool_returned[boot_pool_returned_count++] =
			(unsigned)((pa - kernel_image_phys(boot_pool[0])) / PAGE_SIZE);
		return;
	}
	struct page_source_cost *c = &page_source_cost;
	uint64_t started = rdtsc();
	enum pmm_status st = page_free(&kernel_pmm, pa, pages);
	count_cost(&c->frees, &c->free_ticks, &c->worst_free, started);
	if (st != PMM_OK)
		panic("kernel_pages_free: pmm_free(%#lx, %lu pages): %s", pa, pages, pmm_status_name(st));
}

struct page_source kernel_page_source = { kernel_pages_alloc, kernel_pages_free, NULL };

void memory_print_page_source_cost(void)
{
	const struct page_source_cost *c = &page_source_cost;
	kprintf("pmm-cost: pmm=%s: %lu allocs in %lu ticks (worst %lu), %lu frees in %lu ticks "
		"(worst %lu), through the kernel page source\n",
		pmm_allocator_name(kernel_pmm.allocator), c->allocs, c->alloc_ticks, c->worst_alloc,
		c->frees, c->free_ticks, c->worst_free);
}

/* Reserves [va, va + count pages of size) in the kernel context and maps it to pa. */
static void reserve_and_map(uint64_t va, paddr_t pa, uint64_t count, enum pt_page_size size,
			    unsigned prot, const char *what)
{
	uint64_t pages = count * PT_SPAN_PAGES((unsigned)size);
	enum vm_status st = vmm_reserve_at(&kernel_vmm, va, pages);
	if (st == VM_OK)
		st = vmm_map(&kernel_vmm, va, pa, count, size, prot);
	if (st != VM_OK)
		panic("memory_init: mapping %s at %#lx failed: %s (boot pool %u/%u pages used)", what, va,
		      vm_status_name(st), boot_pool_used, BOOT_POOL_PAGES);
}

static void map_kernel_range(const void *start, const void *end, unsigned prot, const char *what)
{
	uint64_t va = ALIGN_DOWN((uint64_t)start, PAGE_SIZE);
	uint64_t pages = (ALIGN_UP((uint64_t)end, PAGE_SIZE) - va) / PAGE_SIZE;
	if (pages)
		reserve_and_map(va, kernel_image_phys((void *)va), pages, PT_PAGE_4K, prot, what);
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
		reserve_and_map(DIRECT_MAP_BASE + base, base, count, sizes[i],
				PT_READ | PT_WRITE | PT_GLOBAL, "the direct map");
		*counters[i] += count;
		direct_map_stats.bytes_mapped += count * bytes[i];
		base += count * bytes[i];
	}
}

enum vm_status memory_user_context_create(struct vmm_context *ctx)
{
	struct vmm_config config = {
		.kind = VMM_CONTEXT_USER,
		.backend = kernel_options.vmm,
		.source = &kernel_page_source,
		.brk_region = VMM_UREGION_HEAP,
		.shm_region = VMM_UREGION_SHM,
		.kernel = &kernel_vmm,
	};
	return vmm_context_create(ctx, &config);
}

static void build_kernel_address_space(const struct boot_info *bi)
{
	struct vmm_config config = {
		.kind = VMM_CONTEXT_KERNEL,
		.backend = kernel_options.vmm,
		.source = &kernel_page_source,
		.regions = amd64_kernel_regions,
		.region_count = AMD64_KERNEL_REGION_COUNT,
		.user_regions = amd64_user_regions,
		.user_region_count = AMD64_USER_REGION_COUNT,
		.brk_region = VMM_NO_REGION,
		.shm_region = VMM_NO_REGION,
	};
	enum vm_status st = vmm_context_create(&kernel_vmm, &config);
	if (st != VM_OK)
		panic("memory_init: cannot create the kernel context: %s", vm_status_name(st));

	map_kernel_range(kernel_text_start, kernel_text_end, PT_READ | PT_EXECUTE | PT_GLOBAL, ".text");
	map_kernel_range(kernel_rodata_start, kernel_rodata_end, PT_READ | PT_GLOBAL, ".rodata");
	map_kernel_range(kernel_data_start, kernel_image_end, PT_READ | PT_WRITE | PT_GLOBAL,
			 ".data/.bss");
	reserve_and_map(KERNEL_STACK_TOP - KERNEL_STACK_SIZE, KERNEL_STACK_PHYS_BASE,
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
	vmm_context_activate(&kernel_vmm);
	mm_phys_window = DIRECT_MAP_BASE;
}

static void start_pmm(const struct boot_info *bi)
{
	static struct pmm_memory_map_entry map[BOOT_MEMORY_MAP_MAX];
	static struct pmm_reservation reservations[4 + BOOT_MODULES_MAX];

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
	/* Copied into boot_info already, but kept (a page or two) so the loader's data is accounted. */
	reservations[n++] = (struct pmm_reservation){ bi->info_phys, bi->info_size, MM_OWNER_BOOTSTRAP };
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
		.metadata_zone = PMM_ALLOC_ANY,
		.zone_end = MACHINE_ZONE_ENDS,
	};
	struct page_allocator_config chosen = { .allocator = kernel_options.pmm, .pmm = &config };
	enum pmm_status st = page_allocator_init(&kernel_pmm, &chosen);
	if (st != PMM_OK)
		panic("memory_init: pmm_init (pmm=%s) failed: %s", pmm_allocator_name(kernel_options.pmm),
		      pmm_status_name(st));
	pmm_started = true;
}

static void start_kmalloc(void)
{
	enum vm_status st = slab_arena_init(&kernel_slabs, &kernel_vmm, VMM_KREGION_SLAB);
	if (st == VM_OK)
		st = kmalloc_init(&kernel_heap, &(struct kmalloc_config){ .slabs = &kernel_slabs,
									  .heap_region = VMM_KREGION_HEAP });
	if (st != VM_OK)
		panic("memory_init: kmalloc_init failed: %s", vm_status_name(st));
}

static void print_memory_summary(void)
{
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	kprintf("direct map: %lu MiB of RAM at %#llx: %lu x 1 GiB, %lu x 2 MiB, %lu x 4 KiB pages%s\n",
		direct_map_stats.bytes_mapped >> 20, DIRECT_MAP_BASE, direct_map_stats.pages_1g,
		direct_map_stats.pages_2m, direct_map_stats.pages_4k,
		cpu_features.pages_1g ? "" : " (CPU has no 1 GiB pages)");
	kprintf("kernel context: %s bookkeeping (%lu bytes), %lu page-table pages, %u of %u boot pool "
		"pages; identity map removed\n",
		vmm_backend_kind_name(kernel_options.vmm), vmm_bookkeeping_bytes(&kernel_vmm),
		vmm_page_table_pages(&kernel_vmm), boot_pool_used, BOOT_POOL_PAGES);
	kprintf("pmm: %s: %lu MiB managed, %lu MiB free in %lu extents (largest %lu pages), %lu "
		"metadata pages\n",
		pmm_allocator_name(kernel_pmm.allocator), s.total_pages >> 8, s.free_pages >> 8,
		s.free_extents, s.largest_free_extent, s.metadata_pages);
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		kprintf("pmm:   zone %-6s %8lu pages free of %8lu, %lu extents\n", pmm_zone_name(z),
			s.zone[z].free_pages, s.zone[z].total_pages, s.zone[z].free_extents);
}

void memory_init(const struct boot_info *bi)
{
	build_kernel_address_space(bi);
	switch_to_kernel_page_tables();
	start_pmm(bi);
	start_kmalloc();
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	memory_free_pages_at_boot = s.free_pages;
	print_memory_summary();
}
