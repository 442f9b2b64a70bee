/*
 * The physical memory manager: contiguous runs of physical pages for the whole kernel, zone-limited
 * (DMA) and aligned (large pages) on request. Interface and usage: pmm.h.
 *
 * DATA MODEL. The ground truth is the seed's "linked list of regions": one doubly-linked list of
 * region records {first page, number of pages, state (free | used by an owner)}, in address order.
 * Holes and non-available firmware ranges are simply absent (gaps between records). Around it,
 * two indexes serve the hot operations:
 *   - per zone, a TLSF-style size-class index of the free records (below): most allocations take
 *     any record of the first class that guarantees a fit, the rest are answered exactly by the
 *     classes below it. An inexact class (sizes >= 32) keeps its records in a fit tree
 *     (pmm_fit_tree.c); an exact class (one size < 32) in 16 lists by first page mod 16, and
 *     those of its records that hold a 32-aligned page also in a fit tree;
 *   - a hash table of the used records keyed by first page, for pmm_free; the address-ordered
 *     list then gives the neighbours to merge with.
 * The self-check (pmm_check) lives in pmm_check.c.
 *
 * INVARIANTS (pmm_check verifies all of them)
 *   1. The list is sorted: each record starts at or after the end of the previous one.
 *   2. No record is empty and none crosses a zone boundary (the configured zone ends, amd64's
 *      16 MiB and 4 GiB): zones are split at init, and allocations are carved from one free
 *      record, so nothing can create a crossing.
 *   3. Coalesced: no two free records touch within a zone (they never merge across a boundary).
 *   4. Every free record is in exactly one class: the class of its size, in its zone. An inexact
 *      class holds them all in its tree; an exact class in its residue lists (list r: first
 *      page mod 16 = r, residue bit r set iff the list is non-empty), and exactly those of peak
 *      order >= 5 also in its tree. A class bit is set iff the class has a record, a row bit iff
 *      any class bit of the row is. Each tree is ordered by (right arm, first page),
 *      AVL-balanced, and every node's maxima (pages, peak order, block order) and height are
 *      those of its subtree.
 *   5. Every used record is in the hash table, in the bucket of its first page; nothing else is.
 *   6. The zone counters (total/free pages, free extents, extents by order, metadata pages) equal
 *      a recount of the list; unused records are all in the spare pool, and are counted.
 *
 * SIZE CLASSES of one zone (PMM_CLASS_SUBDIVISION_BITS = 4, so 16 classes per row):
 *
 *   row r   extent sizes (pages)      class width    class (r, s) holds sizes
 *   0       1 .. 15                   1              s                   (s = 0 never used)
 *   1       16 .. 31                  1              16 + s
 *   2       32 .. 63                  2              (16 + s) * 2 .. + 1
 *   r >= 1  2^(r+3) .. 2^(r+4) - 1    2^(r-1)        (16 + s) * 2^(r-1) .. + 2^(r-1) - 1
 *   37      2^40 .. 2^41 - 1          2^36
 *
 *   row_bitmap (64 bits)       bit r  = 1  <=>  class_bitmap[r] != 0          (rows 0..37 used)
 *   class_bitmap[r] (32 bits)  bit s  = 1  <=>  class_root[r][s] != NULL      (bits 0..15 used)
 *
 *   A class never holds sizes that differ by more than 1/16 of its lower bound, so the good fit
 *   below wastes little; sizes under 32 pages have exact classes.
 *
 * ALLOCATION POLICY (pmm_alloc of n pages aligned to a = 2^k pages):
 *   - Zones in order: ANY = NORMAL, DMA32, DMA; BELOW_4G = DMA32, DMA; BELOW_16M = DMA. Low
 *     memory is used last, so it stays available for devices that can only reach it.
 *   - In a zone, first the size-class path: every extent of at least n + a - 1 pages holds an
 *     aligned run. Round that up to the next class boundary; every extent in that class or above
 *     is then big enough, so the first non-empty class there is found with two find-first-set
 *     operations and any record of it is taken (a list head or the tree root): O(1).
 *   - Else the class trees below that class answer exactly (next paragraph).
 *   - The run is carved at the lowest aligned page of the chosen extent; the remains stay free
 *     records (at most a head and a tail, so at most 2 new records).
 *   - Free: find the used record by hash, merge with the previous and the next record when they
 *     are free, adjacent and in the same zone.
 *
 * NO FALSE FAILURE. pmm_alloc returns PMM_ERR_OUT_OF_MEMORY only when no free extent of an
 * allowed zone holds n pages at a multiple of a. Proof, for one zone (zones are tried in turn,
 * and an extent never crosses a zone, invariant 2). The size-class path fails only when every
 * class from the guaranteed one up is empty; the search then visits every non-empty class from
 * the class of n (smaller extents cannot hold n pages) to below the guaranteed one, so it
 * suffices that within one class tree nothing that fits is missed. Write an extent [s, e) as its
 * peak P (the page with the most trailing zeros, of order T), left arm λ = P - s < 2^T, right
 * arm ρ = e - P <= 2^T (pmm_fit_tree.c). For k <= T the lowest aligned page is P - ALIGN_DOWN(λ, 2^k), so the extent
 * fits iff T >= k and ρ + ALIGN_DOWN(λ, 2^k) >= n (*); for k > T no page of it is aligned.
 *   Lemma 1 (a = 1): fits iff e - s >= n. A tree keeps the longest extent of every subtree, so
 *     a descent that enters only subtrees with max_pages >= n finds one iff one exists.
 *   Lemma 2 (n <= a): fits iff the extent holds a naturally aligned block of 2^k pages, or T >= k
 *     and ρ >= n. From (*): if λ >= 2^k then ALIGN_DOWN(λ, 2^k) >= 2^k >= n, and [P - 2^k, P) is
 *     such a block; if λ < 2^k, (*) reads ρ >= n. Conversely a block holds the run at its start,
 *     and ρ >= n with T >= k holds it at P. A tree keeps each subtree's largest block order
 *     (find_block), and, being ordered by ρ, every key right of a node with ρ >= n qualifies too,
 *     so "ρ >= n and peak order >= k" is one walk down plus one descent on max peak order.
 *   Lemma 3 (1 < a < n): any extent of n + a - 1 pages fits (one descent on max_pages), any with
 *     ρ >= n and T >= k fits (as in lemma 2); otherwise every extent of at least n pages whose
 *     subtree allows peak order >= k is tested with (*) directly. Nothing that can fit is skipped.
 *   Lemma 4 (exact classes, one size L < 32): if a <= 16, the lowest aligned page of an extent
 *     depends only on s mod 16, so one record per residue list is tested: exact. If a >= 32 > L,
 *     an extent holds at most one page aligned to a; if T >= k that page is P, so it fits iff
 *     T >= k and ρ >= n: only records of peak order >= 5 qualify, and those are in the tree.
 *
 * BOUNDS. Work = pmm->work, the records, tree nodes and hash entries an operation visits. N is
 * the number of free extents in a zone, h the height of its tallest class tree: h <= 1.4405
 * log2(N + 2) (AVL). C is the number of classes the search visits, at most 16 per row spanned by
 * [n, n + a - 1]: C <= 16 (floor(log2(n + a - 1)) - floor(log2 n) + 1), and C <= 1 for a = 1
 * (only the class of n can be short of the guarantee). A class that cannot serve costs at most
 * 1 + 2h visits (its root or residue mask, then find_right_arm), the one that serves at most
 * 1 + 2h too. Per zone tried, the search visits at most
 *     1 + C (1 + 2h) + 2h          when a = 1 or a >= n,
 *     1 + C (1 + 2h) + 2h + K h    when 1 < a < n, K = the zone's free extents of at least n
 *                                  pages (by then all shorter than n + a - 1): lemma 3's last
 *                                  step visits only their root paths. This case alone is
 *                                  linear, in K.
 * Updating the indexes (avl_tree.c: each descent or climb visits at most h + 1 nodes, and the
 * climbs stop where nothing changes): a tree insert descends once from the root and climbs twice,
 * at most 3(h + 1); a remove starts at the record itself and descends at most once and climbs at
 * most three times, at most 4(h + 1); a record alone in its class tree costs 1 (so the common
 * case, a large extent alone in its class, costs O(1)). Carving removes 1 and inserts at most 2:
 * at most 10(h + 1); a free removes at most 2 and inserts 1: at most 11(h + 1). A free also walks
 * the hash chain of its page twice (find, unlink). At most 3 zones are tried. So:
 *     pmm_alloc  <= sum over zones tried of the search above + 10(h + 1) + R
 *     pmm_free   <= 2 * chain + 11(h + 1)
 * where R, the bookkeeping top-up after an operation, is 1 + 10(h + 1) when a record page is taken
 * (once per PAGE_SIZE / sizeof(struct pmm_region) records) and, AMORTISED, the hash growth: when
 * it doubles it rehashes every used record (U visits) — once per doubling of U, so O(1) per
 * allocation on average but O(U) for the one that triggers it. The hash chain is short ON
 * AVERAGE only: the load factor stays <= 2 after every operation (Fibonacci hashing spreads
 * strided page numbers), but no worst case is promised for adversarial page numbers.
 * pmm_claim and a failing pmm_free walk the list: at most one visit per record.
 *
 * BOOKKEEPING MEMORY, and why it cannot recurse.
 *   - Records come from a spare pool, seeded with the caller's array at init. After each
 *     allocating operation, if fewer than PMM_RECORD_LOW_WATER spares remain, the pmm allocates
 *     one page from itself (owner MM_OWNER_MM_META, flagged as metadata, in config.metadata_zone)
 *     and cuts it into records through phys_to_virt. That internal allocation is one page with
 *     no alignment, so it splits at most one free record: it consumes at most one spare, which the
 *     low water mark guarantees, and it never tops up the pool itself (no recursion).
 *   - An allocation needs at most 2 records; when not even that many can be had (memory for
 *     records exhausted), it fails with PMM_ERR_NO_RECORDS. A free never needs a record: merging
 *     releases records, and a free that merges with nothing turns the used record into the free
 *     one. So memory can always be returned, even when the pool is empty.
 *   - The hash table starts with PMM_HASH_EMBEDDED_BUCKETS buckets inside struct pmm. When the
 *     used records exceed twice the buckets, it doubles into pages from the pmm itself (also one
 *     internal allocation: at most one record, done after the operation), rehashes everything
 *     and returns the old pages. If that allocation fails, chains just get longer. Rehashing is
 *     O(used records), once per doubling: amortised O(1).
 *   - Record pages are never given back (the pool only grows, by one page at a time). The pmm
 *     keeps virtual pointers: phys_to_virt must not move while it lives (checked on refill).
 */
