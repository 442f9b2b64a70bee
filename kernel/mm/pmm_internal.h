/*
 * What the allocator (pmm.c) and its self-check (pmm_check.c) share: which zone a page is in.
 * Not for the pmm's callers, nor for its parts (the size classes, the fit tree, the used-record
 * map), which know nothing of zones.
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

#endif
