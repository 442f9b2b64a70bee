/*
 * Adversarial free-extent layouts for the regions allocator, shared by
 * tests/host/test_pmm_regions.c (which asserts the work bounds stated in kernel/mm/pmm_regions.c)
 * and benchmarks/bench_pmm.c (which reports them).
 *
 * Layout: the pattern lives in the NORMAL zone from 4 GiB up; the allocator's state (8 bytes of
 * common record and 8 of used_at per page of a zone's span) comes from a 1 GiB DMA32 range, the
 * only memory the host arena backs besides the record pages the NORMAL instance takes from its
 * own zone. So a pattern's NORMAL span is capped at PMM_PATTERN_MAX_SPAN pages: a pattern whose
 * stride would exceed it with the holes asked for gets fewer holes (pmm_pattern_world.holes). `holes` free extents of
 * `hole_pages` pages start at `offset` (mod `stride`) and are separated by used pages; after them
 * comes, if `fit_pages` is not 0, one extent that does fit (it starts at the holes' residue),
 * at the far (high) end. Everything else
 * in NORMAL is used. A request of `request_pages` aligned to `request_align` then has no fit in
 * NORMAL but the last extent, so the search there is as long as the pattern can make it; the
 * DMA32 range stays free, so a request that NORMAL cannot serve lands there.
 */
#ifndef PAGESCOPE_TESTS_HOST_PMM_PATTERNS_H
#define PAGESCOPE_TESTS_HOST_PMM_PATTERNS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel/mm/page_allocator.h"
#include "kernel/mm/pmm_regions.h"
#include "tests/host/host_env.h"
#include <machine/memory_zones.h>

struct pmm_pattern {
	const char *name;
	uint64_t hole_pages, stride, offset; /* hole i starts at base + offset + i * stride */
	uint64_t fit_pages;                  /* the one fitting extent at the far end; 0: none */
	uint64_t request_pages, request_align;
};

/* The patterns named in the pmm's bound: each is the worst case of one line of it. */
static const struct pmm_pattern pmm_patterns[] = {
	/* 36 and 37 share a size class: the class list is all too-small extents */
	{ "too-small-in-class", 36, 37, 0, 37, 37, 1 },
	/* runs one page short of the request, in its class */
	{ "near-fit", 999, 1000, 0, 1000, 1000, 1 },
	{ "alternating-1-page-holes", 1, 2, 0, 2, 2, 1 },
	/* holes of 1000 pages starting one page past a 2 MiB boundary: the aligned page leaves 489 */
	{ "aligned-2M-over-misaligned", 1000, 1024, 1, 1023, 512, 512 },
	/* the same at 1 GiB: 300000 pages from one past the boundary leave 37857 after it */
	{ "aligned-1G-over-misaligned", 300000, 524288, 1, 524287, 262144, 262144 },
	/* 1 < align < n: the one linear case (1200 pages at 300 mod 512: 988 aligned, 1000 asked) */
	{ "aligned-512-of-1000", 1200, 1536, 300, 1212, 1000, 512 },
};

#define PMM_PATTERN_BASE_PAGE (MACHINE_ZONE_DMA32_END / PAGE_SIZE) /* where NORMAL starts */
#define PMM_PATTERN_META_BYTES ((uint64_t)1 << 30)
#define PMM_PATTERN_META_BASE ((uint64_t)1 << 30)
#define PMM_PATTERN_MAX_SPAN ((uint64_t)1 << 25)

struct pmm_pattern_world {
	struct page_allocator a;
	void *arena;
	uint64_t arena_bytes;
	uint64_t holes;          /* the holes built: those asked for, or fewer (the span cap) */
	uint64_t fit_first_page; /* the far-end fitting extent, or 0 */
	uint64_t allocations, frees; /* the operations the build made */
};

/* The NORMAL zone's instance: its work counter and classes, for the bounds. */
static inline struct pmm_regions *pmm_pattern_normal(const struct pmm_pattern_world *w)
{
	return w->a.zone[PMM_ZONE_NORMAL].state;
}

static inline void pmm_pattern_die(const char *what)
{
	fprintf(stderr, "pmm pattern: %s\n", what);
	exit(1);
}

/* Builds the pattern with up to `holes` holes (w->holes: how many); returns false if the
 * allocator could not be set up. */