#include "pmm_internal.h"
#include "../lib/format.h"
#include "kernel/trace/tracepoints.h"

/* Spares kept after each allocating operation: one operation needs at most 2. */
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
	return size_class_lower_bound(size_class_at_least(pages + align_pages - 1));
}

/* ---- the indexes of free records: size classes, each a fit tree -------------------------------- */

static inline bool is_exact_size(uint64_t pages)
{
	return pages < PMM_EXACT_CLASS_PAGES;
}

/* An exact-class record goes in its class's tree only if it holds a 2^5-aligned page. */
static inline bool in_class_tree(const struct pmm_region *region)
{
	return !is_exact_size(region->pages) ||
	       pmm_fit_shape_of(region->first_page, region->pages).peak_order >=
		       PMM_EXACT_TREE_ORDER;
}

static void exact_list_insert(struct pmm_zone_index *zone, struct pmm_region *region)
{
	unsigned residue = region->first_page % PMM_EXACT_RESIDUES;
	list_push_front(&zone->exact_list[region->pages][residue], &region->link.free.residue_link);
	zone->exact_residues[region->pages] |= (uint16_t)(1u << residue);
}

static void exact_list_remove(struct pmm_zone_index *zone, struct pmm_region *region)
{
	unsigned residue = region->first_page % PMM_EXACT_RESIDUES;
	list_remove(&region->link.free.residue_link);
	if (list_is_empty(&zone->exact_list[region->pages][residue]))
		zone->exact_residues[region->pages] &= (uint16_t)~(1u << residue);
}

