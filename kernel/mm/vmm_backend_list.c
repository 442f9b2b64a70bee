/*
 * VMM bookkeeping as an ordered list of ranges per region: every page of a region belongs to
 * exactly one record, either a maximal free run or one reservation. The list is indexed by an AVL
 * tree keyed by start address, with parent links, each node augmented with the longest free
 * record in its subtree.
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
 *            descent, height climb, two maximum climbs each)                             <= 12H + 2
 *   resize   one lookup, one neighbour step, one remove or insert                        <= 6H + 1
 * so any reserve (search + mark) or release costs at most 12H + 2 (list_work_bound), whatever the
 * number of mapped pages or the layout: O(log r). Heights (rebalance_up) stop at the first
 * unchanged height, maxima (retrace_max) at the first unchanged maximum, so typical operations
 * stay well below the bound (a reserve+release pair in the steady state: about four
 * root-to-leaf paths). No recursion outside the self-check.
 *
 * Invariants:
 *   - The records of a region tile it: sorted, adjacent, no gaps, no overlap.
 *   - No two free records are adjacent (release merges), so a free record is a maximal free run.
 *   - node->max_free = longest free record in the subtree; node->height = AVL height; |balance| <= 1;
 *     child->parent == node.
 *   - state->found is NULL or the free record find_free_run last returned, unchanged since:
 *     every call that changes records clears it (so it never points at a freed record).
 *   - state->spare is NULL or a record in no tree, kept for a shrink: a growth that swallows the
 *     whole free record after a reservation keeps that record here, so shrinking back (undoing the
 *     growth, as brk does when mapping fails) needs no memory and cannot fail.
 * Records are carved from pages of the page source (owner MM_OWNER_MM_META), 4 KiB at a time; a
 * page goes back as soon as none of its records is in use.
 */
#include "vmm.h"

#define RECORD_PAGES_BITS 48

/* 48 bytes: pages, height and state share a word (a region has fewer than 2^36 pages). */
struct range_record {
	uint64_t start; /* address */
	uint64_t pages : RECORD_PAGES_BITS;
	uint64_t height : 8;
	uint64_t state : 8; /* enum vmm_range_state */
	struct range_record *left, *right, *parent;
	uint64_t max_free; /* pages */
};

/* Header at the start of each page of records. */
struct record_page {
	struct record_page *prev, *next; /* in the partial or the full list */
	struct range_record *free_slots;  /* linked through ->right */
	unsigned in_use;
};

#define RECORDS_OFFSET ALIGN_UP(sizeof(struct record_page), 16)
#define RECORDS_PER_PAGE ((PAGE_SIZE - RECORDS_OFFSET) / sizeof(struct range_record))

struct list_state {
	struct range_record *roots[VMM_MAX_REGIONS];
	struct range_record *found; /* see the invariants */
	struct range_record *spare; /* see the invariants */
	struct record_page *partial; /* pages with a free slot */
	struct record_page *full;
	uint64_t record_pages;
	uint64_t records_in_use;
};

static struct list_state *state_of(const struct vmm_context *ctx)
{
	return ctx->backend_private;
}

static unsigned region_index(const struct vmm_context *ctx, const struct vmm_region *region)
{
	return (unsigned)(region - ctx->regions);
}

/* --- record pool ---------------------------------------------------------------------------- */

static void page_list_remove(struct record_page **head, struct record_page *page)
{
	if (page->prev)
		page->prev->next = page->next;
	else
		*head = page->next;
	if (page->next)
		page->next->prev = page->prev;
	page->prev = page->next = NULL;
}

static void page_list_push(struct record_page **head, struct record_page *page)
{
	page->prev = NULL;
	page->next = *head;
	if (*head)
		(*head)->prev = page;
	*head = page;
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
		records[i].right = page->free_slots;
		page->free_slots = &records[i];
	}
	state_of(ctx)->record_pages++;
	return page;
}

