/*
 * The physical memory manager: contiguous runs of physical pages for the whole kernel, zone-limited
 * (DMA) and aligned (large pages) on request. Interface and usage: pmm.h. This file is the
 * allocator's policy; its parts each keep one structure behind a small interface:
 *   pmm_region.h        the region record, and pmm_visit, where all work is counted
 *   pmm_size_classes.h  per zone, a TLSF-style size-class index of the free records
 *   pmm_fit_tree.h      per class, a fit tree that answers exactly what the classes cannot
 *   pmm_used_map.h      the used records by first page, for pmm_free
 *   pmm_check.c         the self-check (pmm_check), which verifies the invariants below
 *
 * DATA MODEL. The ground truth is the seed's "linked list of regions": one doubly-linked list of
 * region records {first page, number of pages, state (free | used by an owner)}, in address order.
 * Holes and non-available firmware ranges are simply absent (gaps between records). Around it,
 * per zone the size-class index of the free records, and the map of the used ones; pmm_free
 * finds its record in the map and the neighbours to merge with in the list.
 *
 * INVARIANTS (pmm_check verifies all of them)
 *   1. The list is sorted: each record starts at or after the end of the previous one.
 *   2. No record is empty and none crosses a zone boundary (the configured zone ends, amd64's
 *      16 MiB and 4 GiB): zones are split at init, and allocations are carved from one free
 *      record, so nothing can create a crossing.
 *   3. Coalesced: no two free records touch within a zone (they never merge across a boundary).
 *   4. Every free record is in its zone's size-class index, in the list of its class (an exact
 *      class: of its first page mod 16), unfiled records before filed ones; a filed record is in
 *      its class's fit tree iff it belongs there, an unfiled one in no tree; class and row bits
 *      mirror the lists; each tree is ordered, AVL-balanced, its maxima current
 *      (pmm_size_classes.h, pmm_fit_tree.h).
 *   5. Every used record is in the used-record map, in the bucket of its first page; nothing else
 *      is.
 *   6. The zone counters (total/free pages, free extents, extents by order, metadata pages) equal
 *      a recount of the list; unused records are all in the spare pool, and are counted.
 *
 * ALLOCATION POLICY (pmm_alloc of n pages aligned to a = 2^k pages):
 *   - Zones in order: ANY = NORMAL, DMA32, DMA; BELOW_4G = DMA32, DMA; BELOW_16M = DMA. Low
 *     memory is used last, so it stays available for devices that can only reach it.
 *   - In a zone, first the size-class path: every extent of at least n + a - 1 pages holds an
 *     aligned run. Round that up to the next class boundary; every extent in that class or above
 *     is then big enough, so the first non-empty class there is found with two find-first-set
 *     operations and its first record is taken: O(1), TLSF's "good fit".
 *   - Else the exact search over the classes below that one (pmm_classes_search).
 *   - The run is carved at the lowest aligned page of the chosen extent; the remains stay free
 *     (at most a head and a tail: at most 2 new records). The record keeps the larger remainder,
 *     so that a large extent shrinking at an edge stays where it is in its class (no index work).
 *   - Free: find the used record in the map, merge with the previous and the next record when
 *     they are free, adjacent and in the same zone; the larger neighbour's record takes the run.
 *
 * NO FALSE FAILURE. pmm_alloc returns PMM_ERR_OUT_OF_MEMORY only when no free extent of an
 * allowed zone holds n pages at a multiple of a. Proof, for one zone (zones are tried in turn,
 * and an extent never crosses a zone, invariant 2). The size-class path fails only when every
 * class from the guaranteed one up is empty. The exact search then visits every non-empty class
 * from the class of n (smaller extents cannot hold n pages) to below the guaranteed one, so it
 * suffices that within one class nothing that fits is missed: in an inexact class, its fit tree,
 * filed first so that it holds every record of the class (invariant 4), misses nothing (lemmas
 * 1-3, pmm_fit_tree.c); in an exact class, the residue lists or the tree of its records of peak
 * order >= 5 miss nothing (lemma 4, pmm_size_classes.c).
 *
 * BOUNDS. Work = pmm->work, the records, tree nodes and map entries an operation reads
 * (pmm_visit). N is the number of free extents in a zone, h the height of its tallest class
 * tree: h <= avl_height_bound(N) <= 1.4405 log2(N + 2). C is the number of classes the exact
 * search visits, at most 16 per row spanned by [n, n + a - 1]: C <= 16 (floor(log2(n + a - 1)) -
 * floor(log2 n) + 1), and C <= 1 for a = 1 (only the class of n can be short of the guarantee).
 *   - The size-class path reads 1 record per zone that serves.
 *   - The exact search, per zone tried: at most 1 + C (2 + 2h) when a = 1 or a >= n (per class:
 *     its heads, then a tree search of 1 + 2h: pmm_fit_tree.h), + K h when 1 < a < n, K the
 *     zone's free extents of at least n pages (lemma 3's last step: the one linear case), plus
 *     FILING: 1 + 3(h + 1) per record of the classes searched that was unfiled.
 *   - Carving and merging change at most 3 records of the index; a change to an unfiled record
 *     costs nothing, to a filed one at most 4(h + 1) (it leaves its tree and is unfiled again).
 *   - pmm_free reads the map chain of its page (short on average: pmm_used_map.h).
 *   - R, the bookkeeping top-up of an allocating operation: a record page (one more
 *     allocation, 1 + its updates) once per PAGE_SIZE / sizeof(struct pmm_region) records, and
 *     the map's growth (every used record once, once per doubling of the records owned).
 * Worst case of one operation: filing makes a search O(N h) when a zone's classes were never
 * searched (every record unfiled). AMORTISED, filing is paid once per change: a record is filed
 * at most once after each insert or reshape that unfiled it, and unfiled at most once after each
 * filing, and each allocation unfiles at most 2 records, each free at most 1. So over any sequence
 * of operations,
 *     total work <= sum over allocations of (search without filing + 1 + 2 F + R)
 *                 + sum over frees of (map chain + F),      F = 1 + 7(h + 1),
 * and a search repeated with nothing changed in between costs its worst case without filing.
 * The benefit: carving and freeing are O(1) outside the exact search, as in TLSF.
 * pmm_claim and a failing pmm_free walk the list: at most one visit per record.
 *
 * BOOKKEEPING MEMORY, and why it cannot recurse.
 *   - Records come from a spare pool, seeded with the caller's array at init. After each
 *     allocating operation (the fast path too: alloc_finish), if fewer than PMM_RECORD_LOW_WATER
 *     spares remain, the pmm allocates one page from itself (owner MM_OWNER_MM_META, flagged as
 *     metadata, in config.metadata_zone) and cuts it into records through phys_to_virt. That
 *     internal allocation is one page with no alignment, so it splits at most one free record:
 *     it consumes at most one spare, which the low water mark guarantees, and it never tops up
 *     the pool itself (no recursion).
 *   - An allocation needs at most 2 records; when not even that many can be had (memory for
 *     records exhausted), it fails with PMM_ERR_NO_RECORDS. A free never needs a record: merging
 *     releases records, and a free that merges with nothing turns the used record into the free
 *     one. So memory can always be returned, even when the pool is empty.
 *   - The used-record map starts on PMM_USED_MAP_EMBEDDED_BUCKETS buckets inside struct pmm.
 *     When the records in use (free or used: an upper bound on the used ones, read from the pool
 *     without counting) exceed twice its buckets, its buckets double into pages from the pmm itself (also one internal allocation: at most one record),
 *     everything is rehashed and the old pages are returned. If that allocation fails, chains
 *     just get longer.
 *   - Record pages are never given back (the pool only grows, by one page at a time). The pmm
 *     keeps virtual pointers: phys_to_virt must not move while it lives (checked on refill).
 */