static void index_insert(struct pmm *pmm, struct pmm_region *region)
{
	struct pmm_zone_index *zone = &pmm->zone[zone_of_page(pmm, region->first_page)];
	struct size_class c = size_class_of(region->pages);

	if (is_exact_size(region->pages))
		exact_list_insert(zone, region);
	if (in_class_tree(region))
		pmm_fit_insert(pmm, &zone->class_root[c.row][c.sub], region);
	zone->class_bitmap[c.row] |= 1u << c.sub;
	zone->row_bitmap |= (uint64_t)1 << c.row;

	zone->free_pages += region->pages;
	zone->free_extents++;
	zone->free_extents_by_order[ilog2_u64(region->pages)]++;
}

/* Must run before the record's size or position changes: class and tree key come from them. */
static void index_remove(struct pmm *pmm, struct pmm_region *region)
{
	struct pmm_zone_index *zone = &pmm->zone[zone_of_page(pmm, region->first_page)];
	struct size_class c = size_class_of(region->pages);

	if (is_exact_size(region->pages))
		exact_list_remove(zone, region);
	if (in_class_tree(region))
		pmm_fit_remove(pmm, &zone->class_root[c.row][c.sub], region);
	bool empty = is_exact_size(region->pages) ? !zone->exact_residues[region->pages]
						   : !zone->class_root[c.row][c.sub];
	if (empty) {
		zone->class_bitmap[c.row] &= ~(1u << c.sub);
		if (!zone->class_bitmap[c.row])
			zone->row_bitmap &= ~((uint64_t)1 << c.row);
	}

	zone->free_pages -= region->pages;
	zone->free_extents--;
	zone->free_extents_by_order[ilog2_u64(region->pages)]--;
}

