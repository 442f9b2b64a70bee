/* Host tests of kernel/mm/avl_tree.c: order, balance, augmented values and the work bound. */
#include <stdlib.h>

#include "kernel/lib/testing.h"
#include "kernel/mm/avl_tree.h"
#include "tests/host/vmm_test_support.h"

struct item {
	uint64_t key;
	struct avl_node node;
	uint64_t subtree_max; /* augmented: the largest key in the subtree */
};

static struct item *item_of(struct avl_node *n)
{
	return n ? container_of(n, struct item, node) : NULL;
}

static void copy_max(struct avl_node *to, const struct avl_node *from)
{
	item_of(to)->subtree_max = item_of((struct avl_node *)from)->subtree_max;
}

static bool augment_max(struct avl_node *n)
{
	uint64_t now = item_of(n)->key;
	if (n->left)
		now = MAX(now, item_of(n->left)->subtree_max);
	if (n->right)
		now = MAX(now, item_of(n->right)->subtree_max);
	bool changed = now != item_of(n)->subtree_max;
	item_of(n)->subtree_max = now;
	return changed;
}

/* Checks order (keys increase in order), links, heights, balance and maxima; returns the height. */
static unsigned check(struct avl_node *n, const struct avl_node *parent, uint64_t *last_key,
		      unsigned *bad)
{
	if (!n)
		return 0;
	*bad += n->parent != parent;
	unsigned hl = check(n->left, n, last_key, bad);
	*bad += item_of(n)->key <= *last_key;
	*last_key = item_of(n)->key;
	unsigned hr = check(n->right, n, last_key, bad);
	uint64_t max = item_of(n)->subtree_max;
	augment_max(n);
	*bad += max != item_of(n)->subtree_max;
	*bad += n->height != 1 + MAX(hl, hr) || hl > hr + 1 || hr > hl + 1;
	return 1 + MAX(hl, hr);
}

/* The node with the largest key below `key`, or NULL (the caller's descent: the tree has no key). */
static struct avl_node *predecessor(struct avl_node *n, uint64_t key)
{
	struct avl_node *best = NULL;
	while (n) {
		if (item_of(n)->key < key) {
			best = n;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	return best;
}

static struct avl_node *leftmost(struct avl_node *n)
{
	while (n->left)
		n = n->left;
	return n;
}

/* Random keys linked at their place, then every other one removed: always ordered, balanced,
 * with exact maxima, and each insert or remove within the work its header states. */
TEST(avl_tree_stays_ordered_balanced_and_within_its_height_bound)
{
	enum { NODES = 4096 };
	static struct item items[NODES];
	struct avl_tree tree = { .augment = augment_max, .augment_copy = copy_max };
	uint64_t rng = test_seed(0xA71), work = 0, worst = 0, count = 1;
	for (unsigned i = 0; i < NODES; i++)
		items[i] = (struct item){ .key = (test_random(&rng) >> 1) | 1 };
	avl_init_root(&tree, &items[0].node);
	for (unsigned i = 1; i < NODES; i++) {
		struct avl_node *at = predecessor(tree.root, items[i].key);
		work = 0;
		if (at)
			avl_insert_after(&tree, at, &items[i].node, &work);
		else
			avl_insert_before(&tree, leftmost(tree.root), &items[i].node, &work);
		worst = MAX(worst, work);
		count++;
		EXPECT_LE(work, 3 * avl_height_bound(count)); /* descent, height climb, maximum climb */
	}
	unsigned bad = 0;
	uint64_t last = 0;
	EXPECT_LE(check(tree.root, NULL, &last, &bad), avl_height_bound(count));
	EXPECT_EQ(bad, 0);
	uint64_t max_left = 0;
	for (unsigned i = 0; i < NODES; i++) {
		if (i % 2 == 0) {
			work = 0;
			avl_remove(&tree, &items[i].node, &work);
			count--;
			EXPECT_LE(work, 4 * avl_height_bound(count + 1));
		} else {
			max_left = MAX(max_left, items[i].key);
		}
	}
	last = 0;
	EXPECT_LE(check(tree.root, NULL, &last, &bad), avl_height_bound(count));
	EXPECT_EQ(bad, 0);
	EXPECT_EQ(item_of(tree.root)->subtree_max, max_left);
	testing_note("worst insert: %llu node visits among %u nodes", (unsigned long long)worst, NODES);
}

/* The exact height bound: the fewest nodes of each height are 0, 1, 2, 4, 7, 12, 20, 33 (N(h)). */
TEST(avl_height_bound_follows_the_fewest_nodes_per_height)
{
	EXPECT_EQ(avl_height_bound(0), 0);
	EXPECT_EQ(avl_height_bound(1), 1);
	EXPECT_EQ(avl_height_bound(3), 2);
	EXPECT_EQ(avl_height_bound(4), 3);
	EXPECT_EQ(avl_height_bound(11), 4);
	EXPECT_EQ(avl_height_bound(12), 5);
	EXPECT_EQ(avl_height_bound(33), 7);
	EXPECT_LE(avl_height_bound(1000000), 29); /* 1.44 log2(10^6 + 2) = 28.7 */
}
