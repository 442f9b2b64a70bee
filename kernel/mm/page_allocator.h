/*
 * The physical page allocator the kernel uses, whichever design places the pages: the allocator
 * lab's one interface (`pmm=regions|buddy|tlsf|firstfit`, PMM_ALLOCATOR_LIST in pmm_placement.h).
 *
 * Written once here, for every placement: zones and their fallback order (pmm_zone_fallback),
 * owners and the length of every allocation, the trace events (pmm_alloc carries the pages asked
 * for and the pages the placement holds for them), the free extents that snapshots and
 * statistics read, the bad-free checks (double, partial, wrong length, unknown, metadata: refused
 * with the state unchanged), and the allocator's own memory: at init, per zone, one allocation
 * record per page (struct page_allocation, 8 bytes) and the placement's state, taken from the
 * managed memory itself, and later the pages a placement asks for as it grows (metadata_wanted,
 * from the metadata zones), all counted as mm_meta pages and never freed.
 *
 * Not thread-safe: the caller serialises calls. Costs: an allocation or a free is the placement's
 * own cost plus O(1) here (zones tried: at most 3); statistics, snapshots and classifying a bad
 * free walk the free runs (buddy: every block head and every page never added).
 */
#ifndef PAGESCOPE_MM_PAGE_ALLOCATOR_H
#define PAGESCOPE_MM_PAGE_ALLOCATOR_H

#include "pmm.h"
#include "pmm_placement.h"
#include "pmm_regions_fast.h"
#include "kernel/trace/trace_encoders.h"

/* Per page of a zone's span: the allocation starting there (pages == 0: none). */
struct page_allocation {
	uint32_t pages;     /* as asked for (what a free must name) */
	uint8_t align_log2;
	uint8_t owner;      /* enum mm_owner */
	uint8_t flags;      /* PAGE_ALLOCATION_* (page_allocator.c) */
	uint8_t unused;
};

struct page_allocator_zone {
	void *state;                        /* the placement's state; NULL: zone not served */
	/* = state when the placement is regions, whose fast paths the hot paths run inline
	 * (pmm_regions_fast.h); else NULL. Its first page is the zone's (start_zone). */
	struct pmm_regions *regions;
	struct page_allocation *allocation; /* one per page of the span */
	uint64_t first_page, span_pages;    /* span_pages = 0: zone not served */
	uint64_t total_pages;               /* managed (usable) pages, free or not */
	uint64_t metadata_pages;            /* mm_meta pages lying in this zone */
	/* regions: total_pages - metadata_pages, more than the zone can ever have free (mm_meta
	 * pages are never freed), so a longer request is refused without asking the placement;
	 * 0 when the placement is another (the hot path asks it through ops) or none */
	uint64_t regions_limit;
};
/* 64 bytes, a power of two: the hot free finds its zone by a shift */
_Static_assert(sizeof(struct page_allocator_zone) == 64, "page_allocator_zone: 64 bytes");

struct page_allocator {
	enum pmm_allocator allocator;
	const struct pmm_placement_ops *ops;
	enum pmm_alloc_zone metadata_zone;   /* where pages a placement asks for later come from */
	uint64_t zone_end_page[PMM_ZONE_COUNT];
	struct page_allocator_zone zone[PMM_ZONE_COUNT];
	char check_message[160];
};

struct page_allocator_config {
	enum pmm_allocator allocator;
	/* The memory map, reservations, zone ends and metadata zone. */
	const struct pmm_config *pmm;
};

/*
 * Builds the allocator over the usable pages of the memory map, minus the reservations. Parts of
 * a reservation that fall in holes or non-available memory are ignored; where reservations
 * overlap, the first one listed names the owner. Each reservation becomes one allocation per
 * usable piece it covers (per zone), freeable with page_free. A zone the placement cannot serve
 * (its init says why, or its metadata finds no room) is logged as `pmm: ALLOCATOR cannot serve zone Z: reason` and left
 * empty: its pages are not managed, and every request that can only use it fails. Returns PMM_OK,
 * or: the normaliser's errors (PMM_ERR_MAP_TOO_LARGE also when the map has more usable ranges
 * than PAGE_ALLOCATOR_MAX_RANGES); PMM_ERR_INVALID_ARGUMENT (NULL pointers, zone ends unaligned,
 * decreasing or past PMM_PHYS_LIMIT, a reservation of length 0 or wrapping past 2^64, an owner
 * out of range, an allocator out of range); PMM_ERR_NO_RECORDS (reservations split into more than
 * PAGE_ALLOCATOR_MAX_CLAIMS pieces). On failure every allocation fails.
 */