/*
 * Gives a free record a new extent in the same zone. In place when it is the lone node of its
 * class tree and stays in that class: the common case of one large extent shrinking or growing
 * at an edge, which then costs no tree search.
 */
static void index_reshape(struct pmm *pmm, struct pmm_region *region, uint64_t first,
			  uint64_t pages)
{
	struct pmm_zone_index *zone = &pmm->zone[zone_of_page(pmm, region->first_page)];
	struct size_class was = size_class_of(region->pages), will = size_class_of(pages);
	const struct avl_node *node = &region->link.free.fit;
	if (is_exact_size(region->pages) || is_exact_size(pages) || was.row != will.row ||
	    was.sub != will.sub || zone->class_root[was.row][was.sub] != region || node->left ||
	    node->right) {
		index_remove(pmm, region);
		region->first_page = first;
		region->pages = pages;
		index_insert(pmm, region);
		return;
	}
	zone->free_pages = zone->free_pages - region->pages + pages;
	zone->free_extents_by_order[ilog2_u64(region->pages)]--;
	zone->free_extents_by_order[ilog2_u64(pages)]++;
	region->first_page = first;
	region->pages = pages;
	pmm_fit_refresh_lone_root(region);
}

/* The first non-empty class at or above `from`, or NULL. Two find-first-set operations. */
static struct pmm_region *first_class_at_or_above(const struct pmm_zone_index *zone,
						  struct size_class from)
{
	if (from.row >= PMM_CLASS_ROWS)
		return NULL;
	uint32_t subs = zone->class_bitmap[from.row] & (~0u << from.sub);
	unsigned row = from.row;
	if (!subs) {
		uint64_t rows = from.row + 1 < 64 ? zone->row_bitmap & (~(uint64_t)0 << (from.row + 1))
						  : 0;
		if (!rows)
			return NULL;
		row = (unsigned)__builtin_ctzll(rows);
		subs = zone->class_bitmap[row];
	}
	return pmm_class_any(zone, (struct size_class){ row, (unsigned)__builtin_ctz(subs) });
}

/* ---- address-ordered list and record pool -------------------------------------------------------- */

static void spare_push(struct pmm *pmm, struct pmm_region *region)
{
	region->link.spare_next = pmm->spare_records;
	pmm->spare_records = region;
	pmm->spare_record_count++;
}

static struct pmm_region *record_take(struct pmm *pmm)
{
	struct pmm_region *region = pmm->spare_records;
	MM_ASSERT(region, "pmm record_take: spare pool empty (caller did not reserve records)");
	pmm->spare_records = region->link.spare_next;
	pmm->spare_record_count--;
	pmm->records_in_use++;
	memset(region, 0, sizeof(*region));
	return region;
}