#include "pmm_internal.h"
#include "../lib/format.h"
#include "kernel/trace/tracepoints.h"

/* Spares kept after each allocating operation: one operation needs at most 2, a refill 1. */
#define PMM_RECORD_LOW_WATER 4
#define PMM_RECORDS_PER_ALLOCATION 2

/* ---- names ---------------------------------------------------------------------------------- */

const char *pmm_status_name(enum pmm_status status)
{
	static const char *const names[] = {
#define PMM_STATUS_NAME(e, s) [e] = s,
		PMM_STATUS_LIST(PMM_STATUS_NAME)
#undef PMM_STATUS_NAME
	};
	if ((unsigned)status >= PMM_STATUS_COUNT)
		return "?";
	return names[status];
}

/* ---- size classes ----------------------------------------------------------------------------- */

uint64_t pmm_guaranteed_fit_pages(uint64_t pages, uint64_t align_pages)
{
	if (pages == 0 || pages > PMM_MAX_PAGES || !IS_POW2(align_pages) ||
	    align_pages > PMM_MAX_PAGES)
		return UINT64_MAX;
	return pmm_class_lower_bound(pmm_class_at_least(pages + align_pages - 1));
}

/* ---- the free extents of a zone: its size classes and its free pages ------------------------ */

/*
 * Whether the free records an operation changes may be filed (the general path) or are known not
 * to be (the fast paths checked before changing anything): then no tree can be touched and no
 * call is made.
 */
enum filing { MAY_BE_FILED, KNOWN_UNFILED };

static ALWAYS_INLINE void free_insert(struct pmm_zone_index *zone, struct pmm_region *region)
{
	pmm_classes_insert(&zone->classes, region);
	zone->free_pages += region->pages;
}

static ALWAYS_INLINE void free_remove(struct pmm *pmm, struct pmm_zone_index *zone,
				      struct pmm_region *region, enum filing filing)
{
	zone->free_pages -= region->pages;
	if (filing == KNOWN_UNFILED)
		pmm_classes_remove_unfiled(&zone->classes, region);
	else
		pmm_classes_remove(&zone->classes, region, &pmm->work);
}

static ALWAYS_INLINE void free_reshape(struct pmm *pmm, struct pmm_zone_index *zone,
				       struct pmm_region *region, uint64_t first, uint64_t pages,
				       enum filing filing)
{
	zone->free_pages += pages - region->pages;
	if (filing == KNOWN_UNFILED)
		pmm_classes_reshape_unfiled(&zone->classes, region, first, pages);
	else
		pmm_classes_reshape(&zone->classes, region, first, pages, &pmm->work);
}

static ALWAYS_INLINE bool is_filed(const struct pmm_region *region)
{
	return region->flags & PMM_REGION_FLAG_FILED;
}

/* ---- the record pool ----------------------------------------------------------------------- */

static void spare_push(struct pmm *pmm, struct pmm_region *region)
{
	region->link.spare_next = pmm->spare_records;
	pmm->spare_records = region;
	pmm->spare_record_count++;
}

