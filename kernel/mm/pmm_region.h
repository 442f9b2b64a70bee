/*
 * The pmm's region record: one run of pages that is entirely free or entirely used by one owner,
 * and the few facts about a record that every part of the pmm shares (pmm.c, the size classes,
 * the fit tree, the used-record map, the self-check). Callers see the struct only for its size:
 * they hand the pmm its first records (pmm.h).
 *
 * A record is always in the address-ordered list of its pmm. Beyond that, by state:
 *   free   in its zone's size-class index (pmm_size_classes.h) through `class_link`, and, once
 *          filed, possibly in its class's fit tree (pmm_fit_tree.h) through `fit`;
 *   used   in the used-record map (pmm_used_map.h) through `map_next`;
 *   spare  in the pmm's pool of unused records through `spare_next`.
 */
#ifndef PAGESCOPE_MM_PMM_REGION_H
#define PAGESCOPE_MM_PMM_REGION_H

#include "mm_env.h"
#include "avl_tree.h"
#include "kernel/lib/list.h"

enum pmm_region_state { PMM_REGION_FREE, PMM_REGION_USED };

/* flags of a used record */
#define PMM_REGION_FLAG_METADATA 0x1u /* pages the pmm took for its own bookkeeping */
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
		struct pmm_region *map_next;   /* used: its chain in the used-record map */
		struct pmm_region *spare_next; /* unused: the spare pool */
	} link;
	uint8_t state; /* enum pmm_region_state */
	uint8_t owner; /* enum mm_owner, used records only */
	uint8_t flags; /* PMM_REGION_FLAG_* */
	uint8_t zone;  /* enum pmm_zone: fixed for the record's life (records never cross zones) */
	uint16_t size_class; /* free records: the class they are counted in (pmm_size_classes.h) */
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
 * The one place work is counted: every record, tree node or map entry a loop of the pmm reads is
 * read through pmm_visit, which counts it in *work (pmm->work, the unit of every bound stated in
 * pmm.c) and yields it. Straight-line code that touches a fixed number of records counts nothing:
 * the bounds' constants cover it.
 */
#define pmm_visit(work, node) ({ ++*(work); (node); })

#endif
