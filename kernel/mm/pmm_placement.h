/*
 * The placement interface of the allocator lab: what an allocator that chooses WHERE a run of
 * physical pages goes must provide, and nothing more. Everything else a physical allocator does is
 * common and written once in page_allocator.c: zones and their fallback order, owners, the trace
 * events, snapshots of the free extents, the bad-free checks, and the pages of its own metadata
 * (taken from the memory it manages, counted as mm_meta).
 *
 * One instance manages one span of page numbers [first_page, first_page + span_pages): one zone
 * of the kernel, or one host test's range. Nothing of the span is free until add_free says so
 * (holes, firmware ranges and reservations are simply never added). The instance keeps all of
 * its state in the memory the caller hands to init (state_bytes of it, zeroed), as a kernel keeps
 * struct page: the pages themselves are never touched, so the same file runs in the kernel, in
 * the host tests and in the benchmarks.
 *
 * The caller (page_allocator.c, or a test) guarantees that every free names an allocation made
 * with the same pages and alignment, and that add_free names pages neither free nor allocated:
 * the bad-free checks are made above, so an implementation may assume a correct caller.
 *
 * One exception: the common layer's hot paths (page_allocator.h) run the default placement's
 * (regions') alloc and free fast paths inline (pmm_regions_fast.h) instead of through its ops,
 * which saves an indirect call and its register saves on every allocation and free. Everything
 * else reaches regions through its ops, as it reaches every other placement.
 *
 * Adding an allocator: one file kernel/mm/pmm_NAME.c defining `const struct pmm_placement_ops
 * pmm_NAME_ops`, and one row in PMM_ALLOCATOR_LIST below. The `pmm=` option, the host tests
 * (the differential test of tests/host/test_placement.c, the common layer's in
 * test_page_allocator.c), the benchmark bench_contiguous and `make report-pmm` read that list.
 */
#ifndef PAGESCOPE_MM_PMM_PLACEMENT_H
#define PAGESCOPE_MM_PMM_PLACEMENT_H

#include "mm_env.h"

/* Every allocator `pmm=` can choose, in the order reports list them: X(name, placement ops). The
 * first is the default. */
#define PMM_ALLOCATOR_LIST(X)                                                                    \
	X(regions, &pmm_regions_ops)                                                             \
	X(buddy, &pmm_buddy_ops)                                                                 \
	X(tlsf, &pmm_tlsf_ops)                                                                   \
	X(firstfit, &pmm_firstfit_ops)

enum pmm_allocator {
#define PMM_ALLOCATOR_ENUM(name, ops) PMM_ALLOCATOR_##name,
	PMM_ALLOCATOR_LIST(PMM_ALLOCATOR_ENUM)
#undef PMM_ALLOCATOR_ENUM
	PMM_ALLOCATOR_COUNT
};

/* The allocator's name as `pmm=` spells it; NULL when out of range. */
const char *pmm_allocator_name(enum pmm_allocator allocator);

#define PMM_PLACEMENT_FAILED UINT64_MAX
/* alloc's answer when the instance must first be given bookkeeping pages (metadata_wanted):
 * nothing changed; serve it (alloc_metadata) and ask again. */
#define PMM_PLACEMENT_WANTS_METADATA (UINT64_MAX - 1)

/* Receives one maximal free run; returns false to stop the walk. */
typedef bool (*pmm_free_run_visitor)(void *ctx, uint64_t first_page, uint64_t pages);

