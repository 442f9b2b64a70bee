/*
 * The fit tree (interface and bounds: pmm_fit_tree.h): free records in an AVL tree ordered by
 * (right arm, first page), each node keeping maxima over its subtree, so that a search never
 * enters a subtree that cannot answer. Linking, unlinking and rebalancing are the generic AVL
 * tree's (avl_tree.c); this file gives it the key order and the augmented value.
 *
 * SHAPE OF AN EXTENT. Seen from its peak P (the page of [s, e) with the most trailing zeros), an
 * extent is a left arm λ = P - s and a right arm ρ = e - P. With T the peak order (the trailing
 * zeros of P): λ < 2^T and ρ <= 2^T, because P - 2^T and P + 2^T are multiples of 2^(T+1) and
 * so lie outside [s, e). For an alignment a = 2^k <= 2^T the lowest aligned page is
 * P - ALIGN_DOWN(λ, 2^k), so the extent holds n pages at a multiple of a iff
 *
 *     T >= k  and  ρ + ALIGN_DOWN(λ, 2^k) >= n          (*)
 *
 * and for k > T no page of it is aligned.
 *
 * NOTHING THAT FITS IS MISSED (pmm_fit_find). Each node keeps, over its subtree, the longest
 * extent (max_pages), the highest peak order and the largest naturally aligned block order.
 *   Lemma 1 (a = 1): fits iff e - s >= n. A descent that enters only subtrees with
 *     max_pages >= n finds one iff one exists (find_long).
 *   Lemma 2 (n <= a): fits iff the extent holds a naturally aligned block of 2^k pages, or T >= k
 *     and ρ >= n. From (*): if λ >= 2^k then ALIGN_DOWN(λ, 2^k) >= 2^k >= n, and [P - 2^k, P) is
 *     such a block; if λ < 2^k, (*) reads ρ >= n. Conversely a block holds the run at its start,
 *     and ρ >= n with T >= k holds it at P. Blocks: one descent on the block order (find_block).
 *     Being ordered by ρ, every key right of a node with ρ >= n has ρ >= n too, so "ρ >= n and
 *     T >= k" is one walk down plus one descent on the peak order (find_right_arm).
 *   Lemma 3 (1 < a < n): an extent of n + a - 1 pages fits (one descent on max_pages), one with
 *     ρ >= n and T >= k fits (as in lemma 2); otherwise every extent of at least n pages whose
 *     subtree allows peak order >= k is tested with (*) directly (find_aligned_by_search). Nothing
 *     that can fit is skipped; this last step alone is linear, in the extents of >= n pages.
 *
 * WORK. Every node a search or an update reads is counted (pmm_visit; avl_tree.c counts its own
 * descents and climbs). Each climb stops as soon as nothing changes, so most cost a node or two.
 */
#include "pmm_fit_tree.h"

/*
 * Maxima over a node's subtree: the longest extent, the highest peak order, the largest
 * naturally aligned block. Kept packed in the AVL node's 56-bit payload (41 + 7 + 6 bits), so a
 * free record is no larger for it.
 */
struct fit_maxima {
	uint64_t pages;
	unsigned peak_order, block_order;
};

#define FIT_PAGES_BITS 41 /* extents of up to 2^40 pages */
#define FIT_PEAK_BITS 7   /* peak orders up to PMM_PEAK_ORDER_UNBOUNDED */
_Static_assert(PMM_PEAK_ORDER_UNBOUNDED < (1 << FIT_PEAK_BITS) && FIT_PAGES_BITS + FIT_PEAK_BITS + 6 <= 56,
	       "fit tree maxima must fit the AVL node's payload");

static inline struct pmm_region *region_of(const struct avl_node *node)
{
	return node ? container_of((struct avl_node *)node, struct pmm_region, link.free.fit) : NULL;
}

static inline struct avl_node *node_of(struct pmm_region *region)
{
	return region ? &region->link.free.fit : NULL;
}

static inline struct pmm_region *left_of(const struct pmm_region *node)
{
	return region_of(node->link.free.fit.left);
}

static inline struct pmm_region *right_of(const struct pmm_region *node)
{
	return region_of(node->link.free.fit.right);
}

static inline uint64_t right_arm_of(const struct pmm_region *region)
{
	return pmm_fit_shape_of(region->first_page, region->pages).right_arm;
}

static inline struct fit_maxima maxima_of(const struct pmm_region *node)
{
	uint64_t packed = node->link.free.fit.payload;
	return (struct fit_maxima){
		.pages = packed & (((uint64_t)1 << FIT_PAGES_BITS) - 1),
		.peak_order = (unsigned)(packed >> FIT_PAGES_BITS) & ((1u << FIT_PEAK_BITS) - 1),
		.block_order = (unsigned)(packed >> (FIT_PAGES_BITS + FIT_PEAK_BITS)),
	};
}