static void record_release(struct pmm *pmm, struct pmm_region *region)
{
	pmm->records_in_use--;
	spare_push(pmm, region);
}

/* ---- hash table of used records ------------------------------------------------------------------ */

static void hash_insert(struct pmm *pmm, struct pmm_region *region)
{
	struct pmm_region **bucket = &pmm->hash_buckets[hash_bucket(pmm, region->first_page)];
	region->link.hash_next = *bucket;
	*bucket = region;
	pmm->used_records++;
}

static void hash_remove(struct pmm *pmm, struct pmm_region *region)
{
	struct pmm_region **link = &pmm->hash_buckets[hash_bucket(pmm, region->first_page)];
	while (*link != region) {
		pmm->work++;
		MM_ASSERT(*link, "pmm hash_remove: used record at page %#llx not in its bucket",
			  (unsigned long long)region->first_page);
		link = &(*link)->link.hash_next;
	}
	*link = region->link.hash_next;
	pmm->used_records--;
}

static void hash_reset_embedded(struct pmm *pmm)
{
	memset(pmm->hash_embedded, 0, sizeof(pmm->hash_embedded));
	pmm->hash_buckets = pmm->hash_embedded;
	pmm->hash_bucket_count = PMM_HASH_EMBEDDED_BUCKETS;
	pmm->hash_phys = PMM_ALLOC_FAILED;
	pmm->hash_pages = 0;
	pmm->used_records = 0;
}

/* ---- carving and releasing runs ------------------------------------------------------------------ */

/* Records that carving [first, first + pages) out of the free record `from` consumes: 0..2. */
static unsigned records_to_carve(const struct pmm_region *from, uint64_t first, uint64_t pages)
{
	return (first > from->first_page) + (first + pages < region_end(from));
}

/*
 * Turns [first, first + pages) of the free record `from` into a used record and returns it; the
 * rest of `from` stays free as a head and/or a tail. The caller has checked that the run lies in
 * `from` and that records_to_carve() spares exist.
 */
/*
 * Every used record is made here (allocations, claims, reservations, the pmm's own pages), so this
 * is where the pmm_alloc trace event is emitted; `align_log2` is what the caller asked for.
 */
static struct pmm_region *carve_used(struct pmm *pmm, struct pmm_region *from, uint64_t first,
				     uint64_t pages, enum mm_owner owner, uint8_t flags,
				     uint8_t align_log2)
{
	uint64_t end = first + pages, from_end = region_end(from);
	struct pmm_region *used;

	if (first == from->first_page && end == from_end) {
		index_remove(pmm, from);
		used = from;
	} else if (first == from->first_page) {
		used = record_take(pmm);
		list_insert_before(&from->address_link, &used->address_link);
		index_reshape(pmm, from, end, from_end - end);
	} else {
		index_reshape(pmm, from, from->first_page, first - from->first_page);
		used = record_take(pmm);
		list_insert_after(&from->address_link, &used->address_link);
		if (end < from_end) {
			struct pmm_region *tail = record_take(pmm);
			tail->first_page = end;
			tail->pages = from_end - end;
			tail->state = PMM_REGION_FREE;
			list_insert_after(&used->address_link, &tail->address_link);
			index_insert(pmm, tail);
		}
	}
	used->first_page = first;
	used->pages = pages;
	used->state = PMM_REGION_USED;
	used->owner = (uint8_t)owner;
	used->flags = flags;
	hash_insert(pmm, used);
	if (flags & PMM_REGION_FLAG_METADATA)
		pmm->zone[zone_of_page(pmm, first)].metadata_pages += pages;
	trace_pmm_alloc(first << PAGE_SHIFT, (uint32_t)pages, (uint32_t)pages,
			(uint8_t)zone_of_page(pmm, first), align_log2, (uint8_t)owner);
	return used;
}

/*
 * Turns a used record free and merges it with free neighbours. Never needs a record. Every free
 * passes here, so this is where the pmm_free trace event is emitted.
 */
