/*
 * The regions placement (`pmm=regions`, the default): contiguous runs of physical pages placed
 * EXACTLY, a placement of the allocator lab (pmm_placement.h). Zones, owners, the trace events,
 * the bad-free checks and the mm_meta accounting are the common layer's (page_allocator.c); this
 * file decides where a run goes, over one span (one zone). Its parts each keep one structure
 * behind a small interface:
 *   pmm_region.h          the region record, and pmm_visit, where all work is counted
 *   pmm_size_classes.h    a TLSF-style size-class index of the free records
 *   pmm_fit_tree.h        per class, a fit tree that answers exactly what the classes cannot
 *   pmm_regions.h         the instance, and used_at: page number -> the used record starting there
 *   pmm_regions_fast.h    carving and releasing runs, and the alloc and free fast paths, inline
 *                         (the common layer's hot paths run them without a call)
 *   pmm_regions_check.c   the self-check, which verifies the invariants below
 *
 * DATA MODEL. The ground truth is the seed's "linked list of regions": one doubly-linked list of
 * region records {first page, number of pages, free | used}, in address order, closed by a
 * sentinel record marked used (pmm_regions.h). Pages never added (holes, reservations, the
 * common layer's metadata) are absent: gaps between records. Around
 * it, the size-class index of the free records, and used_at, which finds a used record from its
 * first page in O(1) (as Linux finds a page's struct page through mem_map); free finds the
 * neighbours to merge with in the list.
 *
 * INVARIANTS (pmm_regions_check verifies all of them)
 *   1. The list is sorted: each record starts at or after the end of the previous one, inside
 *      the span, and none is empty.
 *   2. Coalesced: no two free records touch.
 *   3. Every free record is in the size-class index, in the list of its class (an exact class:
 *      of its first page mod 16), unfiled records before filed ones, but the lagging record:
 *      the one the last carve shrank below its class, unfiled and left there until the next
 *      allocation, and the deferred record: the other remainder of that carve, unfiled and in
 *      no class until the next allocation (pmm_size_classes.h); a filed record is in its
 *      class's fit tree iff it belongs there, an unfiled one in no tree; class and row bits
 *      mirror the lists; each tree is ordered, AVL-balanced, its maxima current
 *      (pmm_size_classes.h, pmm_fit_tree.h).
 *   4. used_at[p - first_page] is the used record starting at page p, for every used record,
 *      and NULL everywhere else.
 *   5. free_pages equals a recount; unused records are all in the spare pool, and are counted.
 *
 * PLACEMENT POLICY (alloc of n pages aligned to a = 2^k pages):
 *   - First the size-class path: every extent of at least n + a - 1 pages holds an aligned run.
 *     Round that up to the next class boundary; every extent in that class or above is then big
 *     enough, so the first non-empty class there is found with two find-first-set operations
 *     and its first record is taken: O(1), TLSF's "good fit".
 *   - Else the exact search over the classes below that one (pmm_classes_search).
 *   - The run is carved at the lowest aligned page of the chosen extent; the remains stay free
 *     (at most a head and a tail: at most 2 new records). The record keeps the larger remainder
 *     and stays in its class, lagging below it if it must until the next allocation settles it
 *     (pmm_size_classes.h): no index work, and a free that gives the run back first grows it
 *     into the class it never left. With a head and a tail, the other remainder's new record is
 *     deferred: indexed by the next allocation, unless a free merges it away first.
 *   - Free: find the used record through used_at, merge with the previous and the next record
 *     when they are free and adjacent; the larger neighbour's record takes the run.
 *
 * PROMISE: EXACT. alloc fails only when no free extent holds n pages at a multiple of a. Proof.
 * Both paths first settle the lagging and the deferred record, so every free record is in the
 * class of its size. The size-class path fails only when every class from the guaranteed one up
 * is empty. The exact
 * search then visits every non-empty class from the class of n (smaller extents cannot hold n
 * pages) to below the guaranteed one, so it suffices that within one class nothing that fits is
 * missed: in an inexact class, its fit tree, filed first so that it holds every record of the
 * class (invariant 3), misses nothing (lemmas 1-3, pmm_fit_tree.c); in an exact class, the
 * residue lists or the tree of its records of peak order >= 5 miss nothing (lemma 4,
 * pmm_size_classes.c). The one other refusal, too few spare records, happens only when no
 * metadata zone had a free page: see BOOKKEEPING MEMORY.
 *
 * BOUNDS. Work = the instance's `work`, the records and tree nodes an operation reads
 * (pmm_visit). N is the number of free extents, h the height of the tallest class tree:
 * h <= avl_height_bound(N) <= 1.4405 log2(N + 2). C is the number of classes the exact search
 * visits, at most 16 per row spanned by [n, n + a - 1]: C <= 16 (floor(log2(n + a - 1)) -
 * floor(log2 n) + 1), and C <= 1 for a = 1 (only the class of n can be short of the guarantee).
 *   - The size-class path reads 1 record.
 *   - The exact search: at most 1 + C (2 + 2h) when a = 1 or a >= n (per class: its heads, then
 *     a tree search of 1 + 2h: pmm_fit_tree.h), + K h when 1 < a < n, K the free extents of at
 *     least n pages (lemma 3's last step: the one linear case), plus FILING: 1 + 3(h + 1) per
 *     record of the classes searched that was unfiled.
 *   - Carving and merging change at most 3 records of the index; a change to an unfiled record
 *     costs nothing, to a filed one at most 4(h + 1) (it leaves its tree and is unfiled again).
 *   - free reads used_at once: O(1).
 *   - alloc_metadata (a record page, once per PAGE_SIZE / sizeof(struct pmm_region) records)
 *     reads at most METADATA_LOOKBACK (64) records from the top, then the search above.
 * Worst case of one operation: filing makes a search O(N h) when the classes were never searched
 * (every record unfiled). AMORTISED, filing is paid once per change: a record is filed at most
 * once after each insert or reshape that unfiled it, and unfiled at most once after each filing,
 * and each allocation unfiles at most 2 records, each free at most 1. So over any sequence,
 *     total work <= sum over allocations of (search without filing + 1 + 2 F)
 *                 + sum over frees of F,      F = 1 + 7(h + 1),
 * and a search repeated with nothing changed in between costs its worst case without filing.
 * add_free (init, and a reservation returned) walks the list back from its end to the insertion
 * point: at most one visit per record (none when pages arrive in ascending order, as at init).
 *
 * BOOKKEEPING MEMORY, and why it cannot recurse.
 *   - used_at and PMM_REGIONS_INITIAL_RECORDS records are part of the state init is given.
 *   - Further records come from a spare pool. An allocation needs at most 2 records, add_free 1,
 *     a free none (merging releases records; a free that merges with nothing turns the used
 *     record into the free one), so memory can always be returned.
 *   - Below PMM_RECORD_LOW_WATER (4) spares, alloc answers PMM_PLACEMENT_WANTS_METADATA once,
 *     changing nothing, and metadata_wanted asks for one page; the driver (the common layer:
 *     from the metadata zones, NORMAL first in the kernel) takes it with alloc_metadata and
 *     hands it over with add_metadata, which cuts it into records, then asks again. If it could
 *     not be served, the next alloc goes on with what it has. Record pages are never given back.
 *   - ONE SPARE IS KEPT FOR alloc_metadata: an alloc carves only when at least one spare would
 *     remain; alloc_metadata may take the last. So an instance that is asked for a page can
 *     give it whenever it has a free page, and an alloc lacks records only when its metadata
 *     zones had no free page at all: with pages from this instance itself (the differential
 *     test, the kernel's NORMAL zone), only when nothing is free. add_free needs one spare;
 *     the driver serves metadata_wanted before it, and asks can_add_free after: with no spare
 *     and no page to be had anywhere (a reservation returned into a full machine) it refuses
 *     the free (PMM_ERR_NO_RECORDS) instead of calling add_free.
 *   - Records are reached through phys_to_virt: the window must not move while the instance
 *     lives (the kernel's direct map does not).
 */
