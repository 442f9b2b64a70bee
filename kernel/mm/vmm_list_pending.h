/*
 * The list backend's pending set (one per region): up to LIST_PENDING records that are in the
 * address list but not yet filed in their index (the free tree, or the reservation tree and the
 * hash). Every record an operation creates or changes into the other state starts pending, but
 * for a reservation released into a free run between two reservations (a hole, the free record
 * least likely to go soon: it is filed at once, so that it does not cost every search a look
 * while it waits); a pending record is filed only when the set is full and a newer record needs
 * the slot (the oldest goes first). A record that goes again while pending (a reservation
 * released soon after it was made, the free head an aligned request cut off and its release
 * merges back) never costs tree or hash upkeep, and a pending free record changes length
 * without a maximum climb. The idea is a write buffer
 * in front of the indexes (vmem's quantum caches defer work the same way): the upkeep is
 * deferred, never skipped, and what the deferral costs the readers is bounded:
 *   - a search compares the free tree's answer with the pending free records (LIST_PENDING);
 *   - a lookup of an address descends the reservation tree to the last filed reservation at or
 *     before it and walks the address list from there: the records it passes are free or
 *     pending, no two free ones adjacent, so at most 2 LIST_PENDING + 1 steps
 *     (vmm_list_tree.c, vmm_list_covering);
 *   - a release looks for its reservation among the pending ones (LIST_PENDING) before the hash.
 *
 * Invariants (vmm_list_check.c recounts them): RECORD_PENDING_BIT is set exactly on the records
 * in rr->pending[0 .. pending_count), each listed once, all of the region, and rr->pending_free
 * counts the free ones; a pending record is in no tree and no hash chain; every other record of
 * the region but the top run is in its state's tree.
 * This header holds the steps every carve and release takes (inline); vmm_list_pending.c files
 * the oldest record when the set is full.
 * Bound: pend files at most one record (a settle, at most 4 paths and one hash insertion);
 * unfile is O(1) for the top run, a scan of the set for a pending record, avl_remove (4 paths)
 * for a filed reservation and a settle, the successor and avl_remove (6) for a filed free record;
 * each counts what it visits in backend_work.
 */
#ifndef PAGESCOPE_MM_VMM_LIST_PENDING_H
#define PAGESCOPE_MM_VMM_LIST_PENDING_H

/* Included at the end of vmm_list.h (it needs the state and the trees' declarations). */
#include "vmm_list.h"

/*
 * Records a call reads beyond its paths at most (vmm_backend_list.c adds them up): the pending set's
 * 5K + 1, and the region's first record a lookup starts from when its descent found none.
 */
#define LIST_PENDING_WORK (5 * LIST_PENDING + 2)

/* Files the oldest pending record in its index and takes it out of the full set. */
void vmm_list_file_oldest(struct vmm_context *ctx, struct region_records *rr);
/* Takes filed record r out of its tree (and the hash). */
void vmm_list_unfile_filed(struct vmm_context *ctx, struct region_records *rr, struct range_record *r);

/* Takes slot i out of the set, keeping the others oldest first. */
static inline void pending_drop_slot(struct region_records *rr, unsigned i)
{
	rr->pending_free -= is_free(rr->pending[i]);
	rr->pending_count--;
	for (; i < rr->pending_count; i++)
		rr->pending[i] = rr->pending[i + 1];
}

/* Makes free record r (the region's last, in no index) the region's top run. */
static inline void vmm_list_make_top(struct region_records *rr, struct range_record *r)
{
	r->node.word |= RECORD_TOP_BIT;
	r->hash_link = NULL;
	rr->top = r;
}

/* Puts r (in the address list, in no index) in the pending set, which has a free slot. */
static inline void vmm_list_pend_in_slot(struct region_records *rr, struct range_record *r)
{
	r->node.word |= RECORD_PENDING_BIT;
	r->hash_link = NULL;
	rr->pending_free += is_free(r);
	rr->pending[rr->pending_count++] = r;
}