static void release_used(struct pmm *pmm, struct pmm_region *used)
{
	trace_pmm_free(used->first_page << PAGE_SHIFT, (uint32_t)used->pages, (uint32_t)used->pages,
		       (uint8_t)zone_of_page(pmm, used->first_page), used->owner);
	hash_remove(pmm, used);
	if (used->flags & PMM_REGION_FLAG_METADATA)
		pmm->zone[zone_of_page(pmm, used->first_page)].metadata_pages -= used->pages;
	used->state = PMM_REGION_FREE;
	used->owner = MM_OWNER_NONE;
	used->flags = 0;

	struct pmm_region *prev = pmm_prev_record(pmm, used), *next = pmm_next_record(pmm, used);
	bool merge_prev = can_merge(pmm, prev, used), merge_next = can_merge(pmm, used, next);
	uint64_t first = merge_prev ? prev->first_page : used->first_page;
	uint64_t end = merge_next ? region_end(next) : region_end(used);
	if (merge_prev && merge_next) {
		index_remove(pmm, next);
		list_remove(&next->address_link);
		record_release(pmm, next);
	}
	if (!merge_prev && !merge_next) {
		index_insert(pmm, used);
		return;
	}
	/* A free neighbour takes the whole run; the used record goes back to the pool. */
	list_remove(&used->address_link);
	record_release(pmm, used);
	index_reshape(pmm, merge_prev ? prev : next, first, end - first);
}

/* ---- finding a fit ------------------------------------------------------------------------------- */

/* Where an aligned run of `pages` starts in the free record, or false if it does not fit. */
static inline bool aligned_fit(const struct pmm_region *region, uint64_t pages,
			       uint64_t align_pages, uint64_t *first)
{
	*first = ALIGN_UP(region->first_page, align_pages);
	return *first + pages <= region_end(region);
}

/* The size-class path (O(1)), else the fit tree (exact). */
static struct pmm_region *find_fit_in_zone(struct pmm *pmm, const struct pmm_zone_index *zone,
					   uint64_t pages, uint64_t align_pages, uint64_t *first)
{
	if (!zone->row_bitmap)
		return NULL;
	struct size_class guaranteed = size_class_at_least(pages + align_pages - 1);
	struct pmm_region *region = first_class_at_or_above(zone, guaranteed);
	if (!region)
		region = pmm_fit_find(pmm, zone, pages, align_pages);
	if (!region)
		return NULL;
	pmm->work++;
	bool fits = aligned_fit(region, pages, align_pages, first);
	MM_ASSERT(fits, "pmm find_fit_in_zone: the index offered a record too small");
	return region;
}

static struct pmm_region *find_fit(struct pmm *pmm, enum pmm_alloc_zone zone, uint64_t pages,
				   uint64_t align_pages, uint64_t *first)
{
	enum pmm_zone order[PMM_ZONE_COUNT];
	unsigned zones = pmm_zone_fallback(zone, order);
	for (unsigned i = 0; i < zones; i++) {
		struct pmm_region *region =
			find_fit_in_zone(pmm, &pmm->zone[order[i]], pages, align_pages, first);
		if (region)
			return region;
	}
	return NULL;
}

/* ---- bookkeeping memory from the pmm itself ------------------------------------------------------ */

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
	return carve_used(pmm, from, first, pages, MM_OWNER_MM_META, PMM_REGION_FLAG_METADATA, 0);
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
	pmm->record_pages++;
	return true;
}

/* Doubles the hash table into pages from the pmm itself; on failure the old table stays. */
static void grow_hash(struct pmm *pmm)
{
	uint64_t new_count = pmm->hash_bucket_count * 2;
	uint64_t bytes = new_count * sizeof(struct pmm_region *);
	uint64_t pages = ALIGN_UP(bytes, PAGE_SIZE) >> PAGE_SHIFT;
	struct pmm_region *table = alloc_metadata(pmm, pages);
	if (!table)
		return;

	struct pmm_region **old_buckets = pmm->hash_buckets;
	uint64_t old_count = pmm->hash_bucket_count, used = pmm->used_records;
	paddr_t old_phys = pmm->hash_phys;

	pmm->hash_buckets = phys_to_virt(table->first_page << PAGE_SHIFT);
	memset(pmm->hash_buckets, 0, bytes);
	pmm->hash_bucket_count = new_count;
	pmm->hash_phys = table->first_page << PAGE_SHIFT;
	pmm->hash_pages = pages;
	for (uint64_t b = 0; b < old_count; b++) {
		struct pmm_region *region = old_buckets[b];
		while (region) {
			struct pmm_region *next = region->link.hash_next;
			pmm->work++;
			hash_insert(pmm, region);
			region = next;
		}
	}
	pmm->used_records = used;
	if (old_phys != PMM_ALLOC_FAILED)
		release_used(pmm, hash_find(pmm, old_phys >> PAGE_SHIFT, &pmm->work));
}

