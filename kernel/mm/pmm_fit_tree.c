/*
 * The pmm's exact fit index: per size class, an AVL tree of its free records, so that an
 * allocation the size-class path cannot place with one look is still found whenever some free
 * extent can hold it. The proof and the bounds are at the top of pmm.c; this file keeps the trees.
 *
 * SHAPE OF AN EXTENT. Seen from its peak P (the page of [s, e) with the most trailing zeros), an
 * extent is a left arm λ = P - s and a right arm ρ = e - P. With T the peak order (the trailing
 * zeros of P): λ < 2^T and ρ <= 2^T, because P - 2^T and P + 2^T are multiples of 2^(T+1) and
 * so lie outside [s, e). For an alignment 2^k <= 2^T the lowest aligned page is
 * P - ALIGN_DOWN(λ, 2^k), so the aligned capacity (pages from there to e) is
 *
 *     c_k = ρ + ALIGN_DOWN(λ, 2^k)        (k <= T; for k > T no page of [s, e) is aligned)
 *
 * THE TREE. Ordered by (ρ, first page). Each node keeps, over its subtree: the longest extent
 * (max_pages), the highest peak order, the largest naturally aligned block, and the AVL height
 * (|height(left) - height(right)| <= 1, so height <= 1.44 log2(N + 2) for N nodes). Every
 * search but lemma 3's last step enters only subtrees whose maxima guarantee an answer, so it is
 * one root-to-leaf descent (find_right_arm: one walk down, then one descent). An inexact class's
 * tree holds all its records; an exact class's only those of peak order >= 5 (pmm.c, lemma 4).
 * Updates recurse down one path and stop rebalancing on the way up once a subtree kept its
 * height and maxima. Recursion depth is the tree height: at most 58 even for 2^40 records.
 *
 * WORK. pmm->work counts every node a search or an update visits.
 */
#include "pmm_internal.h"

static inline struct pmm_fit_node *fit(struct pmm_region *region)
{
	return &region->link.free.fit;
}

struct pmm_fit_node pmm_fit_summary(const struct pmm_region *node)
{
	struct pmm_fit_shape shape = pmm_fit_shape_of(node->first_page, node->pages);
	struct pmm_fit_node summary = {
		.left = node->link.free.fit.left,
		.right = node->link.free.fit.right,
		.max_pages = node->pages,
		.height = 1,
		.max_peak_order = (uint8_t)shape.peak_order,
		.max_block_order = (uint8_t)shape.block_order,
	};
	const struct pmm_region *children[2] = { summary.left, summary.right };
	for (unsigned i = 0; i < 2; i++) {
		const struct pmm_fit_node *child = children[i] ? &children[i]->link.free.fit : NULL;
		if (!child)
			continue;
		summary.max_pages = MAX(summary.max_pages, child->max_pages);
		summary.height = (uint8_t)MAX(summary.height, child->height + 1u);
		summary.max_peak_order = MAX(summary.max_peak_order, child->max_peak_order);
		summary.max_block_order = MAX(summary.max_block_order, child->max_block_order);
	}
	return summary;
}

static void update(struct pmm_region *node)
{
	*fit(node) = pmm_fit_summary(node);
}

static struct pmm_region *rotate_right(struct pmm_region *node)
{
	struct pmm_region *left = fit(node)->left;
	fit(node)->left = fit(left)->right;
	fit(left)->right = node;
	update(node);
	update(left);
	return left;
}

static struct pmm_region *rotate_left(struct pmm_region *node)
{
	struct pmm_region *right = fit(node)->right;
	fit(node)->right = fit(right)->left;
	fit(right)->left = node;
	update(node);
	update(right);
	return right;
}

static int balance_of(struct pmm_region *node)
{
	return (int)pmm_fit_height(fit(node)->left) - (int)pmm_fit_height(fit(node)->right);
}

/* Restores the AVL condition at `node` after one of its subtrees changed height by one. */
static struct pmm_region *rebalance(struct pmm_region *node)
{
	update(node);
	int balance = balance_of(node);
	if (balance > 1) {
		if (balance_of(fit(node)->left) < 0)
			fit(node)->left = rotate_left(fit(node)->left);
		return rotate_right(node);
	}
	if (balance < -1) {
		if (balance_of(fit(node)->right) > 0)
			fit(node)->right = rotate_right(fit(node)->right);
		return rotate_left(node);
	}
	return node;
}

static bool goes_left_of(const struct pmm_region *region, uint64_t right_arm,
			 const struct pmm_region *node)
{
	uint64_t node_arm = pmm_fit_shape_of(node->first_page, node->pages).right_arm;
	return pmm_fit_key_less(right_arm, region->first_page, node_arm, node->first_page);
}

/* A child subtree that kept its root, height and maxima leaves its parent's summary as it was. */
static bool summary_kept(const struct pmm_region *before, const struct pmm_fit_node *old,
			 const struct pmm_region *now)
{
	const struct pmm_fit_node *fresh = now ? fit((struct pmm_region *)now) : NULL;
	return before && before == now && old->height == fresh->height &&
	       old->max_pages == fresh->max_pages && old->max_peak_order == fresh->max_peak_order &&
	       old->max_block_order == fresh->max_block_order;
}

