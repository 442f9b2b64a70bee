/*
 * The regions placement's record (pmm_regions.c): one run of pages that is entirely free or
 * entirely allocated, and the few facts about a record that every part of that placement shares
 * (the size classes, the fit tree, the self-check). Who owns an allocation is the common layer's
 * (page_allocator.c), not the record's.
 *
 * A record is always in the address-ordered list of its instance. Beyond that, by state:
 *   free   in the size-class index (pmm_size_classes.h) through `class_link`, and, once filed,
 *          possibly in its class's fit tree (pmm_fit_tree.h) through `fit`;
 *   used   at its first page in the instance's used_at map (pmm_regions.h);
 *   spare  in the instance's pool of unused records through `spare_next`.
 */
#ifndef PAGESCOPE_MM_PMM_REGION_H
#define PAGESCOPE_MM_PMM_REGION_H

#include "mm_env.h"
#include "avl_tree.h"
#include "kernel/lib/list.h"

enum pmm_region_state { PMM_REGION_FREE, PMM_REGION_USED };

/* flags of a free record */
#define PMM_REGION_FLAG_FILED 0x2u /* its class's fit tree accounts for it (pmm_size_classes.c) */

struct pmm_region {
	struct list_node address_link; /* in pmm->records: address order, all records */
	uint64_t first_page;
	uint64_t pages;
	union {
		struct {
			struct list_node class_link; /* its class's list (an exact class: residue list) */
			struct avl_node fit;         /* its class's fit tree, when filed there */
		} free;
		struct pmm_region *spare_next; /* unused: the spare pool */
	} link;
	uint8_t state; /* enum pmm_region_state */
	uint8_t flags; /* PMM_REGION_FLAG_* */
	uint16_t size_class; /* free records: the class they are counted in, PMM_CLASS_NONE when
			      * none (pmm_size_classes.h) */
};

static inline uint64_t region_end(const struct pmm_region *region)
{
	return region->first_page + region->pages;
}

static inline bool region_is_free(const struct pmm_region *region)
{
	return region->state == PMM_REGION_FREE;
}

/*
 * The one place work is counted: every record or tree node a loop of the placement reads is read
 * through pmm_visit, which counts it in *work (the instance's work, the unit of every bound stated
 * in pmm_regions.c) and yields it. Straight-line code that touches a fixed number of records counts nothing:
 * the bounds' constants cover it.
 */
#define pmm_visit(work, node) ({ ++*(work); (node); })

#endif
