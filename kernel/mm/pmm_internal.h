/*
 * What the pmm's own files share (pmm.c, pmm_fit_tree.c, pmm_check.c); not for its callers.
 */
#ifndef PAGESCOPE_MM_PMM_INTERNAL_H
#define PAGESCOPE_MM_PMM_INTERNAL_H

#include "pmm.h"

#define PMM_REGION_FLAG_METADATA 0x1u
/* Largest request or alignment considered; beyond it nothing can fit (2^40 pages = 2^52 bytes). */
#define PMM_MAX_PAGES ((uint64_t)1 << (PMM_ORDER_COUNT - 1))
/* The peak order of an extent starting at page 0, which is aligned to every power of two. */
#define PMM_PEAK_ORDER_UNBOUNDED 64

static inline uint64_t region_end(const struct pmm_region *region)
{
	return region->first_page + region->pages;
}

/* The zone `page` lies in, by the ends this pmm was configured with. */
static inline enum pmm_zone zone_of_page(const struct pmm *pmm, uint64_t page)
{
	if (page < pmm->zone_end_page[PMM_ZONE_DMA])
		return PMM_ZONE_DMA;
	if (page < pmm->zone_end_page[PMM_ZONE_DMA32])
		return PMM_ZONE_DMA32;
	return PMM_ZONE_NORMAL;
}

static inline bool region_is_free(const struct pmm_region *region)
{
	return region->state == PMM_REGION_FREE;
}

/* True when `a` ends where `b` begins, both free, in the same zone: they must be one record. */
static inline bool can_merge(const struct pmm *pmm, const struct pmm_region *a,
			     const struct pmm_region *b)
{
	return a && b && region_is_free(a) && region_is_free(b) && region_end(a) == b->first_page &&
	       zone_of_page(pmm, a->first_page) == zone_of_page(pmm, b->first_page);
}

/* ---- size classes (drawn at the top of pmm.c) ---- */

struct size_class {
	unsigned row, sub;
};

static inline struct size_class size_class_of(uint64_t pages)
{
	if (pages < PMM_CLASS_SUBDIVISIONS)
		return (struct size_class){ 0, (unsigned)pages };
	unsigned order = ilog2_u64(pages);
	return (struct size_class){ order - PMM_CLASS_SUBDIVISION_BITS + 1,
				    (unsigned)(pages >> (order - PMM_CLASS_SUBDIVISION_BITS)) -
					    PMM_CLASS_SUBDIVISIONS };
}

/* How many sizes share the class of `pages`. */
static inline uint64_t size_class_width(uint64_t pages)
{
	if (pages < 2 * PMM_CLASS_SUBDIVISIONS)
		return 1;
	return (uint64_t)1 << (ilog2_u64(pages) - PMM_CLASS_SUBDIVISION_BITS);
}

static inline uint64_t size_class_lower_bound(struct size_class c)
{
	if (c.row == 0)
		return c.sub;
	return (uint64_t)(PMM_CLASS_SUBDIVISIONS + c.sub) << (c.row - 1);
}

/* The first class all of whose extents have at least `pages` pages. */
static inline struct size_class size_class_at_least(uint64_t pages)
{
	return size_class_of(pages + size_class_width(pages) - 1);
}

/* The first record of a residue list whose bit in exact_residues is set (so it is not empty). */
static inline struct pmm_region *pmm_exact_list_head(const struct pmm_zone_index *zone,
						     uint64_t size, unsigned residue)
{
	return container_of(zone->exact_list[size][residue].next, struct pmm_region,
			    link.free.residue_link);
}

/*
 * Any free record of a non-empty class: the tree root if inexact; if exact, a residue list's head,
 * preferring residues 1 .. 16 - size, whose records hold no 32-aligned page and so are in no tree:
 * taking and returning them costs no tree update.
 */
static inline struct pmm_region *pmm_class_any(const struct pmm_zone_index *zone,
					       struct size_class c)
{
	uint64_t size = size_class_lower_bound(c);
	if (size >= PMM_EXACT_CLASS_PAGES)
		return zone->class_root[c.row][c.sub];
	unsigned residues = zone->exact_residues[size];
	unsigned treeless = size < PMM_EXACT_RESIDUES
				    ? residues & (((1u << (PMM_EXACT_RESIDUES - size)) - 1) << 1)
				    : 0;
	return pmm_exact_list_head(zone, size, (unsigned)__builtin_ctz(treeless ? treeless : residues));
}

/* ---- the hash table of used records ---- */

static inline uint64_t hash_bucket(const struct pmm *pmm, uint64_t first_page)
{
	/* Fibonacci hashing: the top bits of the product mix every bit of the page number. */
	return (first_page * 0x9E3779B97F4A7C15ull) >> (64 - ilog2_u64(pmm->hash_bucket_count));
}

/* The used record starting at `first_page`, or NULL; adds the entries it visits to *visited. */
static inline struct pmm_region *hash_find(const struct pmm *pmm, uint64_t first_page,
					   uint64_t *visited)
{
	struct pmm_region *region = pmm->hash_buckets[hash_bucket(pmm, first_page)];
	for (; region; region = region->link.hash_next) {
		(*visited)++;
		if (region->first_page == first_page)
			break;
	}
	return region;
}