static struct range_record *record_alloc(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	if (!ls->partial) {
		struct record_page *page = new_record_page(ctx);
		if (!page)
			return NULL;
		page_list_push(&ls->partial, page);
	}
	struct record_page *page = ls->partial;
	struct range_record *r = page->free_slots;
	page->free_slots = r->right;
	page->in_use++;
	ls->records_in_use++;
	if (!page->free_slots) {
		page_list_remove(&ls->partial, page);
		page_list_push(&ls->full, page);
	}
	return r;
}

static void record_free(struct vmm_context *ctx, struct range_record *r)
{
	struct list_state *ls = state_of(ctx);
	struct record_page *page = (struct record_page *)ALIGN_DOWN((uintptr_t)r, (uintptr_t)PAGE_SIZE);
	MM_ASSERT(page->in_use > 0, "record_free: page has no record in use");
	if (!page->free_slots) {
		page_list_remove(&ls->full, page);
		page_list_push(&ls->partial, page);
	}
	r->right = page->free_slots;
	page->free_slots = r;
	page->in_use--;
	ls->records_in_use--;
	if (page->in_use == 0) {
		page_list_remove(&ls->partial, page);
		ls->record_pages--;
		page_source_free(ctx->source, virt_to_phys(page), 1);
	}
}

/* --- augmented AVL tree with parent links -------------------------------------------------- */

static unsigned height(const struct range_record *n) { return n ? (unsigned)n->height : 0; }
static uint64_t max_free(const struct range_record *n) { return n ? n->max_free : 0; }
static uint64_t record_end(const struct range_record *n) { return n->start + n->pages * PAGE_SIZE; }

static inline void update(struct range_record *n)
{
	n->height = 1 + MAX(height(n->left), height(n->right));
	uint64_t own = n->state == VMM_RANGE_FREE ? n->pages : 0;
	n->max_free = MAX(own, MAX(max_free(n->left), max_free(n->right)));
}

/* Puts `now` where `old` hangs under `parent` (or at the root). */
static void replace_child(struct range_record **root, struct range_record *parent,
			  struct range_record *old, struct range_record *now)
{
	if (!parent)
		*root = now;
	else if (parent->left == old)
		parent->left = now;
	else
		parent->right = now;
	if (now)
		now->parent = parent;
}

static struct range_record *rotate_right(struct range_record **root, struct range_record *n)
{
	struct range_record *l = n->left;
	replace_child(root, n->parent, n, l);
	n->left = l->right;
	if (n->left)
		n->left->parent = n;
	l->right = n;
	n->parent = l;
	update(n);
	update(l);
	return l;
}

static struct range_record *rotate_left(struct range_record **root, struct range_record *n)
{
	struct range_record *r = n->right;
	replace_child(root, n->parent, n, r);
	n->right = r->left;
	if (n->right)
		n->right->parent = n;
	r->left = n;
	n->parent = r;
	update(n);
	update(r);
	return r;
}

/* Restores |balance| <= 1 at n (children balanced); returns the subtree's new top. */
static struct range_record *rebalance(struct range_record **root, struct range_record *n)
{
	int balance = (int)height(n->left) - (int)height(n->right);
	if (balance > 1) {
		if (height(n->left->left) < height(n->left->right))
			rotate_left(root, n->left);
		return rotate_right(root, n);
	}
	if (balance < -1) {
		if (height(n->right->right) < height(n->right->left))
			rotate_right(root, n->right);
		return rotate_left(root, n);
	}
	return n;
}

/*
 * Restores heights and balance from n up after a link below n changed; stops at the first node
 * whose height comes out as before (nothing above can have changed shape) and returns the
 * highest node it recomputed, an ancestor of n (or n). Rotations recompute the maxima of the
 * nodes they move; the path below the returned node may still hold old maxima: the caller
 * follows with retrace_max(n, returned node).
 */