static inline bool pmm_pattern_build(struct pmm_pattern_world *w, const struct pmm_pattern *p,
				     uint64_t holes)
{
	holes = MIN(holes, (PMM_PATTERN_MAX_SPAN - p->offset - p->fit_pages - 1) / p->stride);
	w->holes = holes;
	uint64_t normal_pages = p->offset + holes * p->stride + p->fit_pages + 1;
	struct pmm_memory_map_entry map[] = {
		{ PMM_PATTERN_META_BASE, PMM_PATTERN_META_BYTES, PMM_MEMORY_AVAILABLE },
		{ PMM_PATTERN_BASE_PAGE * PAGE_SIZE, normal_pages * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
	};
	struct pmm_config config = {
		.memory_map = map,
		.memory_map_count = 2,
		.metadata_zone = PMM_ALLOC_BELOW_4G,
		.zone_end = MACHINE_ZONE_ENDS,
	};
	w->arena_bytes = PMM_PATTERN_BASE_PAGE * PAGE_SIZE + normal_pages * PAGE_SIZE;
	w->arena = host_phys_arena_create(0, w->arena_bytes);
	struct page_allocator_config chosen = { PMM_ALLOCATOR_regions, &config };
	if (page_allocator_init(&w->a, &chosen) != PMM_OK)
		return false;
	struct page_allocator *pmm = &w->a;
	w->allocations = 2 * holes + (p->offset != 0) + (p->fit_pages != 0) + 1;
	w->frees = holes + (p->fit_pages != 0);
	paddr_t *hole_addr = malloc((holes + 1) * sizeof(*hole_addr));
	/* NORMAL is one extent: successive allocations are carved from its low end, in order. */
	if (p->offset && page_alloc(pmm, p->offset, PMM_ALLOC_ANY, 1, MM_OWNER_TEST) ==
				 PMM_ALLOC_FAILED)
		pmm_pattern_die("offset");
	for (uint64_t i = 0; i < holes; i++) {
		hole_addr[i] = page_alloc(pmm, p->hole_pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		if (hole_addr[i] == PMM_ALLOC_FAILED ||
		    page_alloc(pmm, p->stride - p->hole_pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST) ==
			    PMM_ALLOC_FAILED)
			pmm_pattern_die("hole");
	}
	w->fit_first_page = 0;
	if (p->fit_pages) {
		paddr_t fit = page_alloc(pmm, p->fit_pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		if (fit == PMM_ALLOC_FAILED)
			pmm_pattern_die("fit");
		hole_addr[holes] = fit;
		w->fit_first_page = fit / PAGE_SIZE;
	}
	if (page_alloc(pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST) == PMM_ALLOC_FAILED)
		pmm_pattern_die("end");
	struct pmm_stats stats;
	page_allocator_stats(pmm, &stats);
	if (stats.zone[PMM_ZONE_NORMAL].free_pages != 0)
		pmm_pattern_die("NORMAL not fully used before the holes open");
	for (uint64_t i = 0; i < holes + (p->fit_pages != 0); i++) {
		uint64_t pages = i < holes ? p->hole_pages : p->fit_pages;
		if (page_free(pmm, hole_addr[i], pages) != PMM_OK)
			pmm_pattern_die("free");
	}
	free(hole_addr);
	return true;
}

static inline void pmm_pattern_destroy(struct pmm_pattern_world *w)
{
	host_phys_arena_destroy(w->arena, w->arena_bytes);
}

/*
 * The search bound of kernel/mm/pmm_regions.c for one zone, filing left out: h the tallest class tree, K
 * the zone's free extents of at least n pages, C the classes between n and n + a - 1 (16 per row
 * spanned): the record taken, then per class its heads and a tree search of 1 + 2h.
 */
static inline uint64_t pmm_pattern_search_bound(uint64_t h, uint64_t n, uint64_t a, uint64_t k)
{
	uint64_t classes = a == 1 ? 1 : 16 * ((uint64_t)ilog2_u64(n + a - 1) - ilog2_u64(n) + 1);
	uint64_t bound = 1 + classes * (2 + 2 * h);
	return a == 1 || a >= n ? bound : bound + k * h;
}

/* The AVL height bound for n nodes: h <= 1.4405 log2(n + 2) - 0.3277. */
static inline uint64_t pmm_pattern_height_bound(uint64_t nodes)
{
	return (uint64_t)(1.4405 * log2((double)nodes + 2) - 0.3277);
}

#endif
