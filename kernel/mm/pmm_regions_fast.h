/*
 * The regions placement's hot paths (pmm_regions.c is the placement; its comment states the
 * policy, the invariants, the proof and the bounds, which this file keeps): carving a run out of
 * a free record, releasing a used one into its free neighbours, and the alloc and free fast paths
 * built on them. Inline here so that the common layer's hot path (page_allocator.h) runs the
 * default placement without an indirect call: the call and the register saves it forced were a
 * third of what the common layer added per alloc+free pair (bench_contiguous, pagescope row).
 * Anything the fast paths do not finish goes, before changing anything, to the general paths,
 * out of line in pmm_regions.c.
 */
#ifndef PAGESCOPE_MM_PMM_REGIONS_FAST_H
#define PAGESCOPE_MM_PMM_REGIONS_FAST_H

#include "pmm_regions.h"

/* Spares wanted after each call (BOOKKEEPING MEMORY): an alloc needs at most 2, a top-up 1. */
#define PMM_RECORD_LOW_WATER 4

/*
 * Whether the free records an operation changes may be filed (the general path) or are known not
 * to be (the fast paths checked before changing anything): then no tree can be touched and no
 * call is made.
 */
enum pmm_regions_filing { PMM_REGIONS_MAY_BE_FILED, PMM_REGIONS_KNOWN_UNFILED };

static ALWAYS_INLINE bool pmm_regions_is_filed(const struct pmm_region *region)
{
	return region->flags & PMM_REGION_FLAG_FILED;
}

/* The index's side of a change to the free records (free_pages is counted by the carve and the
 * release, once per operation, by the pages of the run). */
static ALWAYS_INLINE void pmm_regions_free_insert(struct pmm_regions *r, struct pmm_region *region)
{
	pmm_classes_insert(&r->classes, region);
}

/* A free record split off beside a carved run while another keeps the far side: indexed at the
 * next allocation (THE DEFERRED RECORD, pmm_size_classes.h). */
static ALWAYS_INLINE void pmm_regions_free_defer(struct pmm_regions *r, struct pmm_region *region)
{
	pmm_classes_defer(&r->classes, region);
}

static ALWAYS_INLINE void pmm_regions_free_remove(struct pmm_regions *r, struct pmm_region *region,
						   enum pmm_regions_filing filing)
{
	if (filing == PMM_REGIONS_KNOWN_UNFILED)
		pmm_classes_remove_unfiled(&r->classes, region);
	else
		pmm_classes_remove(&r->classes, region, &r->work);
}

/* A free record shrinks to [first, first + pages) (a carve): an unfiled one stays in its class,
 * lagging if it must (pmm_size_classes.h); a filed one leaves its tree. */
static ALWAYS_INLINE void pmm_regions_free_shrink(struct pmm_regions *r, struct pmm_region *region,
						   uint64_t first, uint64_t pages,
						   enum pmm_regions_filing filing)
{
	if (filing == PMM_REGIONS_KNOWN_UNFILED || !pmm_regions_is_filed(region))
		pmm_classes_shrink_unfiled(&r->classes, region, first, pages);
	else
		pmm_classes_reshape_filed(&r->classes, region, first, pages, &r->work);
}

/* A free record grows to [first, first + pages) (a merge): an unfiled one moves up a class only
 * when it outgrows its own; a filed one leaves its tree. */
static ALWAYS_INLINE void pmm_regions_free_grow(struct pmm_regions *r, struct pmm_region *region,
						 uint64_t first, uint64_t pages,
						 enum pmm_regions_filing filing)
{
	if (filing == PMM_REGIONS_KNOWN_UNFILED || !pmm_regions_is_filed(region))
		pmm_classes_grow_unfiled(&r->classes, region, first, pages);
	else
		pmm_classes_reshape_filed(&r->classes, region, first, pages, &r->work);
}

/* ---- the record pool ----------------------------------------------------------------------- */

static inline void pmm_regions_spare_push(struct pmm_regions *r, struct pmm_region *region)
{
	region->link.spare_next = r->spare_records;
	r->spare_records = region;
	r->spare_record_count++;
}

/* A record from the pool for [first, first + pages), in no list yet and in no class
 * (PMM_CLASS_NONE, unfiled: state, flags and class in one store); its state is the caller's.
 * The pool is not empty: every caller has counted its spares first (the fast path's low water,
 * carve_fit's and alloc_metadata's records_to_carve, add_free's assertion). */