/* A record from the pool for [first, first + pages), in no list yet; its state is the caller's. */
static ALWAYS_INLINE struct pmm_region *record_take(struct pmm *pmm, uint64_t first,
						    uint64_t pages, enum pmm_region_state state,
						    enum pmm_zone zone)
{
	struct pmm_region *region = pmm->spare_records;
	MM_ASSERT(region, "pmm record_take: spare pool empty (caller did not reserve records)");
	pmm->spare_records = region->link.spare_next;
	pmm->spare_record_count--;
	region->first_page = first;
	region->pages = pages;
	region->state = (uint8_t)state;
	region->owner = MM_OWNER_NONE;
	region->flags = 0;
	region->zone = (uint8_t)zone;
	return region;
}

static ALWAYS_INLINE void record_release(struct pmm *pmm, struct pmm_region *region)
{
	list_remove(&region->address_link);
	spare_push(pmm, region);
}

/* ---- carving and releasing runs ------------------------------------------------------------ */

/* Records that carving [first, first + pages) out of the free record `from` consumes: 0..2. */
static inline unsigned records_to_carve(const struct pmm_region *from, uint64_t first,
					uint64_t pages)
{
	return (first > from->first_page) + (first + pages < region_end(from));
}

/*
 * Turns [first, first + pages) of the free record `from` (of `zone`, whose state is z) into a
 * used record and returns it; the rest stays free as a head and/or a tail, `from` keeping the
 * larger. The caller has checked that the run lies in `from` and that records_to_carve() spares
 * exist. Every used record is made here (allocations, claims, reservations, the pmm's own pages);
 * the caller emits its trace event.
 */
static ALWAYS_INLINE struct pmm_region *carve_in_zone(struct pmm *pmm, struct pmm_zone_index *z,
						      enum pmm_zone zone, struct pmm_region *from,
						      uint64_t first, uint64_t pages,
						      enum mm_owner owner, uint8_t flags,
						      enum filing filing)
{
	uint64_t start = from->first_page, end = first + pages;
	uint64_t head = first - start, tail = region_end(from) - end;
	struct pmm_region *used;

	if (!head && !tail) {
		free_remove(pmm, z, from, filing);
		used = from;
		used->state = PMM_REGION_USED;
	} else if (tail >= head) {
		used = record_take(pmm, first, pages, PMM_REGION_USED, zone);
		list_insert_before(&from->address_link, &used->address_link);
		if (head) {
			struct pmm_region *rest = record_take(pmm, start, head, PMM_REGION_FREE, zone);
			list_insert_before(&used->address_link, &rest->address_link);
			free_insert(z, rest);
		}
		free_reshape(pmm, z, from, end, tail, filing);
	} else {
		used = record_take(pmm, first, pages, PMM_REGION_USED, zone);
		list_insert_after(&from->address_link, &used->address_link);
		if (tail) {
			struct pmm_region *rest = record_take(pmm, end, tail, PMM_REGION_FREE, zone);
			list_insert_after(&used->address_link, &rest->address_link);
			free_insert(z, rest);
		}
		free_reshape(pmm, z, from, start, head, filing);
	}
	used->owner = (uint8_t)owner;
	used->flags = flags;
	pmm_used_map_insert(&pmm->used, used);
	if (unlikely(flags & PMM_REGION_FLAG_METADATA))
		z->metadata_pages += pages;
	return used;
}

/* carve_in_zone in the record's own zone. */
static ALWAYS_INLINE struct pmm_region *carve_used(struct pmm *pmm, struct pmm_region *from,
						   uint64_t first, uint64_t pages,
						   enum mm_owner owner, uint8_t flags,
						   enum filing filing)
{
	return carve_in_zone(pmm, &pmm->zone[from->zone], (enum pmm_zone)from->zone, from, first,
			     pages, owner, flags, filing);
}

/* What a free merges the used record with: its free neighbours in its zone. */
struct merge {
	struct pmm_region *prev, *next; /* each NULL unless merged with */
};

static ALWAYS_INLINE struct merge merge_partners(const struct pmm *pmm, struct pmm_region *used)
{
	struct pmm_region *prev = pmm_prev_record(pmm, used), *next = pmm_next_record(pmm, used);
	struct merge m = { NULL, NULL };
	if (prev && region_is_free(prev) && region_end(prev) == used->first_page &&
	    prev->zone == used->zone)
		m.prev = prev;
	if (next && region_is_free(next) && next->first_page == region_end(used) &&
	    next->zone == used->zone)
		m.next = next;
	return m;
}

/*
 * Turns the used record at *link (a link of the used-record map) free and merges it with the free
 * neighbours `m` of its zone (merge_partners). Never needs a record. The caller emits the trace.
 */
static ALWAYS_INLINE void release_used(struct pmm *pmm, struct pmm_region **link, struct merge m,
				       enum filing filing)
{
	struct pmm_region *used = *link;
	uint64_t first = used->first_page, end = region_end(used);
	struct pmm_zone_index *z = &pmm->zone[used->zone];

	pmm_used_map_unlink(link);
	if (unlikely(used->flags & PMM_REGION_FLAG_METADATA))
		z->metadata_pages -= used->pages;
	used->state = PMM_REGION_FREE;
	used->owner = MM_OWNER_NONE;
	if (!m.prev && !m.next) {
		free_insert(z, used);
		return;
	}
	uint64_t new_first = m.prev ? m.prev->first_page : first;
	uint64_t new_end = m.next ? region_end(m.next) : end;
	struct pmm_region *keep = m.prev ? m.prev : m.next;
	if (m.prev && m.next) {
		/* The larger neighbour takes the run: it is the likelier to stay in its class. */
		struct pmm_region *drop = m.next->pages > m.prev->pages ? m.prev : m.next;
		keep = drop == m.prev ? m.next : m.prev;
		free_remove(pmm, z, drop, filing);
		record_release(pmm, drop);
	}
	record_release(pmm, used);
	free_reshape(pmm, z, keep, new_first, new_end - new_first, filing);
}