struct pmm_placement_ops {
	const char *name;
	/* The promise alloc keeps, in one line: when it may refuse a request. */
	const char *promise;
	/* Bytes of state an instance over the span needs (its header and per-page array). */
	uint64_t (*state_bytes)(uint64_t first_page, uint64_t span_pages);
	/* Starts an instance with nothing free in `state` (state_bytes, zeroed). Returns NULL, or
	 * why this allocator cannot serve the span at all (the instance is then unusable). */
	const char *(*init)(void *state, uint64_t first_page, uint64_t span_pages);
	/* Makes [first_page, first_page + pages) free: pages of the span that are neither free nor
	 * allocated (at init, and when a reservation is returned). */
	void (*add_free)(void *state, uint64_t first_page, uint64_t pages);
	/* The first page of `pages` pages at a multiple of align_pages (a power of two), or
	 * PMM_PLACEMENT_FAILED, or (only an instance with metadata_wanted)
	 * PMM_PLACEMENT_WANTS_METADATA. The run holds held_pages(pages, align_pages) pages from
	 * there. */
	uint64_t (*alloc)(void *state, uint64_t pages, uint64_t align_pages);
	/* Returns an allocation made with the same pages and align_pages. */
	void (*free)(void *state, uint64_t first_page, uint64_t pages, uint64_t align_pages);
	/* Pages an allocation really occupies: the request plus what the design rounds on. */
	uint64_t (*held_pages)(uint64_t pages, uint64_t align_pages);
	/* The promise as a test checks it: alloc succeeds whenever a free run of *run_pages pages
	 * starts at a multiple of *run_align (*run_pages = UINT64_MAX: no promise at all). */
	void (*guarantee)(uint64_t pages, uint64_t align_pages, uint64_t *run_pages,
			  uint64_t *run_align);
	/* Every maximal free run in address order (adjacent free blocks reported as one run). */
	void (*for_each_free_run)(const void *state, pmm_free_run_visitor visit, void *ctx);
	uint64_t (*free_pages)(const void *state);
	/* Free blocks the allocator keeps, and how many a maximal free run must be made of when
	 * coalescing is complete: together they let a test see a missed merge. */
	uint64_t (*free_blocks)(const void *state);
	uint64_t (*blocks_for_free_run)(uint64_t first_page, uint64_t pages);

	/*
	 * Optional, all three or none (NULL: the state init was given is all the instance ever
	 * needs). An instance whose bookkeeping grows with its records says how many more pages it
	 * wants (0: none). Whoever drives it serves that when alloc answers
	 * PMM_PLACEMENT_WANTS_METADATA and before every add_free: it takes the pages with
	 * alloc_metadata (from this instance or another: they are only memory, reached through
	 * phys_to_virt; an instance that serves another is served first itself), keeps them
	 * allocated for good (the common layer: as mm_meta) and hands them over with add_metadata,
	 * until the instance wants no more or no page can be had. alloc_metadata is an unaligned
	 * alloc that may draw on the reserve kept for it and never answers WANTS_METADATA. The
	 * promise holds as long as a page can be had that way whenever the instance asks.
	 */
	uint64_t (*metadata_wanted)(const void *state);
	uint64_t (*alloc_metadata)(void *state, uint64_t pages);
	void (*add_metadata)(void *state, uint64_t first_page, uint64_t pages);
	/* Optional (NULL: always): whether add_free has the bookkeeping it needs now. The driver
	 * asks after serving metadata_wanted, and refuses to return the pages when it is false, so
	 * that running out of memory is an error, never an assertion. */
	bool (*can_add_free)(const void *state);
	/* Optional: the instance's own self-check, NULL when consistent, else the violation. */
	const char *(*check)(void *state);
};

/* held_pages of a placement that rounds nothing: an allocation occupies exactly its request. */
static inline uint64_t pmm_exact_held_pages(uint64_t pages, uint64_t align_pages)
{
	(void)align_pages;
	return pages;
}

/* guarantee of a placement whose search finds every fit: any run of the request's pages at its
 * alignment serves it. */
static inline void pmm_exact_guarantee(uint64_t pages, uint64_t align_pages, uint64_t *run_pages,
				       uint64_t *run_align)
{
	*run_pages = pages;
	*run_align = align_pages;
}

extern const struct pmm_placement_ops pmm_regions_ops, pmm_buddy_ops, pmm_tlsf_ops,
	pmm_firstfit_ops;

/* The placement ops of an allocator; NULL when out of range. */
const struct pmm_placement_ops *pmm_placement_of(enum pmm_allocator allocator);

#endif