/* After an allocating operation: keep the spare pool above its low water, the hash load <= 2. */
static void replenish_bookkeeping(struct pmm *pmm)
{
	if (pmm->spare_record_count < PMM_RECORD_LOW_WATER)
		refill_records(pmm);
	if (pmm->used_records > 2 * pmm->hash_bucket_count)
		grow_hash(pmm);
}

/* ---- allocation and free ------------------------------------------------------------------------- */

paddr_t pmm_alloc_status(struct pmm *pmm, uint64_t pages, enum pmm_alloc_zone zone,
			 uint64_t align_pages, enum mm_owner owner, enum pmm_status *status)
{
	enum pmm_status result = PMM_OK;
	paddr_t addr = PMM_ALLOC_FAILED;
	uint64_t first;

	if (pages == 0 || !IS_POW2(align_pages) || (unsigned)owner >= MM_OWNER_COUNT ||
	    (unsigned)zone > PMM_ALLOC_BELOW_16M) {
		result = PMM_ERR_INVALID_ARGUMENT;
	} else if (pages > PMM_MAX_PAGES || align_pages > PMM_MAX_PAGES) {
		result = PMM_ERR_OUT_OF_MEMORY;
	} else {
		/* Normally the pool was topped up after the last operation; this is the last resort. */
		if (pmm->spare_record_count < PMM_RECORDS_PER_ALLOCATION)
			refill_records(pmm);
		struct pmm_region *from = find_fit(pmm, zone, pages, align_pages, &first);
		if (!from) {
			result = PMM_ERR_OUT_OF_MEMORY;
		} else if (records_to_carve(from, first, pages) > pmm->spare_record_count) {
			result = PMM_ERR_NO_RECORDS;
		} else {
			carve_used(pmm, from, first, pages, owner, 0, (uint8_t)ilog2_u64(align_pages));
			addr = first << PAGE_SHIFT;
			replenish_bookkeeping(pmm);
		}
	}
	if (result != PMM_OK)
		trace_pmm_alloc_fail((uint32_t)pages, (uint8_t)zone,
				     IS_POW2(align_pages) ? (uint8_t)ilog2_u64(align_pages) : 0xff,
				     (uint8_t)owner);
	if (status)
		*status = result;
	return addr;
}

/* Why [first, first + pages) cannot be freed, when no used record starts at `first`. O(records). */
static enum pmm_status classify_bad_free(struct pmm *pmm, uint64_t first, uint64_t pages)
{
	uint64_t end = first + pages, free_pages = 0;
	for (const struct pmm_region *r = pmm_first_record(pmm); r && r->first_page < end;
	     r = pmm_next_record(pmm, r)) {
		pmm->work++;
		if (!region_is_free(r) || region_end(r) <= first)
			continue;
		free_pages += MIN(end, region_end(r)) - MAX(first, r->first_page);
	}
	if (free_pages == pages)
		return PMM_ERR_DOUBLE_FREE;
	return free_pages ? PMM_ERR_PARTLY_FREE : PMM_ERR_NOT_ALLOCATED;
}

enum pmm_status pmm_free(struct pmm *pmm, paddr_t addr, uint64_t pages)
{
	if (pages == 0 || !IS_ALIGNED(addr, PAGE_SIZE) || pages > PMM_MAX_PAGES ||
	    (addr >> PAGE_SHIFT) + pages > (PMM_PHYS_LIMIT >> PAGE_SHIFT))
		return PMM_ERR_INVALID_ARGUMENT;
	uint64_t first = addr >> PAGE_SHIFT;
	struct pmm_region *used = hash_find(pmm, first, &pmm->work);
	if (!used)
		return classify_bad_free(pmm, first, pages);
	if (used->pages != pages)
		return PMM_ERR_WRONG_LENGTH;
	if (used->flags & PMM_REGION_FLAG_METADATA)
		return PMM_ERR_PMM_METADATA;
	release_used(pmm, used);
	return PMM_OK;
}