static void trace_release(const struct pmm_region *used)
{
	trace_pmm_free(used->first_page << PAGE_SHIFT, (uint32_t)used->pages, (uint32_t)used->pages,
		       used->zone, used->owner);
}

/* ---- finding a fit ------------------------------------------------------------------------- */

/*
 * The free record to carve n = `pages` aligned to `align_pages` from, in the first allowed zone
 * that has one, or NULL: the size-class path, else the exact search. *first receives where the
 * run starts.
 */
static struct pmm_region *find_fit(struct pmm *pmm, enum pmm_alloc_zone allowed, uint64_t pages,
				   uint64_t align_pages, uint64_t *first)
{
	unsigned guaranteed = pmm_class_at_least(pages + align_pages - 1);
	enum pmm_zone order[PMM_ZONE_COUNT];
	unsigned zones = pmm_zone_fallback(allowed, order);
	for (unsigned i = 0; i < zones; i++) {
		struct pmm_size_classes *classes = &pmm->zone[order[i]].classes;
		struct pmm_region *region = pmm_classes_any_at_or_above(classes, guaranteed);
		if (!region && classes->row_bitmap)
			region = pmm_classes_search(classes, pmm_class_of(pages), guaranteed,
						    pages, align_pages, &pmm->work);
		if (!region)
			continue;
		*first = ALIGN_UP(pmm_visit(&pmm->work, region)->first_page, align_pages);
		MM_ASSERT(*first + pages <= region_end(region),
			  "pmm find_fit: the index offered a record too small");
		return region;
	}
	return NULL;
}

/* ---- bookkeeping memory from the pmm itself ------------------------------------------------ */

/* An allocation for the pmm's own use; at most one record, since it is unaligned. */
static struct pmm_region *alloc_metadata(struct pmm *pmm, uint64_t pages)
{
	uint64_t first;
	if (pmm->spare_record_count < 1)
		return NULL;
	struct pmm_region *from = find_fit(pmm, pmm->metadata_zone, pages, 1, &first);
	if (!from)
		return NULL;
	MM_ASSERT(mm_phys_window == pmm->phys_window_at_init,
		  "pmm alloc_metadata: phys_to_virt window moved since pmm_init");
	struct pmm_region *used = carve_used(pmm, from, first, pages, MM_OWNER_MM_META,
					     PMM_REGION_FLAG_METADATA, MAY_BE_FILED);
	trace_pmm_alloc(first << PAGE_SHIFT, (uint32_t)pages, (uint32_t)pages, used->zone, 0,
			MM_OWNER_MM_META);
	return used;
}

/* Adds one page of records to the spare pool. Returns false when no page could be had. */
static bool refill_records(struct pmm *pmm)
{
	struct pmm_region *page = alloc_metadata(pmm, 1);
	if (!page)
		return false;
	struct pmm_region *records = phys_to_virt(page->first_page << PAGE_SHIFT);
	for (size_t i = 0; i < PAGE_SIZE / sizeof(struct pmm_region); i++)
		spare_push(pmm, &records[i]);
	pmm->records_owned += PAGE_SIZE / sizeof(struct pmm_region);
	pmm->record_pages++;
	return true;
}

/* Doubles the used-record map into pages from the pmm itself; on failure the old table stays. */
static void grow_used_map(struct pmm *pmm)
{
	uint64_t new_count = pmm->used.bucket_count * 2;
	uint64_t bytes = new_count * sizeof(struct pmm_region *);
	uint64_t pages = ALIGN_UP(bytes, PAGE_SIZE) >> PAGE_SHIFT;
	struct pmm_region *table = alloc_metadata(pmm, pages);
	if (!table)
		return;
	paddr_t old_phys = pmm->used_map_phys;
	struct pmm_region **buckets = phys_to_virt(table->first_page << PAGE_SHIFT);
	memset(buckets, 0, bytes);
	pmm_used_map_rehash(&pmm->used, buckets, new_count, &pmm->work);
	pmm->used_map_phys = table->first_page << PAGE_SHIFT;
	pmm->used_map_pages = pages;
	if (old_phys == PMM_ALLOC_FAILED)
		return;
	struct pmm_region **link = pmm_used_map_find(&pmm->used, old_phys >> PAGE_SHIFT, &pmm->work);
	trace_release(*link);
	release_used(pmm, link, merge_partners(pmm, *link), MAY_BE_FILED);
}

/* Records in use, free or used: an upper bound on the used ones that costs no counting. */
static ALWAYS_INLINE uint64_t records_in_use(const struct pmm *pmm)
{
	return pmm->records_owned - pmm->spare_record_count;
}

/* The spare pool below its low water, or the map too small for the records in use. */
static ALWAYS_INLINE bool bookkeeping_low(const struct pmm *pmm)
{
	return pmm->spare_record_count < PMM_RECORD_LOW_WATER ||
	       pmm_used_map_wants_growth(&pmm->used, records_in_use(pmm));
}

/* Keep the spare pool above its low water, and the map sized for the records in use. */
static void replenish_bookkeeping(struct pmm *pmm)
{
	if (pmm->spare_record_count < PMM_RECORD_LOW_WATER)
		refill_records(pmm);
	if (pmm_used_map_wants_growth(&pmm->used, records_in_use(pmm)))
		grow_used_map(pmm);
}

/* ---- allocation ---------------------------------------------------------------------------- */

