/*
 * The list backend's two trees per region (records and state: vmm_list.h): the free tree (free
 * records in address order, each node augmented with max_free, the longest free record in its
 * subtree) and the reservation tree (reservations in address order, no augment), both AVL trees
 * of avl_tree.c. Keeping reservations out of the free tree is what makes the common steps cheap:
 * a carve or a merge changes one free record's length (a maximum climb that stops at the first
 * unchanged value) and links or unlinks one reservation next to a known node; the free tree's
 * shape moves only when a free record appears or disappears.
 *
 * Search ("lowest maximal free run >= n pages at or after from", the placement policy is vmm.c's):
 * one descent of the free tree towards `from`, skipping subtrees whose longest free record is
 * < n, then one climb back through the nodes it went left at (in address order) and one descent
 * into the first right subtree that holds a fit. It never enters a subtree that cannot fit.
 * Lookup of an address: one descent of the reservation tree to the last reservation starting at
 * or before it; the address is in it, or in the free record right after it (or in the region's
 * first record when no reservation starts that low).
 *
 * Invariants: the trees' own (avl_tree.c: order, parent links, heights, balance) and max_free
 * as above, on every free record; vmm_list_check.c recounts them against the address list.
 * Bound: every function here counts the nodes it visits in backend_work. Call a descent or climb
 * of one tree a path: it visits at most H + 1 nodes (H = avl_height_bound of the records). Search
 * (first_fit) is 3 paths; a lookup (covering, reservation_at_or_before) 1; a maximum climb 1; a
 * reservation link 2 (avl_tree.c's insert next to a known node: slot descent and height climb);
 * a free link 4 (the descent to its place, then the insert's slot descent, height and maximum
 * climbs); avl_remove 4. vmm_backend_list.c adds these up per operation.
 */
#include "vmm_list.h"

/* The free tree's augment: every node in it is free. */
static bool augment_max_free(struct avl_node *n)
{
	struct range_record *r = record_of(n);
	uint64_t now = MAX(pages_of(r), MAX(max_free(n->left), max_free(n->right)));
	bool changed = now != r->max_free;
	r->max_free = now;
	return changed;
}

static void copy_max_free(struct avl_node *to, const struct avl_node *from)
{
	record_of(to)->max_free = record_of((struct avl_node *)from)->max_free;
}

/* A region's trees at set-up: its one free record, the whole region; no reservation. */
void vmm_list_trees_init(struct region_records *rr, struct range_record *whole_region)
{
	rr->free_tree.augment = augment_max_free;
	rr->free_tree.augment_copy = copy_max_free;
	avl_init_root(&rr->free_tree, &whole_region->node);
}

/*
 * After free record r's length changed: its maximum and those above it, up to the first that
 * comes out unchanged (one path). Written out rather than through avl_retrace: this is the step
 * every carve and merge takes.
 */
void vmm_list_climb_max_free(struct vmm_context *ctx, struct range_record *r)
{
	uint64_t visited = 0;
	for (struct avl_node *n = &r->node; n; n = n->parent) {
		visited++;
		struct range_record *x = record_of(n);
		uint64_t now = MAX(pages_of(x), MAX(max_free(n->left), max_free(n->right)));
		if (now == x->max_free)
			break;
		x->max_free = now;
	}
	ctx->backend_work += visited;
}

/* Links reservation r (already in the address list) into the reservation tree at its place. */
void vmm_list_reservation_link(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
{
	/* The reservations next to r in address order: at most one free record lies between. */
	struct range_record *before = r->prev && is_free(r->prev) ? r->prev->prev : r->prev;
	struct range_record *after = r->next && is_free(r->next) ? r->next->next : r->next;
	if (before)
		avl_insert_after(&rr->reservations, &before->node, &r->node, &ctx->backend_work);
	else if (after)
		avl_insert_before(&rr->reservations, &after->node, &r->node, &ctx->backend_work);
	else
		avl_init_root(&rr->reservations, &r->node);
}

/* Links free record r (already in the address list) into the free tree at its place. */
void vmm_list_free_link(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
{
	struct avl_node *n = rr->free_tree.root, *before = NULL, *after = NULL;
	uint64_t visited = 0;
	while (n) {
		visited++;
		if (record_of(n)->start < r->start) {
			before = n;
			n = n->right;
		} else {
			after = n;
			n = n->left;
		}
	}
	ctx->backend_work += visited;
	if (before)
		avl_insert_after(&rr->free_tree, before, &r->node, &ctx->backend_work);
	else if (after)
		avl_insert_before(&rr->free_tree, after, &r->node, &ctx->backend_work);
	else
		avl_init_root(&rr->free_tree, &r->node);
}

/* The last reservation starting at or before addr, or NULL (one descent). */
struct range_record *vmm_list_reservation_at_or_before(struct vmm_context *ctx, struct region_records *rr,
						       uint64_t addr)
{
	struct avl_node *n = rr->reservations.root, *best = NULL;
	uint64_t visited = 0;
	while (n) {
		visited++;
		uint64_t start = record_of(n)->start;
		if (start == addr) {
			best = n;
			break;
		}
		if (start < addr) {
			best = n;
			n = n->right;
		} else {
			n = n->left;
		}
	}
	ctx->backend_work += visited;
	return record_of(best);
}

/* The record covering addr (inside the region): see the header's lookup. */
struct range_record *vmm_list_covering(struct vmm_context *ctx, struct region_records *rr, uint64_t addr)
{
	struct range_record *r = vmm_list_reservation_at_or_before(ctx, rr, addr);
	if (!r)
		return rr->first;
	return addr < record_end(r) ? r : r->next;
}

/* Lowest free record in subtree n with at least min_pages pages; max_free(n) >= min_pages. */
static struct avl_node *lowest_fit(struct vmm_context *ctx, struct avl_node *n, uint64_t min_pages)
{
	uint64_t visited = 1;
	for (;; visited++) {
		if (max_free(n->left) >= min_pages)
			n = n->left;
		else if (pages_of(record_of(n)) >= min_pages)
			break;
		else
			n = n->right;
	}
	ctx->backend_work += visited;
	return n;
}

/*
 * Lowest free record with start >= from and at least min_pages pages. The candidates, in address
 * order, are the nodes the descent towards `from` went left at (deepest first) each followed by
 * its right subtree; climbing the parent links from the deepest one visits them in that order.
 */
static struct range_record *first_fit(struct vmm_context *ctx, struct avl_node *root, uint64_t from,
				      uint64_t min_pages)
{
	struct avl_node *n = root, *went_left = NULL;
	uint64_t visited = 0;
	while (n && max_free(n) >= min_pages) {
		visited++;
		if (record_of(n)->start >= from) {
			went_left = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	for (n = went_left; n; n = n->parent) {
		visited++;
		if (pages_of(record_of(n)) >= min_pages)
			break;
		if (max_free(n->right) >= min_pages) {
			n = lowest_fit(ctx, n->right, min_pages);
			break;
		}
		while (n->parent && n == n->parent->right)
			n = n->parent;
	}
	ctx->backend_work += visited;
	return record_of(n);
}

/* The search as the backend's find_free_run (here, so that first_fit is this file's own). */
bool vmm_list_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			    uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out)
{
	(void)enough_pages; /* records are whole runs already */
	struct range_record *r = first_fit(ctx, records_of(ctx, region)->free_tree.root, from, min_pages);
	state_of(ctx)->recent = r;
	if (!r)
		return false;
	*out = (struct vmm_free_run){ r->start, pages_of(r) };
	return true;
}
