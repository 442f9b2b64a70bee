/*
 * Intrusive augmented AVL tree (see avl_tree.h).
 *
 * Invariants: |height(left) - height(right)| <= 1 at every node; node->height is the subtree's
 * height; child->parent == node; the augmented value of every node equals `augment` recomputed
 * from its children. Heights climb (rebalance_up) and augmented values climb (retrace) separately,
 * each stopping at the first node where its value comes out as before, so an insert or remove
 * costs O(H) node visits and usually far fewer. No recursion.
 */
#include "avl_tree.h"

uint64_t avl_height_bound(uint64_t nodes)
{
	uint64_t height = 0, fewest = 0, fewest_below = 0; /* N(height), N(height - 1) */
	while (fewest + fewest_below + 1 <= nodes) {
		uint64_t next = fewest + fewest_below + 1;
		fewest_below = fewest;
		fewest = next;
		height++;
	}
	return height;
}

static void fix_height(struct avl_node *n)
{
	n->height = 1 + MAX(avl_height(n->left), avl_height(n->right));
}

static void augment(struct avl_tree *tree, struct avl_node *n)
{
	if (tree->augment)
		tree->augment(n);
}

/* Puts `now` where `old` hangs under `parent` (or at the root). */
static void replace_child(struct avl_tree *tree, struct avl_node *parent, struct avl_node *old,
			  struct avl_node *now)
{
	if (!parent)
		tree->root = now;
	else if (parent->left == old)
		parent->left = now;
	else
		parent->right = now;
	if (now)
		now->parent = parent;
}

static struct avl_node *rotate_right(struct avl_tree *tree, struct avl_node *n)
{
	struct avl_node *l = n->left;
	replace_child(tree, n->parent, n, l);
	n->left = l->right;
	if (n->left)
		n->left->parent = n;
	l->right = n;
	n->parent = l;
	fix_height(n);
	augment(tree, n);
	fix_height(l);
	augment(tree, l);
	return l;
}

static struct avl_node *rotate_left(struct avl_tree *tree, struct avl_node *n)
{
	struct avl_node *r = n->right;
	replace_child(tree, n->parent, n, r);
	n->right = r->left;
	if (n->right)
		n->right->parent = n;
	r->left = n;
	n->parent = r;
	fix_height(n);
	augment(tree, n);
	fix_height(r);
	augment(tree, r);
	return r;
}

/* Restores |balance| <= 1 at n (children balanced); returns the subtree's new top. */
static struct avl_node *rebalance(struct avl_tree *tree, struct avl_node *n)
{
	int balance = (int)avl_height(n->left) - (int)avl_height(n->right);
	if (balance > 1) {
		if (avl_height(n->left->left) < avl_height(n->left->right))
			rotate_left(tree, n->left);
		return rotate_right(tree, n);
	}
	if (balance < -1) {
		if (avl_height(n->right->right) < avl_height(n->right->left))
			rotate_right(tree, n->right);
		return rotate_left(tree, n);
	}
	return n;
}

/*
 * Restores heights and balance from n up after a link below n changed; stops at the first node
 * whose height comes out as before (nothing above can have changed shape) and returns the
 * highest node it recomputed. Rotations recompute the augmented values of the nodes they move;
 * the path below the returned node may still hold old ones: retrace_through fixes them.
 */
static struct avl_node *rebalance_up(struct avl_tree *tree, struct avl_node *n, uint64_t *work)
{
	uint64_t visited = 0;
	struct avl_node *top = n;
	for (; n; n = n->parent) {
		visited++;
		unsigned old_height = (unsigned)n->height;
		unsigned hl = avl_height(n->left), hr = avl_height(n->right);
		if (hl > hr + 1 || hr > hl + 1) {
			fix_height(n);
			n = rebalance(tree, n);
		} else {
			n->height = 1 + MAX(hl, hr);
		}
		top = n;
		if (n->height == old_height)
			break;
	}
	*work += visited;
	return top;
}

/* Recomputes augmented values from n up: every node up to `through` (an ancestor of n, or NULL
 * for none), then on while the value changes. */