/* Why an allocation's arguments are refused, or PMM_OK when they are valid. */
static enum pmm_status check_arguments(uint64_t pages, enum pmm_alloc_zone zone,
				       uint64_t align_pages, enum mm_owner owner)
{
	if (pages == 0 || !IS_POW2(align_pages) || (unsigned)owner >= MM_OWNER_COUNT ||
	    (unsigned)zone > PMM_ALLOC_BELOW_16M)
		return PMM_ERR_INVALID_ARGUMENT;
	if (pages > PMM_MAX_PAGES || align_pages > PMM_MAX_PAGES)
		return PMM_ERR_OUT_OF_MEMORY; /* nothing that large can fit */
	return PMM_OK;
}

/* The general path of pmm_alloc_status: every zone, the exact search, bookkeeping, failures. */
static __attribute__((noinline)) paddr_t alloc_general(struct pmm *pmm, uint64_t pages,
						       enum pmm_alloc_zone zone,
						       uint64_t align_pages, enum mm_owner owner,
						       enum pmm_status *status)
{
	uint64_t first;
	struct pmm_region *from = NULL;
	enum pmm_status result = check_arguments(pages, zone, align_pages, owner);
	if (result == PMM_OK) {
		/* Normally the pool was topped up after the last operation; this is the last resort. */
		if (pmm->spare_record_count < PMM_RECORDS_PER_ALLOCATION)
			refill_records(pmm);
		from = find_fit(pmm, zone, pages, align_pages, &first);
		if (!from)
			result = PMM_ERR_OUT_OF_MEMORY;
		else if (records_to_carve(from, first, pages) > pmm->spare_record_count)
			result = PMM_ERR_NO_RECORDS;
	}
	if (status)
		*status = result;
	if (result != PMM_OK) {
		trace_pmm_alloc_fail((uint32_t)pages, (uint8_t)zone,
				     IS_POW2(align_pages) ? (uint8_t)ilog2_u64(align_pages) : 0xff,
				     (uint8_t)owner);
		return PMM_ALLOC_FAILED;
	}
	struct pmm_region *used = carve_used(pmm, from, first, pages, owner, 0, MAY_BE_FILED);
	trace_pmm_alloc(first << PAGE_SHIFT, (uint32_t)pages, (uint32_t)pages, used->zone,
			(uint8_t)ilog2_u64(align_pages), (uint8_t)owner);
	replenish_bookkeeping(pmm);
	return first << PAGE_SHIFT;
}

/* The end of a fast allocation that is traced or left the record pool below its low water. */
static __attribute__((noinline)) paddr_t alloc_finish(struct pmm *pmm, uint64_t first,
						      uint64_t pages, uint64_t align_pages,
						      enum mm_owner owner)
{
	trace_pmm_alloc(first << PAGE_SHIFT, (uint32_t)pages, (uint32_t)pages, zone_of_page(pmm, first),
			(uint8_t)ilog2_u64(align_pages), (uint8_t)owner);
	replenish_bookkeeping(pmm);
	return first << PAGE_SHIFT;
}

/*
 * The fast path tries one zone: the first non-empty one in pmm_zone_fallback's order. That order
 * is every zone from the highest the allocation may use down to DMA; with the values of
 * trace/events.def the highest is PMM_ZONE_COUNT - 1 - the allocation's zone.
 */
_Static_assert(PMM_ZONE_COUNT - 1 - PMM_ALLOC_ANY == PMM_ZONE_NORMAL &&
		       PMM_ZONE_COUNT - 1 - PMM_ALLOC_BELOW_4G == PMM_ZONE_DMA32 &&
		       PMM_ZONE_COUNT - 1 - PMM_ALLOC_BELOW_16M == PMM_ZONE_DMA,
	       "the first zone tried is PMM_ZONE_COUNT - 1 - the allocation's zone");

/*
 * THE FAST PATH. The usual allocation (valid arguments, the bookkeeping topped up, the size-class
 * path serving in the first non-empty zone tried, from an unfiled record) is done here without calling
 * anything; anything else goes to alloc_general before changing anything, and one that is traced
 * or leaves the record pool low ends in alloc_finish. Both paths carve the same record: the fast
 * path is the general one with its answer known early. The map's growth is checked on the way in
 * (a pool that a refill could not top up also sends the allocation to the general path).
 */
static ALWAYS_INLINE paddr_t alloc_fast(struct pmm *pmm, uint64_t pages, enum pmm_alloc_zone zone,
					uint64_t align_pages, enum mm_owner owner,
					enum pmm_status *status)
{
	/* One test: pages and align in 1 .. PMM_MAX_PAGES, align a power of two, owner and zone
	 * known, the spare pool above its low water, the used-record map large enough. */
	if (unlikely(((pages - 1) | (align_pages - 1)) >= PMM_MAX_PAGES ||
		     (align_pages & (align_pages - 1)) || (unsigned)owner >= MM_OWNER_COUNT ||
		     (unsigned)zone > PMM_ALLOC_BELOW_16M || bookkeeping_low(pmm)))
		return alloc_general(pmm, pages, zone, align_pages, owner, status);
	enum pmm_zone first_zone = (enum pmm_zone)(PMM_ZONE_COUNT - 1 - zone);
	while (unlikely(!pmm->zone[first_zone].classes.row_bitmap) && first_zone > PMM_ZONE_DMA)
		first_zone--; /* an empty zone: the general path would pass over it too */
	struct pmm_zone_index *z = &pmm->zone[first_zone];
	struct pmm_region *from =
		pmm_classes_any_at_or_above(&z->classes, pmm_class_at_least(pages + align_pages - 1));
	if (unlikely(!from || is_filed(from)))
		return alloc_general(pmm, pages, zone, align_pages, owner, status);
	uint64_t first = ALIGN_UP(pmm_visit(&pmm->work, from)->first_page, align_pages);
	MM_ASSERT(first + pages <= region_end(from), "pmm alloc: the index offered a record too small");
	carve_in_zone(pmm, z, first_zone, from, first, pages, owner, 0, KNOWN_UNFILED);
	if (status)
		*status = PMM_OK;
	if (unlikely(trace_enabled || pmm->spare_record_count < PMM_RECORD_LOW_WATER))
		return alloc_finish(pmm, first, pages, align_pages, owner);
	return first << PAGE_SHIFT;
}

