/*
 * VMM bookkeeping as an ordered list of ranges per region: every page of a region belongs to
 * exactly one record, either a maximal free run or one reservation. The list is indexed by an AVL
 * tree in address order (avl_tree.c), each node augmented with the longest free record in its
 * subtree.
 *
 * Search ("lowest maximal free run >= n pages at or after from", the placement policy is vmm.c's):
 * one descent towards `from`, skipping subtrees whose longest free record is < n, then one climb
 * back through the nodes it went left at (in address order) and one descent into the first right
 * subtree that holds a fit. It never enters a subtree that cannot fit, whatever the layout.
 *
 * Bound, proved: an AVL tree of r nodes has height H(r) <= 1.44 log2(r + 2) (its minimal node
 * counts N(h) = N(h-1) + N(h-2) + 1 grow like Fibonacci numbers; avl_height_bound() computes the
 * exact H from them). backend_work counts nodes visited by descents, climbs and neighbour steps;
 * each descent, climb or neighbour step visits at most H + 1 nodes. So, with H for the records in
 * use plus the two an operation may add:
 *   search   one descent, one climb, one descent             <= 3H
 *   mark     one lookup (none when marking the run just found), one maximum climb, at most two
 *            inserts next to a known record (descend, height climb, maximum climb each)  <= 8H
 *   release  one lookup, two neighbour steps, one maximum climb, at most two removes (successor
 *            descent, height climb, maximum climb, climb to the root each)               <= 12H + 2
 *   resize   one lookup, one neighbour step, one remove or insert                        <= 6H + 1
 * so any reserve (search + mark) or release costs at most 12H + 2 (list_work_bound), whatever the
 * number of mapped pages or the layout: O(log r). Heights and maxima climb separately, each
 * stopping at the first unchanged value, so typical operations stay well below the bound (a
 * reserve+release pair in the steady state: about four root-to-leaf paths). No recursion outside
 * the self-check.
 *
 * Invariants:
 *   - The records of a region tile it: sorted, adjacent, no gaps, no overlap.
 *   - No two free records are adjacent (release merges), so a free record is a maximal free run.
 *   - record->max_free = longest free record in its subtree (the tree's own invariants: avl_tree.c).
 *   - state->found is NULL or the free record find_free_run last returned, unchanged since:
 *     every call that changes records clears it (so it never points at a freed record).
 *   - state->spare is NULL or a record in no tree, kept for a shrink: a growth that swallows the
 *     whole free record after a reservation keeps that record here, so shrinking back (undoing the
 *     growth, as brk does when mapping fails) needs no memory and cannot fail.
 * Records are carved from pages of the page source (owner MM_OWNER_MM_META), 4 KiB at a time; a
 * page goes back as soon as none of its records is in use.
 */
#include "vmm.h"
#include "avl_tree.h"

#define RECORD_PAGES_BITS 48
#define RECORD_PAGES_MASK (((uint64_t)1 << RECORD_PAGES_BITS) - 1)
#define RECORD_STATE_BIT ((uint64_t)1 << RECORD_PAGES_BITS)
#define RECORD_ACCESS_SHIFT (RECORD_PAGES_BITS + 1)

/*
 * 48 bytes: the length (48 bits: a region has fewer than 2^36 pages), the state (1 bit) and a
 * reservation's access (4 bits: vmm_access_pack, 0 for a free record) ride in the tree node's
 * payload bits.
 */
struct range_record {
	uint64_t start; /* address */
	struct avl_node node;
	uint64_t max_free; /* pages */
};
/* The record's size, stated where the analyzer's verdict reads it (what a new field would cost). */
#define LIST_RECORD_BYTES 48
_Static_assert(sizeof(struct range_record) == LIST_RECORD_BYTES, "LIST_RECORD_BYTES is stale");

/* Header at the start of each page of records. */
struct record_page {
	struct list_node link;           /* in the partial or the full list */
	struct range_record *free_slots;  /* linked through node.right */
	unsigned in_use;
};

#define RECORDS_OFFSET ALIGN_UP(sizeof(struct record_page), 16)
#define RECORDS_PER_PAGE ((PAGE_SIZE - RECORDS_OFFSET) / sizeof(struct range_record))

