/*
 * VMM bookkeeping as ranges per region: every page of a region belongs to exactly one record,
 * either a maximal free run or one reservation. Three structures per region and one per context
 * hold the records:
 *   - the address list: every record, linked to its neighbours in address order (boundary tags,
 *     as vmem's segments are), so a release finds the runs it merges with in O(1);
 *   - the free tree: the free records only, an AVL tree in address order (avl_tree.c), each node
 *     augmented with the longest free record in its subtree;
 *   - the reservation tree: the reservations only, an AVL tree in address order, no augment;
 *   - the reservation hash (per context): reservations by start address (vmem's allocation
 *     hash), so that a release finds its record in O(1) where the tree would take a descent.
 * Keeping reservations out of the free tree is what makes the common steps cheap: a carve or a
 * merge changes one free record's length (a maximum climb that stops at the first unchanged
 * value) and links or unlinks one reservation next to a known node; the free tree's shape moves
 * only when a free record appears or disappears.
 *
 * Search ("lowest maximal free run >= n pages at or after from", the placement policy is vmm.c's):
 * one descent of the free tree towards `from`, skipping subtrees whose longest free record is
 * < n, then one climb back through the nodes it went left at (in address order) and one descent
 * into the first right subtree that holds a fit. It never enters a subtree that cannot fit.
 * Lookup of an address: one descent of the reservation tree to the last reservation starting at
 * or before it; the address is in it, or in the free record right after it (or in the region's
 * first record when no reservation starts that low).
 *
 * Bound, proved: an AVL tree of r nodes has height H(r) <= 1.44 log2(r + 2) (its minimal node
 * counts N(h) = N(h-1) + N(h-2) + 1 grow like Fibonacci numbers; avl_height_bound() computes the
 * exact H from them). backend_work counts nodes visited; call a descent or climb of one tree a
 * path: it visits at most H + 1 nodes, H for the records in use plus the two an operation may
 * add (each tree holds at most that many). avl_tree.c: an insert next to a known node is 3 paths
 * (slot descent, height climb, maximum climb; 2 in the reservation tree, which keeps no maximum),
 * a remove 4. So:
 *   search   descent, climb, descent                                                 3 paths
 *   mark     lookup (none when marking the run just found) 1, then either a carve (maximum climb
 *            1, reservation insert 2, and for an aligned request the free tail's insert 3) or an
 *            exact fit (free remove 4, reservation insert 2)                          <= 7 paths
 *   release  lookup 1, reservation remove 4, then a merge on both sides (free remove 4, maximum
 *            climb 1) or none (free-tree descent to its place 1, insert 3)            <= 10 paths
 *   resize   lookup 1, then a remove 4 or a maximum climb 1 or a descent and insert 4  <= 5 paths
 *   split    lookup 1, reservation insert 2                                          3 paths
 * and the hash adds at most LIST_HASH_WORK = 13 entries to a call (a lookup probes at most 4
 * entries in each of its two tables before it descends instead; an insertion is one entry and
 * drains 4), so any reserve (search + mark) or release costs at most 10 (H + 1) + 13
 * (list_work_bound), whatever the number of mapped pages or the layout: O(log r). No recursion
 * outside the self-check.
 *
 * Invariants (list_self_check recounts each):
 *   - The records of a region tile it in address-list order: sorted, adjacent, no gaps.
 *   - No two free records are adjacent (release merges), so a free record is a maximal free run.
 *   - The free tree holds exactly the free records, the reservation tree exactly the
 *     reservations, each in address order; record->max_free (free records) = longest free record
 *     in its free-tree subtree (the trees' own invariants: avl_tree.c).
 *   - state->recent is NULL or the record find_free_run, a query, a lookup or note_mapped last
 *     returned or marked, unchanged since: every call that changes records clears it (so it
 *     never points at a freed record). It saves the lookup of a mark right after a search (what
 *     vmm_reserve does) and of a note_mapped right after a query or lookup (what a map and a
 *     fault do).
 *   - A reservation is in the hash (hash_link set, *hash_link == it) or in none of its chains;
 *     hash.entries counts those in it. A free record is in no chain.
 *   - state->spare is NULL or a record in no structure, kept for a shrink: a growth that swallows
 *     the whole free record after a reservation keeps that record here, so shrinking back
 *     (undoing the growth, as brk does when mapping fails) needs no memory and cannot fail.
 * Records are carved from pages of the page source (owner MM_OWNER_MM_META), 4 KiB at a time; a
 * page goes back as soon as none of its records is in use.
 */