static struct range_record *rebalance_up(struct vmm_context *ctx, struct range_record **root,
					 struct range_record *n)
{
	uint64_t visited = 0; /* counted locally: ctx->backend_work may alias the nodes' fields */
	struct range_record *top = n;
	for (; n; n = n->parent) {
		visited++;
		unsigned old_height = n->height, hl = height(n->left), hr = height(n->right);
		if (hl > hr + 1 || hr > hl + 1) {
			update(n);
			n = rebalance(root, n);
		} else {
			n->height = 1 + MAX(hl, hr);
		}
		top = n;
		if (n->height == old_height)
			break;
	}
	ctx->backend_work += visited;
	return top;
}

/*
 * Recomputes max_free from n up: every node up to and including `through` (an ancestor of n,
 * or NULL for none), then on while the value changes. Used after n's own record changed
 * (through = NULL), and after rebalance_up (through = what it returned). Heights are not its
 * business.
 */
static void retrace_max(struct vmm_context *ctx, struct range_record *n,
			const struct range_record *through)
{
	uint64_t visited = 0;
	bool passed = through == NULL;
	for (; n; n = n->parent) {
		visited++;
		uint64_t own = n->state == VMM_RANGE_FREE ? n->pages : 0;
		uint64_t now_max = MAX(own, MAX(max_free(n->left), max_free(n->right)));
		if (passed && now_max == n->max_free)
			break;
		n->max_free = now_max;
		passed |= n == through;
	}
	ctx->backend_work += visited;
}

static struct range_record *next_record(struct vmm_context *ctx, struct range_record *n)
{
	ctx->backend_work++;
	if (n->right) {
		for (n = n->right; n->left; n = n->left)
			ctx->backend_work++;
		return n;
	}
	for (; n->parent && n == n->parent->right; n = n->parent)
		ctx->backend_work++;
	return n->parent;
}

static struct range_record *prev_record(struct vmm_context *ctx, struct range_record *n)
{
	ctx->backend_work++;
	if (n->left) {
		for (n = n->left; n->right; n = n->right)
			ctx->backend_work++;
		return n;
	}
	for (; n->parent && n == n->parent->left; n = n->parent)
		ctx->backend_work++;
	return n->parent;
}

static void leaf_init(struct range_record *r, struct range_record *parent)
{
	r->left = r->right = NULL;
	r->parent = parent;
	update(r);
}

/* Links r (not in the tree) right after `prev` in address order. */
static void insert_after(struct vmm_context *ctx, struct range_record **root,
			 struct range_record *prev, struct range_record *r)
{
	struct range_record *at = prev;
	if (at->right) {
		for (at = at->right; at->left; at = at->left)
			ctx->backend_work++;
		at->left = r;
	} else {
		at->right = r;
	}
	leaf_init(r, at);
	retrace_max(ctx, at, rebalance_up(ctx, root, at));
}

/* Links r (not in the tree) right before `next` in address order. */
static void insert_before(struct vmm_context *ctx, struct range_record **root,
			  struct range_record *next, struct range_record *r)
{
	struct range_record *at = next;
	if (at->left) {
		for (at = at->left; at->right; at = at->right)
			ctx->backend_work++;
		at->right = r;
	} else {
		at->left = r;
	}
	leaf_init(r, at);
	retrace_max(ctx, at, rebalance_up(ctx, root, at));
}

/* Unlinks n from the tree. */
static void tree_remove(struct vmm_context *ctx, struct range_record **root, struct range_record *n)
{
	if (!n->left || !n->right) {
		struct range_record *parent = n->parent;
		replace_child(root, parent, n, n->left ? n->left : n->right);
		retrace_max(ctx, parent, rebalance_up(ctx, root, parent));
		return;
	}
	/* Two children: the successor (leftmost on the right, no left child) takes n's place. */
	struct range_record *s = n->right, *fix;
	while (s->left) {
		ctx->backend_work++;
		s = s->left;
	}
	if (s->parent == n) {
		fix = s;
	} else {
		fix = s->parent;
		replace_child(root, fix, s, s->right);
		s->right = n->right;
		s->right->parent = s;
	}
	replace_child(root, n->parent, n, s);
	s->left = n->left;
	s->left->parent = s;
	/* s now stands for n's old subtree: compare against n's values when retracing through it. */
	s->height = n->height;
	s->max_free = n->max_free;
	retrace_max(ctx, fix, rebalance_up(ctx, root, fix));
	retrace_max(ctx, s, NULL); /* the climb from fix may stop below s, whose record differs */
}