static void retrace_through(struct avl_tree *tree, struct avl_node *n, const struct avl_node *through,
			    uint64_t *work)
{
	if (!tree->augment)
		return;
	uint64_t visited = 0;
	bool passed = through == NULL;
	for (; n; n = n->parent) {
		visited++;
		bool changed = tree->augment(n);
		if (passed && !changed)
			break;
		passed |= n == through;
	}
	*work += visited;
}

void avl_retrace(struct avl_tree *tree, struct avl_node *n, uint64_t *work)
{
	retrace_through(tree, n, NULL, work);
}

/* Every node from n to the root (used where an early stop could be fooled). */
static void retrace_to_root(struct avl_tree *tree, struct avl_node *n, uint64_t *work)
{
	if (!tree->augment)
		return;
	uint64_t visited = 0;
	for (; n; n = n->parent) {
		visited++;
		tree->augment(n);
	}
	*work += visited;
}

void avl_init_root(struct avl_tree *tree, struct avl_node *n)
{
	n->left = n->right = n->parent = NULL;
	n->height = 1;
	augment(tree, n);
	tree->root = n;
}

static void link_leaf(struct avl_tree *tree, struct avl_node *at, struct avl_node *n, uint64_t *work)
{
	n->left = n->right = NULL;
	n->parent = at;
	n->height = 1;
	augment(tree, n);
	retrace_through(tree, at, rebalance_up(tree, at, work), work);
}

void avl_insert_after(struct avl_tree *tree, struct avl_node *at, struct avl_node *n, uint64_t *work)
{
	if (at->right) {
		for (at = at->right; at->left; at = at->left)
			++*work;
		at->left = n;
	} else {
		at->right = n;
	}
	link_leaf(tree, at, n, work);
}

void avl_insert_before(struct avl_tree *tree, struct avl_node *at, struct avl_node *n, uint64_t *work)
{
	if (at->left) {
		for (at = at->left; at->right; at = at->right)
			++*work;
		at->right = n;
	} else {
		at->left = n;
	}
	link_leaf(tree, at, n, work);
}

void avl_remove(struct avl_tree *tree, struct avl_node *n, uint64_t *work)
{
	if (!n->left || !n->right) {
		struct avl_node *parent = n->parent;
		replace_child(tree, parent, n, n->left ? n->left : n->right);
		retrace_through(tree, parent, rebalance_up(tree, parent, work), work);
		return;
	}
	/* Two children: the successor (leftmost on the right, no left child) takes n's place. */
	struct avl_node *s = n->right, *fix;
	while (s->left) {
		++*work;
		s = s->left;
	}
	if (s->parent == n) {
		fix = s;
	} else {
		fix = s->parent;
		replace_child(tree, fix, s, s->right);
		s->right = n->right;
		s->right->parent = s;
	}
	replace_child(tree, n->parent, n, s);
	s->left = n->left;
	s->left->parent = s;
	/* s stands for n's old subtree: the climbs compare with n's height and value. */
	s->height = n->height;
	if (tree->augment_copy)
		tree->augment_copy(s, n);
	retrace_through(tree, fix, rebalance_up(tree, fix, work), work);
	/* The climb from fix may stop below s, whose own value differs from n's. */
	if (tree->augment_copy)
		retrace_through(tree, s, NULL, work);
	else
		retrace_to_root(tree, s, work);
}

struct avl_node *avl_next(struct avl_node *n, uint64_t *work)
{
	++*work;
	if (n->right) {
		for (n = n->right; n->left; n = n->left)
			++*work;
		return n;
	}
	for (; n->parent && n == n->parent->right; n = n->parent)
		++*work;
	return n->parent;
}

struct avl_node *avl_prev(struct avl_node *n, uint64_t *work)
{
	++*work;
	if (n->left) {
		for (n = n->left; n->right; n = n->right)
			++*work;
		return n;
	}
	for (; n->parent && n == n->parent->left; n = n->parent)
		++*work;
	return n->parent;
}