#include "vmm.h"
#include "avl_tree.h"

#define RECORD_PAGES_BITS 48
#define RECORD_PAGES_MASK (((uint64_t)1 << RECORD_PAGES_BITS) - 1)
#define RECORD_STATE_BIT ((uint64_t)1 << RECORD_PAGES_BITS)
#define RECORD_ACCESS_SHIFT (RECORD_PAGES_BITS + 1)
#define RECORD_ACCESS_MASK ((uint64_t)0xF << RECORD_ACCESS_SHIFT)
#define RECORD_MAPPED_BIT ((uint64_t)1 << (RECORD_ACCESS_SHIFT + 4))

/*
 * 72 bytes: the length (48 bits: a region has fewer than 2^36 pages), the state (1 bit), a
 * reservation's access (4 bits: vmm_access_pack, 0 for a free record) and its mapped mark (1 bit:
 * a page was noted mapped in it, see vmm_backend.h note_mapped) ride in the tree node's payload
 * bits.
 */
struct range_record {
	uint64_t start; /* address */
	struct range_record *prev, *next; /* the address list */
	struct avl_node node; /* in the free tree or the reservation tree, by state */
	union {
		uint64_t max_free; /* free records: pages */
		struct range_record *hash_next; /* reservations: the hash chain */
	};
	struct range_record **hash_link; /* reservations: what points at it in its chain, or NULL */
};
/* The record's size, stated where the analyzer's verdict reads it (what a new field would cost). */
#define LIST_RECORD_BYTES 72
_Static_assert(sizeof(struct range_record) == LIST_RECORD_BYTES, "LIST_RECORD_BYTES is stale");

/* Header at the start of each page of records. */
struct record_page {
	struct list_node link;           /* in the partial or the full list */
	struct range_record *free_slots;  /* linked through node.right */
	unsigned in_use;
};

#define RECORDS_OFFSET ALIGN_UP(sizeof(struct record_page), 16)
#define RECORDS_PER_PAGE ((PAGE_SIZE - RECORDS_OFFSET) / sizeof(struct range_record))

struct region_records {
	struct range_record *first; /* the address list's head */
	struct avl_tree free_tree, reservations;
};

/*
 * Reservations by start address, chained, so that a release finds its record without descending
 * the reservation tree (from HASH_FROM_RESERVATIONS reservations on). A table is a directory page pointing at bucket pages (single pages of the
 * source: no contiguous run is needed), HASH_BUCKETS_PER_PAGE buckets each; it doubles when the
 * entries reach twice the buckets, and the old table is drained into the new one HASH_DRAIN
 * entries per insertion, so no single call rehashes it all. A lookup follows at most HASH_PROBES
 * entries of a chain in each table and otherwise descends the tree: the hash only ever saves
 * work, and a table that cannot be had (out of memory) only costs the descent.
 */
#define HASH_BUCKETS_PER_PAGE (PAGE_SIZE / sizeof(struct range_record *))
#define HASH_FROM_RESERVATIONS 512 /* fewer: the tree is short, and small contexts keep no table */
#define HASH_PROBES 4
#define HASH_DRAIN 4
#define HASH_MAX_PAGES HASH_BUCKETS_PER_PAGE /* one directory page: 2^18 buckets; beyond, chains grow */
/* Hash entries one call visits at most: a lookup's probes of both tables, an insertion and its drain. */
#define LIST_HASH_WORK (2 * HASH_PROBES + 1 + HASH_DRAIN)