static ALWAYS_INLINE struct pmm_region *
pmm_regions_record_take(struct pmm_regions *r, uint64_t first, uint64_t pages,
			enum pmm_region_state state)
{
	struct pmm_region *region = r->spare_records;
	r->spare_records = region->link.spare_next;
	r->spare_record_count--;
	region->first_page = first;
	region->pages = pages;
	region->state = (uint8_t)state;
	region->flags = 0;
	region->size_class = PMM_CLASS_NONE;
	return region;
}

static ALWAYS_INLINE void pmm_regions_record_release(struct pmm_regions *r,
						      struct pmm_region *region)
{
	list_unlink(&region->address_link);
	pmm_regions_spare_push(r, region);
}

/* Records that carving [first, first + pages) out of the free record `from` consumes: 0..2. */
static inline unsigned pmm_regions_records_to_carve(const struct pmm_region *from, uint64_t first,
						    uint64_t pages)
{
	return (first > from->first_page) + (first + pages < region_end(from));
}

/* ---- carving and releasing runs ------------------------------------------------------------ */

/*
 * Turns [first, first + pages) of the free record `from` into a used record and returns it; the
 * rest stays free as a head and/or a tail, `from` keeping the larger (it may lag), a new record
 * the other (deferred: both in pmm_size_classes.h). The caller has settled the index and checked
 * that the run lies in `from` and that pmm_regions_records_to_carve() spares exist.
 */
static ALWAYS_INLINE struct pmm_region *
pmm_regions_carve(struct pmm_regions *r, struct pmm_region *from, uint64_t first, uint64_t pages,
		  enum pmm_regions_filing filing)
{
	uint64_t start = from->first_page, end = first + pages;
	uint64_t head = first - start, tail = region_end(from) - end;
	struct pmm_region *used;

	r->free_pages -= pages;
	if (!head && !tail) {
		pmm_regions_free_remove(r, from, filing);
		used = from;
		used->state = PMM_REGION_USED;
	} else if (tail >= head) {
		used = pmm_regions_record_take(r, first, pages, PMM_REGION_USED);
		list_insert_before(&from->address_link, &used->address_link);
		if (head) {
			struct pmm_region *rest = pmm_regions_record_take(r, start, head, PMM_REGION_FREE);
			list_insert_before(&used->address_link, &rest->address_link);
			pmm_regions_free_defer(r, rest);
		}
		pmm_regions_free_shrink(r, from, end, tail, filing);
	} else {
		used = pmm_regions_record_take(r, first, pages, PMM_REGION_USED);
		list_insert_after(&from->address_link, &used->address_link);
		if (tail) {
			struct pmm_region *rest = pmm_regions_record_take(r, end, tail, PMM_REGION_FREE);
			list_insert_after(&used->address_link, &rest->address_link);
			pmm_regions_free_defer(r, rest);
		}
		pmm_regions_free_shrink(r, from, start, head, filing);
	}
	r->used_at[first - r->first_page] = used;
	return used;
}

/* What a free merges the used record with: its free neighbours. */
struct pmm_regions_merge {
	struct pmm_region *prev, *next; /* each NULL unless merged with */
};

static ALWAYS_INLINE struct pmm_regions_merge
pmm_regions_merge_partners(const struct pmm_regions *r, struct pmm_region *used)
{
	/* the list's ends are the sentinel, a used record (pmm_regions.h): never a partner */
	struct pmm_region *prev = container_of(used->address_link.prev, struct pmm_region,
					       address_link);
	struct pmm_region *next = container_of(used->address_link.next, struct pmm_region,
					       address_link);
	struct pmm_regions_merge m = { NULL, NULL };
	(void)r;
	if (region_is_free(prev) && region_end(prev) == used->first_page)
		m.prev = prev;
	if (region_is_free(next) && next->first_page == region_end(used))
		m.next = next;
	return m;
}

/* Turns the used record free and merges it with its free neighbours `m`. Never needs a record.
 * The caller has taken it out of used_at (it knows its index). */
static ALWAYS_INLINE void pmm_regions_release(struct pmm_regions *r, struct pmm_region *used,
					      struct pmm_regions_merge m,
					      enum pmm_regions_filing filing)
{
	uint64_t first = used->first_page, end = region_end(used);

	r->free_pages += used->pages;
	used->state = PMM_REGION_FREE;
	if (!m.prev && !m.next) {
		pmm_regions_free_insert(r, used);
		return;
	}
	uint64_t new_first = m.prev ? m.prev->first_page : first;
	uint64_t new_end = m.next ? region_end(m.next) : end;
	struct pmm_region *keep = m.prev ? m.prev : m.next;
	if (m.prev && m.next) {
		/* The larger neighbour takes the run: it is the likelier to stay in its class. */
		struct pmm_region *drop = m.next->pages > m.prev->pages ? m.prev : m.next;
		keep = drop == m.prev ? m.next : m.prev;
		/* the one removal that can meet the lagging or the deferred record: carves settle
		 * first */
		if (pmm_classes_forget(&r->classes, drop))
			pmm_regions_free_remove(r, drop, filing);
		pmm_regions_record_release(r, drop);
	}
	pmm_regions_record_release(r, used);
	pmm_regions_free_grow(r, keep, new_first, new_end - new_first, filing);
}