static struct range_record *containing(struct vmm_context *ctx, struct range_record *n, uint64_t addr)
{
	uint64_t visited = 0;
	while (n) {
		visited++;
		if (addr < n->start)
			n = n->left;
		else if (addr >= record_end(n))
			n = n->right;
		else
			break;
	}
	ctx->backend_work += visited;
	return n;
}

/* Lowest free record in subtree n with at least min_pages pages; n->max_free >= min_pages. */
static struct range_record *lowest_fit(struct vmm_context *ctx, struct range_record *n,
				       uint64_t min_pages)
{
	uint64_t visited = 1;
	for (;; visited++) {
		if (max_free(n->left) >= min_pages)
			n = n->left;
		else if (n->state == VMM_RANGE_FREE && n->pages >= min_pages)
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
static struct range_record *first_fit(struct vmm_context *ctx, struct range_record *root,
				      uint64_t from, uint64_t min_pages)
{
	struct range_record *n = root, *went_left = NULL;
	uint64_t visited = 0;
	while (n && n->max_free >= min_pages) {
		visited++;
		if (n->start >= from) {
			went_left = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	for (n = went_left; n; n = n->parent) {
		visited++;
		if (n->state == VMM_RANGE_FREE && n->pages >= min_pages)
			break;
		if (max_free(n->right) >= min_pages) {
			n = lowest_fit(ctx, n->right, min_pages);
			break;
		}
		while (n->parent && n == n->parent->right)
			n = n->parent;
	}
	ctx->backend_work += visited;
	return n;
}

/* --- backend operations ----------------------------------------------------------------------- */

static struct range_record **root_of(struct vmm_context *ctx, const struct vmm_region *region)
{
	return &state_of(ctx)->roots[region_index(ctx, region)];
}

static void list_destroy(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	struct record_page *lists[] = { ls->partial, ls->full };
	for (unsigned l = 0; l < ARRAY_SIZE(lists); l++) {
		for (struct record_page *page = lists[l], *next; page; page = next) {
			next = page->next;
			page_source_free(ctx->source, virt_to_phys(page), 1);
		}
	}
	page_source_free(ctx->source, virt_to_phys(ls), 1);
	ctx->backend_private = NULL;
}

static enum vm_status list_init(struct vmm_context *ctx)
{
	STATIC_ASSERT(sizeof(struct list_state) <= PAGE_SIZE, "list state fits a page");
	paddr_t pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
	if (pa == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	struct list_state *ls = phys_to_virt(pa);
	*ls = (struct list_state){ 0 };
	ctx->backend_private = ls;
	for (unsigned i = 0; i < ctx->region_count; i++) {
		MM_ASSERT(ctx->regions[i].pages >> RECORD_PAGES_BITS == 0,
			  "list_init: region %s too large for a record", ctx->regions[i].name);
		struct range_record *r = record_alloc(ctx);
		if (!r) {
			list_destroy(ctx);
			return VM_ERR_NO_MEMORY;
		}
		*r = (struct range_record){ .start = ctx->regions[i].base,
					    .pages = ctx->regions[i].pages,
					    .state = VMM_RANGE_FREE };
		leaf_init(r, NULL);
		ls->roots[i] = r;
	}
	return VM_OK;
}

static bool list_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			       uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out)
{
	(void)enough_pages; /* records are whole runs already */
	struct range_record *r = first_fit(ctx, *root_of(ctx, region), from, min_pages);
	state_of(ctx)->found = r;
	if (!r)
		return false;
	*out = (struct vmm_free_run){ r->start, r->pages };
	return true;
}

static struct range_record *new_record(struct range_record *r, uint64_t start, uint64_t pages,
				       enum vmm_range_state state)
{
	*r = (struct range_record){ .start = start, .pages = pages, .state = state };
	return r;
}

/*
 * The record covering addr: usually the run find_free_run just returned (vmm_reserve marks right
 * after placing), else a lookup. Clears state->found, as every change must.
 */
static struct range_record *record_at(struct vmm_context *ctx, struct range_record *root, uint64_t addr)
{
	struct range_record *found = state_of(ctx)->found;
	state_of(ctx)->found = NULL;
	if (found && addr >= found->start && addr < record_end(found))
		return found;
	return containing(ctx, root, addr);
}

static enum vm_status list_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
					 uint64_t addr, uint64_t pages)
{
	struct range_record **root = root_of(ctx, region);
	struct range_record *f = record_at(ctx, *root, addr);
	uint64_t end = addr + pages * PAGE_SIZE;
	MM_ASSERT(f && f->state == VMM_RANGE_FREE && end <= record_end(f),
		  "list_mark_reserved: %llx+%llu not free", (unsigned long long)addr,
		  (unsigned long long)pages);
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
		f->state = VMM_RANGE_RESERVED;
		retrace_max(ctx, f, NULL);
	} else if (!need_before) {
		f->start = end;
		f->pages -= pages;
		retrace_max(ctx, f, NULL);
		insert_before(ctx, root, f, new_record(spare[0], addr, pages, VMM_RANGE_RESERVED));
	} else {
		f->pages = (addr - f->start) / PAGE_SIZE;
		retrace_max(ctx, f, NULL);
		struct range_record *r = new_record(spare[0], addr, pages, VMM_RANGE_RESERVED);
		insert_after(ctx, root, f, r);
		if (need_after)
			insert_after(ctx, root, r, new_record(spare[1], end, (f_end - end) / PAGE_SIZE,
							      VMM_RANGE_FREE));
	}
	return VM_OK;
}

/* Drops a record whose pages a neighbour has taken over. */
static void absorb(struct vmm_context *ctx, struct range_record **root, struct range_record *gone)
{
	tree_remove(ctx, root, gone);
	record_free(ctx, gone);
}

static enum vm_status list_release(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, uint64_t pages)
{
	struct range_record **root = root_of(ctx, region);
	struct range_record *n = record_at(ctx, *root, addr);
	MM_ASSERT(n != NULL, "list_release: %llx not covered by its region", (unsigned long long)addr);
	if (n->state == VMM_RANGE_FREE)
		return VM_ERR_NOT_RESERVED;
	if (n->start != addr)
		return VM_ERR_NOT_RESERVATION_START;
	if (n->pages != pages)
		return VM_ERR_WRONG_LENGTH;
	/* A free neighbour takes the pages over (so the removed node is the reservation's). */
	struct range_record *prev = prev_record(ctx, n), *next = next_record(ctx, n);
	bool prev_free = prev && prev->state == VMM_RANGE_FREE;
	bool next_free = next && next->state == VMM_RANGE_FREE;
	if (prev_free) {
		prev->pages += n->pages + (next_free ? next->pages : 0);
		retrace_max(ctx, prev, NULL);
		if (next_free)
			absorb(ctx, root, next);
		absorb(ctx, root, n);
	} else if (next_free) {
		next->start = n->start;
		next->pages += n->pages;
		retrace_max(ctx, next, NULL);
		absorb(ctx, root, n);
	} else {
		n->state = VMM_RANGE_FREE;
		retrace_max(ctx, n, NULL);
	}
	return VM_OK;
}

static enum vm_status list_resize(struct vmm_context *ctx, const struct vmm_region *region,
				  uint64_t start, uint64_t old_pages, uint64_t new_pages)
{
	struct range_record **root = root_of(ctx, region);
	struct range_record *n = record_at(ctx, *root, start);
	MM_ASSERT(n && n->start == start && n->pages == old_pages && n->state == VMM_RANGE_RESERVED,
		  "list_resize: no reservation %llx+%llu", (unsigned long long)start,
		  (unsigned long long)old_pages);
	struct range_record *next = next_record(ctx, n);
	bool next_free = next && next->state == VMM_RANGE_FREE;
	if (new_pages > old_pages) {
		uint64_t more = new_pages - old_pages;
		MM_ASSERT(next_free && next->pages >= more, "list_resize: no room after %llx",
			  (unsigned long long)start);
		n->pages = new_pages; /* reserved: no maximum moves */
		if (next->pages == more) {
			tree_remove(ctx, root, next);
			if (state_of(ctx)->spare)
				record_free(ctx, next);
			else
				state_of(ctx)->spare = next;
		} else {
			next->start += more * PAGE_SIZE;
			next->pages -= more;
			retrace_max(ctx, next, NULL);
		}
		return VM_OK;
	}
	uint64_t less = old_pages - new_pages;
	if (next_free) {
		next->start -= less * PAGE_SIZE;
		next->pages += less;
		retrace_max(ctx, next, NULL);
	} else {
		struct range_record *tail = state_of(ctx)->spare;
		state_of(ctx)->spare = NULL;
		if (!tail)
			tail = record_alloc(ctx);
		if (!tail)
			return VM_ERR_NO_MEMORY;
		insert_after(ctx, root, n,
			     new_record(tail, start + new_pages * PAGE_SIZE, less, VMM_RANGE_FREE));
	}
	n->pages = new_pages;
	return VM_OK;
}

static void list_query(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
		       struct vmm_extent *out)
{
	struct range_record *n = containing(ctx, *root_of(ctx, region), addr);
	MM_ASSERT(n != NULL, "list_query: %llx not covered by its region", (unsigned long long)addr);
	*out = (struct vmm_extent){ (enum vmm_range_state)n->state, n->start, n->pages };
}

/* --- self-check ---------------------------------------------------------------------------- */

struct tree_check {
	unsigned bad;
	uint64_t next_start; /* where the next record in address order must start */
	bool prev_free;
	uint64_t records;
};

static void check_fail(struct tree_check *c, const struct range_record *n, const char *what)
{
	mm_log("list self-check: record %llx+%llu: %s\n", (unsigned long long)n->start,
	       (unsigned long long)n->pages, what);
	c->bad++;
}

/* Visits the subtree in address order; returns its height, recomputed. */
static unsigned check_subtree(struct tree_check *c, const struct range_record *n,
			      const struct range_record *parent, uint64_t *longest_free)
{
	*longest_free = 0;
	if (!n)
		return 0;
	if (n->parent != parent)
		check_fail(c, n, "parent link");
	uint64_t left_free, right_free;
	unsigned hl = check_subtree(c, n->left, n, &left_free);
	c->records++;
	if (n->start != c->next_start)
		check_fail(c, n, "does not start where the previous record ends");
	if (n->pages == 0 || (n->state == VMM_RANGE_FREE && c->prev_free))
		check_fail(c, n, "empty, or free next to a free record");
	c->next_start = record_end(n);
	c->prev_free = n->state == VMM_RANGE_FREE;
	unsigned hr = check_subtree(c, n->right, n, &right_free);
	*longest_free = MAX(n->state == VMM_RANGE_FREE ? n->pages : 0, MAX(left_free, right_free));
	if (n->max_free != *longest_free)
		check_fail(c, n, "max_free differs from the subtree's longest free record");
	if (n->height != 1 + MAX(hl, hr) || hl > hr + 1 || hr > hl + 1)
		check_fail(c, n, "height or balance");
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
		check_subtree(&c, ls->roots[i], NULL, &longest);
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

/* The largest height of an AVL tree of `nodes` nodes: the h with N(h) <= nodes < N(h + 1). */
static uint64_t avl_height_bound(uint64_t nodes)
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
	.init = list_init,
	.destroy = list_destroy,
	.find_free_run = list_find_free_run,
	.mark_reserved = list_mark_reserved,
	.release = list_release,
	.resize = list_resize,
	.query = list_query,
	.work_bound = list_work_bound,
	.bookkeeping_bytes = list_bookkeeping_bytes,
	.self_check = list_self_check,
};