static inline void set_maxima(struct pmm_region *node, struct fit_maxima m)
{
	node->link.free.fit.payload = m.pages | (uint64_t)m.peak_order << FIT_PAGES_BITS |
				      (uint64_t)m.block_order << (FIT_PAGES_BITS + FIT_PEAK_BITS);
}

/* Tree order: right arm, then address (unique). */
static inline bool key_less(const struct pmm_region *a, const struct pmm_region *b)
{
	uint64_t arm_a = right_arm_of(a), arm_b = right_arm_of(b);
	return arm_a < arm_b || (arm_a == arm_b && a->first_page < b->first_page);
}

/* A node's maxima recomputed from its own extent and its children's maxima. */
static struct fit_maxima summary_of(const struct pmm_region *node)
{
	struct pmm_fit_shape shape = pmm_fit_shape_of(node->first_page, node->pages);
	struct fit_maxima summary = { node->pages, shape.peak_order, shape.block_order };
	const struct pmm_region *children[2] = { left_of(node), right_of(node) };
	for (unsigned i = 0; i < 2; i++) {
		if (!children[i])
			continue;
		struct fit_maxima child = maxima_of(children[i]);
		summary.pages = MAX(summary.pages, child.pages);
		summary.peak_order = MAX(summary.peak_order, child.peak_order);
		summary.block_order = MAX(summary.block_order, child.block_order);
	}
	return summary;
}

/* The tree's augment callback: recomputes the maxima; true when they changed. */
static bool augment_maxima(struct avl_node *n)
{
	uint64_t kept = n->payload;
	set_maxima(region_of(n), summary_of(region_of(n)));
	return n->payload != kept;
}

static void augment_copy_maxima(struct avl_node *to, const struct avl_node *from)
{
	to->payload = from->payload;
}

/* The generic tree around a root record, rebuilt per update (a tree is stored as its root). */
static struct avl_tree tree_at(struct pmm_region *root)
{
	return (struct avl_tree){ .root = node_of(root),
				  .augment = augment_maxima,
				  .augment_copy = augment_copy_maxima };
}

void pmm_fit_insert(struct pmm_region **root, struct pmm_region *region, uint64_t *work)
{
	if (!*root) {
		struct avl_tree empty = tree_at(NULL);
		avl_init_root(&empty, node_of(region));
		*root = region;
		return;
	}
	struct avl_tree tree = tree_at(*root);
	for (struct pmm_region *node = *root;;) {
		pmm_visit(work, node);
		bool left = key_less(region, node);
		struct pmm_region *child = left ? left_of(node) : right_of(node);
		if (child) {
			node = child;
			continue;
		}
		/* An empty child slot: inserting next to `node` on that side lands exactly there. */
		if (left)
			avl_insert_before(&tree, node_of(node), node_of(region), work);
		else
			avl_insert_after(&tree, node_of(node), node_of(region), work);
		break;
	}
	*root = region_of(tree.root);
}

void pmm_fit_remove(struct pmm_region **root, struct pmm_region *region, uint64_t *work)
{
	MM_ASSERT(*root, "pmm_fit_remove: free record at page %#llx is in no tree",
		  (unsigned long long)region->first_page);
	pmm_visit(work, region);
	if (*root == region && !region->link.free.fit.left && !region->link.free.fit.right) {
		*root = NULL; /* the tree's only record: nothing to relink */
		return;
	}
	struct avl_tree tree = tree_at(*root);
	avl_remove(&tree, node_of(region), work);
	*root = region_of(tree.root);
}

uint64_t pmm_fit_longest(const struct pmm_region *root)
{
	return root ? maxima_of(root).pages : 0;
}

unsigned pmm_fit_height(const struct pmm_region *root)
{
	return root ? avl_height(&root->link.free.fit) : 0;
}

/* ---- searches: each one descends from `node`, whose subtree is known to hold an answer ---- */

/* Any record of at least `pages` pages. At most height(node) visits. */
static struct pmm_region *find_long(struct pmm_region *node, uint64_t pages, uint64_t *work)
{
	while (node) {
		if (pmm_visit(work, node)->pages >= pages)
			return node;
		struct pmm_region *left = left_of(node);
		node = left && maxima_of(left).pages >= pages ? left : right_of(node);
	}
	return NULL;
}

/* Any record holding a naturally aligned block of 2^order pages. At most height(node) visits. */
static struct pmm_region *find_block(struct pmm_region *node, unsigned order, uint64_t *work)
{
	while (node) {
		pmm_visit(work, node);
		if (pmm_fit_shape_of(node->first_page, node->pages).block_order >= order)
			return node;
		struct pmm_region *left = left_of(node);
		node = left && maxima_of(left).block_order >= order ? left : right_of(node);
	}
	return NULL;
}

/* Any record whose peak order is at least `order`. At most height(node) visits. */
static struct pmm_region *find_peak(struct pmm_region *node, unsigned order, uint64_t *work)
{
	while (node) {
		pmm_visit(work, node);
		if (pmm_fit_shape_of(node->first_page, node->pages).peak_order >= order)
			return node;
		struct pmm_region *left = left_of(node);
		node = left && maxima_of(left).peak_order >= order ? left : right_of(node);
	}
	return NULL;
}