#include "pmm_regions_fast.h"
#include "../lib/format.h"

/* ---- size classes ----------------------------------------------------------------------------- */

uint64_t pmm_guaranteed_fit_pages(uint64_t pages, uint64_t align_pages)
{
	if (pages == 0 || pages > PMM_MAX_PAGES || !IS_POW2(align_pages) ||
	    align_pages > PMM_MAX_PAGES)
		return UINT64_MAX;
	return pmm_class_lower_bound(pmm_class_at_least(pages + align_pages - 1));
}

/* ---- the placement ops ------------------------------------------------------------------------ */

static uint64_t regions_state_bytes(uint64_t first_page, uint64_t span_pages)
{
	(void)first_page;
	return ALIGN_UP(sizeof(struct pmm_regions), 64) + span_pages * sizeof(struct pmm_region *) +
	       PMM_REGIONS_INITIAL_RECORDS * sizeof(struct pmm_region);
}

static const char *regions_init(void *state, uint64_t first_page, uint64_t span_pages)
{
	struct pmm_regions *r = state;
	list_init(&r->edge.address_link);
	r->edge.state = PMM_REGION_USED;
	pmm_classes_init(&r->classes);
	r->first_page = first_page;
	r->span_pages = span_pages;
	r->used_at = (struct pmm_region **)((uint8_t *)state + ALIGN_UP(sizeof(*r), 64));
	struct pmm_region *initial = (struct pmm_region *)(r->used_at + span_pages);
	for (unsigned i = 0; i < PMM_REGIONS_INITIAL_RECORDS; i++)
		pmm_regions_spare_push(r, &initial[i]);
	r->records_owned = PMM_REGIONS_INITIAL_RECORDS;
	return NULL;
}

