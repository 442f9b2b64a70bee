/*
 * Where page-granular memory comes from, as an injectable interface: the VMM's page tables, the
 * slab and the heap take one of these instead of calling the physical allocator directly. In the
 * kernel it is backed by the pmm; host tests pass a counting or failing source, so a test can
 * prove that a structure returns every page it took, or that it survives running out.
 */
#ifndef PAGESCOPE_MM_PAGE_SOURCE_H
#define PAGESCOPE_MM_PAGE_SOURCE_H

#include "mm_env.h"
#include "owner.h"

#define PAGE_SOURCE_FAILED ((paddr_t)-1)

struct page_source {
	/*
	 * Returns the physical address of `pages` contiguous pages aligned to `align_pages` (a power
	 * of two), or PAGE_SOURCE_FAILED when none are available. Never panics for lack of memory.
	 * The memory's contents are unspecified.
	 */
	paddr_t (*alloc)(void *ctx, uint64_t pages, uint64_t align_pages, enum mm_owner owner);
	/* Returns pages obtained from alloc, with the same count. */
	void (*free)(void *ctx, paddr_t pa, uint64_t pages);
	void *ctx;
};

static inline paddr_t page_source_alloc(const struct page_source *src, uint64_t pages,
					uint64_t align_pages, enum mm_owner owner)
{
	return src->alloc(src->ctx, pages, align_pages, owner);
}

static inline void page_source_free(const struct page_source *src, paddr_t pa, uint64_t pages)
{
	src->free(src->ctx, pa, pages);
}

#endif