/*
 * Any record with ρ >= pages and peak order >= order (a run aligned to 2^order starts at its
 * peak). The keys at and right of a node with ρ >= pages all qualify on ρ, so one walk down plus
 * one find_peak: at most 2 * height visits.
 */
static struct pmm_region *find_right_arm(struct pmm_region *node, uint64_t pages, unsigned order,
					 uint64_t *work)
{
	while (node) {
		pmm_visit(work, node);
		struct pmm_fit_shape shape = pmm_fit_shape_of(node->first_page, node->pages);
		if (shape.right_arm < pages) {
			node = right_of(node);
			continue;
		}
		if (shape.peak_order >= order)
			return node;
		struct pmm_region *right = right_of(node);
		if (right && maxima_of(right).peak_order >= order)
			return find_peak(right, order, work);
		node = left_of(node);
	}
	return NULL;
}

/*
 * 1 < align < pages, after the O(log N) tests failed: every record of at least `pages` pages and
 * peak order >= order, tested one by one. Visits only ancestors of records of >= `pages` pages;
 * recursion depth <= the tree height (58 even for 2^40 records).
 */
static struct pmm_region *find_aligned_by_search(struct pmm_region *node, uint64_t pages,
						 uint64_t align_pages, unsigned order,
						 uint64_t *work)
{
	if (!node || maxima_of(node).pages < pages || maxima_of(node).peak_order < order)
		return NULL;
	pmm_visit(work, node);
	if (ALIGN_UP(node->first_page, align_pages) + pages <= region_end(node))
		return node;
	struct pmm_region *found = find_aligned_by_search(left_of(node), pages, align_pages, order, work);
	return found ? found : find_aligned_by_search(right_of(node), pages, align_pages, order, work);
}

/* Lemmas 1-3, in that order of cost. */
struct pmm_region *pmm_fit_find(struct pmm_region *root, uint64_t pages, uint64_t align_pages,
				uint64_t *work)
{
	if (!root)
		return NULL;
	struct fit_maxima all = maxima_of(pmm_visit(work, root));
	uint64_t plenty = pages + align_pages - 1;
	if (all.pages >= plenty)
		return find_long(root, plenty, work);
	if (align_pages == 1 || all.pages < pages)
		return NULL;
	unsigned order = ilog2_u64(align_pages);
	if (pages <= align_pages && all.block_order >= order)
		return find_block(root, order, work);
	struct pmm_region *found = all.peak_order >= order ? find_right_arm(root, pages, order, work)
							   : NULL;
	if (found || pages <= align_pages)
		return found;
	return find_aligned_by_search(root, pages, align_pages, order, work);
}

/* ---- self-check ---------------------------------------------------------------------------- */

struct check {
	bool (*belongs)(void *ctx, const struct pmm_region *region);
	void *ctx;
	const struct pmm_region **where;
	uint64_t *nodes;
};

static enum pmm_fit_fault check_subtree(const struct check *c, const struct pmm_region *node,
					const struct pmm_region *low, const struct pmm_region *high,
					unsigned depth)
{
	if (!node)
		return PMM_FIT_OK;
	*c->where = node;
	if (depth >= 2 * PMM_PEAK_ORDER_UNBOUNDED)
		return PMM_FIT_TOO_DEEP;
	if (!c->belongs(c->ctx, node))
		return PMM_FIT_REFUSED;
	if ((low && !key_less(low, node)) || (high && !key_less(node, high)))
		return PMM_FIT_UNORDERED;
	const struct avl_node *fit = &node->link.free.fit, *left = fit->left, *right = fit->right;
	if ((left && left->parent != fit) || (right && right->parent != fit))
		return PMM_FIT_BROKEN_LINK;
	struct fit_maxima expected = summary_of(node), kept = maxima_of(node);
	if (expected.pages != kept.pages || expected.peak_order != kept.peak_order ||
	    expected.block_order != kept.block_order ||
	    fit->height != 1 + MAX(avl_height(left), avl_height(right)))
		return PMM_FIT_STALE;
	int balance = (int)avl_height(left) - (int)avl_height(right);
	if (balance < -1 || balance > 1)
		return PMM_FIT_UNBALANCED;
	++*c->nodes;
	enum pmm_fit_fault fault = check_subtree(c, region_of(left), low, node, depth + 1);
	return fault ? fault : check_subtree(c, region_of(right), node, high, depth + 1);
}

enum pmm_fit_fault pmm_fit_check(const struct pmm_region *root,
				 bool (*belongs)(void *ctx, const struct pmm_region *region),
				 void *ctx, const struct pmm_region **where, uint64_t *nodes)
{
	struct check c = { belongs, ctx, where, nodes };
	*nodes = 0;
	*where = root;
	if (root && root->link.free.fit.parent)
		return PMM_FIT_BROKEN_LINK;
	return check_subtree(&c, root, NULL, NULL, 0);
}
