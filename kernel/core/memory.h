/* The kernel's memory managers, once memory_init (kernel/core/memory.c) has run. */
#ifndef PAGESCOPE_CORE_MEMORY_H
#define PAGESCOPE_CORE_MEMORY_H

#include "kernel/mm/kmalloc.h"
#include "kernel/mm/page_allocator.h"
#include "kernel/mm/vmm.h"

/* The physical page allocator `pmm=` chose (kernel_options.pmm). */
extern struct page_allocator kernel_pmm;
/* The kernel's address space: its page tables are kernel_vmm.pt; every user context shares them. */
extern struct vmm_context kernel_vmm;
/* The kernel's slab caches (kmalloc's size classes among them) place their slabs here. */
extern struct slab_arena kernel_slabs;
extern struct kmalloc_heap kernel_heap;
/* Pages from kernel_pmm (PMM_ALLOC_ANY); what the VMM, slab and heap allocate through. */
extern struct page_source kernel_page_source;

struct direct_map_stats {
	uint64_t pages_1g, pages_2m, pages_4k;
	uint64_t bytes_mapped;
};
extern struct direct_map_stats direct_map_stats;

/*
 * Creates a user context of the running kernel: the VMM backend the command line chose, pages from
 * kernel_page_source, the machine's user layout with brk in VMM_UREGION_HEAP and shared memory in
 * VMM_UREGION_SHM, sharing kernel_vmm's half. vmm_context_create's statuses.
 */
enum vm_status memory_user_context_create(struct vmm_context *ctx);

/*
 * What kernel_page_source's calls into kernel_pmm cost (the boot pool's are not counted): the TSC
 * read before and after each page_alloc and page_free, so under QEMU -icount exact guest
 * instructions, the call and the tracer's work included when trace=on. `make report-pmm` reads
 * the `pmm-cost:` line memory_print_page_source_cost writes at the end of a boot.
 */
struct page_source_cost {
	uint64_t allocs, alloc_ticks, worst_alloc;
	uint64_t frees, free_ticks, worst_free;
};
extern struct page_source_cost page_source_cost;
void memory_print_page_source_cost(void);

/* Free pages right after boot, so tests can check that freeing everything returns to it. */
extern uint64_t memory_free_pages_at_boot;

#endif