/* The free record holding all of [first, end), or NULL. O(records). */
static struct pmm_region *free_record_holding(struct pmm *pmm, uint64_t first, uint64_t end)
{
	for (struct pmm_region *r = pmm_first_record(pmm); r && r->first_page <= first;
	     r = pmm_next_record(pmm, r)) {
		pmm->work++;
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
	carve_used(pmm, from, first, pages, owner, 0, 0);
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
		struct pmm_region *region = record_take(pmm);
		region->first_page = page;
		region->pages = piece_end - page;
		region->state = PMM_REGION_FREE;
		list_push_back(&pmm->records, &region->address_link);
		index_insert(pmm, region);
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
		r = pmm_next_record(pmm, carve_used(pmm, r, piece_first, piece_end - piece_first, owner,
						    0, 0));
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
		for (unsigned size = 0; size < PMM_EXACT_CLASS_PAGES; size++)
			for (unsigned residue = 0; residue < PMM_EXACT_RESIDUES; residue++)
				list_init(&pmm->zone[z].exact_list[size][residue]);
	hash_reset_embedded(pmm);
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

/* The highest non-empty class holds the largest extents; its tree root knows the longest. */
static uint64_t largest_free_extent(const struct pmm_zone_index *zone)
{
	if (!zone->row_bitmap)
		return 0;
	unsigned row = 63u - (unsigned)__builtin_clzll(zone->row_bitmap);
	unsigned sub = 31u - (unsigned)__builtin_clz(zone->class_bitmap[row]);
	struct size_class c = { row, sub };
	uint64_t size = size_class_lower_bound(c);
	return is_exact_size(size) ? size : pmm_fit_maxima(zone->class_root[row][sub]).max_pages;
}

void pmm_get_stats(const struct pmm *pmm, struct pmm_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		const struct pmm_zone_index *zone = &pmm->zone[z];
		struct pmm_zone_stats *out = &stats->zone[z];
		out->total_pages = zone->total_pages;
		out->free_pages = zone->free_pages;
		out->free_extents = zone->free_extents;
		out->largest_free_extent = largest_free_extent(zone);
		out->metadata_pages = zone->metadata_pages;
		for (unsigned o = 0; o < PMM_ORDER_COUNT; o++) {
			out->free_extents_by_order[o] = zone->free_extents_by_order[o];
			stats->free_extents_by_order[o] += zone->free_extents_by_order[o];
		}
		stats->total_pages += out->total_pages;
		stats->free_pages += out->free_pages;
		stats->free_extents += out->free_extents;
		stats->metadata_pages += out->metadata_pages;
		stats->largest_free_extent = MAX(stats->largest_free_extent,
						 out->largest_free_extent);
	}
	stats->used_pages = stats->total_pages - stats->free_pages;
	stats->records_in_use = pmm->records_in_use;
	stats->spare_records = pmm->spare_record_count;
	stats->hash_buckets = pmm->hash_bucket_count;
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

static void describe(const struct pmm *pmm, const struct pmm_region *region,
		     struct pmm_region_info *info)
{
	info->base = region->first_page << PAGE_SHIFT;
	info->pages = region->pages;
	info->state = (enum pmm_region_state)region->state;
	info->owner = (enum mm_owner)region->owner;
	info->zone = zone_of_page(pmm, region->first_page);
	info->pmm_metadata = region->flags & PMM_REGION_FLAG_METADATA;
}

void pmm_for_each_region(const struct pmm *pmm, pmm_region_visitor visit, void *ctx)
{
	struct pmm_region_info info;
	for (const struct pmm_region *r = pmm_first_record(pmm); r; r = pmm_next_record(pmm, r)) {
		describe(pmm, r, &info);
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
		describe(pmm, r, &info);
		if (!visit(ctx, &info))
			return;
	}
}