/* Puts r (in the address list, in no index) in the pending set, filing the oldest if it is full. */
static inline void vmm_list_pend(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
{
	if (rr->pending_count == LIST_PENDING)
		vmm_list_file_oldest(ctx, rr);
	vmm_list_pend_in_slot(rr, r);
}

/* Pending record r changes state in place (an exact fit of a pending free record). */
static inline void vmm_list_pending_set_state(struct region_records *rr, struct range_record *r,
					      enum vmm_range_state state, unsigned access)
{
	rr->pending_free -= is_free(r);
	set_state(r, state, access);
	rr->pending_free += is_free(r);
}

/* Takes r out of whatever holds it: the top, the pending set, or its tree (and the hash). */
static inline void vmm_list_unfile(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
{
	if (is_pending(r)) { /* newest first: what goes while pending is mostly the newest */
		unsigned i = rr->pending_count - 1;
		while (rr->pending[i] != r)
			i--;
		ctx->backend_work += rr->pending_count - i;
		pending_drop_slot(rr, i);
		r->node.word &= ~RECORD_PENDING_BIT;
	} else if (is_top(r)) {
		rr->top = NULL;
		r->node.word &= ~RECORD_TOP_BIT;
	} else {
		vmm_list_unfile_filed(ctx, rr, r);
	}
}

/*
 * After free record r's length changed from old_pages: nothing when it is pending or top; else the free
 * tree's maxima, where a shrink is deferred (vmm_list_tree.c: at most one record is stale, and a
 * growth back to the length the tree counts needs no climb at all).
 */
static inline void vmm_list_free_resized(struct vmm_context *ctx, struct region_records *rr,
					 struct range_record *r, uint64_t old_pages)
{
	if (is_unfiled(r))
		return;
	if (r == rr->stale) {
		if (pages_of(r) < rr->stale_pages)
			return; /* still within what the tree counts */
		rr->stale = NULL;
		if (pages_of(r) == rr->stale_pages)
			return; /* back to what the tree counts */
		vmm_list_climb_max_free(ctx, r);
		return;
	}
	if (pages_of(r) < old_pages) {
		if (rr->stale) { /* its climb may pass r: r must count as the tree counts it */
			uint64_t now = pages_of(r);
			set_pages(r, old_pages);
			vmm_list_settle_stale(ctx, rr);
			set_pages(r, now);
		}
		rr->stale = r;
		rr->stale_pages = old_pages;
		return;
	}
	vmm_list_settle(ctx, rr);
	vmm_list_climb_max_free(ctx, r);
}

/* The pending reservation starting at start, or NULL. */
static inline struct range_record *vmm_list_pending_reservation(struct vmm_context *ctx,
								const struct region_records *rr, uint64_t start)
{
	for (unsigned i = rr->pending_count; i-- > 0;) { /* newest first */
		struct range_record *r = rr->pending[i];
		if (r->start == start && !is_free(r)) {
			ctx->backend_work += rr->pending_count - i;
			return r;
		}
	}
	ctx->backend_work += rr->pending_count;
	return NULL;
}

/* The lowest of `best` (or NULL) and the pending free records >= min_pages at or after from. */
static inline struct range_record *vmm_list_pending_fit(struct vmm_context *ctx, const struct region_records *rr,
							uint64_t from, uint64_t min_pages,
							struct range_record *best)
{
	if (!rr->pending_free)
		return best;
	uint64_t below = best ? best->start : UINT64_MAX; /* only a lower fit can win */
	for (unsigned i = 0; i < rr->pending_count; i++) {
		struct range_record *r = rr->pending[i];
		if (r->start < below && r->start >= from && is_free(r) && pages_of(r) >= min_pages) {
			best = r;
			below = r->start;
		}
	}
	ctx->backend_work += rr->pending_count;
	return best;
}

#endif