/* Out of line (pmm_regions.c): every allocation the fast path leaves (the exact search, filed
 * records, too few spare records); the first page, PMM_PLACEMENT_FAILED or, once,
 * PMM_PLACEMENT_WANTS_METADATA. Every free whose neighbours are filed. */
uint64_t pmm_regions_alloc_general(struct pmm_regions *r, uint64_t pages, uint64_t align_pages);
/* Takes `used` out of used_at (if the caller has not) and releases it, whatever its neighbours. */
void pmm_regions_free_general(struct pmm_regions *r, struct pmm_region *used);

/*
 * THE ALLOC FAST PATH, for 1 <= pages, align_pages <= PMM_MAX_PAGES (the caller has checked),
 * from class at_least = pmm_regions_fast_class(pages, align_pages):
 * the usual allocation (the pool at its low water or above, the size-class path serving from an
 * unfiled record) is done here without calling anything; anything else goes to
 * pmm_regions_alloc_general before changing anything. Both carve the same record. The record
 * holds the run because its class is at or above the guaranteed one (invariant 3, which the
 * self-check verifies; the general path asserts it).
 */
static ALWAYS_INLINE uint64_t pmm_regions_alloc_fast_at(struct pmm_regions *r, uint64_t pages,
							uint64_t align_pages, unsigned at_least)
{
	if (unlikely(r->spare_record_count < PMM_RECORD_LOW_WATER))
		return pmm_regions_alloc_general(r, pages, align_pages);
	pmm_classes_settle(&r->classes); /* the index is read with every record in its class */
	struct pmm_region *from = pmm_classes_any_at_or_above(&r->classes, at_least);
	if (unlikely(!from)) {
		/* the common layer tries zones in turn: one too small refuses here, no call made */
		if (r->free_pages < pages)
			return PMM_PLACEMENT_FAILED;
		return pmm_regions_alloc_general(r, pages, align_pages);
	}
	if (unlikely(pmm_regions_is_filed(from)))
		return pmm_regions_alloc_general(r, pages, align_pages);
	uint64_t first = ALIGN_UP(pmm_visit(&r->work, from)->first_page, align_pages);
	pmm_regions_carve(r, from, first, pages, PMM_REGIONS_KNOWN_UNFILED);
	/* a page number is below 2^52, so never one of the general path's two special answers:
	 * said here, the caller's test for them is left on the general path alone */
	if (first >= PMM_PLACEMENT_WANTS_METADATA)
		__builtin_unreachable();
	return first;
}

/* The class from which the fast path serves `pages` at `align_pages` (pmm_regions.c, PLACEMENT
 * POLICY): the same for every zone, so a caller that tries several computes it once. */
static ALWAYS_INLINE unsigned pmm_regions_fast_class(uint64_t pages, uint64_t align_pages)
{
	uint64_t guaranteed = pages + align_pages - 1;
	/* one value: else GCC forms pages + align_pages for pmm_class_at_least's guaranteed - 1
	 * and subtracts again (a register and 2 instructions more per allocation) */
	__asm__("" : "+r"(guaranteed));
	return pmm_class_at_least(guaranteed);
}

static ALWAYS_INLINE uint64_t pmm_regions_alloc_fast(struct pmm_regions *r, uint64_t pages,
						     uint64_t align_pages)
{
	return pmm_regions_alloc_fast_at(r, pages, align_pages,
					 pmm_regions_fast_class(pages, align_pages));
}

/* THE FREE FAST PATH: the allocation at page r->first_page + index (there is one: the caller
 * guarantees it, pmm_placement.h; the op asserts it, the common layer has checked its own record),
 * found through used_at; merged here unless a neighbour is filed. */
static ALWAYS_INLINE void pmm_regions_free_fast(struct pmm_regions *r, uint64_t index)
{
	struct pmm_region *used = r->used_at[index];
	r->used_at[index] = NULL;
	struct pmm_regions_merge m = pmm_regions_merge_partners(r, used);
	if (unlikely((m.prev && pmm_regions_is_filed(m.prev)) ||
		     (m.next && pmm_regions_is_filed(m.next)))) {
		pmm_regions_free_general(r, used);
		return;
	}
	pmm_regions_release(r, used, m, PMM_REGIONS_KNOWN_UNFILED);
}

#endif