paddr_t pmm_alloc_status(struct pmm *pmm, uint64_t pages, enum pmm_alloc_zone zone,
			 uint64_t align_pages, enum mm_owner owner, enum pmm_status *status)
{
	return alloc_fast(pmm, pages, zone, align_pages, owner, status);
}

paddr_t pmm_alloc(struct pmm *pmm, uint64_t pages, enum pmm_alloc_zone zone, uint64_t align_pages,
		  enum mm_owner owner)
{
	return alloc_fast(pmm, pages, zone, align_pages, owner, NULL);
}

/* ---- free ---------------------------------------------------------------------------------- */

/* Why [first, first + pages) cannot be freed, when no used record starts at `first`. O(records). */
static enum pmm_status classify_bad_free(struct pmm *pmm, uint64_t first, uint64_t pages)
{
	uint64_t end = first + pages, free_pages = 0;
	for (const struct pmm_region *r = pmm_first_record(pmm);
	     r && pmm_visit(&pmm->work, r)->first_page < end; r = pmm_next_record(pmm, r)) {
		if (!region_is_free(r) || region_end(r) <= first)
			continue;
		free_pages += MIN(end, region_end(r)) - MAX(first, r->first_page);
	}
	if (free_pages == pages)
		return PMM_ERR_DOUBLE_FREE;
	return free_pages ? PMM_ERR_PARTLY_FREE : PMM_ERR_NOT_ALLOCATED;
}

/* The general path of pmm_free, from the used record's link: refusals, tracing, filed records. */
static __attribute__((noinline)) enum pmm_status free_general(struct pmm *pmm,
							      struct pmm_region **link,
							      uint64_t first, uint64_t pages)
{
	if (!*link)
		return classify_bad_free(pmm, first, pages);
	if ((*link)->pages != pages)
		return PMM_ERR_WRONG_LENGTH;
	if ((*link)->flags & PMM_REGION_FLAG_METADATA)
		return PMM_ERR_PMM_METADATA;
	trace_release(*link);
	release_used(pmm, link, merge_partners(pmm, *link), MAY_BE_FILED);
	return PMM_OK;
}

/* The fast path of a free: the record found, the length right, tracing off, nothing filed. */
enum pmm_status pmm_free(struct pmm *pmm, paddr_t addr, uint64_t pages)
{
	uint64_t first = addr >> PAGE_SHIFT;
	if (unlikely(pages - 1 >= PMM_MAX_PAGES || !IS_ALIGNED(addr, PAGE_SIZE) ||
		     first + pages > (PMM_PHYS_LIMIT >> PAGE_SHIFT)))
		return PMM_ERR_INVALID_ARGUMENT;
	struct pmm_region **link = pmm_used_map_find(&pmm->used, first, &pmm->work);
	struct pmm_region *used = *link;
	if (unlikely(!used || used->pages != pages || used->flags || trace_enabled))
		return free_general(pmm, link, first, pages);
	struct merge m = merge_partners(pmm, used);
	if (unlikely((m.prev && is_filed(m.prev)) || (m.next && is_filed(m.next))))
		return free_general(pmm, link, first, pages);
	release_used(pmm, link, m, KNOWN_UNFILED);
	return PMM_OK;
}

/* ---- claim --------------------------------------------------------------------------------- */

/* The free record holding all of [first, end), or NULL. O(records). */
static struct pmm_region *free_record_holding(struct pmm *pmm, uint64_t first, uint64_t end)
{
	for (struct pmm_region *r = pmm_first_record(pmm);
	     r && pmm_visit(&pmm->work, r)->first_page <= first; r = pmm_next_record(pmm, r)) {
		if (region_is_free(r) && first < region_end(r))
			return end <= region_end(r) ? r : NULL;
	}
	return NULL;
}

enum pmm_status pmm_claim(struct pmm *pmm, paddr_t addr, uint64_t pages, enum mm_owner owner)
{
	if (pages == 0 || !IS_ALIGNED(addr, PAGE_SIZE) || pages > PMM_MAX_PAGES ||
	    (unsigned)owner >= MM_OWNER_COUNT ||
	    (addr >> PAGE_SHIFT) + pages > (PMM_PHYS_LIMIT >> PAGE_SHIFT))
		return PMM_ERR_INVALID_ARGUMENT;
	uint64_t first = addr >> PAGE_SHIFT;
	struct pmm_region *from = free_record_holding(pmm, first, first + pages);
	if (!from)
		return PMM_ERR_NOT_FREE;
	if (records_to_carve(from, first, pages) > pmm->spare_record_count)
		return PMM_ERR_NO_RECORDS;
	struct pmm_region *used = carve_used(pmm, from, first, pages, owner, 0, MAY_BE_FILED);
	trace_pmm_alloc(first << PAGE_SHIFT, (uint32_t)pages, (uint32_t)pages, used->zone, 0,
			(uint8_t)owner);
	replenish_bookkeeping(pmm);
	return PMM_OK;
}

/* ---- page_source adapter ------------------------------------------------------------------------- */