#define PAGE_ALLOCATOR_MAX_RANGES 128
#define PAGE_ALLOCATOR_MAX_CLAIMS 128
enum pmm_status page_allocator_init(struct page_allocator *a,
				    const struct page_allocator_config *config);

/*
 * Allocates `pages` contiguous pages whose first page number is a multiple of `align_pages` (a
 * power of two: 512 for a 2 MiB page, 262144 for a 1 GiB page), inside `zone` (tried in
 * pmm_zone_fallback's order), tagged `owner`. Returns the physical address, or PMM_ALLOC_FAILED:
 * PMM_ERR_INVALID_ARGUMENT (pages == 0, align_pages not a power of two, owner or zone out of
 * range) or PMM_ERR_OUT_OF_MEMORY (no zone's placement could serve it: when that may happen is
 * the placement's promise). Never panics for lack of memory. `status`, if not NULL, receives
 * PMM_OK or the reason. Costs the placement's alloc per zone tried, plus O(1).
 */
static inline paddr_t page_alloc_status(struct page_allocator *a, uint64_t pages,
					enum pmm_alloc_zone zone, uint64_t align_pages,
					enum mm_owner owner, enum pmm_status *status);

static ALWAYS_INLINE paddr_t page_alloc(struct page_allocator *a, uint64_t pages,
					enum pmm_alloc_zone zone, uint64_t align_pages,
					enum mm_owner owner)
{
	return page_alloc_status(a, pages, zone, align_pages, owner, NULL);
}

/*
 * Returns an allocation: [addr, addr + pages * PAGE_SIZE) must be exactly one allocation (or one
 * reservation piece), with the length it was asked for. Returns PMM_OK, or, with the state left
 * exactly as it was:
 *   PMM_ERR_INVALID_ARGUMENT  pages == 0, addr not page-aligned, or the range ends past
 *                             PMM_PHYS_LIMIT
 *   PMM_ERR_WRONG_LENGTH      an allocation starts at addr but has another length
 *   PMM_ERR_PMM_METADATA      the allocation is the allocator's own bookkeeping
 *   PMM_ERR_DOUBLE_FREE       every page of the range is already free
 *   PMM_ERR_PARTLY_FREE       some pages of the range are free, others are not
 *   PMM_ERR_NOT_ALLOCATED     no page is free, but addr is not the start of an allocation
 *   PMM_ERR_NO_RECORDS        a reservation the placement has no bookkeeping to take back and
 *                             no page to get it from (memory is full): free again later
 * Success costs the placement's free plus O(1); classifying an error walks the free runs.
 */
static inline enum pmm_status page_free(struct page_allocator *a, paddr_t addr, uint64_t pages);

/* Fills `stats` from the free runs (every zone's walk) and the zones' counters. */
void page_allocator_stats(const struct page_allocator *a, struct pmm_stats *stats);

/* Every free extent in address order (maximal within a zone), as pmm_for_each_free_extent. */
void page_allocator_for_each_free_extent(const struct page_allocator *a, pmm_region_visitor visit,
					 void *ctx);

/* Every used run (allocations, reservations, metadata) in address order, with its owner; a
 * placement's runs are the pages held (the request plus what it rounds on). */
void page_allocator_for_each_used(const struct page_allocator *a, pmm_region_visitor visit,
				  void *ctx);

/* True when the placement promises to serve `pages` at `align_pages` from a free run of that
 * size and alignment (buddy: not above its largest order). */
bool page_allocator_can_serve(const struct page_allocator *a, uint64_t pages,
			      uint64_t align_pages);

/* Pages an allocation of `pages` aligned to `align_pages` holds under this allocator. */
uint64_t page_allocator_held_pages(const struct page_allocator *a, uint64_t pages,
				   uint64_t align_pages);

/* The first address past `zone` (bytes), as configured; PMM_PHYS_LIMIT for NORMAL. */
paddr_t page_allocator_zone_end(const struct page_allocator *a, enum pmm_zone zone);

/* A recount against every invariant, the placement's own check included: NULL when consistent,
 * else the first violation (kept in the allocator until the next call). */
const char *page_allocator_check(struct page_allocator *a);

/* ---- the hot paths, inline in their callers (the rest: page_allocator.c) ------------------- */

/* Largest request a record can hold (its length is 32 bits). */
#define PAGE_ALLOCATION_MAX_PAGES ((uint64_t)UINT32_MAX)

/* Out of line: everything the hot path does not finish: bad arguments (`asked` ==
 * PMM_ZONE_COUNT), or the zones tried down to `asked` refusing, the last of them with `first`
 * (PMM_PLACEMENT_FAILED or PMM_PLACEMENT_WANTS_METADATA). `start`: trace_cost_start() at the
 * allocation's entry, for the event's cost. */
