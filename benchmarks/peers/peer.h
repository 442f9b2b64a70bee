/*
 * Peer page allocators: the designs a user would otherwise reach for, implemented here from their
 * published descriptions so the pmm can be measured beside them in the same process on the same
 * request sequence. Each manages one run of page numbers [first_page, first_page + pages) and
 * keeps its metadata out of band (host memory), as a kernel page allocator keeps struct page.
 *
 *   buddy.c      Linux-style binary buddy: per-order free lists, split on alloc, coalesce with
 *                the buddy on free (Knowlton 1965; Linux mm/page_alloc.c's design).
 *   tlsf.c       Two-level segregated fit with bitmaps (Masmano et al., ECRTS 2004).
 *   first_fit.c  A first-fit walk of an address-ordered list of free records only, no index.
 *
 * All three pass the same differential test against a page-bitmap model
 * (tests/host/test_peers.c). Host-only: benchmarks and tests, never the kernel.
 */
#ifndef PAGESCOPE_BENCHMARKS_PEER_H
#define PAGESCOPE_BENCHMARKS_PEER_H

#include <stdint.h>

#define PEER_ALLOC_FAILED UINT64_MAX

struct peer_ops {
	const char *name;
	/* Manages [first_page, first_page + pages), all free; NULL if out of host memory. */
	void *(*create)(uint64_t first_page, uint64_t pages);
	void (*destroy)(void *state);
	/* First page of `pages` pages starting at a multiple of align_pages (a power of two), or
	 * PEER_ALLOC_FAILED. */
	uint64_t (*alloc)(void *state, uint64_t pages, uint64_t align_pages);
	/* Returns an allocation made with the same pages and align_pages. */
	void (*free)(void *state, uint64_t first_page, uint64_t pages, uint64_t align_pages);
	/* Pages an allocation really occupies (the request plus what the design rounds on). */
	uint64_t (*held_pages)(uint64_t pages, uint64_t align_pages);
	/* The design's promise: alloc succeeds whenever a free run of *run_pages pages starts at a
	 * multiple of *run_align. */
	void (*guarantee)(uint64_t pages, uint64_t align_pages, uint64_t *run_pages,
			  uint64_t *run_align);
	uint64_t (*free_pages)(const void *state);
	/* Free blocks the allocator holds, and how many a maximal free run must be split into when
	 * coalescing is complete: both let a test see a missed merge. */
	uint64_t (*free_blocks)(const void *state);
	uint64_t (*blocks_for_free_run)(uint64_t first_page, uint64_t pages);
};

extern const struct peer_ops peer_buddy, peer_tlsf, peer_first_fit;

#endif
