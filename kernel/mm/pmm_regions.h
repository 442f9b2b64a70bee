/*
 * The regions placement's instance (pmm_regions.c, `pmm=regions`, the default allocator), for the
 * files that keep or inspect it: the placement itself, its self-check (pmm_regions_check.c) and
 * the host tests and benchmarks that read its records and its work counter. Everyone else uses
 * it through pmm_regions_ops (pmm_placement.h) and the common layer (page_allocator.h).
 *
 * One instance serves one span of page numbers (one zone). It lives in the memory the common
 * layer hands to init: this header, then one used-record pointer per page of the span (used_at),
 * then PMM_REGIONS_INITIAL_RECORDS records. Further records come from pages the instance asks for
 * (metadata_wanted) and the common layer allocates from it as mm_meta (add_metadata).
 */
#ifndef PAGESCOPE_MM_PMM_REGIONS_H
#define PAGESCOPE_MM_PMM_REGIONS_H

#include "pmm_placement.h"
#include "pmm_region.h"
#include "pmm_size_classes.h"

/* Records an instance starts with: enough for the add_free calls before its first top-up. */
#define PMM_REGIONS_INITIAL_RECORDS 16

struct pmm_regions {
	/*
	 * The sentinel of the address-ordered list of every record of the span (its address_link
	 * is the list): a record marked used with no pages, in neither used_at nor the classes, so
	 * that a free's neighbours are always records and the sentinel never merges: the free fast
	 * path needs no end-of-list test (pmm_regions_fast.h).
	 */
	struct pmm_region edge;
	struct pmm_size_classes classes;  /* the free records */
	uint64_t first_page, span_pages;
	uint64_t free_pages;
	struct pmm_region *spare_records;
	uint64_t spare_record_count;
	uint64_t records_owned;           /* in the pool or in use */
	uint64_t record_pages;            /* pages handed over by add_metadata */
	struct pmm_region **used_at;      /* per page of the span: the used record starting there */
	bool metadata_asked;              /* alloc answered WANTS_METADATA and was not served since */
	/*
	 * Records and tree nodes visited so far, by every operation (pmm_visit): the unit of the
	 * bounds stated in pmm_regions.c. Only ever increases; callers read differences.
	 */
	uint64_t work;
	char check_message[160];
};

/* The records in address order (NULL after the last). */
static inline struct pmm_region *pmm_regions_first(const struct pmm_regions *r)
{
	return list_entry(list_first(&r->edge.address_link), struct pmm_region, address_link);
}

static inline struct pmm_region *pmm_regions_next(const struct pmm_regions *r,
						  const struct pmm_region *region)
{
	return list_entry(list_next(&r->edge.address_link, &region->address_link),
			  struct pmm_region, address_link);
}

static inline struct pmm_region *pmm_regions_prev(const struct pmm_regions *r,
						  const struct pmm_region *region)
{
	return list_entry(list_prev(&r->edge.address_link, &region->address_link),
			  struct pmm_region, address_link);
}

/*
 * The smallest free extent from which alloc serves `pages` pages aligned to `align_pages` by its
 * O(1) size-class path (pages + align_pages - 1 rounded up to the next size-class boundary).
 * Smaller extents that fit are found by the exact search (the class fit trees) instead.
 */
uint64_t pmm_guaranteed_fit_pages(uint64_t pages, uint64_t align_pages);

/* Every invariant of pmm_regions.c against a full recount: NULL, or the first violation. */
const char *pmm_regions_check(void *state);

/* Records and tree nodes visited so far by every zone's regions instance of `a` (the sum of their
 * work counters): what the bound tests and the adversarial benchmark count. */
struct page_allocator;
uint64_t pmm_regions_work(const struct page_allocator *a);

#endif