paddr_t page_alloc_general(struct page_allocator *a, unsigned asked, uint64_t first,
			   uint64_t pages, enum pmm_alloc_zone zone, uint64_t align_pages,
			   enum mm_owner owner, enum pmm_status *status, uint64_t start);
/* Out of line: everything but the free of an allocation with its own length. */
enum pmm_status page_free_general(struct page_allocator *a, paddr_t addr, uint64_t pages,
				  uint64_t start);
/* The zone `page` lies in, by the configured ends. */
static inline enum pmm_zone page_allocator_zone_of(const struct page_allocator *a, uint64_t page)
{
	enum pmm_zone z = PMM_ZONE_DMA;
	while (z + 1 < PMM_ZONE_COUNT && page >= a->zone_end_page[z])
		z++;
	return z;
}

_Static_assert(PMM_ZONE_COUNT - 1 - PMM_ALLOC_ANY == PMM_ZONE_NORMAL &&
		       PMM_ZONE_COUNT - 1 - PMM_ALLOC_BELOW_4G == PMM_ZONE_DMA32 &&
		       PMM_ZONE_COUNT - 1 - PMM_ALLOC_BELOW_16M == PMM_ZONE_DMA,
	       "the first zone an allocation tries is PMM_ZONE_COUNT - 1 - its zone");

/* How the hot paths end: untraced, or with the operation's event (start: the raw clock at its
 * entry, as trace_cost_start reads it). */
struct page_allocator_trace {
	bool on;
	uint64_t start;
};

/* What every traced copy of a hot path (the per-file ones below, the shared ones of
 * page_allocator.c) passes: tracing on, the clock read at its entry. */
static ALWAYS_INLINE struct page_allocator_trace page_allocator_trace_on(void)
{
	return (struct page_allocator_trace){ true, trace_clock_raw(&trace_global) };
}

/*
 * The zones an allocation tries are PMM_ZONE_COUNT - 1 - its zone, then each lower one
 * (pmm_zone_fallback's order, with the values of trace/events.def). The hot path asks their
 * placements in turn while they refuse (under a 4 GiB guest, NORMAL is 1 GiB minus its records
 * and never holds a 1 GiB page: regions_limit refuses it with the compare that picks regions'
 * fast path, before any placement work; through the general path's fallback it cost more than
 * the rest of the pair), writes the record of the first that places it
 * and, tracing on, its event; a placement asking for bookkeeping goes to the general path. Why
 * inline: the call and its register saves were a third of the common layer's cost per pair
 * (bench_contiguous, pagescope row). `trace` is a constant in each copy: page_alloc_status's
 * untraced one has no tracing code at all, page_alloc_traced's the event.
 */
static ALWAYS_INLINE paddr_t page_alloc_inline(struct page_allocator *a, uint64_t pages,
					       enum pmm_alloc_zone zone, uint64_t align_pages,
					       enum mm_owner owner, enum pmm_status *status,
					       struct page_allocator_trace trace)
{
	/* align_pages is a power of two up to PMM_PHYS_LIMIT's pages exactly when align_pages - 1
	 * shares no bit with align_pages nor with any bit at or above that limit (align_pages == 0
	 * included): one test for three */
	if (unlikely(pages - 1 >= PAGE_ALLOCATION_MAX_PAGES ||
		     ((align_pages - 1) & (align_pages | -(PMM_PHYS_LIMIT >> PAGE_SHIFT))) ||
		     (unsigned)owner >= MM_OWNER_COUNT || (unsigned)zone > PMM_ALLOC_BELOW_16M))
		return page_alloc_general(a, PMM_ZONE_COUNT, PMM_PLACEMENT_FAILED, pages, zone,
					  align_pages, owner, status, trace.start);
	unsigned zi = PMM_ZONE_COUNT - 1 - (unsigned)zone;
	struct page_allocator_zone *z = &a->zone[zi];
	unsigned at_least = pmm_regions_fast_class(pages, align_pages); /* once for every zone */
	uint64_t first;
	/* the pages the placement holds for the event, known in the branch that asked it (a test
	 * of the placement after the loop was 2 instructions per traced pair, and its call there
	 * kept the event's fields in saved registers); unused untraced */
	uint64_t held;
	for (;; zi--, z--) {
		if (likely(pages <= z->regions_limit)) {
			first = pmm_regions_alloc_fast_at(z->regions, pages, align_pages, at_least);
			held = pages; /* regions hold what is asked */
		} else if (z->state == z->regions) { /* regions refusing by its limit, or no state */
			if (zi == 0)
				return page_alloc_general(a, zi, PMM_PLACEMENT_FAILED, pages, zone,
							  align_pages, owner, status, trace.start);
			continue;
		} else {
			first = a->ops->alloc(z->state, pages, align_pages);
			/* another placement may round it up */
			held = trace.on ? a->ops->held_pages(pages, align_pages) : 0;
		}
		if (likely(first < PMM_PLACEMENT_WANTS_METADATA))
			break;
		if (first == PMM_PLACEMENT_WANTS_METADATA || zi == 0)
			return page_alloc_general(a, zi, first, pages, zone, align_pages, owner,
						  status, trace.start);
	}
	z->allocation[first - z->first_page] = (struct page_allocation){
		.pages = (uint32_t)pages, .align_log2 = (uint8_t)__builtin_ctzll(align_pages),
		.owner = (uint8_t)owner
	};
	if (trace.on) {
		/* this file's traced copies' own chain (call_chain.h: trace_chain_cache) */
		static struct trace_chain_cache chain_cache;
		uint64_t end = trace_clock_raw(&trace_global);
		trace_emit_inline_cached_pmm_alloc(
			&trace_global, &chain_cache, __builtin_frame_address(0), trace_clock_at(end),
			first << PAGE_SHIFT,
			(uint32_t)pages, (uint32_t)held, (uint8_t)zi, (uint8_t)__builtin_ctzll(align_pages), (uint8_t)owner,
			trace_cost_of(trace.start, end));
	}
	if (status)
		*status = PMM_OK;
	return first << PAGE_SHIFT;
}

