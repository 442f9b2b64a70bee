/*
 * The list bookkeeping backend's private interface: the state a context keeps and the operations
 * its files share. Every page of a region belongs to exactly one record, either a maximal free
 * run or one reservation. Its files, one concept each:
 *   vmm_list_record.h     the record and the address list (inline)
 *   vmm_list_pool.c       the record pool: records carved from pages of the page source
 *   vmm_list_hash.c/.h    the reservation hash (per context): reservations by start address
 *   vmm_list_tree.c       the free tree and the reservation tree: upkeep, search, lookup
 *   vmm_list_pending.h/.c the pending set (per region): new records not yet filed in a tree
 *   vmm_list_check.c      the self-check: every invariant recounted
 *   vmm_backend_list.c    the backend operations and their bound
 * Five structures per region and one per context hold the records:
 *   - the address list: every record, linked to its neighbours in address order (boundary tags,
 *     as vmem's segments are), so a release finds the runs it merges with in O(1);
 *   - the pending set: up to LIST_PENDING records just made or changed, not yet filed in the
 *     index below (a write buffer: what is released or merged away while pending never costs
 *     tree or hash upkeep; vmm_list_pending.h);
 *   - the top run: the region's last record when it is free (dlmalloc's "top", the wilderness
 *     every region starts as), kept out of the free tree: a search takes it only when nothing
 *     lower fits, so carving from it or merging into it never climbs the tree;
 *   - the free tree: the other free records, an AVL tree in address order (avl_tree.c), each
 *     node augmented with the longest free record in its subtree (a shrink's climb deferred
 *     while one record is "stale", and rr->lowest its first record: vmm_list_tree.c);
 *   - the reservation tree: the other reservations, an AVL tree in address order, no augment;
 *   - the reservation hash (per context): the reservations of the trees by start address
 *     (vmem's allocation hash), so that a release finds its record in O(1) where the tree would
 *     take a descent.
 *
 * Invariants (vmm_list_self_check recounts each):
 *   - The address list's: vmm_list_record.h; the hash's: vmm_list_hash.h; the pool's:
 *     vmm_list_pool.c.
 *   - The pending set's: vmm_list_pending.h. rr->top is the region's last record if that is
 *     free, else NULL, and carries RECORD_TOP_BIT (no other record does). The free tree holds
 *     exactly the free records that are neither pending nor top, the reservation tree exactly
 *     the reservations that are not pending, each in address order; record->max_free (free
 *     records in the tree) = longest free record in its free-tree subtree, counting the stale
 *     record (if any) at rr->stale_pages; rr->lowest = the free tree's first record (the trees'
 *     own invariants: avl_tree.c; the stale record's: vmm_list_tree.c).
 *   - state->recent is NULL or the record find_free_run, a query, a lookup or note_mapped last
 *     returned or marked, unchanged since: every call that changes records clears it (so it
 *     never points at a freed record). It saves the lookup of a mark right after a search (what
 *     vmm_reserve does) and of a note_mapped right after a query or lookup (what a map and a
 *     fault do).
 *   - state->spare is NULL or a record in no structure, kept for a shrink: a growth that swallows
 *     the whole free record after a reservation keeps that record here, so shrinking back
 *     (undoing the growth, as brk does when mapping fails) needs no memory and cannot fail.
 *   - state->records_in_use counts the records listed in the regions plus the spare and the
 *     pool's cached record (vmm_list_pool.c).
 * Bound: nothing here does work of its own; each file states the bound of its steps and
 * vmm_backend_list.c adds them up per operation.
 */
#ifndef PAGESCOPE_MM_VMM_LIST_H
#define PAGESCOPE_MM_VMM_LIST_H

#include "vmm_list_record.h"
#include "vmm_list_hash.h"

struct list_state {
	struct region_records regions[VMM_MAX_REGIONS];
	struct range_record *recent; /* see the invariants */
	struct range_record *spare; /* see the invariants */
	struct list_node partial; /* record pages with a free slot (vmm_list_pool.c) */
	struct list_node full;
	struct record_page *kept_page; /* an emptied record page kept for the next (vmm_list_pool.c) */
	struct range_record *cached; /* a freed record kept for the next alloc (vmm_list_pool.c) */
	uint64_t record_pages;
	uint64_t records_in_use;
	struct reservation_hash hash;
	uint64_t released_word; /* node.word of the reservation the last release freed (its mapped mark) */
};

static inline struct list_state *state_of(const struct vmm_context *ctx)
{
	return ctx->backend_private;
}

/*
 * The records of `region` (one of ctx->regions): state->regions[region - ctx->regions], computed
 * as one scaled add of the byte offset (every operation starts here).
 */
static inline struct region_records *records_of(struct vmm_context *ctx, const struct vmm_region *region)
{
	STATIC_ASSERT(offsetof(struct list_state, regions) == 0, "the regions' records open the state");
	STATIC_ASSERT(sizeof(struct region_records) % sizeof(struct vmm_region) == 0,
		      "a region's records are a whole number of vmm_regions long");
	uintptr_t offset = (uintptr_t)region - (uintptr_t)ctx->regions;
	return (struct region_records *)((char *)state_of(ctx) +
					 offset * (sizeof(struct region_records) / sizeof(struct vmm_region)));
}

/* --- the record pool (vmm_list_pool.c) ----------------------------------------------------- */