struct list_state {
	struct avl_tree trees[VMM_MAX_REGIONS];
	struct range_record *found; /* see the invariants */
	struct range_record *spare; /* see the invariants */
	struct list_node partial; /* record pages with a free slot */
	struct list_node full;
	uint64_t record_pages;
	uint64_t records_in_use;
};

static struct list_state *state_of(const struct vmm_context *ctx)
{
	return ctx->backend_private;
}

static struct range_record *record_of(struct avl_node *n)
{
	return n ? container_of(n, struct range_record, node) : NULL;
}

static uint64_t pages_of(const struct range_record *r) { return r->node.payload & RECORD_PAGES_MASK; }
static bool is_free(const struct range_record *r) { return !(r->node.payload & RECORD_STATE_BIT); }
static unsigned access_of(const struct range_record *r) { return vmm_access_unpack((unsigned)(r->node.payload >> RECORD_ACCESS_SHIFT) & 0xFu); }
static uint64_t record_end(const struct range_record *r) { return r->start + pages_of(r) * PAGE_SIZE; }
static uint64_t max_free(const struct avl_node *n) { return n ? record_of((struct avl_node *)n)->max_free : 0; }

static void set_pages(struct range_record *r, uint64_t pages)
{
	r->node.payload = (r->node.payload & ~RECORD_PAGES_MASK) | pages;
}

static uint64_t record_tag(enum vmm_range_state state, unsigned access)
{
	return state == VMM_RANGE_RESERVED ?
		       RECORD_STATE_BIT | (uint64_t)vmm_access_pack(access) << RECORD_ACCESS_SHIFT :
		       0;
}

/* A free record carries no access; a reservation its own. */
static void set_state(struct range_record *r, enum vmm_range_state state, unsigned access)
{
	r->node.payload = pages_of(r) | record_tag(state, access);
}

static bool augment_max_free(struct avl_node *n)
{
	struct range_record *r = record_of(n);
	uint64_t own = is_free(r) ? pages_of(r) : 0;
	uint64_t now = MAX(own, MAX(max_free(n->left), max_free(n->right)));
	bool changed = now != r->max_free;
	r->max_free = now;
	return changed;
}

static void copy_max_free(struct avl_node *to, const struct avl_node *from)
{
	record_of(to)->max_free = record_of((struct avl_node *)from)->max_free;
}

static struct avl_tree *tree_of(struct vmm_context *ctx, const struct vmm_region *region)
{
	return &state_of(ctx)->trees[region - ctx->regions];
}

/* --- record pool ---------------------------------------------------------------------------- */

/* Moves a record page (on one of the two lists) to the front of `list`. */
static void page_move_to(struct list_node *list, struct record_page *page)
{
	list_remove(&page->link);
	list_push_front(list, &page->link);
}

static struct record_page *new_record_page(struct vmm_context *ctx)
{
	paddr_t pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
	if (pa == PAGE_SOURCE_FAILED)
		return NULL;
	struct record_page *page = phys_to_virt(pa);
	*page = (struct record_page){ 0 };
	struct range_record *records = (struct range_record *)((char *)page + RECORDS_OFFSET);
	for (unsigned i = RECORDS_PER_PAGE; i-- > 0;) {
		records[i].node.right = page->free_slots ? &page->free_slots->node : NULL;
		page->free_slots = &records[i];
	}
	state_of(ctx)->record_pages++;
	return page;
}

static struct range_record *record_alloc(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	if (list_is_empty(&ls->partial)) {
		struct record_page *page = new_record_page(ctx);
		if (!page)
			return NULL;
		list_push_front(&ls->partial, &page->link);
	}
	struct record_page *page = container_of(list_first(&ls->partial), struct record_page, link);
	struct range_record *r = page->free_slots;
	page->free_slots = record_of(r->node.right);
	page->in_use++;
	ls->records_in_use++;
	if (!page->free_slots)
		page_move_to(&ls->full, page);
	return r;
}