/*
 * Each of the three below recurses into one child and rebalances on the way back only while
 * something changed, so the upper part of the path costs a comparison per level.
 */
static struct pmm_region *tree_insert(struct pmm *pmm, struct pmm_region *node,
				      struct pmm_region *region, uint64_t right_arm)
{
	if (!node) {
		fit(region)->left = fit(region)->right = NULL;
		update(region);
		return region;
	}
	pmm->work++;
	struct pmm_region **child =
		goes_left_of(region, right_arm, node) ? &fit(node)->left : &fit(node)->right;
	struct pmm_region *before = *child;
	struct pmm_fit_node old = before ? *fit(before) : (struct pmm_fit_node){ 0 };
	*child = tree_insert(pmm, *child, region, right_arm);
	return summary_kept(before, &old, *child) ? node : rebalance(node);
}

static struct pmm_region *remove_leftmost(struct pmm *pmm, struct pmm_region *node,
					  struct pmm_region **leftmost)
{
	pmm->work++;
	struct pmm_region *before = fit(node)->left;
	if (!before) {
		*leftmost = node;
		return fit(node)->right;
	}
	struct pmm_fit_node old = *fit(before);
	fit(node)->left = remove_leftmost(pmm, before, leftmost);
	return summary_kept(before, &old, fit(node)->left) ? node : rebalance(node);
}

static struct pmm_region *tree_remove(struct pmm *pmm, struct pmm_region *node,
				      struct pmm_region *region, uint64_t right_arm)
{
	MM_ASSERT(node, "pmm_fit_remove: free record at page %#llx is not in its class's tree",
		  (unsigned long long)region->first_page);
	pmm->work++;
	if (node == region) {
		struct pmm_region *left = fit(node)->left, *right = fit(node)->right, *successor;
		if (!left || !right)
			return left ? left : right;
		right = remove_leftmost(pmm, right, &successor);
		fit(successor)->left = left;
		fit(successor)->right = right;
		return rebalance(successor);
	}
	struct pmm_region **child =
		goes_left_of(region, right_arm, node) ? &fit(node)->left : &fit(node)->right;
	struct pmm_region *before = *child;
	struct pmm_fit_node old = before ? *fit(before) : (struct pmm_fit_node){ 0 };
	*child = tree_remove(pmm, *child, region, right_arm);
	return summary_kept(before, &old, *child) ? node : rebalance(node);
}

void pmm_fit_insert(struct pmm *pmm, struct pmm_region **root, struct pmm_region *region)
{
	uint64_t right_arm = pmm_fit_shape_of(region->first_page, region->pages).right_arm;
	*root = tree_insert(pmm, *root, region, right_arm);
}

void pmm_fit_remove(struct pmm *pmm, struct pmm_region **root, struct pmm_region *region)
{
	uint64_t right_arm = pmm_fit_shape_of(region->first_page, region->pages).right_arm;
	*root = tree_remove(pmm, *root, region, right_arm);
}

/* ---- searches: each one descends from `node`, whose subtree is known to hold an answer ---- */

/* Any record of at least `pages` pages. At most height(node) visits. */
static struct pmm_region *find_long(struct pmm *pmm, struct pmm_region *node, uint64_t pages)
{
	while (node) {
		pmm->work++;
		if (node->pages >= pages)
			return node;
		struct pmm_region *left = fit(node)->left;
		node = left && fit(left)->max_pages >= pages ? left : fit(node)->right;
	}
	return NULL;
}

/* Any record holding a naturally aligned block of 2^order pages. At most height(node) visits. */
static struct pmm_region *find_block(struct pmm *pmm, struct pmm_region *node, unsigned order)
{
	while (node) {
		pmm->work++;
		if (pmm_fit_shape_of(node->first_page, node->pages).block_order >= order)
			return node;
		struct pmm_region *left = fit(node)->left;
		node = left && fit(left)->max_block_order >= order ? left : fit(node)->right;
	}
	return NULL;
}

/* Any record whose peak order is at least `order`. At most height(node) visits. */
static struct pmm_region *find_peak(struct pmm *pmm, struct pmm_region *node, unsigned order)
{
	while (node) {
		pmm->work++;
		if (pmm_fit_shape_of(node->first_page, node->pages).peak_order >= order)
			return node;
		struct pmm_region *left = fit(node)->left;
		node = left && fit(left)->max_peak_order >= order ? left : fit(node)->right;
	}
	return NULL;
}

/*
 * Any record with ρ >= pages and peak order >= order (a run aligned to 2^order starts at its
 * peak). The keys at and right of a node with ρ >= pages all qualify on ρ, so one walk down plus
 * one find_peak: at most 2 * height visits.
 */
