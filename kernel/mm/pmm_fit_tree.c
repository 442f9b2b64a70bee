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
 * THE TREE. Ordered by (ρ, first page). Linking, unlinking and rebalancing are the generic AVL
 * tree's (avl_tree.c); this file gives it the key order (the descent that finds where a record
 * goes) and the augmented value: each node keeps, over its subtree, the longest extent
 * (max_pages), the highest peak order and the largest naturally aligned block. The AVL height is
 * at most avl_height_bound(N) <= 1.44 log2(N + 2) for N nodes. Every search but lemma 3's last
 * step enters only subtrees whose maxima guarantee an answer, so it is one root-to-leaf descent
 * (find_right_arm: one walk down, then one descent). An inexact class's tree holds all its
 * records; an exact class's only those of peak order >= 5 (pmm.c, lemma 4). Only lemma 3's
 * search recurses, to a depth of at most the tree height (58 even for 2^40 records).
 *
 * WORK. pmm->work counts every node a search or an update visits: an insert descends once from
 * the root and climbs twice (heights, then maxima: avl_tree.c); a remove finds nothing by key
 * (the node is known), descends at most once to the successor and climbs at most three times.
 * Each climb stops as soon as nothing changes, so most cost a node or two.
 */
#include "pmm_internal.h"

static inline struct pmm_region *left_of(const struct pmm_region *node)
{
	return pmm_fit_region(node->link.free.fit.left);
}

static inline struct pmm_region *right_of(const struct pmm_region *node)
{
	return pmm_fit_region(node->link.free.fit.right);
}

/* A record's own maxima: those of its extent alone. */
static struct pmm_fit_maxima own_maxima(const struct pmm_region *node)
{
	struct pmm_fit_shape shape = pmm_fit_shape_of(node->first_page, node->pages);
	return (struct pmm_fit_maxima){ node->pages, shape.peak_order, shape.block_order };
}

struct pmm_fit_maxima pmm_fit_summary(const struct pmm_region *node)
{
	struct pmm_fit_maxima summary = own_maxima(node);
	const struct pmm_region *children[2] = { left_of(node), right_of(node) };
	for (unsigned i = 0; i < 2; i++) {
		if (!children[i])
			continue;
		struct pmm_fit_maxima child = pmm_fit_maxima(children[i]);
		summary.max_pages = MAX(summary.max_pages, child.max_pages);
		summary.max_peak_order = MAX(summary.max_peak_order, child.max_peak_order);
		summary.max_block_order = MAX(summary.max_block_order, child.max_block_order);
	}
	return summary;
}

/* The tree's augment callback: recomputes the maxima; true when they changed. */
static bool augment_maxima(struct avl_node *n)
{
	struct pmm_region *node = pmm_fit_region(n);
	uint64_t kept = n->payload;
	pmm_fit_set_maxima(node, pmm_fit_summary(node));
	return n->payload != kept;
}

static void augment_copy_maxima(struct avl_node *to, const struct avl_node *from)
{
	to->payload = from->payload;
}

/* A class tree is stored as its root record; the generic tree is rebuilt around it per update. */
static struct avl_tree class_tree(struct pmm_region *root)
{
	return (struct avl_tree){ .root = pmm_fit_avl(root),
				  .augment = augment_maxima,
				  .augment_copy = augment_copy_maxima };
}

void pmm_fit_refresh_lone_root(struct pmm_region *root)
{
	pmm_fit_set_maxima(root, own_maxima(root)); /* no children */
}

