/*
 * The list backend's record (one per maximal free run or reservation) and the address list that
 * links a region's records in address order (boundary tags, as vmem's segments are), so a release
 * finds the runs it merges with in O(1). Which structures hold a record, and the files of the
 * backend: vmm_list.h.
 *
 * Invariants (vmm_list_check.c recounts each):
 *   - The records of a region tile it in address-list order: sorted, adjacent, no gaps.
 *   - No two free records are adjacent (release merges), so a free record is a maximal free run.
 * Bound: every step here is O(1) (a relink touches the record and its two neighbours) and counts
 * no backend work; inline, because every carve and merge takes them.
 */
#ifndef PAGESCOPE_MM_VMM_LIST_RECORD_H
#define PAGESCOPE_MM_VMM_LIST_RECORD_H

#include "vmm.h"
#include "avl_tree.h"

/*
 * What a record keeps in its tree node's word (avl_tree.h: bits 0-7 are the tree's height): the
 * flags in bits 8-19 (a reservation's access as vmm.c gives it, VMM_ACCESS_MASK bits, so it goes
 * in and out with one shift and mask), the length in pages in bits 20-63 (so it is one shift
 * away).
 */
#define RECORD_PAGES_SHIFT 20
#define RECORD_PAGES_BITS 44
#define RECORD_HEIGHT_BITS ((uint64_t)0xFF)
#define RECORD_STATE_BIT ((uint64_t)1 << 8)
#define RECORD_ACCESS_SHIFT 9
#define RECORD_ACCESS_MASK ((uint64_t)VMM_ACCESS_MASK << RECORD_ACCESS_SHIFT)
#define RECORD_MAPPED_BIT ((uint64_t)1 << 16)
#define RECORD_PENDING_BIT ((uint64_t)1 << 17)
#define RECORD_TOP_BIT ((uint64_t)1 << 18)
#define RECORD_UNFILED_BITS (RECORD_PENDING_BIT | RECORD_TOP_BIT)
#define RECORD_FLAGS ((uint64_t)0xFFF00)
_Static_assert(VMM_ACCESS_MASK < 128, "a reservation's access fits the 7 bits below the mapped mark");

/*
 * 72 bytes: the length (44 bits: a region has fewer than 2^36 pages), the state (1 bit), a
 * reservation's access (7 bits: VMM_ACCESS_MASK, 0 for a free record), its mapped mark (1 bit:
 * a page was noted mapped in it, see vmm_backend.h note_mapped), the pending mark (1 bit: the
 * record waits in its region's pending set, vmm_list_pending.h) and the top mark (1 bit: it is
 * its region's top run, vmm_list.h) ride in the tree node's payload bits (node.word, above).
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

/*
 * Records a region's pending set holds at most (vmm_list_pending.h): two, what one reserve makes
 * (an aligned request's reservation and the head it cuts off the top run); more would make every
 * search and release scan more, and old records would linger unfiled in the set.
 */
#define LIST_PENDING 2

/* 128 bytes (padded), so that an operation finds its region's with a shift, not a multiply. */
struct region_records {
	_Alignas(128) struct range_record *first; /* the address list's head */
	struct avl_tree free_tree, reservations;
	struct range_record *pending[LIST_PENDING]; /* oldest first (vmm_list_pending.h) */
	unsigned pending_count;
	unsigned pending_free; /* how many of them are free records */
	/* The free-tree record whose shrink is not climbed yet, and its length as the tree counts it
	 * (vmm_list_tree.c: the deferred shrink). */
	struct range_record *stale;
	uint64_t stale_pages;
	struct range_record *top; /* the region's last record when it is free, else NULL (vmm_list.h) */
	struct range_record *lowest; /* the free tree's first record in address order, or NULL */
};

static inline struct range_record *record_of(struct avl_node *n)
{
	return n ? container_of(n, struct range_record, node) : NULL;
}

static inline uint64_t pages_of(const struct range_record *r) { return r->node.word >> RECORD_PAGES_SHIFT; }
static inline bool is_free(const struct range_record *r) { return !(r->node.word & RECORD_STATE_BIT); }
static inline bool is_pending(const struct range_record *r) { return r->node.word & RECORD_PENDING_BIT; }
static inline bool is_top(const struct range_record *r) { return r->node.word & RECORD_TOP_BIT; }
/* Pending or top: in no tree and no hash chain. */
static inline bool is_unfiled(const struct range_record *r) { return r->node.word & RECORD_UNFILED_BITS; }
static inline unsigned access_of(const struct range_record *r) { return (unsigned)(r->node.word >> RECORD_ACCESS_SHIFT) & VMM_ACCESS_MASK; }
static inline uint64_t record_end(const struct range_record *r) { return r->start + pages_of(r) * PAGE_SIZE; }
static inline uint64_t max_free(const struct avl_node *n) { return n ? record_of((struct avl_node *)n)->max_free : 0; }

static inline void set_pages(struct range_record *r, uint64_t pages)
{
	r->node.word = (r->node.word & (RECORD_HEIGHT_BITS | RECORD_FLAGS)) | pages << RECORD_PAGES_SHIFT;
}

static inline uint64_t record_tag(enum vmm_range_state state, unsigned access)
{
	return state == VMM_RANGE_RESERVED ?
		       RECORD_STATE_BIT | (uint64_t)(access & VMM_ACCESS_MASK) << RECORD_ACCESS_SHIFT :
		       0;
}

/* A free record carries no access; a reservation its own; the pending and top marks stay, the mapped one goes. */
static inline void set_state(struct range_record *r, enum vmm_range_state state, unsigned access)
{
	r->node.word = (r->node.word & ~(RECORD_STATE_BIT | RECORD_ACCESS_MASK | RECORD_MAPPED_BIT)) |
		       record_tag(state, access);
}

/*
 * A record in no list, tree or chain. Only what is read before the record is linked or filed is
 * set: the tree links and height are set by filing (avl_tree.c), max_free and hash_next by the
 * free tree's climbs and the hash, hash_link by the pending set or the top run that take it.
 */
static inline struct range_record *new_record(struct range_record *r, uint64_t start, uint64_t pages,
					      enum vmm_range_state state, unsigned access)
{
	r->start = start;
	r->prev = r->next = NULL;
	r->hash_link = NULL;
	r->node.word = pages << RECORD_PAGES_SHIFT | record_tag(state, access);
	return r;
}

/* --- the address list ---------------------------------------------------------------------- */

static inline void link_after(struct range_record *at, struct range_record *r)
{
	r->prev = at;
	r->next = at->next;
	if (r->next)
		r->next->prev = r;
	at->next = r;
}

static inline void link_before(struct region_records *rr, struct range_record *at, struct range_record *r)
{
	r->next = at;
	r->prev = at->prev;
	if (r->prev)
		r->prev->next = r;
	else
		rr->first = r;
	at->prev = r;
}

static inline void unlink_record(struct region_records *rr, struct range_record *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		rr->first = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

#endif
