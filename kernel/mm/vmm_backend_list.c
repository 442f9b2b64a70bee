/*
 * VMM bookkeeping as an ordered list of ranges per region: every page of a region belongs to
 * exactly one record, either a maximal free run or one reservation. The list is indexed by an AVL
 * tree keyed by start address, each node augmented with the longest free record in its subtree.
 *
 * Search ("lowest maximal free run >= n pages at or after from", the placement policy is vmm.c's):
 * descend, skipping subtrees whose longest free record is < n; go left first, so the first
 * record found is the lowest. Bound: O(log r) nodes for r records (a left subtree is entered only
 * if it holds a fit, except along the one path where `from` cuts the tree), whatever the number
 * of mapped pages. Mark, release and resize: O(log r) (lookup, at most two inserts or removes,
 * path refresh).
 *
 * Invariants:
 *   - The records of a region tile it: sorted, adjacent, no gaps, no overlap.
 *   - No two free records are adjacent (release merges), so a free record is a maximal free run.
 *   - node->max_free = longest free record in the subtree; node->height = AVL height; |balance| <= 1.
 * Records are carved from pages of the page source (owner MM_OWNER_MM_META), 4 KiB at a time; a
 * page goes back as soon as none of its records is in use.
 */
#include "vmm.h"

struct range_record {
	uint64_t start; /* address */
	uint64_t pages;
	struct range_record *left, *right;
	uint64_t max_free; /* pages */
	uint8_t height;
	uint8_t state; /* enum vmm_range_state */
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

/* --- augmented AVL tree ----------------------------------------------------------------------- */

static unsigned height(const struct range_record *n) { return n ? n->height : 0; }
static uint64_t max_free(const struct range_record *n) { return n ? n->max_free : 0; }
static uint64_t record_end(const struct range_record *n) { return n->start + n->pages * PAGE_SIZE; }

static void update(struct range_record *n)
{
	n->height = (uint8_t)(1 + MAX(height(n->left), height(n->right)));
	uint64_t own = n->state == VMM_RANGE_FREE ? n->pages : 0;
	n->max_free = MAX(own, MAX(max_free(n->left), max_free(n->right)));
}

static struct range_record *rotate_right(struct range_record *n)
{
	struct range_record *l = n->left;
	n->left = l->right;
	l->right = n;
	update(n);
	update(l);
	return l;
}

static struct range_record *rotate_left(struct range_record *n)
{
	struct range_record *r = n->right;
	n->right = r->left;
	r->left = n;
	update(n);
	update(r);
	return r;
}

static struct range_record *rebalance(struct range_record *n)
{
	update(n);
	int balance = (int)height(n->left) - (int)height(n->right);
	if (balance > 1) {
		if (height(n->left->left) < height(n->left->right))
			n->left = rotate_left(n->left);
		return rotate_right(n);
	}
	if (balance < -1) {
		if (height(n->right->right) < height(n->right->left))
			n->right = rotate_right(n->right);
		return rotate_left(n);
	}
	return n;
}

static struct range_record *tree_insert(struct vmm_context *ctx, struct range_record *n,
					struct range_record *r)
{
	if (!n) {
		r->left = r->right = NULL;
		update(r);
		return r;
	}
	ctx->backend_work++;
	if (r->start < n->start)
		n->left = tree_insert(ctx, n->left, r);
	else
		n->right = tree_insert(ctx, n->right, r);
	return rebalance(n);
}

static struct range_record *remove_leftmost(struct range_record *n, struct range_record **leftmost)
{
	if (!n->left) {
		*leftmost = n;
		return n->right;
	}
	n->left = remove_leftmost(n->left, leftmost);
	return rebalance(n);
}

/* Unlinks the record with this start (it must exist). */
static struct range_record *tree_remove(struct vmm_context *ctx, struct range_record *n, uint64_t start)
{
	MM_ASSERT(n != NULL, "tree_remove: no record at %llx", (unsigned long long)start);
	ctx->backend_work++;
	if (start < n->start) {
		n->left = tree_remove(ctx, n->left, start);
	} else if (start > n->start) {
		n->right = tree_remove(ctx, n->right, start);
	} else {
		if (!n->left || !n->right)
			return n->left ? n->left : n->right;
		struct range_record *successor;
		struct range_record *right = remove_leftmost(n->right, &successor);
		successor->left = n->left;
		successor->right = right;
		n = successor;
	}
	return rebalance(n);
}

/* Recomputes max_free on the path to the record at `start` after its size or state changed. */
static void tree_refresh(struct vmm_context *ctx, struct range_record *n, uint64_t start)
{
	if (!n)
		return;
	ctx->backend_work++;
	if (start < n->start)
		tree_refresh(ctx, n->left, start);
	else if (start > n->start)
		tree_refresh(ctx, n->right, start);
	update(n);
}

static struct range_record *containing(struct vmm_context *ctx, struct range_record *n, uint64_t addr)
{
	while (n) {
		ctx->backend_work++;
		if (addr < n->start)
			n = n->left;
		else if (addr >= record_end(n))
			n = n->right;
		else
			return n;
	}
	return NULL;
}

/* Lowest free record with start >= from and at least min_pages pages. */
static struct range_record *first_fit(struct vmm_context *ctx, struct range_record *n, uint64_t from,
				      uint64_t min_pages)
{
	if (!n || n->max_free < min_pages)
		return NULL;
	ctx->backend_work++;
	if (n->start < from)
		return first_fit(ctx, n->right, from, min_pages);
	struct range_record *found = first_fit(ctx, n->left, from, min_pages);
	if (found)
		return found;
	if (n->state == VMM_RANGE_FREE && n->pages >= min_pages)
		return n;
	return first_fit(ctx, n->right, from, min_pages);
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
		struct range_record *r = record_alloc(ctx);
		if (!r) {
			list_destroy(ctx);
			return VM_ERR_NO_MEMORY;
		}
		*r = (struct range_record){ .start = ctx->regions[i].base,
					    .pages = ctx->regions[i].pages,
					    .state = VMM_RANGE_FREE };
		ls->roots[i] = tree_insert(ctx, NULL, r);
	}
	return VM_OK;
}

