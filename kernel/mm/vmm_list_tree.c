/*
 * The list backend's two trees per region (records and state: vmm_list.h): the free tree (free
 * records in address order, each node augmented with max_free, the longest free record in its
 * subtree) and the reservation tree (reservations in address order, no augment), both AVL trees
 * of avl_tree.c; records in the pending set (vmm_list_pending.h) and the top run are in neither.
 * Keeping reservations out of the free tree is what makes the common steps cheap: a carve or a
 * merge changes one free record's length (a maximum climb that stops at the first unchanged
 * value, or none: the deferred shrink below); the free tree's shape moves only when a free
 * record is filed or goes.
 *
 * Search ("lowest maximal free run >= n pages at or after from", the placement policy is vmm.c's):
 * from the region's base, the tree's first record (rr->lowest, kept as records are filed and
 * taken out) when it fits, else one descent to the lowest fit; from elsewhere, one descent of
 * the free tree towards `from`, skipping subtrees whose longest free record is
 * < n, then one climb back through the nodes it went left at (in address order) and one descent
 * into the first right subtree that holds a fit. It never enters a subtree that cannot fit. The
 * pending free records are compared with its answer after, and the top run (above every other
 * record) is the answer only when nothing else fits (vmm_list_find_free_run).
 * Lookup of an address: one descent of the reservation tree to the last filed reservation
 * starting at or before it (or the region's first record), then along the address list to the
 * record holding the address: the records passed are free or pending (vmm_list_covering).
 *
 * Deferred shrink: when a filed free record shrinks (a carve), its maximum climb waits: the record
 * becomes the region's stale record (rr->stale) and the tree goes on counting it at its old
 * length (rr->stale_pages, longer than it now is). At most one record is stale: every other
 * change of the free tree (a climb, a filing, a removal) first climbs it ("settles" it), and so
 * does a search for more pages than it now has. Searches stay exact: for a request of n pages
 * at most its present length, "this subtree holds a record of n pages or more" has the same
 * answer whichever of its two lengths it counts at (both are >= n), and a record is taken on its
 * present length. A growth back to exactly the length the tree counts (the release that undoes
 * the carve) clears the mark with no climb at all.
 *
 * Invariants: the trees' own (avl_tree.c: order, parent links, heights, balance) and max_free
 * as above, on every free record in the tree, the stale record counted at rr->stale_pages;
 * vmm_list_check.c recounts them against the address list.
 * Bound: every function here counts the nodes it visits in backend_work. Call a descent or climb
 * of one tree a path: it visits at most H + 1 nodes (H = avl_height_bound of the records). Search
 * (first_fit) is 3 paths and a settle; a lookup (covering) 1 and at most 2 LIST_PENDING + 1 records after; a
 * maximum climb 1; filing a record in either tree 4 (the descent to its place, then avl_tree.c's
 * insert: slot descent, height climb and, in the free tree, the maximum climb); avl_remove 4,
 * and for the free tree's first record its successor (avl_next) 1 more; a settle 1.
 * vmm_backend_list.c adds these up per operation.
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

/* A region's trees at set-up: empty, its one free record (the whole region) the top run. */
void vmm_list_trees_init(struct region_records *rr, struct range_record *whole_region)
{
	rr->free_tree.augment = augment_max_free;
	rr->free_tree.augment_copy = copy_max_free;
	vmm_list_make_top(rr, whole_region);
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

void vmm_list_settle_stale(struct vmm_context *ctx, struct region_records *rr)
{
	struct range_record *r = rr->stale;
	rr->stale = NULL;
	vmm_list_climb_max_free(ctx, r);
}

/* Links r (in the address list, in no tree) into `tree` at its place by start address. */
static void link_by_start(struct vmm_context *ctx, struct avl_tree *tree, struct range_record *r)
{
	struct avl_node *n = tree->root, *before = NULL, *after = NULL;
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
		avl_insert_after(tree, before, &r->node, &ctx->backend_work);
	else if (after)
		avl_insert_before(tree, after, &r->node, &ctx->backend_work);
	else
		avl_init_root(tree, &r->node);
}

/*
 * Files reservation r in the reservation tree. Its neighbours in the address list may be pending
 * (in no tree), so the place comes from a descent, not from them.
 */
void vmm_list_reservation_link(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
{
	link_by_start(ctx, &rr->reservations, r);
}

/* Files free record r in the free tree. */
void vmm_list_free_link(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
{
	vmm_list_settle(ctx, rr);
	link_by_start(ctx, &rr->free_tree, r);
	if (!rr->lowest || r->start < rr->lowest->start)
		rr->lowest = r;
}

/* The last reservation in the tree starting at or before addr, or NULL (one descent). */
static struct range_record *filed_reservation_at_or_before(struct vmm_context *ctx, struct region_records *rr,
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

/*
 * The record covering addr (inside the region): from the last filed reservation at or before it
 * (or the region's first record), along the address list. Every record the walk passes starts at
 * or before addr and is not a filed reservation, so it is free or pending: at most LIST_PENDING
 * pending ones and, no two free records being adjacent, LIST_PENDING + 1 free ones.
 */
struct range_record *vmm_list_covering(struct vmm_context *ctx, struct region_records *rr, uint64_t addr)
{
	struct range_record *r = filed_reservation_at_or_before(ctx, rr, addr);
	/* Records read: each one the walk tests, but for the descent's own, counted by it. */
	uint64_t read = r ? 0 : 1;
	for (r = r ? r : rr->first; addr >= record_end(r); r = r->next)
		read++;
	ctx->backend_work += read;
	return r;
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
			n = vmm_list_lowest_fit(ctx, n->right, min_pages);
			break;
		}
		while (n->parent && n == n->parent->right)
			n = n->parent;
	}
	ctx->backend_work += visited;
	return record_of(n);
}

/*
 * The lowest free record >= min_pages starting at or after from (the region's base or above), or
 * NULL: the free tree's answer, compared with the pending free records, else the top run.
 */
struct range_record *vmm_list_lowest_free(struct vmm_context *ctx, struct region_records *rr,
					  const struct vmm_region *region, uint64_t from, uint64_t min_pages)
{
	/* The tree is exact for requests the stale record still fits (see the header). */
	if (rr->stale && pages_of(rr->stale) < min_pages)
		vmm_list_settle_stale(ctx, rr);
	struct avl_node *root = rr->free_tree.root;
	struct range_record *r;
	if (from <= region->base && rr->lowest && pages_of(rr->lowest) >= min_pages)
		r = rr->lowest; /* the lowest free record of the tree fits */
	else if (from <= region->base) /* every record starts at or after from: one descent */
		r = root && max_free(root) >= min_pages ? record_of(vmm_list_lowest_fit(ctx, root, min_pages)) : NULL;
	else
		r = first_fit(ctx, root, from, min_pages);
	r = vmm_list_pending_fit(ctx, rr, from, min_pages, r);
	/* The top run lies above every other record: it is the fit only when nothing lower is. */
	if (!r && rr->top && rr->top->start >= from && pages_of(rr->top) >= min_pages)
		r = rr->top;
	return r;
}

/* The search as the backend's find_free_run (here, so that first_fit is this file's own). */
bool vmm_list_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			    uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out)
{
	(void)enough_pages; /* records are whole runs already */
	struct range_record *r = vmm_list_lowest_free(ctx, records_of(ctx, region), region, from, min_pages);
	state_of(ctx)->recent = r;
	if (!r)
		return false;
	*out = (struct vmm_free_run){ r->start, pages_of(r) };
	return true;
}