static struct pmm_region *find_right_arm(struct pmm *pmm, struct pmm_region *node, uint64_t pages,
					 unsigned order)
{
	while (node) {
		pmm->work++;
		struct pmm_fit_shape shape = pmm_fit_shape_of(node->first_page, node->pages);
		if (shape.right_arm < pages) {
			node = fit(node)->right;
			continue;
		}
		if (shape.peak_order >= order)
			return node;
		struct pmm_region *right = fit(node)->right;
		if (right && fit(right)->max_peak_order >= order)
			return find_peak(pmm, right, order);
		node = fit(node)->left;
	}
	return NULL;
}

static bool holds_aligned(const struct pmm_region *region, uint64_t pages, uint64_t align_pages)
{
	return ALIGN_UP(region->first_page, align_pages) + pages <= region_end(region);
}

/*
 * 1 < align < pages, after the O(log N) tests failed: every record of at least `pages` pages and
 * peak order >= order, tested one by one. Visits only ancestors of records of >= `pages` pages.
 */
static struct pmm_region *find_aligned_by_search(struct pmm *pmm, struct pmm_region *node,
						 uint64_t pages, uint64_t align_pages,
						 unsigned order)
{
	if (!node || fit(node)->max_pages < pages || fit(node)->max_peak_order < order)
		return NULL;
	pmm->work++;
	if (holds_aligned(node, pages, align_pages))
		return node;
	struct pmm_region *found =
		find_aligned_by_search(pmm, fit(node)->left, pages, align_pages, order);
	return found ? found
		     : find_aligned_by_search(pmm, fit(node)->right, pages, align_pages, order);
}

/*
 * An exact class holds extents of one size L < 32 = 2^PMM_EXACT_TREE_ORDER. For an alignment of
 * at most PMM_EXACT_RESIDUES pages the lowest aligned page depends only on the first page modulo
 * PMM_EXACT_RESIDUES, so the residue lists answer directly; for a larger one (2^k > L) an extent
 * holds at most one aligned page, its peak, so it fits iff T >= k and ρ >= n — and only extents
 * with T >= PMM_EXACT_TREE_ORDER are in the tree, which is all such a request can use.
 */
static struct pmm_region *find_in_exact_class(struct pmm *pmm, const struct pmm_zone_index *zone,
					      struct size_class c, uint64_t size, uint64_t pages,
					      uint64_t align_pages)
{
	pmm->work++;
	if (size >= pages + align_pages - 1)
		return pmm_class_any(zone, c);
	if (align_pages <= PMM_EXACT_RESIDUES) {
		for (uint32_t residues = zone->exact_residues[size]; residues;
		     residues &= residues - 1) {
			unsigned residue = (unsigned)__builtin_ctz(residues);
			if (((0u - residue) & (align_pages - 1)) <= size - pages)
				return pmm_residue_first(&zone->exact_list[size][residue]);
		}
		return NULL;
	}
	struct pmm_region *root = zone->class_root[c.row][c.sub];
	unsigned order = ilog2_u64(align_pages);
	if (!root || fit(root)->max_peak_order < order)
		return NULL;
	return find_right_arm(pmm, root, pages, order);
}

/* One inexact class, by lemmas 1-3 of pmm.c. */
static struct pmm_region *find_in_class_tree(struct pmm *pmm, struct pmm_region *root,
					     uint64_t pages, uint64_t align_pages)
{
	pmm->work++;
	uint64_t plenty = pages + align_pages - 1;
	if (fit(root)->max_pages >= plenty)
		return find_long(pmm, root, plenty);
	if (align_pages == 1 || fit(root)->max_pages < pages)
		return NULL;
	unsigned order = ilog2_u64(align_pages);
	if (pages <= align_pages && fit(root)->max_block_order >= order)
		return find_block(pmm, root, order);
	struct pmm_region *found = fit(root)->max_peak_order >= order
					   ? find_right_arm(pmm, root, pages, order)
					   : NULL;
	if (found || pages <= align_pages)
		return found;
	return find_aligned_by_search(pmm, root, pages, align_pages, order);
}

struct pmm_region *pmm_fit_find(struct pmm *pmm, const struct pmm_zone_index *zone, uint64_t pages,
				uint64_t align_pages)
{
	struct size_class lowest = size_class_of(pages);
	struct size_class below = size_class_at_least(pages + align_pages - 1);
	/* The non-empty classes in [lowest, below), highest first. */
	for (int row = (int)MIN(below.row, (unsigned)PMM_CLASS_ROWS - 1); row >= (int)lowest.row;
	     row--) {
		uint32_t subs = zone->class_bitmap[row];
		if ((unsigned)row == below.row)
			subs &= (1u << below.sub) - 1;
		if ((unsigned)row == lowest.row)
			subs &= ~0u << lowest.sub;
		for (; subs; subs &= ~(1u << (31u - (unsigned)__builtin_clz(subs)))) {
			struct size_class c = { (unsigned)row, 31u - (unsigned)__builtin_clz(subs) };
			uint64_t size = size_class_lower_bound(c);
			struct pmm_region *found =
				size < PMM_EXACT_CLASS_PAGES
					? find_in_exact_class(pmm, zone, c, size, pages, align_pages)
					: find_in_class_tree(pmm, zone->class_root[c.row][c.sub], pages,
							     align_pages);
			if (found)
				return found;
		}
	}
	return NULL;
}