/* ---- the fit tree (pmm_fit_tree.c) ---- */

/*
 * An extent [s, e) seen from its peak P, the page of [s, e) with the most trailing zero bits
 * (page 0 counts as aligned to everything): left arm P - s, right arm e - P, peak order = the
 * trailing zeros of P, block order = the largest naturally aligned power-of-two block inside.
 */
struct pmm_fit_shape {
	uint64_t left_arm, right_arm;
	unsigned peak_order, block_order;
};

static inline struct pmm_fit_shape pmm_fit_shape_of(uint64_t first_page, uint64_t pages)
{
	uint64_t last = first_page + pages - 1, peak = 0;
	struct pmm_fit_shape shape;
	if (first_page) {
		/* Above the highest bit where s - 1 and e - 1 differ, every page of [s, e) agrees. */
		unsigned split = ilog2_u64((first_page - 1) ^ last);
		peak = last & ~(((uint64_t)1 << split) - 1);
	}
	shape.left_arm = peak - first_page;
	shape.right_arm = first_page + pages - peak;
	shape.peak_order = peak ? (unsigned)__builtin_ctzll(peak) : PMM_PEAK_ORDER_UNBOUNDED;
	shape.block_order = MIN(shape.peak_order, ilog2_u64(shape.right_arm));
	if (shape.left_arm)
		shape.block_order = MAX(shape.block_order, ilog2_u64(shape.left_arm));
	return shape;
}

/* Tree order: right arm, then address (unique). */
static inline bool pmm_fit_key_less(uint64_t right_arm_a, uint64_t first_a, uint64_t right_arm_b,
				    uint64_t first_b)
{
	return right_arm_a < right_arm_b || (right_arm_a == right_arm_b && first_a < first_b);
}

/*
 * Maxima over a fit tree node's subtree: the longest extent, the highest peak order, the largest
 * naturally aligned block. Kept packed in the node's 56-bit payload (41 + 7 + 6 bits), so a
 * free record is no larger than with a tree of its own.
 */
struct pmm_fit_maxima {
	uint64_t max_pages;
	unsigned max_peak_order, max_block_order;
};

#define PMM_FIT_PAGES_BITS 41 /* extents of up to 2^40 pages */
#define PMM_FIT_PEAK_BITS 7   /* peak orders up to PMM_PEAK_ORDER_UNBOUNDED */
#define PMM_FIT_BLOCK_BITS 6  /* block orders up to PMM_ORDER_COUNT - 1 */
_Static_assert(PMM_MAX_PAGES < ((uint64_t)1 << PMM_FIT_PAGES_BITS) &&
		       PMM_PEAK_ORDER_UNBOUNDED < (1 << PMM_FIT_PEAK_BITS) &&
		       PMM_ORDER_COUNT <= (1 << PMM_FIT_BLOCK_BITS) &&
		       PMM_FIT_PAGES_BITS + PMM_FIT_PEAK_BITS + PMM_FIT_BLOCK_BITS <= 56,
	       "fit tree maxima must fit the AVL node's payload");

static inline struct pmm_fit_maxima pmm_fit_maxima(const struct pmm_region *node)
{
	uint64_t packed = node->link.free.fit.payload;
	return (struct pmm_fit_maxima){
		.max_pages = packed & (((uint64_t)1 << PMM_FIT_PAGES_BITS) - 1),
		.max_peak_order = (unsigned)(packed >> PMM_FIT_PAGES_BITS) &
				  ((1u << PMM_FIT_PEAK_BITS) - 1),
		.max_block_order = (unsigned)(packed >> (PMM_FIT_PAGES_BITS + PMM_FIT_PEAK_BITS)),
	};
}

static inline void pmm_fit_set_maxima(struct pmm_region *node, struct pmm_fit_maxima m)
{
	node->link.free.fit.payload = m.max_pages | (uint64_t)m.max_peak_order << PMM_FIT_PAGES_BITS |
				      (uint64_t)m.max_block_order
					      << (PMM_FIT_PAGES_BITS + PMM_FIT_PEAK_BITS);
}

/* The record a fit tree node belongs to (NULL stays NULL). */
static inline struct pmm_region *pmm_fit_region(const struct avl_node *node)
{
	return node ? container_of((struct avl_node *)node, struct pmm_region, link.free.fit)
		    : NULL;
}

static inline struct avl_node *pmm_fit_avl(struct pmm_region *region)
{
	return region ? &region->link.free.fit : NULL;
}

void pmm_fit_insert(struct pmm *pmm, struct pmm_region **root, struct pmm_region *region);
void pmm_fit_remove(struct pmm *pmm, struct pmm_region **root, struct pmm_region *region);
/*
 * A free record of the zone holding `pages` pages aligned to `align_pages`, or NULL if none can.
 * Called when the size-class path found nothing: every class from the guaranteed one up is empty.
 */
struct pmm_region *pmm_fit_find(struct pmm *pmm, const struct pmm_zone_index *zone, uint64_t pages,
				uint64_t align_pages);
/* A node's subtree maxima recomputed from its children (also for pmm_check). */
struct pmm_fit_maxima pmm_fit_summary(const struct pmm_region *node);
/* After the lone node of a class tree (no children) changed extent in place: its maxima. */
void pmm_fit_refresh_lone_root(struct pmm_region *root);

#endif