struct reservation_hash {
	struct range_record ***table, ***old; /* directories; old: NULL, or the table being drained */
	uint64_t pages, old_pages;            /* bucket pages of each */
	uint64_t old_next;                    /* old's buckets below this one are empty */
	uint64_t entries;
	uint64_t reservations;                /* hashed or not */
	uint64_t grow_at;                     /* entries at which growing is tried (again) */
};

struct list_state {
	struct region_records regions[VMM_MAX_REGIONS];
	struct range_record *recent; /* see the invariants */
	struct range_record *spare; /* see the invariants */
	struct list_node partial; /* record pages with a free slot */
	struct list_node full;
	uint64_t record_pages;
	uint64_t records_in_use;
	struct reservation_hash hash;
	bool released_unmapped; /* the last release freed a reservation with no mapped mark */
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

static struct region_records *records_of(struct vmm_context *ctx, const struct vmm_region *region)
{
	return &state_of(ctx)->regions[region - ctx->regions];
}

/* --- the reservation hash --------------------------------------------------------------------- */

static struct range_record **bucket(struct range_record ***table, uint64_t index)
{
	return &table[index / HASH_BUCKETS_PER_PAGE][index % HASH_BUCKETS_PER_PAGE];
}

static struct range_record **bucket_of(struct range_record ***table, uint64_t pages, uint64_t addr)
{
	uint64_t h = (addr / PAGE_SIZE) * 0x9E3779B97F4A7C15ull;
	return bucket(table, (h >> 40) & (pages * HASH_BUCKETS_PER_PAGE - 1));
}

static void chain_push(struct range_record **head, struct range_record *r)
{
	r->hash_next = *head;
	if (r->hash_next)
		r->hash_next->hash_link = &r->hash_next;
	r->hash_link = head;
	*head = r;
}

static void chain_unlink(struct range_record *r)
{
	*r->hash_link = r->hash_next;
	if (r->hash_next)
		r->hash_next->hash_link = r->hash_link;
	r->hash_link = NULL;
}

static void hash_table_free(struct vmm_context *ctx, struct range_record ***table, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++)
		page_source_free(ctx->source, virt_to_phys(table[i]), 1);
	page_source_free(ctx->source, virt_to_phys(table), 1);
}

/* A directory and `pages` empty bucket pages, or NULL (nothing kept). */
static struct range_record ***hash_table_new(struct vmm_context *ctx, uint64_t pages)
{
	paddr_t pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
	if (pa == PAGE_SOURCE_FAILED)
		return NULL;
	struct range_record ***table = phys_to_virt(pa);
	for (uint64_t i = 0; i < pages; i++) {
		pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
		if (pa == PAGE_SOURCE_FAILED) {
			hash_table_free(ctx, table, i);
			return NULL;
		}
		table[i] = phys_to_virt(pa);
		memset(table[i], 0, PAGE_SIZE);
	}
	return table;
}

/* Moves up to HASH_DRAIN entries (or empty buckets) of the old table into the new one. */
static void hash_drain(struct vmm_context *ctx, struct reservation_hash *h)
{
	for (unsigned step = 0; step < HASH_DRAIN && h->old; step++) {
		ctx->backend_work++;
		struct range_record *r = *bucket(h->old, h->old_next);
		if (r) {
			chain_unlink(r);
			chain_push(bucket_of(h->table, h->pages, r->start), r);
		} else if (++h->old_next == h->old_pages * HASH_BUCKETS_PER_PAGE) {
			hash_table_free(ctx, h->old, h->old_pages);
			h->old = NULL;
		}
	}
}

