/*
 * What the allocator (pmm.c) and its self-check (pmm_check.c) share: where zones begin and end,
 * and when two records must be one. Not for the pmm's callers, nor for its parts (the size
 * classes, the fit tree, the used-record map), which know nothing of zones.
 */
#ifndef PAGESCOPE_MM_PMM_INTERNAL_H
#define PAGESCOPE_MM_PMM_INTERNAL_H

#include "pmm.h"

/* The zone `page` lies in, by the ends this pmm was configured with. */
static inline enum pmm_zone zone_of_page(const struct pmm *pmm, uint64_t page)
{
	if (page < pmm->zone_end_page[PMM_ZONE_DMA])
		return PMM_ZONE_DMA;
	if (page < pmm->zone_end_page[PMM_ZONE_DMA32])
		return PMM_ZONE_DMA32;
	return PMM_ZONE_NORMAL;
}

/* The first page of `zone` (its last is zone_end_page[zone] - 1). */
static inline uint64_t zone_first_page(const struct pmm *pmm, enum pmm_zone zone)
{
	return zone == PMM_ZONE_DMA ? 0 : pmm->zone_end_page[zone - 1];
}

/* True when `a` ends where `b` begins, both free, in the same zone: they must be one record. */
static inline bool can_merge(const struct pmm *pmm, const struct pmm_region *a,
			     const struct pmm_region *b)
{
	return a && b && region_is_free(a) && region_is_free(b) && region_end(a) == b->first_page &&
	       zone_of_page(pmm, a->first_page) == zone_of_page(pmm, b->first_page);
}

#endif