void pmm_fit_insert(struct pmm *pmm, struct pmm_region **root, struct pmm_region *region)
{
	if (!*root) {
		struct avl_tree empty = { 0 };
		avl_init_root(&empty, pmm_fit_avl(region));
		pmm_fit_refresh_lone_root(region);
		*root = region;
		return;
	}
	struct avl_tree tree = class_tree(*root);
	uint64_t right_arm = pmm_fit_shape_of(region->first_page, region->pages).right_arm;
	struct pmm_region *node = *root;
	for (;;) {
		pmm->work++;
		uint64_t node_arm = pmm_fit_shape_of(node->first_page, node->pages).right_arm;
		bool left = pmm_fit_key_less(right_arm, region->first_page, node_arm, node->first_page);
		struct pmm_region *child = left ? left_of(node) : right_of(node);
		if (child) {
			node = child;
			continue;
		}
		/* An empty child slot: inserting next to `node` on that side lands exactly there. */
		if (left)
			avl_insert_before(&tree, pmm_fit_avl(node), pmm_fit_avl(region), &pmm->work);
		else
			avl_insert_after(&tree, pmm_fit_avl(node), pmm_fit_avl(region), &pmm->work);
		break;
	}
	*root = pmm_fit_region(tree.root);
}

void pmm_fit_remove(struct pmm *pmm, struct pmm_region **root, struct pmm_region *region)
{
	MM_ASSERT(*root, "pmm_fit_remove: free record at page %#llx is not in its class's tree",
		  (unsigned long long)region->first_page);
	pmm->work++;
	if (*root == region && !region->link.free.fit.left && !region->link.free.fit.right) {
		*root = NULL; /* the lone record of its class: nothing to relink */
		return;
	}
	struct avl_tree tree = class_tree(*root);
	avl_remove(&tree, pmm_fit_avl(region), &pmm->work);
	*root = pmm_fit_region(tree.root);
}

/* ---- searches: each one descends from `node`, whose subtree is known to hold an answer ---- */

/* Any record of at least `pages` pages. At most height(node) visits. */
static struct pmm_region *find_long(struct pmm *pmm, struct pmm_region *node, uint64_t pages)
{
	while (node) {
		pmm->work++;
		if (node->pages >= pages)
			return node;
		struct pmm_region *left = left_of(node);
		node = left && pmm_fit_maxima(left).max_pages >= pages ? left : right_of(node);
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
		struct pmm_region *left = left_of(node);
		node = left && pmm_fit_maxima(left).max_block_order >= order ? left : right_of(node);
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
		struct pmm_region *left = left_of(node);
		node = left && pmm_fit_maxima(left).max_peak_order >= order ? left : right_of(node);
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
			node = right_of(node);
			continue;
		}
		if (shape.peak_order >= order)
			return node;
		struct pmm_region *right = right_of(node);
		if (right && pmm_fit_maxima(right).max_peak_order >= order)
			return find_peak(pmm, right, order);
		node = left_of(node);
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
	if (!node || pmm_fit_maxima(node).max_pages < pages || pmm_fit_maxima(node).max_peak_order < order)
		return NULL;
	pmm->work++;
	if (holds_aligned(node, pages, align_pages))
		return node;
	struct pmm_region *found =
		find_aligned_by_search(pmm, left_of(node), pages, align_pages, order);
	return found ? found
		     : find_aligned_by_search(pmm, right_of(node), pages, align_pages, order);
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
				return pmm_exact_list_head(zone, size, residue);
		}
		return NULL;
	}
	struct pmm_region *root = zone->class_root[c.row][c.sub];
	unsigned order = ilog2_u64(align_pages);
	if (!root || pmm_fit_maxima(root).max_peak_order < order)
		return NULL;
	return find_right_arm(pmm, root, pages, order);
}

/* One inexact class, by lemmas 1-3 of pmm.c. */
static struct pmm_region *find_in_class_tree(struct pmm *pmm, struct pmm_region *root,
					     uint64_t pages, uint64_t align_pages)
{
	pmm->work++;
	uint64_t plenty = pages + align_pages - 1;
	if (pmm_fit_maxima(root).max_pages >= plenty)
		return find_long(pmm, root, plenty);
	if (align_pages == 1 || pmm_fit_maxima(root).max_pages < pages)
		return NULL;
	unsigned order = ilog2_u64(align_pages);
	if (pages <= align_pages && pmm_fit_maxima(root).max_block_order >= order)
		return find_block(pmm, root, order);
	struct pmm_region *found = pmm_fit_maxima(root).max_peak_order >= order
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