/* Files reservation r by its start. Without a table (no memory) r stays out: the tree finds it. */
static void hash_insert(struct vmm_context *ctx, struct range_record *r)
{
	struct reservation_hash *h = &state_of(ctx)->hash;
	r->hash_link = NULL;
	if (++h->reservations < HASH_FROM_RESERVATIONS && !h->table)
		return;
	if (!h->table) {
		h->table = hash_table_new(ctx, 1);
		if (!h->table)
			return;
		h->pages = 1;
	}
	if (!h->old && h->entries >= 2 * h->pages * HASH_BUCKETS_PER_PAGE && h->entries >= h->grow_at &&
	    h->pages < HASH_MAX_PAGES) {
		struct range_record ***bigger = hash_table_new(ctx, 2 * h->pages);
		h->grow_at = bigger ? 0 : 2 * h->entries; /* no memory: not tried again at once */
		if (bigger) {
			h->old = h->table;
			h->old_pages = h->pages;
			h->old_next = 0;
			h->table = bigger;
			h->pages *= 2;
		}
	}
	ctx->backend_work++;
	chain_push(bucket_of(h->table, h->pages, r->start), r);
	h->entries++;
	hash_drain(ctx, h);
}

/* Unfiles r; the last entry out takes the tables back to the source (as record pages go). */
static void hash_remove(struct vmm_context *ctx, struct range_record *r)
{
	struct reservation_hash *h = &state_of(ctx)->hash;
	h->reservations--;
	if (!r->hash_link)
		return;
	chain_unlink(r);
	if (--h->entries > 0)
		return;
	if (h->old)
		hash_table_free(ctx, h->old, h->old_pages);
	hash_table_free(ctx, h->table, h->pages);
	*h = (struct reservation_hash){ .reservations = h->reservations };
}

