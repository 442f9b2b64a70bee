/*
 * In-kernel tests that run each memory manager out of memory on the real machine: kmalloc, the
 * VMM's bookkeeping and address space, and brk. Each first holds every physical page but a few
 * (so running out is quick under QEMU), then allocates until the manager refuses, checks that the
 * refusal is clean (an error, no panic, nothing changed), frees everything, and checks that the
 * pmm's free pages and the backend's bookkeeping are back where they started.
 *
 * The pmm may keep pages it took for its own records while memory was carved up, so "back where
 * they started" is free + record pages; this file runs after test_memory.c (tests run in file
 * order), whose boot-count check looks at free pages alone.
 */
#define PAGE_ALLOCATOR_SHARED_COPIES /* allocates rarely: the shared copies (page_allocator.h) */
#include "kernel/arch/amd64/vm.h"
#include "kernel/core/memory.h"
#include "kernel/core/options.h"
#include "kernel/lib/testing.h"

/* Physical pages taken out of play for the length of one test. */
static struct {
	paddr_t addr[4096];
	uint64_t pages[4096];
	unsigned count;
} held;

static uint64_t free_pages(void)
{
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	return s.free_pages;
}

/* Free pages plus the pmm's own record pages: what must come back when everything is freed. */
static uint64_t pages_not_in_use(void)
{
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	return s.free_pages + s.metadata_pages;
}

/* Allocates physical runs, largest first, until only `keep` pages are free. */
static void hold_all_but(uint64_t keep)
{
	held.count = 0;
	for (int order = 20; order >= 0; order--) {
		uint64_t pages = 1ull << order;
		while (held.count < ARRAY_SIZE(held.addr) && free_pages() >= keep + pages) {
			paddr_t pa = page_alloc(&kernel_pmm, pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
			if (pa == PMM_ALLOC_FAILED)
				break;
			held.addr[held.count] = pa;
			held.pages[held.count++] = pages;
		}
	}
}

static void release_held(void)
{
	while (held.count > 0) {
		held.count--;
		EXPECT_EQ(page_free(&kernel_pmm, held.addr[held.count], held.pages[held.count]), PMM_OK);
	}
}

/* kmalloc of every size until it returns NULL; freeing it all restores the pmm and the kernel VMM. */
TEST(exhaustion_kmalloc_runs_out_cleanly_and_freeing_restores_counts)
{
	static const size_t sizes[] = { 256 * 1024, 16384, 4096, 2048, 512, 64, 8 };
	uint64_t pages_before = pages_not_in_use();
	uint64_t bookkeeping_before = vmm_bookkeeping_bytes(&kernel_vmm);
	hold_all_but(1024);
	void *newest = NULL; /* every object holds the previous one: freed newest first */
	uint64_t objects = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		for (void *p; (p = kmalloc(&kernel_heap, sizes[i])) != NULL; objects++) {
			*(void **)p = newest;
			newest = p;
		}
	}
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++)
		EXPECT_TRUE(kmalloc(&kernel_heap, sizes[i]) == NULL);
	EXPECT_GE(objects, 16); /* 1 024 pages: at least the 256 KiB ones */
	while (newest) {
		void *previous = *(void **)newest;
		EXPECT_EQ(kfree(&kernel_heap, newest), VM_OK);
		newest = previous;
	}
	release_held();
	EXPECT_EQ(pages_not_in_use(), pages_before);
	EXPECT_EQ(vmm_bookkeeping_bytes(&kernel_vmm), bookkeeping_before);
	EXPECT_EQ(kernel_vmm.backend->self_check(&kernel_vmm), 0);
	EXPECT_TRUE(page_allocator_check(&kernel_pmm) == NULL);
	testing_note("%llu objects before kmalloc ran out", (unsigned long long)objects);
}

/*
 * Reservations, each in its own 2 MiB chunk, until the bookkeeping has no memory left
 * (VM_ERR_NO_MEMORY, nothing changed); a region filled up says VM_ERR_NO_SPACE.
 */