static void record_free(struct vmm_context *ctx, struct range_record *r)
{
	struct list_state *ls = state_of(ctx);
	struct record_page *page = (struct record_page *)ALIGN_DOWN((uintptr_t)r, (uintptr_t)PAGE_SIZE);
	MM_ASSERT(page->in_use > 0, "record_free: page has no record in use");
	if (!page->free_slots)
		page_move_to(&ls->partial, page);
	r->node.right = page->free_slots ? &page->free_slots->node : NULL;
	page->free_slots = r;
	page->in_use--;
	ls->records_in_use--;
	if (page->in_use == 0) {
		list_remove(&page->link);
		ls->record_pages--;
		page_source_free(ctx->source, virt_to_phys(page), 1);
	}
}

/* --- the searches: descents that use the subtree maxima ------------------------------------- */

static struct range_record *containing(struct vmm_context *ctx, struct avl_node *n, uint64_t addr)
{
	uint64_t visited = 0;
	while (n) {
		visited++;
		struct range_record *r = record_of(n);
		if (addr < r->start)
			n = n->left;
		else if (addr >= record_end(r))
			n = n->right;
		else
			break;
	}
	ctx->backend_work += visited;
	return record_of(n);
}

static bool fits(const struct avl_node *n, uint64_t min_pages)
{
	const struct range_record *r = record_of((struct avl_node *)n);
	return is_free(r) && pages_of(r) >= min_pages;
}