/* The reservation starting at addr if a short walk of its chains finds it, else NULL. */
static struct range_record *hash_find(struct vmm_context *ctx, uint64_t addr)
{
	struct reservation_hash *h = &state_of(ctx)->hash;
	struct range_record ***tables[2] = { h->table, h->old };
	uint64_t pages[2] = { h->pages, h->old_pages };
	for (unsigned t = 0; t < 2 && tables[t]; t++) {
		struct range_record *r = *bucket_of(tables[t], pages[t], addr);
		for (unsigned probe = 0; r && probe < HASH_PROBES; probe++, r = r->hash_next) {
			ctx->backend_work++;
			if (r->start == addr)
				return r;
		}
	}
	return NULL;
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

/* --- the address list ------------------------------------------------------------------------ */

static void link_after(struct range_record *at, struct range_record *r)
{
	r->prev = at;
	r->next = at->next;
	if (r->next)
		r->next->prev = r;
	at->next = r;
}

static void link_before(struct region_records *rr, struct range_record *at, struct range_record *r)
{
	r->next = at;
	r->prev = at->prev;
	if (r->prev)
		r->prev->next = r;
	else
		rr->first = r;
	at->prev = r;
}

static void unlink_record(struct region_records *rr, struct range_record *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		rr->first = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

/* --- the trees -------------------------------------------------------------------------------- */

/*
 * After free record r's length changed: its maximum and those above it, up to the first that
 * comes out unchanged (one path). Written out rather than through avl_retrace: this is the step
 * every carve and merge takes.
 */
static void climb_max_free(struct vmm_context *ctx, struct range_record *r)
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
static void reservation_link(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
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
static void free_link(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
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
static struct range_record *reservation_at_or_before(struct vmm_context *ctx, struct region_records *rr,
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
static struct range_record *covering(struct vmm_context *ctx, struct region_records *rr, uint64_t addr)
{
	struct range_record *r = reservation_at_or_before(ctx, rr, addr);
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

/* --- backend operations ----------------------------------------------------------------------- */

static void list_destroy(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	struct list_node *lists[] = { &ls->partial, &ls->full }, *node, *next;
	for (unsigned l = 0; l < ARRAY_SIZE(lists); l++)
		list_for_each_safe(node, next, lists[l])
			page_source_free(ctx->source, virt_to_phys(container_of(node, struct record_page, link)), 1);
	if (ls->hash.table)
		hash_table_free(ctx, ls->hash.table, ls->hash.pages);
	if (ls->hash.old)
		hash_table_free(ctx, ls->hash.old, ls->hash.old_pages);
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
		struct region_records *rr = &ls->regions[i];
		rr->free_tree.augment = augment_max_free;
		rr->free_tree.augment_copy = copy_max_free;
		rr->first = new_record(r, ctx->regions[i].base, ctx->regions[i].pages, VMM_RANGE_FREE, 0);
		avl_init_root(&rr->free_tree, &r->node);
	}
	return VM_OK;
}

static bool list_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
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

/* The record covering addr: state->recent when it does, else a lookup. */
static struct range_record *recent_or_covering(struct vmm_context *ctx, struct region_records *rr,
					       uint64_t addr)
{
	struct range_record *recent = state_of(ctx)->recent;
	if (recent && addr >= recent->start && addr < record_end(recent))
		return recent;
	return covering(ctx, rr, addr);
}

/*
 * The record covering addr, for a change: usually the run find_free_run just returned
 * (vmm_reserve marks right after placing). Clears state->recent, as every change must.
 */
static struct range_record *record_at(struct vmm_context *ctx, struct region_records *rr, uint64_t addr)
{
	struct range_record *r = recent_or_covering(ctx, rr, addr);
	state_of(ctx)->recent = NULL;
	return r;
}

static enum vm_status list_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
					 uint64_t addr, uint64_t pages, unsigned access)
{
	struct region_records *rr = records_of(ctx, region);
	struct range_record *f = record_at(ctx, rr, addr);
	uint64_t end = addr + pages * PAGE_SIZE, f_end = record_end(f);
	MM_ASSERT(is_free(f) && end <= f_end, "list_mark_reserved: %llx+%llu not free",
		  (unsigned long long)addr, (unsigned long long)pages);
	bool need_before = addr > f->start, need_after = end < f_end;
	struct range_record *spare[2] = { NULL, NULL };
	for (unsigned i = 0; i < (unsigned)need_before + (unsigned)need_after; i++) {
		spare[i] = record_alloc(ctx);
		if (!spare[i]) {
			if (i == 1)
				record_free(ctx, spare[0]);
			return VM_ERR_NO_MEMORY;
		}
	}
	if (!need_before && !need_after) { /* an exact fit: the free record becomes the reservation */
		avl_remove(&rr->free_tree, &f->node, &ctx->backend_work);
		set_state(f, VMM_RANGE_RESERVED, access);
		reservation_link(ctx, rr, f);
		hash_insert(ctx, f);
		return VM_OK;
	}
	/* f stays the free record on the side that keeps pages (its start or length changes in place). */
	struct range_record *r = new_record(spare[0], addr, pages, VMM_RANGE_RESERVED, access);
	if (!need_before) {
		f->start = end;
		set_pages(f, pages_of(f) - pages);
		link_before(rr, f, r);
	} else {
		set_pages(f, (addr - f->start) / PAGE_SIZE);
		link_after(f, r);
	}
	climb_max_free(ctx, f);
	reservation_link(ctx, rr, r);
	hash_insert(ctx, r);
	if (need_before && need_after) {
		struct range_record *tail = new_record(spare[1], end, (f_end - end) / PAGE_SIZE, VMM_RANGE_FREE, 0);
		link_after(r, tail);
		avl_insert_after(&rr->free_tree, &f->node, &tail->node, &ctx->backend_work);
	}
	return VM_OK;
}

/* Drops a free record whose pages a neighbour has taken over. */
static void absorb(struct vmm_context *ctx, struct region_records *rr, struct range_record *gone)
{
	avl_remove(&rr->free_tree, &gone->node, &ctx->backend_work);
	unlink_record(rr, gone);
	record_free(ctx, gone);
}

/* The reservation that starts exactly at start, or an error saying what is there instead. */
static enum vm_status reservation_starting(struct vmm_context *ctx, struct region_records *rr,
					   uint64_t start, struct range_record **out)
{
	struct range_record *r = hash_find(ctx, start);
	if (!r)
		r = reservation_at_or_before(ctx, rr, start);
	*out = r;
	if (!r || start >= record_end(r))
		return VM_ERR_NOT_RESERVED;
	return r->start == start ? VM_OK : VM_ERR_NOT_RESERVATION_START;
}

static enum vm_status list_release(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, uint64_t pages)
{
	struct region_records *rr = records_of(ctx, region);
	struct range_record *n;
	enum vm_status st = reservation_starting(ctx, rr, addr, &n);
	if (st != VM_OK)
		return st;
	if (pages_of(n) != pages)
		return VM_ERR_WRONG_LENGTH;
	state_of(ctx)->recent = NULL;
	state_of(ctx)->released_unmapped = !(n->node.payload & RECORD_MAPPED_BIT);
	avl_remove(&rr->reservations, &n->node, &ctx->backend_work);
	hash_remove(ctx, n);
	/* A free neighbour takes the pages over (so the record that goes is the reservation's). */
	struct range_record *prev = n->prev, *next = n->next;
	bool prev_free = prev && is_free(prev);
	bool next_free = next && is_free(next);
	if (prev_free) {
		uint64_t more = pages_of(n) + (next_free ? pages_of(next) : 0);
		if (next_free)
			absorb(ctx, rr, next);
		unlink_record(rr, n);
		record_free(ctx, n);
		set_pages(prev, pages_of(prev) + more);
		climb_max_free(ctx, prev);
	} else if (next_free) {
		next->start = n->start;
		set_pages(next, pages_of(next) + pages_of(n));
		unlink_record(rr, n);
		record_free(ctx, n);
		climb_max_free(ctx, next);
	} else {
		set_state(n, VMM_RANGE_FREE, 0);
		free_link(ctx, rr, n);
	}
	return VM_OK;
}

static enum vm_status list_resize(struct vmm_context *ctx, const struct vmm_region *region,
				  uint64_t start, uint64_t old_pages, uint64_t new_pages)
{
	struct region_records *rr = records_of(ctx, region);
	struct range_record *n;
	enum vm_status st = reservation_starting(ctx, rr, start, &n);
	MM_ASSERT(st == VM_OK && pages_of(n) == old_pages, "list_resize: no reservation %llx+%llu",
		  (unsigned long long)start, (unsigned long long)old_pages);
	state_of(ctx)->recent = NULL;
	struct range_record *next = n->next;
	bool next_free = next && is_free(next);
	if (new_pages > old_pages) {
		uint64_t more = new_pages - old_pages;
		MM_ASSERT(next_free && pages_of(next) >= more, "list_resize: no room after %llx",
			  (unsigned long long)start);
		set_pages(n, new_pages); /* reserved: no maximum moves */
		if (pages_of(next) == more) {
			avl_remove(&rr->free_tree, &next->node, &ctx->backend_work);
			unlink_record(rr, next);
			if (state_of(ctx)->spare)
				record_free(ctx, next);
			else
				state_of(ctx)->spare = next;
		} else {
			next->start += more * PAGE_SIZE;
			set_pages(next, pages_of(next) - more);
			climb_max_free(ctx, next);
		}
		return VM_OK;
	}
	uint64_t less = old_pages - new_pages;
	if (next_free) {
		next->start -= less * PAGE_SIZE;
		set_pages(next, pages_of(next) + less);
		climb_max_free(ctx, next);
	} else {
		struct range_record *tail = state_of(ctx)->spare;
		state_of(ctx)->spare = NULL;
		if (!tail)
			tail = record_alloc(ctx);
		if (!tail)
			return VM_ERR_NO_MEMORY;
		new_record(tail, start + new_pages * PAGE_SIZE, less, VMM_RANGE_FREE, 0);
		link_after(n, tail);
		free_link(ctx, rr, tail);
	}
	set_pages(n, new_pages);
	return VM_OK;
}

static void list_query(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
		       uint64_t lo, uint64_t hi, struct vmm_extent *out)
{
	struct range_record *n = recent_or_covering(ctx, records_of(ctx, region), addr);
	state_of(ctx)->recent = n;
	uint64_t start = MAX(n->start, lo), end = MIN(record_end(n), hi);
	*out = (struct vmm_extent){ is_free(n) ? VMM_RANGE_FREE : VMM_RANGE_RESERVED, start,
				    (end - start) / PAGE_SIZE, access_of(n) };
}

static enum vmm_range_state list_lookup(struct vmm_context *ctx, const struct vmm_region *region,
				       uint64_t addr, unsigned *access)
{
	struct range_record *n = recent_or_covering(ctx, records_of(ctx, region), addr);
	state_of(ctx)->recent = n;
	*access = access_of(n);
	return is_free(n) ? VMM_RANGE_FREE : VMM_RANGE_RESERVED;
}

/* A reservation split at addr: the record is cut in two with the same access (one new record). */
static enum vm_status list_split(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr)
{
	struct region_records *rr = records_of(ctx, region);
	struct range_record *n = record_at(ctx, rr, addr);
	if (is_free(n))
		return VM_ERR_NOT_RESERVED;
	if (n->start == addr)
		return VM_OK;
	struct range_record *tail = record_alloc(ctx);
	if (!tail)
		return VM_ERR_NO_MEMORY;
	uint64_t end = record_end(n);
	set_pages(n, (addr - n->start) / PAGE_SIZE); /* reserved: no maximum moves */
	tail->start = addr;
	tail->node.payload = n->node.payload; /* the same state and access */
	set_pages(tail, (end - addr) / PAGE_SIZE);
	link_after(n, tail);
	avl_insert_after(&rr->reservations, &n->node, &tail->node, &ctx->backend_work);
	hash_insert(ctx, tail);
	return VM_OK;
}

static void list_set_access(struct vmm_context *ctx, const struct vmm_region *region, uint64_t start,
			    uint64_t pages, unsigned access)
{
	struct range_record *n;
	enum vm_status st = reservation_starting(ctx, records_of(ctx, region), start, &n);
	MM_ASSERT(st == VM_OK && pages_of(n) == pages, "list_set_access: no reservation %llx+%llu",
		  (unsigned long long)start, (unsigned long long)pages);
	n->node.payload = (n->node.payload & ~RECORD_ACCESS_MASK) |
			  (uint64_t)vmm_access_pack(access) << RECORD_ACCESS_SHIFT;
}

static void list_note_mapped(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr)
{
	struct range_record *n = recent_or_covering(ctx, records_of(ctx, region), addr);
	MM_ASSERT(!is_free(n), "list_note_mapped: %llx is not reserved", (unsigned long long)addr);
	n->node.payload |= RECORD_MAPPED_BIT;
	state_of(ctx)->recent = n;
}

static bool list_released_unmapped(const struct vmm_context *ctx)
{
	return state_of(ctx)->released_unmapped;
}

/* --- self-check ---------------------------------------------------------------------------- */

struct tree_check {
	unsigned bad;
	struct range_record *expect; /* the next record of the tree's state in address order */
	bool want_free;
	uint64_t nodes;
};

static void check_fail(unsigned *bad, const struct range_record *r, const char *what)
{
	mm_log("list self-check: record %llx+%llu: %s\n", (unsigned long long)r->start,
	       (unsigned long long)pages_of(r), what);
	++*bad;
}

/* The next record after r (inclusive) in address order whose state is the tree's. */
static struct range_record *next_of_state(struct range_record *r, bool want_free)
{
	while (r && is_free(r) != want_free)
		r = r->next;
	return r;
}

/* Visits the subtree in order against the address list; returns its height, recomputed. */
static unsigned check_subtree(struct tree_check *c, struct avl_node *n, const struct avl_node *parent,
			      uint64_t *longest_free)
{
	*longest_free = 0;
	if (!n)
		return 0;
	struct range_record *r = record_of(n);
	if (n->parent != parent)
		check_fail(&c->bad, r, "parent link");
	uint64_t left_free, right_free;
	unsigned hl = check_subtree(c, n->left, n, &left_free);
	c->nodes++;
	if (r != c->expect)
		check_fail(&c->bad, r, "tree order differs from the address list's, or wrong tree");
	else
		c->expect = next_of_state(r->next, c->want_free);
	unsigned hr = check_subtree(c, n->right, n, &right_free);
	*longest_free = MAX(pages_of(r), MAX(left_free, right_free));
	if (c->want_free && r->max_free != *longest_free)
		check_fail(&c->bad, r, "max_free differs from the subtree's longest free record");
	if (n->height != 1 + MAX(hl, hr) || hl > hr + 1 || hr > hl + 1)
		check_fail(&c->bad, r, "height or balance");
	return 1 + MAX(hl, hr);
}

/* Each region is tiled by its address list; both trees hold its records in order, links,
 * heights and maxima equal to a recount. */
static unsigned list_self_check(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	unsigned bad = 0;
	uint64_t records = ls->spare != NULL, hashed = 0;
	for (unsigned i = 0; i < ctx->region_count; i++) {
		const struct vmm_region *region = &ctx->regions[i];
		struct region_records *rr = &ls->regions[i];
		uint64_t next_start = region->base, listed = 0;
		bool prev_free = false;
		for (struct range_record *r = rr->first, *prev = NULL; r; prev = r, r = r->next) {
			listed++;
			if (!is_free(r) && r->hash_link) {
				hashed++;
				if (*r->hash_link != r)
					check_fail(&bad, r, "hash chain link");
			}
			if (r->prev != prev)
				check_fail(&bad, r, "prev link");
			if (r->start != next_start)
				check_fail(&bad, r, "does not start where the previous record ends");
			if (pages_of(r) == 0 || (is_free(r) && prev_free))
				check_fail(&bad, r, "empty, or free next to a free record");
			next_start = record_end(r);
			prev_free = is_free(r);
		}
		if (next_start != region->base + region->pages * PAGE_SIZE) {
			mm_log("list self-check: region %s not tiled to its end\n", region->name);
			bad++;
		}
		uint64_t in_trees = 0;
		for (unsigned t = 0; t < 2; t++) {
			struct tree_check c = { .want_free = t == 0 };
			c.expect = next_of_state(rr->first, c.want_free);
			uint64_t longest;
			check_subtree(&c, (t == 0 ? &rr->free_tree : &rr->reservations)->root, NULL, &longest);
			if (c.expect) {
				check_fail(&c.bad, c.expect, "in the address list but not in its tree");
			}
			bad += c.bad;
			in_trees += c.nodes;
		}
		if (in_trees != listed) {
			mm_log("list self-check: region %s: %llu records listed, %llu in trees\n", region->name,
			       (unsigned long long)listed, (unsigned long long)in_trees);
			bad++;
		}
		records += listed;
	}
	if (hashed != ls->hash.entries) {
		mm_log("list self-check: %llu reservations hashed, %llu counted\n",
		       (unsigned long long)hashed, (unsigned long long)ls->hash.entries);
		bad++;
	}
	if (records != ls->records_in_use) {
		mm_log("list self-check: %llu records listed (and spare), %llu in use\n",
		       (unsigned long long)records, (unsigned long long)ls->records_in_use);
		bad++;
	}
	return bad;
}

/*
 * 10 paths of at most H + 1 nodes, for the records in use plus the two an operation may add, and
 * the hash's own steps.
 */
static uint64_t list_work_bound(const struct vmm_context *ctx, uint64_t pages)
{
	(void)pages;
	return 10 * (avl_height_bound(state_of(ctx)->records_in_use + 2) + 1) + LIST_HASH_WORK;
}

/* The state page, the pages records are carved from and the hash's (page tables not included). */
static uint64_t list_bookkeeping_bytes(const struct vmm_context *ctx)
{
	const struct list_state *ls = state_of(ctx);
	uint64_t hash_pages = (ls->hash.table ? ls->hash.pages + 1 : 0) + (ls->hash.old ? ls->hash.old_pages + 1 : 0);
	return (ls->record_pages + 1 + hash_pages) * PAGE_SIZE;
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
	.note_mapped = list_note_mapped,
	.released_unmapped = list_released_unmapped,
	.work_bound = list_work_bound,
	.bookkeeping_bytes = list_bookkeeping_bytes,
	.self_check = list_self_check,
};
