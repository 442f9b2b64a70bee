/*
 * The pmm's fit tree: an AVL tree of free records that answers "which of these extents holds
 * `pages` pages aligned to `align_pages`?" exactly, in O(log N) visits (all but one case, below).
 * A tree is a root pointer; every function takes that root and a work counter, nothing else of
 * the pmm. The size classes (pmm_size_classes.c) keep one tree per class; the proof that a search
 * misses nothing is at the top of pmm_fit_tree.c, the bounds below.
 *
 * Bounds, for a tree of N records and height h <= avl_height_bound(N) <= 1.4405 log2(N + 2):
 *   insert  <= 3(h + 1) visits (one descent from the root, two climbs: avl_tree.c)
 *   remove  <= 4(h + 1) visits (the node is known: at most one descent and three climbs)
 *   find    <= 1 + 2h visits when align_pages == 1 or align_pages >= pages; when
 *           1 < align_pages < pages, + K h more, K the records of at least `pages` pages
 *           (lemma 3 in pmm_fit_tree.c: the one linear case).
 */
#ifndef PAGESCOPE_MM_PMM_FIT_TREE_H
#define PAGESCOPE_MM_PMM_FIT_TREE_H

#include "pmm_region.h"

/* The peak order of an extent starting at page 0, which is aligned to every power of two. */
#define PMM_PEAK_ORDER_UNBOUNDED 64

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

/* Links the free record `region` (in no tree) into the tree at *root. */
void pmm_fit_insert(struct pmm_region **root, struct pmm_region *region, uint64_t *work);
/* Unlinks `region` from the tree at *root. */
void pmm_fit_remove(struct pmm_region **root, struct pmm_region *region, uint64_t *work);
/* A record of the tree holding `pages` pages at a multiple of `align_pages`, or NULL if none. */
struct pmm_region *pmm_fit_find(struct pmm_region *root, uint64_t pages, uint64_t align_pages,
				uint64_t *work);
/* The longest extent of the tree (0 when empty), and its height (0 when empty). */
uint64_t pmm_fit_longest(const struct pmm_region *root);
unsigned pmm_fit_height(const struct pmm_region *root);

/* What pmm_fit_check says of a record it refuses. */
enum pmm_fit_fault {
	PMM_FIT_OK,
	PMM_FIT_UNORDERED,      /* out of (right arm, first page) order */
	PMM_FIT_STALE,          /* maxima or height differ from a recount over its children */
	PMM_FIT_UNBALANCED,     /* subtree heights differ by more than 1 */
	PMM_FIT_BROKEN_LINK,    /* a child whose parent link is not this node, or a root with one */
	PMM_FIT_TOO_DEEP,       /* deeper than any AVL tree: a cycle */
	PMM_FIT_REFUSED,        /* the caller's `belongs` said no */
};

/*
 * Checks every invariant of the tree at `root` and calls belongs(ctx, record) on each node (the
 * caller's own conditions: state, zone, class). Returns PMM_FIT_OK, or the first fault with the
 * record at *where; *nodes receives the number of nodes. O(N), recursion depth <= h.
 */
enum pmm_fit_fault pmm_fit_check(const struct pmm_region *root,
				 bool (*belongs)(void *ctx, const struct pmm_region *region),
				 void *ctx, const struct pmm_region **where, uint64_t *nodes);

#endif