/* Lowest free record in subtree n with at least min_pages pages; max_free(n) >= min_pages. */
static struct avl_node *lowest_fit(struct vmm_context *ctx, struct avl_node *n, uint64_t min_pages)
{
	uint64_t visited = 1;
	for (;; visited++) {
		if (max_free(n->left) >= min_pages)
			n = n->left;
		else if (fits(n, min_pages))
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
		if (fits(n, min_pages))
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

/* --- backend operations ----------------------------------------------------------------------- */

static void list_destroy(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	struct list_node *lists[] = { &ls->partial, &ls->full }, *node, *next;
	for (unsigned l = 0; l < ARRAY_SIZE(lists); l++)
		list_for_each_safe(node, next, lists[l])
			page_source_free(ctx->source, virt_to_phys(container_of(node, struct record_page, link)), 1);
	page_source_free(ctx->source, virt_to_phys(ls), 1);
	ctx->backend_private = NULL;
}

static struct range_record *new_record(struct range_record *r, uint64_t start, uint64_t pages,
				       enum vmm_range_state state, unsigned access)
{
	*r = (struct range_record){ .start = start };
	r->node.payload = pages | record_tag(state, access);
	return r;
}

static enum vm_status list_backend_init(struct vmm_context *ctx)
{
	STATIC_ASSERT(sizeof(struct list_state) <= PAGE_SIZE, "list state fits a page");
	paddr_t pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
	if (pa == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	struct list_state *ls = phys_to_virt(pa);
	*ls = (struct list_state){ 0 };
	list_init(&ls->partial);
	list_init(&ls->full);
	ctx->backend_private = ls;
	for (unsigned i = 0; i < ctx->region_count; i++) {
		MM_ASSERT(ctx->regions[i].pages >> RECORD_PAGES_BITS == 0,
			  "list_init: region %s too large for a record", ctx->regions[i].name);
		struct range_record *r = record_alloc(ctx);
		if (!r) {
			list_destroy(ctx);
			return VM_ERR_NO_MEMORY;
		}
		ls->trees[i].augment = augment_max_free;
		ls->trees[i].augment_copy = copy_max_free;
		avl_init_root(&ls->trees[i], &new_record(r, ctx->regions[i].base, ctx->regions[i].pages,
							 VMM_RANGE_FREE, 0)->node);
	}
	return VM_OK;
}

static bool list_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			       uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out)
{
	(void)enough_pages; /* records are whole runs already */
	struct range_record *r = first_fit(ctx, tree_of(ctx, region)->root, from, min_pages);
	state_of(ctx)->found = r;
	if (!r)
		return false;
	*out = (struct vmm_free_run){ r->start, pages_of(r) };
	return true;
}

/*
 * The record covering addr: usually the run find_free_run just returned (vmm_reserve marks right
 * after placing), else a lookup. Clears state->found, as every change must.
 */
static struct range_record *record_at(struct vmm_context *ctx, struct avl_tree *tree, uint64_t addr)
{
	struct range_record *found = state_of(ctx)->found;
	state_of(ctx)->found = NULL;
	if (found && addr >= found->start && addr < record_end(found))
		return found;
	return containing(ctx, tree->root, addr);
}

/* After r's own length or state changed: its maximum, and those above it. */
static void retrace(struct vmm_context *ctx, struct avl_tree *tree, struct range_record *r)
{
	avl_retrace(tree, &r->node, &ctx->backend_work);
}

static enum vm_status list_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
					 uint64_t addr, uint64_t pages, unsigned access)
{
	struct avl_tree *tree = tree_of(ctx, region);
	struct range_record *f = record_at(ctx, tree, addr);
	uint64_t end = addr + pages * PAGE_SIZE;
	MM_ASSERT(f && is_free(f) && end <= record_end(f), "list_mark_reserved: %llx+%llu not free",
		  (unsigned long long)addr, (unsigned long long)pages);
	bool need_before = addr > f->start, need_after = end < record_end(f);
	struct range_record *spare[2] = { NULL, NULL };
	for (unsigned i = 0; i < (unsigned)need_before + (unsigned)need_after; i++) {
		spare[i] = record_alloc(ctx);
		if (!spare[i]) {
			if (i == 1)
				record_free(ctx, spare[0]);
			return VM_ERR_NO_MEMORY;
		}
	}
	/*
	 * f stays the free record on the side that keeps pages (its start or length changes in
	 * place, and its new maximum goes up first, so the tree is consistent before any link
	 * changes); the reservation is linked next to it, a reserved leaf that moves no maximum.
	 */
	uint64_t f_end = record_end(f);
	if (!need_before && !need_after) {
		set_state(f, VMM_RANGE_RESERVED, access);
		retrace(ctx, tree, f);
	} else if (!need_before) {
		f->start = end;
		set_pages(f, pages_of(f) - pages);
		retrace(ctx, tree, f);
		avl_insert_before(tree, &f->node, &new_record(spare[0], addr, pages, VMM_RANGE_RESERVED, access)->node,
				  &ctx->backend_work);
	} else {
		set_pages(f, (addr - f->start) / PAGE_SIZE);
		retrace(ctx, tree, f);
		struct range_record *r = new_record(spare[0], addr, pages, VMM_RANGE_RESERVED, access);
		avl_insert_after(tree, &f->node, &r->node, &ctx->backend_work);
		if (need_after)
			avl_insert_after(tree, &r->node,
					 &new_record(spare[1], end, (f_end - end) / PAGE_SIZE, VMM_RANGE_FREE, 0)->node,
					 &ctx->backend_work);
	}
	return VM_OK;
}

/* Drops a record whose pages a neighbour has taken over. */
static void absorb(struct vmm_context *ctx, struct avl_tree *tree, struct range_record *gone)
{
	avl_remove(tree, &gone->node, &ctx->backend_work);
	record_free(ctx, gone);
}

static struct range_record *next_record(struct vmm_context *ctx, struct range_record *r)
{
	return record_of(avl_next(&r->node, &ctx->backend_work));
}

static enum vm_status list_release(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, uint64_t pages)
{
	struct avl_tree *tree = tree_of(ctx, region);
	struct range_record *n = record_at(ctx, tree, addr);
	MM_ASSERT(n != NULL, "list_release: %llx not covered by its region", (unsigned long long)addr);
	if (is_free(n))
		return VM_ERR_NOT_RESERVED;
	if (n->start != addr)
		return VM_ERR_NOT_RESERVATION_START;
	if (pages_of(n) != pages)
		return VM_ERR_WRONG_LENGTH;
	/* A free neighbour takes the pages over (so the removed node is the reservation's). */
	struct range_record *prev = record_of(avl_prev(&n->node, &ctx->backend_work));
	struct range_record *next = next_record(ctx, n);
	bool prev_free = prev && is_free(prev);
	bool next_free = next && is_free(next);
	if (prev_free) {
		set_pages(prev, pages_of(prev) + pages_of(n) + (next_free ? pages_of(next) : 0));
		retrace(ctx, tree, prev);
		if (next_free)
			absorb(ctx, tree, next);
		absorb(ctx, tree, n);
	} else if (next_free) {
		next->start = n->start;
		set_pages(next, pages_of(next) + pages_of(n));
		retrace(ctx, tree, next);
		absorb(ctx, tree, n);
	} else {
		set_state(n, VMM_RANGE_FREE, 0);
		retrace(ctx, tree, n);
	}
	return VM_OK;
}

static enum vm_status list_resize(struct vmm_context *ctx, const struct vmm_region *region,
				  uint64_t start, uint64_t old_pages, uint64_t new_pages)
{
	struct avl_tree *tree = tree_of(ctx, region);
	struct range_record *n = record_at(ctx, tree, start);
	MM_ASSERT(n && n->start == start && pages_of(n) == old_pages && !is_free(n),
		  "list_resize: no reservation %llx+%llu", (unsigned long long)start,
		  (unsigned long long)old_pages);
	struct range_record *next = next_record(ctx, n);
	bool next_free = next && is_free(next);
	if (new_pages > old_pages) {
		uint64_t more = new_pages - old_pages;
		MM_ASSERT(next_free && pages_of(next) >= more, "list_resize: no room after %llx",
			  (unsigned long long)start);
		set_pages(n, new_pages); /* reserved: no maximum moves */
		if (pages_of(next) == more) {
			avl_remove(tree, &next->node, &ctx->backend_work);
			if (state_of(ctx)->spare)
				record_free(ctx, next);
			else
				state_of(ctx)->spare = next;
		} else {
			next->start += more * PAGE_SIZE;
			set_pages(next, pages_of(next) - more);
			retrace(ctx, tree, next);
		}
		return VM_OK;
	}
	uint64_t less = old_pages - new_pages;
	if (next_free) {
		next->start -= less * PAGE_SIZE;
		set_pages(next, pages_of(next) + less);
		retrace(ctx, tree, next);
	} else {
		struct range_record *tail = state_of(ctx)->spare;
		state_of(ctx)->spare = NULL;
		if (!tail)
			tail = record_alloc(ctx);
		if (!tail)
			return VM_ERR_NO_MEMORY;
		avl_insert_after(tree, &n->node,
				 &new_record(tail, start + new_pages * PAGE_SIZE, less, VMM_RANGE_FREE, 0)->node,
				 &ctx->backend_work);
	}
	set_pages(n, new_pages);
	return VM_OK;
}

static void list_query(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
		       uint64_t lo, uint64_t hi, struct vmm_extent *out)
{
	struct range_record *n = containing(ctx, tree_of(ctx, region)->root, addr);
	MM_ASSERT(n != NULL, "list_query: %llx not covered by its region", (unsigned long long)addr);
	uint64_t start = MAX(n->start, lo), end = MIN(n->start + pages_of(n) * PAGE_SIZE, hi);
	*out = (struct vmm_extent){ is_free(n) ? VMM_RANGE_FREE : VMM_RANGE_RESERVED, start,
				    (end - start) / PAGE_SIZE, access_of(n) };
}

static enum vmm_range_state list_lookup(struct vmm_context *ctx, const struct vmm_region *region,
				       uint64_t addr, unsigned *access)
{
	struct range_record *n = containing(ctx, tree_of(ctx, region)->root, addr);
	MM_ASSERT(n != NULL, "list_lookup: %llx not covered by its region", (unsigned long long)addr);
	*access = access_of(n);
	return is_free(n) ? VMM_RANGE_FREE : VMM_RANGE_RESERVED;
}

/* A reservation split at addr: the record is cut in two with the same access (one new record). */
static enum vm_status list_split(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr)
{
	struct avl_tree *tree = tree_of(ctx, region);
	struct range_record *n = record_at(ctx, tree, addr);
	MM_ASSERT(n != NULL, "list_split: %llx not covered by its region", (unsigned long long)addr);
	if (is_free(n))
		return VM_ERR_NOT_RESERVED;
	if (n->start == addr)
		return VM_OK;
	struct range_record *tail = record_alloc(ctx);
	if (!tail)
		return VM_ERR_NO_MEMORY;
	uint64_t end = record_end(n);
	set_pages(n, (addr - n->start) / PAGE_SIZE); /* reserved: no maximum moves */
	avl_insert_after(tree, &n->node,
			 &new_record(tail, addr, (end - addr) / PAGE_SIZE, VMM_RANGE_RESERVED, access_of(n))->node,
			 &ctx->backend_work);
	return VM_OK;
}

static void list_set_access(struct vmm_context *ctx, const struct vmm_region *region, uint64_t start,
			    uint64_t pages, unsigned access)
{
	struct range_record *n = record_at(ctx, tree_of(ctx, region), start);
	MM_ASSERT(n && !is_free(n) && n->start == start && pages_of(n) == pages,
		  "list_set_access: no reservation %llx+%llu", (unsigned long long)start,
		  (unsigned long long)pages);
	set_state(n, VMM_RANGE_RESERVED, access);
}

/* --- self-check ---------------------------------------------------------------------------- */

struct tree_check {
	unsigned bad;
	uint64_t next_start; /* where the next record in address order must start */
	bool prev_free;
	uint64_t records;
};

static void check_fail(struct tree_check *c, const struct range_record *r, const char *what)
{
	mm_log("list self-check: record %llx+%llu: %s\n", (unsigned long long)r->start,
	       (unsigned long long)pages_of(r), what);
	c->bad++;
}

/* Visits the subtree in address order; returns its height, recomputed. */
static unsigned check_subtree(struct tree_check *c, struct avl_node *n, const struct avl_node *parent,
			      uint64_t *longest_free)
{
	*longest_free = 0;
	if (!n)
		return 0;
	struct range_record *r = record_of(n);
	if (n->parent != parent)
		check_fail(c, r, "parent link");
	uint64_t left_free, right_free;
	unsigned hl = check_subtree(c, n->left, n, &left_free);
	c->records++;
	if (r->start != c->next_start)
		check_fail(c, r, "does not start where the previous record ends");
	if (pages_of(r) == 0 || (is_free(r) && c->prev_free))
		check_fail(c, r, "empty, or free next to a free record");
	c->next_start = record_end(r);
	c->prev_free = is_free(r);
	unsigned hr = check_subtree(c, n->right, n, &right_free);
	*longest_free = MAX(is_free(r) ? pages_of(r) : 0, MAX(left_free, right_free));
	if (r->max_free != *longest_free)
		check_fail(c, r, "max_free differs from the subtree's longest free record");
	if (n->height != 1 + MAX(hl, hr) || hl > hr + 1 || hr > hl + 1)
		check_fail(c, r, "height or balance");
	return 1 + MAX(hl, hr);
}

/* Each region is tiled by records whose tree links, heights and maxima equal a recount. */
static unsigned list_self_check(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	struct tree_check c = { 0 };
	for (unsigned i = 0; i < ctx->region_count; i++) {
		const struct vmm_region *region = &ctx->regions[i];
		c.next_start = region->base;
		c.prev_free = false;
		uint64_t longest;
		check_subtree(&c, ls->trees[i].root, NULL, &longest);
		if (c.next_start != region->base + region->pages * PAGE_SIZE) {
			mm_log("list self-check: region %s not tiled to its end\n", region->name);
			c.bad++;
		}
	}
	c.records += ls->spare != NULL;
	if (c.records != ls->records_in_use) {
		mm_log("list self-check: %llu records in trees (and spare), %llu in use\n",
		       (unsigned long long)c.records, (unsigned long long)ls->records_in_use);
		c.bad++;
	}
	return c.bad;
}

/* 12H + 2 for the records in use plus the two an operation may add (see the header). */
static uint64_t list_work_bound(const struct vmm_context *ctx, uint64_t pages)
{
	(void)pages;
	return 12 * avl_height_bound(state_of(ctx)->records_in_use + 2) + 2;
}

/* The state page plus the pages records are carved from (page tables not included). */
static uint64_t list_bookkeeping_bytes(const struct vmm_context *ctx)
{
	return (state_of(ctx)->record_pages + 1) * PAGE_SIZE;
}

const struct vmm_backend_ops vmm_backend_list = {
	.name = "list",
	.init = list_backend_init,
	.destroy = list_destroy,
	.find_free_run = list_find_free_run,
	.mark_reserved = list_mark_reserved,
	.release = list_release,
	.resize = list_resize,
	.query = list_query,
	.lookup = list_lookup,
	.split = list_split,
	.set_access = list_set_access,
	.work_bound = list_work_bound,
	.bookkeeping_bytes = list_bookkeeping_bytes,
	.self_check = list_self_check,
};