static paddr_t page_source_pmm_alloc(void *ctx, uint64_t pages, uint64_t align_pages,
				     enum mm_owner owner)
{
	paddr_t pa = pmm_alloc(ctx, pages, PMM_ALLOC_ANY, align_pages, owner);
	return pa == PMM_ALLOC_FAILED ? PAGE_SOURCE_FAILED : pa;
}

static void page_source_pmm_free(void *ctx, paddr_t pa, uint64_t pages)
{
	enum pmm_status status = pmm_free(ctx, pa, pages);
	MM_ASSERT(status == PMM_OK, "pmm page_source_pmm_free(%#llx, %llu pages): %s",
		  (unsigned long long)pa, (unsigned long long)pages, pmm_status_name(status));
}

struct page_source pmm_page_source(struct pmm *pmm)
{
	return (struct page_source){ page_source_pmm_alloc, page_source_pmm_free, pmm };
}

/* ---- initialisation ------------------------------------------------------------------------------ */

/* Appends a usable range (they arrive in ascending order), split at the configured zone ends. */
static enum pmm_status add_usable_range(void *ctx, uint64_t first_page, uint64_t pages)
{
	struct pmm *pmm = ctx;
	uint64_t page = first_page, end = first_page + pages;
	while (page < end) {
		enum pmm_zone zone = zone_of_page(pmm, page);
		uint64_t piece_end = MIN(end, pmm->zone_end_page[zone]);
		if (pmm->spare_record_count == 0)
			return PMM_ERR_NO_RECORDS;
		struct pmm_region *region = record_take(pmm, page, piece_end - page, PMM_REGION_FREE, zone);
		list_push_back(&pmm->records, &region->address_link);
		free_insert(&pmm->zone[zone], region);
		pmm->zone[zone].total_pages += region->pages;
		page = piece_end;
	}
	return PMM_OK;
}

/* Marks the free parts of [first, end) used by `owner`, one used record per free record touched. */
static enum pmm_status reserve_range(struct pmm *pmm, uint64_t first, uint64_t end,
				     enum mm_owner owner)
{
	struct pmm_region *r = pmm_first_record(pmm);
	while (r && r->first_page < end) {
		if (!region_is_free(r) || region_end(r) <= first) {
			r = pmm_next_record(pmm, r);
			continue;
		}
		uint64_t piece_first = MAX(first, r->first_page);
		uint64_t piece_end = MIN(end, region_end(r));
		if (records_to_carve(r, piece_first, piece_end - piece_first) >
		    pmm->spare_record_count)
			return PMM_ERR_NO_RECORDS;
		struct pmm_region *used = carve_used(pmm, r, piece_first, piece_end - piece_first,
						     owner, 0, MAY_BE_FILED);
		trace_pmm_alloc(piece_first << PAGE_SHIFT, (uint32_t)(piece_end - piece_first),
				(uint32_t)(piece_end - piece_first), used->zone, 0, (uint8_t)owner);
		r = pmm_next_record(pmm, used);
	}
	return PMM_OK;
}

static enum pmm_status validate_reservation(const struct pmm_reservation *reservation, size_t i)
{
	if (reservation->length == 0 || reservation->length - 1 > UINT64_MAX - reservation->base ||
	    (unsigned)reservation->owner >= MM_OWNER_COUNT) {
		mm_log("pmm_init: reservation %zu (base %#llx length %#llx owner %d) is invalid\n", i,
		       (unsigned long long)reservation->base,
		       (unsigned long long)reservation->length, (int)reservation->owner);
		return PMM_ERR_INVALID_ARGUMENT;
	}
	return PMM_OK;
}

static enum pmm_status apply_reservations(struct pmm *pmm, const struct pmm_config *config)
{
	for (size_t i = 0; i < config->reservation_count; i++) {
		const struct pmm_reservation *reservation = &config->reservations[i];
		enum pmm_status status = validate_reservation(reservation, i);
		if (status != PMM_OK)
			return status;
		uint64_t first = reservation->base >> PAGE_SHIFT;
		uint64_t last = (reservation->base + (reservation->length - 1)) >> PAGE_SHIFT;
		status = reserve_range(pmm, first, last + 1, reservation->owner);
		if (status != PMM_OK)
			return status;
	}
	return PMM_OK;
}

/* Zone ends in pages; with no configuration (an empty pmm), every page is NORMAL. */
static void set_zone_ends(struct pmm *pmm, const paddr_t *zone_end)
{
	for (unsigned z = 0; z + 1 < PMM_ZONE_COUNT; z++)
		pmm->zone_end_page[z] = zone_end ? zone_end[z] >> PAGE_SHIFT : 0;
	pmm->zone_end_page[PMM_ZONE_COUNT - 1] = PMM_PHYS_LIMIT >> PAGE_SHIFT;
}

/* Zones are consecutive ranges (zone_of_page compares against each end in turn), within the
 * pages the pmm can manage, and split between whole pages. */
static enum pmm_status validate_zone_ends(const paddr_t *zone_end)
{
	paddr_t previous = 0;
	for (unsigned z = 0; z + 1 < PMM_ZONE_COUNT; z++) {
		if (!IS_ALIGNED(zone_end[z], PAGE_SIZE) || zone_end[z] < previous ||
		    zone_end[z] > PMM_PHYS_LIMIT) {
			mm_log("pmm_init: zone %s ends at %#llx: an end must be page-aligned, at least "
			       "the previous zone's (%#llx) and at most %#llx\n",
			       pmm_zone_name(z), (unsigned long long)zone_end[z],
			       (unsigned long long)previous, (unsigned long long)PMM_PHYS_LIMIT);
			return PMM_ERR_INVALID_ARGUMENT;
		}
		previous = zone_end[z];
	}
	return PMM_OK;
}