static uint64_t carve_fit(struct pmm_regions *r, uint64_t pages, uint64_t align_pages,
			  uint64_t reserve);

/*
 * The general path of an allocation the fast path did not serve: the exact search, filed
 * records, failures. Returns the first page or PMM_PLACEMENT_FAILED.
 */
uint64_t pmm_regions_alloc_general(struct pmm_regions *r, uint64_t pages, uint64_t align_pages)
{
	if (r->spare_record_count < PMM_RECORD_LOW_WATER && !r->metadata_asked) {
		r->metadata_asked = true; /* asked once: if it cannot be served, go on without */
		return PMM_PLACEMENT_WANTS_METADATA;
	}
	r->metadata_asked = false;
	return carve_fit(r, pages, align_pages, 1);
}

/*
 * Finds a fit (the size-class path, else the exact search) and carves it, keeping `reserve`
 * spare records untouched; PMM_PLACEMENT_FAILED when there is no fit or too few records.
 */
static uint64_t carve_fit(struct pmm_regions *r, uint64_t pages, uint64_t align_pages,
			  uint64_t reserve)
{
	if (r->free_pages < pages) /* the common layer's zone fallback asks zones this small */
		return PMM_PLACEMENT_FAILED;
	pmm_classes_settle(&r->classes); /* the index is read with every record in its class */
	unsigned guaranteed = pmm_class_at_least(pages + align_pages - 1);
	struct pmm_region *from = pmm_classes_any_at_or_above(&r->classes, guaranteed);
	if (!from && r->classes.row_bitmap)
		from = pmm_classes_search(&r->classes, pmm_class_of(pages), guaranteed, pages,
					  align_pages, &r->work);
	if (!from)
		return PMM_PLACEMENT_FAILED;
	uint64_t first = ALIGN_UP(pmm_visit(&r->work, from)->first_page, align_pages);
	MM_ASSERT(first + pages <= region_end(from), "pmm_regions alloc: the index offered a record too small");
	if (pmm_regions_records_to_carve(from, first, pages) + reserve > r->spare_record_count)
		return PMM_PLACEMENT_FAILED;
	pmm_regions_carve(r, from, first, pages, PMM_REGIONS_MAY_BE_FILED);
	return first;
}

/* The op: the fast path (pmm_regions_fast.h) once the request is known to be one it can hold. */
static uint64_t regions_alloc(void *state, uint64_t pages, uint64_t align_pages)
{
	if (unlikely(((pages - 1) | (align_pages - 1)) >= PMM_MAX_PAGES))
		return PMM_PLACEMENT_FAILED;
	return pmm_regions_alloc_fast(state, pages, align_pages);
}

void pmm_regions_free_general(struct pmm_regions *r, struct pmm_region *used)
{
	r->used_at[used->first_page - r->first_page] = NULL;
	pmm_regions_release(r, used, pmm_regions_merge_partners(r, used), PMM_REGIONS_MAY_BE_FILED);
}

static void regions_free(void *state, uint64_t first_page, uint64_t pages, uint64_t align_pages)
{
	struct pmm_regions *r = state;
	struct pmm_region *used = r->used_at[first_page - r->first_page];
	(void)align_pages;
	MM_ASSERT(used && used->pages == pages, "pmm_regions free: no allocation of %llu pages at %#llx",
		  (unsigned long long)pages, (unsigned long long)first_page);
	pmm_regions_free_fast(r, first_page - r->first_page);
}

/*
 * Makes [first_page, first_page + pages) free: a used record put in its place in the list (found
 * walking back from the end: pages arrive in ascending order at init), then released, which
 * merges it. Needs one spare record: the initial records cover init's calls until the first
 * top-up, and the low water every call after.
 */