static bool list_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			       uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out)
{
	(void)enough_pages; /* records are whole runs already */
	struct range_record *r = first_fit(ctx, *root_of(ctx, region), from, min_pages);
	if (!r)
		return false;
	*out = (struct vmm_free_run){ r->start, r->pages };
	return true;
}

static struct range_record *new_record(struct range_record *r, uint64_t start, uint64_t pages,
				       enum vmm_range_state state)
{
	*r = (struct range_record){ .start = start, .pages = pages, .state = (uint8_t)state };
	return r;
}

static enum vm_status list_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
					 uint64_t addr, uint64_t pages)
{
	struct range_record **root = root_of(ctx, region);
	struct range_record *f = containing(ctx, *root, addr);
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
	uint64_t f_end = record_end(f);
	unsigned next_spare = 0;
	if (need_before) {
		f->pages = (addr - f->start) / PAGE_SIZE;
		tree_refresh(ctx, *root, f->start);
		*root = tree_insert(ctx, *root, new_record(spare[next_spare++], addr, pages,
							   VMM_RANGE_RESERVED));
	} else {
		f->pages = pages;
		f->state = VMM_RANGE_RESERVED;
		tree_refresh(ctx, *root, f->start);
	}
	if (need_after)
		*root = tree_insert(ctx, *root, new_record(spare[next_spare], end,
							   (f_end - end) / PAGE_SIZE, VMM_RANGE_FREE));
	return VM_OK;
}

static enum vm_status list_release(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, uint64_t pages)
{
	struct range_record **root = root_of(ctx, region);
	struct range_record *n = containing(ctx, *root, addr);
	MM_ASSERT(n != NULL, "list_release: %llx not covered by its region", (unsigned long long)addr);
	if (n->state == VMM_RANGE_FREE)
		return VM_ERR_NOT_RESERVED;
	if (n->start != addr)
		return VM_ERR_NOT_RESERVATION_START;
	if (n->pages != pages)
		return VM_ERR_WRONG_LENGTH;
	n->state = VMM_RANGE_FREE;
	struct range_record *succ = containing(ctx, *root, record_end(n));
	if (succ && succ->state == VMM_RANGE_FREE) {
		n->pages += succ->pages;
		*root = tree_remove(ctx, *root, succ->start);
		record_free(ctx, succ);
	}
	tree_refresh(ctx, *root, n->start);
	struct range_record *pred = addr > region->base ? containing(ctx, *root, addr - 1) : NULL;
	if (pred && pred->state == VMM_RANGE_FREE) {
		pred->pages += n->pages;
		*root = tree_remove(ctx, *root, n->start);
		record_free(ctx, n);
		tree_refresh(ctx, *root, pred->start);
	}
	return VM_OK;
}

static enum vm_status list_resize(struct vmm_context *ctx, const struct vmm_region *region,
				  uint64_t start, uint64_t old_pages, uint64_t new_pages)
{
	struct range_record **root = root_of(ctx, region);
	struct range_record *n = containing(ctx, *root, start);
	MM_ASSERT(n && n->start == start && n->pages == old_pages && n->state == VMM_RANGE_RESERVED,
		  "list_resize: no reservation %llx+%llu", (unsigned long long)start,
		  (unsigned long long)old_pages);
	struct range_record *succ = containing(ctx, *root, record_end(n));
	bool succ_free = succ && succ->state == VMM_RANGE_FREE;
	if (new_pages > old_pages) {
		uint64_t more = new_pages - old_pages;
		MM_ASSERT(succ_free && succ->pages >= more, "list_resize: no room after %llx",
			  (unsigned long long)start);
		n->pages = new_pages;
		tree_refresh(ctx, *root, n->start);
		if (succ->pages == more) {
			*root = tree_remove(ctx, *root, succ->start);
			record_free(ctx, succ);
		} else {
			succ->start += more * PAGE_SIZE;
			succ->pages -= more;
			tree_refresh(ctx, *root, succ->start);
		}
		return VM_OK;
	}
	uint64_t less = old_pages - new_pages;
	if (succ_free) {
		succ->start -= less * PAGE_SIZE;
		succ->pages += less;
		tree_refresh(ctx, *root, succ->start);
	} else {
		struct range_record *tail = record_alloc(ctx);
		if (!tail)
			return VM_ERR_NO_MEMORY;
		*root = tree_insert(ctx, *root, new_record(tail, start + new_pages * PAGE_SIZE, less,
							   VMM_RANGE_FREE));
	}
	n->pages = new_pages;
	tree_refresh(ctx, *root, n->start);
	return VM_OK;
}

static void list_query(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
		       struct vmm_extent *out)
{
	struct range_record *n = containing(ctx, *root_of(ctx, region), addr);
	MM_ASSERT(n != NULL, "list_query: %llx not covered by its region", (unsigned long long)addr);
	*out = (struct vmm_extent){ (enum vmm_range_state)n->state, n->start, n->pages };
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
	.bookkeeping_bytes = list_bookkeeping_bytes,
};