TEST(exhaustion_vmm_runs_out_of_bookkeeping_and_space_cleanly)
{
	uint64_t pages_before = pages_not_in_use();
	uint64_t kernel_bookkeeping = vmm_bookkeeping_bytes(&kernel_vmm);
	struct vmm_context ctx;
	ASSERT_EQ(memory_user_context_create(&ctx), VM_OK);
	uint64_t empty_bookkeeping = vmm_bookkeeping_bytes(&ctx);
	const struct vmm_region *mmap = &ctx.regions[VMM_UREGION_MMAP];
	hold_all_but(64);
	uint64_t count = 0, addr = 0, chunk = 512 * PAGE_SIZE;
	enum vm_status st;
	while ((st = vmm_reserve(&ctx, VMM_UREGION_MMAP, 1, 512, &addr)) == VM_OK) {
		EXPECT_EQ(addr, mmap->base + count * chunk);
		count++;
	}
	EXPECT_EQ(st, VM_ERR_NO_MEMORY);
	uint64_t bookkeeping_full = vmm_bookkeeping_bytes(&ctx);
	EXPECT_EQ(vmm_reserve(&ctx, VMM_UREGION_MMAP, 1, 512, &addr), VM_ERR_NO_MEMORY);
	EXPECT_EQ(vmm_bookkeeping_bytes(&ctx), bookkeeping_full);
	EXPECT_EQ(ctx.backend->self_check(&ctx), 0);
	EXPECT_GE(count, 1);
	uint64_t reservations = count;
	const struct vmm_region *stacks = &ctx.regions[VMM_UREGION_STACKS];
	release_held();
	ASSERT_EQ(vmm_reserve(&ctx, VMM_UREGION_STACKS, stacks->pages, 1, &addr), VM_OK);
	EXPECT_EQ(vmm_reserve(&ctx, VMM_UREGION_STACKS, 1, 1, &addr), VM_ERR_NO_SPACE);
	EXPECT_EQ(vmm_release(&ctx, stacks->base, stacks->pages), VM_OK);
	while (count > 0) {
		count--;
		EXPECT_EQ(vmm_release(&ctx, mmap->base + count * chunk, 1), VM_OK);
	}
	EXPECT_EQ(vmm_bookkeeping_bytes(&ctx), empty_bookkeeping);
	EXPECT_EQ(ctx.backend->self_check(&ctx), 0);
	vmm_context_destroy(&ctx);
	EXPECT_EQ(pages_not_in_use(), pages_before);
	EXPECT_EQ(vmm_bookkeeping_bytes(&kernel_vmm), kernel_bookkeeping);
	testing_note("%s backend: %llu reservations before its bookkeeping ran out",
		     vmm_backend_kind_name(kernel_options.vmm), (unsigned long long)reservations);
}

/* brk grows until memory runs out; the failed growth is undone; shrinking returns every page. */
TEST(exhaustion_brk_runs_out_cleanly_and_shrinking_restores_counts)
{
	uint64_t pages_before = pages_not_in_use();
	struct vmm_context ctx;
	ASSERT_EQ(memory_user_context_create(&ctx), VM_OK);
	uint64_t empty_bookkeeping = vmm_bookkeeping_bytes(&ctx), brk = 0;
	hold_all_but(256);
	uint64_t top = USER_HEAP_BASE;
	enum vm_status st;
	while ((st = vmm_brk(&ctx, top + 16 * PAGE_SIZE, &brk)) == VM_OK)
		top = brk;
	EXPECT_EQ(st, VM_ERR_NO_MEMORY);
	EXPECT_EQ(brk, top);
	EXPECT_GE(top - USER_HEAP_BASE, 16 * PAGE_SIZE);
	struct vmm_query_result q;
	vmm_query(&ctx, top, &q);
	EXPECT_EQ(q.state, VMM_PAGE_FREE); /* the failed growth left no reservation behind */
	EXPECT_EQ(ctx.backend->self_check(&ctx), 0);
	EXPECT_EQ(vmm_brk(&ctx, USER_HEAP_BASE, &brk), VM_OK);
	EXPECT_EQ(vmm_bookkeeping_bytes(&ctx), empty_bookkeeping);
	vmm_context_destroy(&ctx);
	release_held();
	EXPECT_EQ(pages_not_in_use(), pages_before);
	testing_note("heap reached %llu pages", (unsigned long long)((top - USER_HEAP_BASE) / PAGE_SIZE));
}