static void regions_add_free(void *state, uint64_t first_page, uint64_t pages)
{
	struct pmm_regions *r = state;
	MM_ASSERT(r->spare_record_count, "pmm_regions add_free: no spare record");
	struct list_node *before = &r->edge.address_link;
	while (before->prev != &r->edge.address_link &&
	       pmm_visit(&r->work, container_of(before->prev, struct pmm_region,
						address_link))->first_page > first_page)
		before = before->prev;
	struct pmm_region *used = pmm_regions_record_take(r, first_page, pages, PMM_REGION_USED);
	list_insert_before(before, &used->address_link);
	r->used_at[first_page - r->first_page] = used;
	pmm_regions_free_general(r, used);
}

static bool regions_can_add_free(const void *state)
{
	return ((const struct pmm_regions *)state)->spare_record_count != 0;
}

static void regions_for_each_free_run(const void *state, pmm_free_run_visitor visit, void *ctx)
{
	const struct pmm_regions *r = state;
	for (const struct pmm_region *region = pmm_regions_first(r); region;
	     region = pmm_regions_next(r, region))
		if (region_is_free(region) && !visit(ctx, region->first_page, region->pages))
			return;
}

static uint64_t regions_free_pages(const void *state)
{
	return ((const struct pmm_regions *)state)->free_pages;
}

static uint64_t regions_free_blocks(const void *state)
{
	return pmm_classes_records(&((const struct pmm_regions *)state)->classes);
}

static uint64_t regions_blocks_for_free_run(uint64_t first_page, uint64_t pages)
{
	(void)first_page;
	(void)pages;
	return 1;
}

static uint64_t regions_metadata_wanted(const void *state)
{
	return ((const struct pmm_regions *)state)->spare_record_count < PMM_RECORD_LOW_WATER;
}

/*
 * Pages for bookkeeping (its own or another instance's), kept for good: taken from the top of the
 * span, the end of the highest free record that holds them among the last METADATA_LOOKBACK
 * records, so that they gather there instead of splitting the extents below (taken from the
 * lowest class, as an allocation is, they would pin holes amid memory for ever); else wherever
 * the classes say. May take the last spare record.
 */
#define METADATA_LOOKBACK 64
static uint64_t regions_alloc_metadata(void *state, uint64_t pages)
{
	struct pmm_regions *r = state;
	pmm_classes_settle(&r->classes); /* a carve may make another lag: one at most */
	struct pmm_region *region = list_entry(list_last(&r->edge.address_link), struct pmm_region,
					       address_link);
	for (unsigned i = 0; region && i < METADATA_LOOKBACK;
	     i++, region = pmm_regions_prev(r, region)) {
		if (!region_is_free(pmm_visit(&r->work, region)) || region->pages < pages)
			continue;
		uint64_t first = region_end(region) - pages;
		if (pmm_regions_records_to_carve(region, first, pages) > r->spare_record_count)
			break;
		pmm_regions_carve(r, region, first, pages, PMM_REGIONS_MAY_BE_FILED);
		return first;
	}
	return carve_fit(r, pages, 1, 0);
}

static void regions_add_metadata(void *state, uint64_t first_page, uint64_t pages)
{
	struct pmm_regions *r = state;
	struct pmm_region *records = phys_to_virt(first_page << PAGE_SHIFT);
	uint64_t count = pages * (PAGE_SIZE / sizeof(struct pmm_region));
	for (uint64_t i = 0; i < count; i++)
		pmm_regions_spare_push(r, &records[i]);
	r->records_owned += count;
	r->record_pages += pages;
	r->metadata_asked = false;
}

const struct pmm_placement_ops pmm_regions_ops = {
	.name = "regions",
	.promise = "exact: fails only when no free extent holds the pages at the alignment",
	.state_bytes = regions_state_bytes,
	.init = regions_init,
	.add_free = regions_add_free,
	.can_add_free = regions_can_add_free,
	.alloc = regions_alloc,
	.free = regions_free,
	.held_pages = pmm_exact_held_pages,
	.guarantee = pmm_exact_guarantee,
	.for_each_free_run = regions_for_each_free_run,
	.free_pages = regions_free_pages,
	.free_blocks = regions_free_blocks,
	.blocks_for_free_run = regions_blocks_for_free_run,
	.metadata_wanted = regions_metadata_wanted,
	.alloc_metadata = regions_alloc_metadata,
	.add_metadata = regions_add_metadata,
	.check = pmm_regions_check,
};
