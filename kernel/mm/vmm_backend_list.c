/*
 * VMM bookkeeping as ranges per region, the backend operations: every page of a region belongs
 * to exactly one record, either a maximal free run or one reservation. The records and the
 * structures holding them (an address list, a pending set, a free tree, a reservation tree per
 * region, a reservation hash per context), their invariants and the files of each: vmm_list.h.
 *
 * Bound, proved: an AVL tree of r nodes has height H(r) <= 1.44 log2(r + 2) (its minimal node
 * counts N(h) = N(h-1) + N(h-2) + 1 grow like Fibonacci numbers; avl_height_bound() computes the
 * exact H from them). backend_work counts nodes and entries visited; call a descent or climb of
 * one tree a path: it visits at most H + 1 nodes, H for the records in use plus the two an
 * operation may add (each tree holds at most that many). The paths of each tree step are in
 * vmm_list_tree.c: filing a record (a descent to its place and avl_tree.c's insert) 4; taking a
 * filed reservation out (avl_remove) 4, a filed free record out 6 (a settle, its successor for
 * rr->lowest, avl_remove); settling the deferred shrink (a maximum climb) 1, and every free-tree
 * change but a shrink settles first, so a settle is paid once per new stale record, which only a
 * shrink makes. The top run and the pending set cost no path (vmm_list_pending.h: a pend files at
 * most one record; taking a pending record out scans at most K = LIST_PENDING slots). So:
 *   search   settle 1; the lowest filed run when it fits, else descent, climb, descent 3
 *                                                                                     <= 4 paths
 *   mark     lookup (none when marking the run just found) 1, then either a carve (settle 1 and
 *            the shrink deferred, pending the reservation and for an aligned request the free
 *            head or tail: 2 filings 8 and the settle of the shrink 1) or an exact fit of a
 *            filed run (out 6, pending it: filing 4)                                 <= 11 paths
 *   release  lookup 1, then a merge (the reservation out 4, a free neighbour out 6, the growth's
 *            climb 1) or none (out 4, the hole filed at once: settle 1, filing 4)    <= 12 paths
 *   resize   lookup 1, then a free record out 6, or a settle and a climb 2, or a settle and
 *            pending a tail 5                                                         <= 7 paths
 *   split    lookup 1, pending the tail: settle 1, filing 4                           6 paths
 * and in entries: a search scans the pending set (K), a lookup walks at most 2K + 1 records
 * after its descent (vmm_list_covering; from the region's first record, 1 more, when the descent
 * found none), a release scans the set for its reservation (K) and takes up to two records out of
 * it (2K): LIST_PENDING_WORK = 5K + 2 per call. The hash adds at
 * most LIST_HASH_WORK = 13 entries to a call (vmm_list_hash.h: a mark's two insertions are 10).
 * reserve_lowest is a search and a mark in one call (the mark's lookup not needed), and the
 * cases list_reserve_lowest and list_release write out take a subset of the steps above.
 * So any reserve (search + mark) or release costs at most 15 (H + 1) + 5K + 2 + 13
 * (list_work_bound), whatever the number of mapped pages or the layout: O(log r). No recursion
 * outside the self-check.
 */
#include "vmm.h"
#include "avl_tree.h"
#include "vmm_list.h"
#include "vmm_list_record.h"
#include "vmm_list_hash.h"

/* --- backend operations ----------------------------------------------------------------------- */

static void list_destroy(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	vmm_list_pool_destroy(ctx);
	vmm_list_hash_destroy(ctx, &ls->hash);
	page_source_free(ctx->source, virt_to_phys(ls), 1);
	ctx->backend_private = NULL;
}