static inline paddr_t page_alloc_untraced(struct page_allocator *a, uint64_t pages,
					  enum pmm_alloc_zone zone, uint64_t align_pages,
					  enum mm_owner owner, enum pmm_status *status)
{
	return page_alloc_inline(a, pages, zone, align_pages, owner, status,
				 (struct page_allocator_trace){ false, 0 });
}

/*
 * Tracing on: the hot path with its event, out of line so that the untraced copy carries no
 * tracing code, and the pmm_alloc's call chain starts at this function's frame: ip0 is in its
 * caller, the code that asked for the pages. Static, so that each file that allocates has its own
 * copy, which the compiler specialises for that file's constant arguments (the allocator, the
 * zone, no status) as it does the untraced copy: with one shared copy, which took them all as
 * variables, a traced pair cost 431 guest instructions (scenario=bench, mixed holes, 1 page),
 * with a copy per file 411. The copies cost about 5.6 KB of kernel text per file (the traced
 * and untraced alloc and free), so only the files whose pairs are hot or measured carry them
 * (memory.c's page source, the bench and pmm-pairs scenarios); the others share one copy
 * (PAGE_ALLOCATOR_SHARED_COPIES below). (`unused`: no warning in the files that include this
 * header without allocating.)
 */
static __attribute__((noinline, unused)) paddr_t
page_alloc_traced(struct page_allocator *a, uint64_t pages, enum pmm_alloc_zone zone,
		  uint64_t align_pages, enum mm_owner owner, enum pmm_status *status)
{
	return page_alloc_inline(a, pages, zone, align_pages, owner, status,
				 page_allocator_trace_on());
}

/*
 * One shared out-of-line copy of each hot path (page_allocator.c: the same code, taking the
 * allocator, zone and status as variables), for the files that allocate rarely: a file that
 * defines PAGE_ALLOCATOR_SHARED_COPIES before including this header calls these instead of
 * compiling copies of its own. What is traced is the same: the shared traced copy's frame ends
 * the call chain as a file's own copy does, so ip0 is still in the caller.
 */
paddr_t page_alloc_shared_untraced(struct page_allocator *a, uint64_t pages,
				   enum pmm_alloc_zone zone, uint64_t align_pages,
				   enum mm_owner owner, enum pmm_status *status);
paddr_t page_alloc_shared_traced(struct page_allocator *a, uint64_t pages,
				 enum pmm_alloc_zone zone, uint64_t align_pages,
				 enum mm_owner owner, enum pmm_status *status);
enum pmm_status page_free_shared_untraced(struct page_allocator *a, paddr_t addr, uint64_t pages);
enum pmm_status page_free_shared_traced(struct page_allocator *a, paddr_t addr, uint64_t pages);

