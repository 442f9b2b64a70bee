/*
 * An intrusive, augmented AVL tree with parent links, arch-free and allocation-free: the caller
 * embeds a struct avl_node in its records, links and unlinks them next to records it already
 * knows (the tree has no key: order is whatever the caller links), and may keep one augmented
 * value per node (a subtree maximum, say) through the `augment` callback.
 *
 * Bounds: a tree of r nodes has height at most H(r) <= 1.44 log2(r + 2) (avl_height_bound gives
 * the exact value); every function below visits at most H + 1 nodes per descent or climb, and
 * adds the nodes it visited to *work.
 */
#ifndef PAGESCOPE_MM_AVL_TREE_H
#define PAGESCOPE_MM_AVL_TREE_H

#include "kernel/lib/compiler.h"

struct avl_node {
	struct avl_node *left, *right, *parent;
	union {
		struct {
			uint64_t height : 8;
			/* 56 bits the embedding record may use as it likes (the tree never reads or writes them). */
			uint64_t payload : 56;
		};
		/*
		 * The two as one word (height in bits 0-7), for a record that keeps fields of its own in
		 * the payload and reads each with one shift or mask (vmm_list_record.h); it must keep
		 * bits 0-7 as they are while the node is in a tree.
		 */
		uint64_t word;
	};
};

struct avl_tree {
	struct avl_node *root;
	/*
	 * Recomputes n's augmented value from n itself and its children (either may be NULL);
	 * returns true when it changed. NULL when the tree keeps none.
	 */
	bool (*augment)(struct avl_node *n);
	/*
	 * Copies the augmented value of `from` to `to` (a removal moves a node into another's place:
	 * with the old value there, the climb above it can stop early). NULL: that climb goes on to
	 * the root.
	 */
	void (*augment_copy)(struct avl_node *to, const struct avl_node *from);
};

/* The largest height of an AVL tree of `nodes` nodes: the h with N(h) <= nodes < N(h + 1). */
uint64_t avl_height_bound(uint64_t nodes);

/* Makes n (not in a tree) the only node of an empty tree. */
void avl_init_root(struct avl_tree *tree, struct avl_node *n);
/* Links n (not in the tree) right after / right before `at` in the tree's order. */
void avl_insert_after(struct avl_tree *tree, struct avl_node *at, struct avl_node *n, uint64_t *work);
void avl_insert_before(struct avl_tree *tree, struct avl_node *at, struct avl_node *n, uint64_t *work);
/* Unlinks n from the tree. */
void avl_remove(struct avl_tree *tree, struct avl_node *n, uint64_t *work);
/* After n's own augmented input changed: recomputes from n up while values change. */
void avl_retrace(struct avl_tree *tree, struct avl_node *n, uint64_t *work);
/* The next / previous node in order, or NULL. */
struct avl_node *avl_next(struct avl_node *n, uint64_t *work);
struct avl_node *avl_prev(struct avl_node *n, uint64_t *work);
/* Subtree height (0 for NULL). */
static inline unsigned avl_height(const struct avl_node *n) { return n ? (unsigned)n->height : 0; }

#endif