static enum vm_status list_backend_init(struct vmm_context *ctx)
{
	STATIC_ASSERT(sizeof(struct list_state) <= PAGE_SIZE, "list state fits a page");
	paddr_t pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
	if (pa == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	struct list_state *ls = phys_to_virt(pa);
	*ls = (struct list_state){ 0 };
	vmm_list_pool_init(ls);
	ctx->backend_private = ls;
	for (unsigned i = 0; i < ctx->region_count; i++) {
		MM_ASSERT(ctx->regions[i].pages >> RECORD_PAGES_BITS == 0,
			  "list_init: region %s too large for a record", ctx->regions[i].name);
		struct range_record *r = vmm_list_record_alloc(ctx);
		if (!r) {
			list_destroy(ctx);
			return VM_ERR_NO_MEMORY;
		}
		struct region_records *rr = &ls->regions[i];
		rr->first = new_record(r, ctx->regions[i].base, ctx->regions[i].pages, VMM_RANGE_FREE, 0);
		vmm_list_trees_init(rr, r);
	}
	return VM_OK;
}

/* The record covering addr: state->recent when it does, else a lookup. */
static struct range_record *recent_or_covering(struct vmm_context *ctx, struct region_records *rr,
					       uint64_t addr)
{
	struct range_record *recent = state_of(ctx)->recent;
	if (recent && addr >= recent->start && addr < record_end(recent))
		return recent;
	return vmm_list_covering(ctx, rr, addr);
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

/*
 * Every carve but the common one (carve, below): an exact fit, or a reservation starting inside f
 * (an aligned request). mark_reserved's contract.
 */
static NOINLINE enum vm_status carve_other(struct vmm_context *ctx, struct region_records *rr,
					   struct range_record *f, uint64_t addr, uint64_t pages, unsigned access)
{
	uint64_t end = addr + pages * PAGE_SIZE, f_end = record_end(f), f_pages = pages_of(f);
	bool need_after = end < f_end;
	if (addr == f->start) { /* an exact fit: the free record becomes the reservation */
		if (is_pending(f)) {
			vmm_list_pending_set_state(rr, f, VMM_RANGE_RESERVED, access);
			return VM_OK;
		}
		vmm_list_unfile(ctx, rr, f);
		set_state(f, VMM_RANGE_RESERVED, access);
		vmm_list_pend(ctx, rr, f);
		return VM_OK;
	}
	/* The reservation starts inside f (an aligned request): a record for it, one for a tail. */
	struct range_record *spare[2] = { NULL, NULL };
	for (unsigned i = 0; i < 1u + (unsigned)need_after; i++) {
		spare[i] = vmm_list_record_alloc(ctx);
		if (!spare[i]) {
			if (i == 1)
				vmm_list_record_free(ctx, spare[0]);
			return VM_ERR_NO_MEMORY;
		}
	}
	struct range_record *r = new_record(spare[0], addr, pages, VMM_RANGE_RESERVED, access);
	if (is_top(f) && need_after) {
		/*
		 * The top run keeps its record and its tail, and its head becomes a free record of its
		 * own: the top's record stays the one the region started with, so merging everything
		 * back leaves the records where they began (and their page no fuller than before).
		 */
		struct range_record *head = new_record(spare[1], f->start, (addr - f->start) / PAGE_SIZE,
						       VMM_RANGE_FREE, 0);
		f->start = end;
		set_pages(f, (f_end - end) / PAGE_SIZE);
		link_before(rr, f, head);
		link_before(rr, f, r);
		vmm_list_pend(ctx, rr, head);
		vmm_list_pend(ctx, rr, r);
		return VM_OK;
	}
	/* f keeps its head. A top run that does (the reservation takes its end) is no longer last. */
	bool head_leaves_top = is_top(f);
	if (head_leaves_top)
		vmm_list_unfile(ctx, rr, f);
	set_pages(f, (addr - f->start) / PAGE_SIZE);
	link_after(f, r);
	if (!head_leaves_top)
		vmm_list_free_resized(ctx, rr, f, f_pages); /* before any pend: a filing may climb past f */
	if (need_after) {
		struct range_record *tail = new_record(spare[1], end, (f_end - end) / PAGE_SIZE, VMM_RANGE_FREE, 0);
		link_after(r, tail);
		vmm_list_pend(ctx, rr, tail);
	}
	if (head_leaves_top)
		vmm_list_pend(ctx, rr, f);
	vmm_list_pend(ctx, rr, r);
	return VM_OK;
}

/* Records [addr, addr + pages) of free record f as one reservation (mark_reserved's contract). */
static ALWAYS_INLINE enum vm_status carve(struct vmm_context *ctx, struct region_records *rr,
					  struct range_record *f, uint64_t addr, uint64_t pages, unsigned access)
{
	uint64_t f_pages = pages_of(f);
	MM_ASSERT(is_free(f) && addr >= f->start && addr + pages * PAGE_SIZE <= record_end(f),
		  "list_mark_reserved: %llx+%llu not free", (unsigned long long)addr, (unsigned long long)pages);
	if (addr != f->start || pages == f_pages)
		return carve_other(ctx, rr, f, addr, pages, access);
	/* The common carve: the front of the lowest fit, which keeps the rest. */
	struct range_record *r = vmm_list_record_alloc(ctx);
	if (!r)
		return VM_ERR_NO_MEMORY;
	new_record(r, addr, pages, VMM_RANGE_RESERVED, access);
	f->start = addr + pages * PAGE_SIZE;
	set_pages(f, f_pages - pages);
	link_before(rr, f, r);
	vmm_list_free_resized(ctx, rr, f, f_pages); /* before the pend: a filing may climb past f */
	vmm_list_pend(ctx, rr, r);
	return VM_OK;
}

static enum vm_status list_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
					 uint64_t addr, uint64_t pages, unsigned access)
{
	struct region_records *rr = records_of(ctx, region);
	return carve(ctx, rr, record_at(ctx, rr, addr), addr, pages, access);
}

/* reserve_lowest's carve, when the common one below does not apply. */
static NOINLINE enum vm_status carve_found(struct vmm_context *ctx, struct region_records *rr,
					   struct range_record *f, uint64_t addr, uint64_t pages, unsigned access)
{
	return carve(ctx, rr, f, addr, pages, access);
}

/* reserve_lowest when the searches below do not apply: the whole search, then the carve. */
static NOINLINE enum vm_status reserve_searched(struct vmm_context *ctx, const struct vmm_region *region,
						uint64_t pages, uint64_t align_pages, unsigned access,
						uint64_t *addr)
{
	struct region_records *rr = records_of(ctx, region);
	struct range_record *f = vmm_list_lowest_free(ctx, rr, region, region->base, pages + align_pages - 1);
	if (!f)
		return VM_ERR_NO_SPACE;
	*addr = ALIGN_UP(f->start, align_pages * PAGE_SIZE);
	return carve(ctx, rr, f, *addr, pages, access);
}

/*
 * reserve_lowest's aligned reservation (addr after f's start). Written out with no call when it
 * lies inside the top run, the head it cuts off a free record of its own (as carve_other does
 * it), the pool has the two records and the pending set the two slots; else carve_found.
 */
static NOINLINE enum vm_status carve_in_top(struct vmm_context *ctx, struct region_records *rr,
					    struct range_record *f, uint64_t addr, uint64_t pages, unsigned access)
{
	struct list_state *ls = state_of(ctx);
	uint64_t start = f->start, end = addr + pages * PAGE_SIZE;
	if (unlikely(!is_top(f) || end >= record_end(f) || rr->pending_count != 0 || !ls->cached ||
		     list_is_empty(&ls->partial)))
		return carve_found(ctx, rr, f, addr, pages, access);
	struct range_record *r = ls->cached;
	ls->cached = NULL;
	struct range_record *head = vmm_list_record_take(ls);
	head->start = start;
	head->node.word = (addr - start) / PAGE_SIZE << RECORD_PAGES_SHIFT | RECORD_PENDING_BIT;
	head->hash_link = NULL;
	r->start = addr;
	r->node.word = pages << RECORD_PAGES_SHIFT | record_tag(VMM_RANGE_RESERVED, access) | RECORD_PENDING_BIT;
	r->hash_link = NULL;
	set_pages(f, pages_of(f) - (end - start) / PAGE_SIZE);
	f->start = end;
	link_before(rr, f, head);
	link_after(head, r);
	rr->pending[0] = head;
	rr->pending[1] = r;
	rr->pending_count = 2;
	rr->pending_free = 1;
	return VM_OK;
}

/*
 * vmm.c's placement in one call (vmm_backend.h): the search of find_free_run from the region's
 * base, then the carve of mark_reserved on the record it found (no lookup of it again).
 * Written out here, with no call, the common case: no free record is pending, and the free
 * tree's first record fits, or no filed record does (the tree's longest, which counts the stale
 * record at its old length, is short) and the top run is the fit; its front is carved with the
 * pool's cached record and a slot of the pending set, and no other record's shrink waits to be
 * climbed. An aligned reservation goes to carve_in_top (written out when it lies inside the top
 * run); everything else to reserve_searched or carve_found.
 */
static enum vm_status list_reserve_lowest(struct vmm_context *ctx, const struct vmm_region *region,
					  uint64_t pages, uint64_t align_pages, unsigned access, uint64_t *addr)
{
	struct list_state *ls = state_of(ctx);
	struct region_records *rr = records_of(ctx, region);
	uint64_t padded = pages + align_pages - 1;
	struct range_record *f = rr->lowest;
	ls->recent = NULL;
	if (unlikely(rr->pending_free))
		return reserve_searched(ctx, region, pages, align_pages, access, addr);
	if (!f || pages_of(f) < padded) {
		struct avl_node *root = rr->free_tree.root;
		if (f && max_free(root) >= padded) { /* a filed record fits: one descent */
			if (unlikely(rr->stale && pages_of(rr->stale) < padded))
				return reserve_searched(ctx, region, pages, align_pages, access, addr);
			f = record_of(vmm_list_lowest_fit(ctx, root, padded));
		} else {
			f = rr->top; /* no filed record fits */
			if (!f || pages_of(f) < padded)
				return reserve_searched(ctx, region, pages, align_pages, access, addr);
		}
	}
	uint64_t start = f->start, f_pages = pages_of(f);
	*addr = ALIGN_UP(start, align_pages * PAGE_SIZE);
	if (*addr != start)
		return carve_in_top(ctx, rr, f, *addr, pages, access);
	bool filed = !is_unfiled(f);
	struct range_record *r = ls->cached;
	if (unlikely(!r || pages == f_pages || rr->pending_count == LIST_PENDING ||
		     (filed && rr->stale && rr->stale != f)))
		return carve_found(ctx, rr, f, start, pages, access);
	ls->cached = NULL; /* the pool's cached record (vmm_list_record_alloc) */
	r->start = start;
	r->node.word = pages << RECORD_PAGES_SHIFT | record_tag(VMM_RANGE_RESERVED, access) | RECORD_PENDING_BIT;
	r->hash_link = NULL;
	struct range_record *before = f->prev; /* r into the address list before f */
	r->prev = before;
	r->next = f;
	f->prev = r;
	if (before)
		before->next = r;
	else
		rr->first = r;
	f->start = start + pages * PAGE_SIZE;
	set_pages(f, f_pages - pages);
	if (filed && !rr->stale) { /* the shrink deferred (vmm_list_free_resized) */
		rr->stale = f;
		rr->stale_pages = f_pages;
	}
	rr->pending[rr->pending_count++] = r; /* a reservation: pending_free stays */
	return VM_OK;
}

/* Drops a free record whose pages a neighbour has taken over. */
static void absorb(struct vmm_context *ctx, struct region_records *rr, struct range_record *gone)
{
	vmm_list_unfile(ctx, rr, gone);
	unlink_record(rr, gone);
	vmm_list_record_free(ctx, gone);
}

/* The reservation that starts exactly at start, or an error saying what is there instead. */
static ALWAYS_INLINE enum vm_status reservation_starting(struct vmm_context *ctx, struct region_records *rr,
					   uint64_t start, struct range_record **out)
{
	struct range_record *r = vmm_list_pending_reservation(ctx, rr, start);
	if (!r)
		r = vmm_list_hash_find(ctx, &state_of(ctx)->hash, start);
	if (!r)
		r = vmm_list_covering(ctx, rr, start);
	*out = r;
	if (is_free(r))
		return VM_ERR_NOT_RESERVED;
	return r->start == start ? VM_OK : VM_ERR_NOT_RESERVATION_START;
}

/* Frees reservation n (of the length asked): every release but the common one (list_release). */
static NOINLINE enum vm_status release_record(struct vmm_context *ctx, struct region_records *rr,
					      struct range_record *n)
{
	state_of(ctx)->recent = NULL;
	state_of(ctx)->released_word = n->node.word;
	/* A free neighbour takes the pages over (so the record that goes is the reservation's). */
	struct range_record *prev = n->prev, *next = n->next;
	bool prev_free = prev && is_free(prev);
	bool next_free = next && is_free(next);
	if (next_free && !prev_free) { /* the run after takes the pages over (a carve undone) */
		uint64_t next_pages = pages_of(next);
		vmm_list_unfile(ctx, rr, n);
		next->start = n->start;
		set_pages(next, next_pages + pages_of(n));
		unlink_record(rr, n);
		vmm_list_record_free(ctx, n);
		vmm_list_free_resized(ctx, rr, next, next_pages); /* nothing for the top run */
		return VM_OK;
	}
	if (!prev_free && !next_free && !next) { /* the reservation's record becomes the top run */
		vmm_list_unfile(ctx, rr, n);
		set_state(n, VMM_RANGE_FREE, 0);
		vmm_list_make_top(rr, n);
		return VM_OK;
	}
	if (!prev_free && !next_free) {
		/*
		 * The reservation's record becomes the free run, filed at once (not pending): a hole
		 * between two reservations is the free record least likely to go soon, and while
		 * pending it would cost every search a look (vmm_list_pending.h).
		 */
		vmm_list_unfile(ctx, rr, n);
		set_state(n, VMM_RANGE_FREE, 0);
		vmm_list_free_link(ctx, rr, n);
		return VM_OK;
	}
	vmm_list_unfile(ctx, rr, n); /* from here on prev is free */
	if (next_free && is_top(next)) { /* the top run takes the pages over: no climb */
		uint64_t start = prev->start, more = pages_of(n) + pages_of(prev);
		absorb(ctx, rr, prev);
		next->start = start;
		set_pages(next, pages_of(next) + more);
		unlink_record(rr, n);
		vmm_list_record_free(ctx, n);
	} else {
		uint64_t more = pages_of(n) + (next_free ? pages_of(next) : 0);
		if (next_free)
			absorb(ctx, rr, next);
		bool prev_becomes_top = !n->next;
		if (prev_becomes_top)
			vmm_list_unfile(ctx, rr, prev);
		unlink_record(rr, n);
		vmm_list_record_free(ctx, n);
		uint64_t prev_pages = pages_of(prev);
		set_pages(prev, prev_pages + more);
		if (prev_becomes_top)
			vmm_list_make_top(rr, prev);
		else
			vmm_list_free_resized(ctx, rr, prev, prev_pages);
	}
	return VM_OK;
}

/* The release of [addr, addr + pages) once the common one does not apply (list_release). */
static NOINLINE enum vm_status release_found(struct vmm_context *ctx, struct region_records *rr,
					     uint64_t addr, uint64_t pages)
{
	struct range_record *n;
	enum vm_status st = reservation_starting(ctx, rr, addr, &n);
	if (st != VM_OK)
		return st;
	if (pages_of(n) != pages)
		return VM_ERR_WRONG_LENGTH;
	return release_record(ctx, rr, n);
}

/*
 * list_release's second common case: reservation n, the newest pending record, with the top run
 * after it and before it the free head an aligned carve cut off the top run (pending just before
 * it): the top run takes both over, written out with no call when the pool caches n and the
 * head's record page stays; else release_found.
 */
static NOINLINE enum vm_status release_into_top(struct vmm_context *ctx, struct region_records *rr,
						struct range_record *n, uint64_t addr, uint64_t pages)
{
	struct list_state *ls = state_of(ctx);
	unsigned count = rr->pending_count;
	struct range_record *prev = n->prev, *next = n->next;
	if (unlikely(count < 2 || rr->pending[count - 2] != prev || !is_top(next) ||
		     record_page_of(prev)->in_use < 2 || ls->records_in_use <= RECORDS_PER_PAGE / 2))
		return release_found(ctx, rr, addr, pages);
	next->start = prev->start;
	set_pages(next, pages_of(next) + pages + pages_of(prev));
	unlink_record(rr, prev);
	unlink_record(rr, n);
	vmm_list_record_put(ls, prev); /* its page keeps a record, the cached one stays */
	ctx->backend_work += 2; /* the two slots looked at */
	rr->pending_count = count - 2;
	rr->pending_free--;
	ls->recent = NULL;
	ls->released_word = n->node.word;
	ls->cached = n; /* the pool's cached record (vmm_list_record_free) */
	return VM_OK;
}

/*
 * Written out here, with no call, the common release: the newest pending record is the
 * reservation, the pool can cache its record, and with a free run after it and none before it
 * (a carve undone) the run after takes its pages over with no maximum to climb (it is the top
 * run, pending, or the stale record growing back within the length the tree counts). With a free
 * head before it and the top run after it: release_into_top; everything else: release_found.
 */
static enum vm_status list_release(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, uint64_t pages)
{
	struct list_state *ls = state_of(ctx);
	struct region_records *rr = records_of(ctx, region);
	unsigned count = rr->pending_count;
	if (unlikely(!count || !vmm_list_record_cacheable(ls)))
		return release_found(ctx, rr, addr, pages);
	struct range_record *n = rr->pending[count - 1], *next = n->next, *prev = n->prev;
	if (unlikely(n->start != addr || is_free(n) || pages_of(n) != pages || !next || !is_free(next)))
		return release_found(ctx, rr, addr, pages);
	if (unlikely(prev && is_free(prev)))
		return release_into_top(ctx, rr, n, addr, pages);
	uint64_t grown = pages_of(next) + pages;
	bool stale = next == rr->stale;
	if (unlikely(!is_unfiled(next) && !(stale && grown <= rr->stale_pages)))
		return release_found(ctx, rr, addr, pages);
	if (stale && grown == rr->stale_pages)
		rr->stale = NULL; /* back to the length the tree counts */
	next->start = addr;
	set_pages(next, grown);
	ctx->backend_work++; /* the one slot of the pending set looked at */
	rr->pending_count = count - 1;
	ls->recent = NULL;
	ls->released_word = n->node.word;
	next->prev = prev; /* n out of the address list */
	if (prev)
		prev->next = next;
	else
		rr->first = next;
	ls->cached = n; /* the pool's cached record (vmm_list_record_free) */
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
			vmm_list_unfile(ctx, rr, next);
			unlink_record(rr, next);
			if (state_of(ctx)->spare)
				vmm_list_record_free(ctx, next);
			else
				state_of(ctx)->spare = next;
		} else {
			next->start += more * PAGE_SIZE;
			set_pages(next, pages_of(next) - more);
			vmm_list_free_resized(ctx, rr, next, pages_of(next) + more);
		}
		return VM_OK;
	}
	uint64_t less = old_pages - new_pages;
	if (next_free) {
		next->start -= less * PAGE_SIZE;
		set_pages(next, pages_of(next) + less);
		vmm_list_free_resized(ctx, rr, next, pages_of(next) - less);
	} else {
		struct range_record *tail = state_of(ctx)->spare;
		state_of(ctx)->spare = NULL;
		if (!tail)
			tail = vmm_list_record_alloc(ctx);
		if (!tail)
			return VM_ERR_NO_MEMORY;
		new_record(tail, start + new_pages * PAGE_SIZE, less, VMM_RANGE_FREE, 0);
		bool last = !n->next;
		link_after(n, tail);
		if (last)
			vmm_list_make_top(rr, tail);
		else
			vmm_list_pend(ctx, rr, tail);
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

/*
 * A fault's lookup reports the records it read (vmm_fault_result.lookup_work): the recent record,
 * when it covers addr, is one record read, as the page-table backend's hinted walk counts the one
 * entry it reads; a descent counts its own.
 */
static enum vmm_range_state list_lookup(struct vmm_context *ctx, const struct vmm_region *region,
				       uint64_t addr, unsigned *access)
{
	struct range_record *n = state_of(ctx)->recent;
	if (n && addr >= n->start && addr < record_end(n))
		ctx->backend_work++;
	else
		n = vmm_list_covering(ctx, records_of(ctx, region), addr);
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
	struct range_record *tail = vmm_list_record_alloc(ctx);
	if (!tail)
		return VM_ERR_NO_MEMORY;
	uint64_t end = record_end(n);
	set_pages(n, (addr - n->start) / PAGE_SIZE); /* reserved: no maximum moves */
	tail->start = addr;
	tail->node.word = n->node.word & ~(RECORD_PENDING_BIT | RECORD_HEIGHT_BITS); /* the same state, access, mark */
	set_pages(tail, (end - addr) / PAGE_SIZE);
	link_after(n, tail);
	vmm_list_pend(ctx, rr, tail);
	return VM_OK;
}

static void list_set_access(struct vmm_context *ctx, const struct vmm_region *region, uint64_t start,
			    uint64_t pages, unsigned access)
{
	struct range_record *n;
	enum vm_status st = reservation_starting(ctx, records_of(ctx, region), start, &n);
	MM_ASSERT(st == VM_OK && pages_of(n) == pages, "list_set_access: no reservation %llx+%llu",
		  (unsigned long long)start, (unsigned long long)pages);
	n->node.word = (n->node.word & ~RECORD_ACCESS_MASK) |
			  (uint64_t)(access & VMM_ACCESS_MASK) << RECORD_ACCESS_SHIFT;
}

static void list_note_mapped(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr)
{
	struct range_record *n = recent_or_covering(ctx, records_of(ctx, region), addr);
	MM_ASSERT(!is_free(n), "list_note_mapped: %llx is not reserved", (unsigned long long)addr);
	n->node.word |= RECORD_MAPPED_BIT;
	state_of(ctx)->recent = n;
}

static bool list_released_unmapped(const struct vmm_context *ctx)
{
	return !(state_of(ctx)->released_word & RECORD_MAPPED_BIT);
}

/*
 * 15 paths of at most H + 1 nodes, for the records in use plus the two an operation may add, the
 * pending set's entries and the hash's.
 */
static uint64_t list_work_bound(const struct vmm_context *ctx, uint64_t pages)
{
	(void)pages;
	return 15 * (avl_height_bound(state_of(ctx)->records_in_use + 2) + 1) + LIST_PENDING_WORK +
	       LIST_HASH_WORK;
}

/* The state page, the pages records are carved from and the hash's (page tables not included). */
static uint64_t list_bookkeeping_bytes(const struct vmm_context *ctx)
{
	const struct list_state *ls = state_of(ctx);
	return (ls->record_pages + 1 + vmm_list_hash_pages(&ls->hash)) * PAGE_SIZE;
}

const struct vmm_backend_ops vmm_backend_list = {
	.name = "list",
	.init = list_backend_init,
	.destroy = list_destroy,
	.find_free_run = vmm_list_find_free_run,
	.mark_reserved = list_mark_reserved,
	.reserve_lowest = list_reserve_lowest,
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
	.self_check = vmm_list_self_check,
};