/* The copies this file's hot paths call: its own, or the shared ones. */
#ifdef PAGE_ALLOCATOR_SHARED_COPIES
#define PAGE_ALLOC_TRACED page_alloc_shared_traced
#define PAGE_ALLOC_UNTRACED page_alloc_shared_untraced
#define PAGE_FREE_TRACED page_free_shared_traced
#define PAGE_FREE_UNTRACED page_free_shared_untraced
#else
#define PAGE_ALLOC_TRACED page_alloc_traced
#define PAGE_ALLOC_UNTRACED page_alloc_untraced
#define PAGE_FREE_TRACED page_free_traced
#define PAGE_FREE_UNTRACED page_free_untraced
#endif

/* The test of tracing is inline in the caller even where the compiler keeps the hot path out of
 * line, so that a traced allocation does not pay that copy's register saves as well. */
static ALWAYS_INLINE paddr_t page_alloc_status(struct page_allocator *a, uint64_t pages,
					       enum pmm_alloc_zone zone, uint64_t align_pages,
					       enum mm_owner owner, enum pmm_status *status)
{
	if (unlikely(trace_enabled))
		return PAGE_ALLOC_TRACED(a, pages, zone, align_pages, owner, status);
	return PAGE_ALLOC_UNTRACED(a, pages, zone, align_pages, owner, status);
}

/*
 * A traced free's pmm_free record is written in two phases (trace_encoders.h: trace_begin_NAME,
 * trace_end_NAME), begun before the placement's work and ended after it: every field but the
 * cost is known before the placement runs, so they go into the ring first, and only the record's
 * address stays live across the placement (the cost field holds the clock's start meanwhile).
 * The hot path does this only where it calls nothing (a regions zone, room at the cursor), so
 * that no value lives across a call and the traced copy keeps its values in registers the caller
 * saves (with the event after the placement and its slow path and the other placements' calls
 * on the side, it saved and restored five registers and copied the fields around the merge); any
 * other traced free is page_free_general's. Beginning first is safe because the regions free
 * emits no event and the kernel takes no interrupt (tracer.h: nothing runs between reserve and
 * commit).
 */

/*
 * The hot path: an allocation's own record found in O(1): the placement frees it (and, tracing
 * on, its event is begun before and ended after, as above; `trace` as for
 * page_alloc_inline). A record that matches proves the arguments valid (a page-aligned first
 * page inside a zone's span, a length of 1 .. 2^32 - 1); anything else is page_free_general's.
 */
static ALWAYS_INLINE enum pmm_status page_free_inline(struct page_allocator *a, paddr_t addr,
						      uint64_t pages,
						      struct page_allocator_trace trace)
{
	uint64_t first = addr >> PAGE_SHIFT;
	enum pmm_zone zi = page_allocator_zone_of(a, first);
	struct page_allocator_zone *zone = &a->zone[zi];
	/* one pointer: else GCC builds the zone's address twice, for different field offsets */
	__asm__("" : "+r"(zone));
	uint64_t index = first - zone->first_page; /* wraps above the span when below it */
	if (unlikely((addr & (PAGE_SIZE - 1)) || index >= zone->span_pages ||
		     zone->allocation[index].pages != pages || zone->allocation[index].flags ||
		     (trace.on && (!zone->regions ||
				   !trace_can_begin_pmm_free(&trace_global)))))
		return page_free_general(a, addr, pages, trace.start);
	struct page_allocation record = zone->allocation[index];
	zone->allocation[index] = (struct page_allocation){ 0 };
	if (trace.on) {
		/* held = pages: regions hold what is asked */
		struct trace_record_header *event =
			trace_begin_pmm_free(&trace_global, addr, (uint32_t)pages, (uint32_t)pages,
					     (uint8_t)zi, record.owner, trace.start);
		pmm_regions_free_fast(zone->regions, index);
		trace_end_pmm_free(&trace_global, event);
	} else if (likely(zone->regions)) {
		pmm_regions_free_fast(zone->regions, index);
	} else {
		a->ops->free(zone->state, first, pages, (uint64_t)1 << record.align_log2);
	}
	return PMM_OK;
}

static inline enum pmm_status page_free_untraced(struct page_allocator *a, paddr_t addr,
						 uint64_t pages)
{
	return page_free_inline(a, addr, pages, (struct page_allocator_trace){ false, 0 });
}

/* Tracing on: the free with its event, out of line and per file as page_alloc_traced. */
static __attribute__((noinline, unused)) enum pmm_status
page_free_traced(struct page_allocator *a, paddr_t addr, uint64_t pages)
{
	return page_free_inline(a, addr, pages, page_allocator_trace_on());
}

static ALWAYS_INLINE enum pmm_status page_free(struct page_allocator *a, paddr_t addr,
					       uint64_t pages)
{
	if (unlikely(trace_enabled))
		return PAGE_FREE_TRACED(a, addr, pages);
	return PAGE_FREE_UNTRACED(a, addr, pages);
}

#endif