/* Header at the start of each page of records. */
struct record_page {
	struct list_node link;           /* in the partial or the full list */
	struct range_record *free_slots;  /* linked through node.right */
	unsigned in_use;
};

#define RECORDS_PER_PAGE ((PAGE_SIZE - ALIGN_UP(sizeof(struct record_page), 16)) / sizeof(struct range_record))

void vmm_list_pool_init(struct list_state *ls);
/* The partial list is empty: the kept page, else a new one, goes on it. False: no memory. */
bool vmm_list_pool_refill(struct vmm_context *ctx);
/*
 * After a put that said so: a page emptied (kept, or back to the source), or the kept page and
 * the cached record due back (few records left).
 */
void vmm_list_pool_give_back(struct vmm_context *ctx, struct record_page *page);

/* Moves a record page (on one of the two lists) to the front of `list`. */
static inline void record_page_move_to(struct list_node *list, struct record_page *page)
{
	list_remove(&page->link);
	list_push_front(list, &page->link);
}

/* A record in no structure, from the first page with a free slot (there must be one). */
static inline struct range_record *vmm_list_record_take(struct list_state *ls)
{
	struct record_page *page = container_of(list_first(&ls->partial), struct record_page, link);
	struct range_record *r = page->free_slots;
	page->free_slots = record_of(r->node.right);
	page->in_use++;
	ls->records_in_use++;
	if (!page->free_slots)
		record_page_move_to(&ls->full, page);
	return r;
}

/* A record in no structure, or NULL (no memory): the cached one, else one from a page. */
static inline struct range_record *vmm_list_record_alloc(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	struct range_record *r = ls->cached;
	if (likely(r)) {
		ls->cached = NULL;
		return r;
	}
	if (unlikely(list_is_empty(&ls->partial)) && !vmm_list_pool_refill(ctx))
		return NULL;
	return vmm_list_record_take(ls);
}

static inline struct record_page *record_page_of(const struct range_record *r)
{
	return (struct record_page *)ALIGN_DOWN((uintptr_t)r, (uintptr_t)PAGE_SIZE);
}

/* True when a freed record may be kept as the cached one (vmm_list_pool.c: when it may). */
static inline bool vmm_list_record_cacheable(const struct list_state *ls)
{
	return !ls->cached && ls->records_in_use >= RECORDS_PER_PAGE / 2;
}

/* Puts r back in its page's free slots; true when a page or the cached record is due back. */
static inline bool vmm_list_record_put(struct list_state *ls, struct range_record *r)
{
	struct record_page *page = record_page_of(r);
	MM_ASSERT(page->in_use > 0, "record_free: page has no record in use");
	if (!page->free_slots)
		record_page_move_to(&ls->partial, page);
	r->node.right = page->free_slots ? &page->free_slots->node : NULL;
	page->free_slots = r;
	page->in_use--;
	ls->records_in_use--;
	return page->in_use == 0 ||
	       ((ls->kept_page || ls->cached) && ls->records_in_use < RECORDS_PER_PAGE / 2);
}

static inline void vmm_list_record_free(struct vmm_context *ctx, struct range_record *r)
{
	struct list_state *ls = state_of(ctx);
	if (likely(vmm_list_record_cacheable(ls)))
		ls->cached = r;
	else if (unlikely(vmm_list_record_put(ls, r)))
		vmm_list_pool_give_back(ctx, record_page_of(r));
}
/* Every record page back to the source, whatever is in use. */
void vmm_list_pool_destroy(struct vmm_context *ctx);

/* --- the trees (vmm_list_tree.c) ----------------------------------------------------------- */

void vmm_list_trees_init(struct region_records *rr, struct range_record *whole_region);
void vmm_list_climb_max_free(struct vmm_context *ctx, struct range_record *r);
/* Climbs the deferred shrink, if any (vmm_list_tree.c): every free-tree change but a shrink needs it. */
void vmm_list_settle_stale(struct vmm_context *ctx, struct region_records *rr);
static inline void vmm_list_settle(struct vmm_context *ctx, struct region_records *rr)
{
	if (rr->stale)
		vmm_list_settle_stale(ctx, rr);
}
void vmm_list_reservation_link(struct vmm_context *ctx, struct region_records *rr, struct range_record *r);
void vmm_list_free_link(struct vmm_context *ctx, struct region_records *rr, struct range_record *r);
struct range_record *vmm_list_covering(struct vmm_context *ctx, struct region_records *rr, uint64_t addr);
/*
 * Lowest free record in free-tree subtree n with at least min_pages pages; max_free(n) >=
 * min_pages, and the stale record, if any, still holds min_pages (vmm_list_tree.c): one descent.
 * Inline: reserve_lowest takes it with no call.
 */
static inline struct avl_node *vmm_list_lowest_fit(struct vmm_context *ctx, struct avl_node *n, uint64_t min_pages)
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

/* The lowest free record >= min_pages at or after from (the search: vmm_list_tree.c), or NULL. */
struct range_record *vmm_list_lowest_free(struct vmm_context *ctx, struct region_records *rr,
					  const struct vmm_region *region, uint64_t from, uint64_t min_pages);
/* The backend's find_free_run: the lowest free record >= min_pages at or after from. */
bool vmm_list_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			    uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out);

/* --- the self-check (vmm_list_check.c) ----------------------------------------------------- */

unsigned vmm_list_self_check(struct vmm_context *ctx);

/* --- the pending set (inline) -------------------------------------------------------------- */

#include "vmm_list_pending.h"

#endif