static void reset_empty(struct pmm *pmm, enum pmm_alloc_zone metadata_zone)
{
	memset(pmm, 0, sizeof(*pmm));
	set_zone_ends(pmm, NULL);
	list_init(&pmm->records);
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		pmm_classes_init(&pmm->zone[z].classes);
	pmm_used_map_init(&pmm->used);
	pmm->used_map_phys = PMM_ALLOC_FAILED;
	pmm->metadata_zone = metadata_zone;
	pmm->phys_window_at_init = mm_phys_window;
}

static enum pmm_status build(struct pmm *pmm, const struct pmm_config *config)
{
	if ((config->memory_map_count && !config->memory_map) ||
	    (config->reservation_count && !config->reservations) ||
	    (config->initial_record_count && !config->initial_records) ||
	    (unsigned)config->metadata_zone > PMM_ALLOC_BELOW_16M)
		return PMM_ERR_INVALID_ARGUMENT;
	enum pmm_status status = validate_zone_ends(config->zone_end);
	if (status != PMM_OK)
		return status;
	set_zone_ends(pmm, config->zone_end);
	for (size_t i = 0; i < config->initial_record_count; i++)
		spare_push(pmm, &config->initial_records[i]);
	pmm->records_owned = config->initial_record_count;
	status = pmm_memory_map_for_each_usable(config->memory_map, config->memory_map_count,
						add_usable_range, pmm, &pmm->work);
	if (status != PMM_OK)
		return status;
	return apply_reservations(pmm, config);
}

enum pmm_status pmm_init(struct pmm *pmm, const struct pmm_config *config)
{
	if (!pmm)
		return PMM_ERR_INVALID_ARGUMENT;
	reset_empty(pmm, config ? config->metadata_zone : PMM_ALLOC_ANY);
	enum pmm_status status = config ? build(pmm, config) : PMM_ERR_INVALID_ARGUMENT;
	if (status != PMM_OK) {
		mm_log("pmm_init: %s%s\n", pmm_status_name(status),
		       status == PMM_ERR_NO_RECORDS ? " (initial record array too small)" : "");
		reset_empty(pmm, PMM_ALLOC_ANY);
		return status;
	}
	replenish_bookkeeping(pmm);
	return PMM_OK;
}

/* ---- statistics ---------------------------------------------------------------------------------- */

void pmm_get_stats(const struct pmm *pmm, struct pmm_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		const struct pmm_zone_index *zone = &pmm->zone[z];
		struct pmm_zone_stats *out = &stats->zone[z];
		out->total_pages = zone->total_pages;
		out->free_pages = zone->free_pages;
		out->free_extents =
			pmm_classes_count_by_order(&zone->classes, out->free_extents_by_order);
		out->largest_free_extent = pmm_classes_longest(&zone->classes);
		out->metadata_pages = zone->metadata_pages;
		for (unsigned o = 0; o < PMM_ORDER_COUNT; o++)
			stats->free_extents_by_order[o] += out->free_extents_by_order[o];
		stats->total_pages += out->total_pages;
		stats->free_pages += out->free_pages;
		stats->free_extents += out->free_extents;
		stats->metadata_pages += out->metadata_pages;
		stats->largest_free_extent = MAX(stats->largest_free_extent,
						 out->largest_free_extent);
	}
	stats->used_pages = stats->total_pages - stats->free_pages;
	stats->records_in_use = records_in_use(pmm);
	stats->spare_records = pmm->spare_record_count;
	stats->hash_buckets = pmm->used.bucket_count;
}

uint64_t pmm_extent_buddy_blocks(uint64_t first_page, uint64_t pages, unsigned max_order,
				 uint64_t blocks_by_order[PMM_ORDER_COUNT])
{
	uint64_t blocks = 0;
	max_order = MIN(max_order, (unsigned)PMM_ORDER_COUNT - 1);
	while (pages) {
		unsigned order = ilog2_u64(pages);
		if (first_page)
			order = MIN(order, (unsigned)__builtin_ctzll(first_page));
		order = MIN(order, max_order);
		blocks_by_order[order]++;
		blocks++;
		first_page += (uint64_t)1 << order;
		pages -= (uint64_t)1 << order;
	}
	return blocks;
}

/* ---- iteration ----------------------------------------------------------------------------------- */

static void describe(const struct pmm_region *region, struct pmm_region_info *info)
{
	info->base = region->first_page << PAGE_SHIFT;
	info->pages = region->pages;
	info->state = (enum pmm_region_state)region->state;
	info->owner = (enum mm_owner)region->owner;
	info->zone = (enum pmm_zone)region->zone;
	info->pmm_metadata = region->flags & PMM_REGION_FLAG_METADATA;
}

void pmm_for_each_region(const struct pmm *pmm, pmm_region_visitor visit, void *ctx)
{
	struct pmm_region_info info;
	for (const struct pmm_region *r = pmm_first_record(pmm); r; r = pmm_next_record(pmm, r)) {
		describe(r, &info);
		if (!visit(ctx, &info))
			return;
	}
}

void pmm_for_each_free_extent(const struct pmm *pmm, pmm_region_visitor visit, void *ctx)
{
	struct pmm_region_info info;
	for (const struct pmm_region *r = pmm_first_record(pmm); r; r = pmm_next_record(pmm, r)) {
		if (!region_is_free(r))
			continue;
		describe(r, &info);
		if (!visit(ctx, &info))
			return;
	}
}
