/*
 * The allocator lab's common layer: everything a physical page allocator does besides placing
 * the pages, written once for every placement (interface: page_allocator.h, placements:
 * pmm_placement.h).
 *
 * DATA MODEL. One placement instance per zone, over the zone's span (its first to its last usable
 * page). Beside it, one struct page_allocation per page of the span: non-zero at the first page
 * of each allocation, reservation piece and metadata area, with the length asked for, the
 * alignment, the owner and flags. Holes are pages of the span never added to the placement.
 *
 * INVARIANTS (page_allocator_check verifies them)
 *   1. Per zone, the placement's free runs lie inside the span, in address order, never touching
 *      (coalesced), and their pages sum to its free page count.
 *   2. No allocation record's held pages overlap a free run or another record's.
 *   3. free pages + held pages of every record = total pages of the zone (nothing leaks).
 *   4. regions_limit = total pages - mm_meta pages of the zone when its placement is regions,
 *      else 0 (the hot path refuses a longer request there without asking the placement).
 *
 * METADATA, and why it cannot recurse. Before anything is free, init sizes each zone's records and
 * placement state (page_allocation per page + state_bytes), places them at the top of the highest
 * usable range of the metadata zone that avoids every reservation, and marks them as an
 * allocation of owner mm_meta that page_free refuses (PMM_ERR_PMM_METADATA). A placement whose
 * bookkeeping grows (regions' record pool) is served when its alloc asks for it
 * (PMM_PLACEMENT_WANTS_METADATA) and before every add_free (serve_metadata): an unaligned
 * allocation from the metadata zones (alloc_metadata, which draws on a reserve the placement
 * keeps for it), recorded and refused like the rest, so this never recurses; a free never needs
 * memory.
 *
 * BAD FREES. A free must name the first page and the length asked for of one allocation. The
 * record of that page says so in O(1); otherwise the free runs say why not (double: every page
 * free; partial: some; not allocated: none), a walk of the free runs, on the error path only.
 */
#include "page_allocator.h"
#include "../lib/format.h"
#include "kernel/trace/tracepoints.h"

#define PAGE_ALLOCATION_RESERVED 0x1u /* a reservation piece: the placement never held it */
#define PAGE_ALLOCATION_METADATA 0x2u /* this allocator's own records and state */


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

const char *pmm_allocator_name(enum pmm_allocator allocator)
{
	static const char *const names[] = {
#define PMM_ALLOCATOR_NAME(name, ops) #name,
		PMM_ALLOCATOR_LIST(PMM_ALLOCATOR_NAME)
#undef PMM_ALLOCATOR_NAME
	};
	return (unsigned)allocator < PMM_ALLOCATOR_COUNT ? names[allocator] : NULL;
}

const struct pmm_placement_ops *pmm_placement_of(enum pmm_allocator allocator)
{
	static const struct pmm_placement_ops *const ops[] = {
#define PMM_ALLOCATOR_OPS(name, ops) ops,
		PMM_ALLOCATOR_LIST(PMM_ALLOCATOR_OPS)
#undef PMM_ALLOCATOR_OPS
	};
	return (unsigned)allocator < PMM_ALLOCATOR_COUNT ? ops[allocator] : NULL;
}

static enum pmm_zone zone_of(const struct page_allocator *a, uint64_t page)
{
	return page_allocator_zone_of(a, page);
}

static struct page_allocation *allocation_at(const struct page_allocator *a, uint64_t page)
{
	const struct page_allocator_zone *z = &a->zone[zone_of(a, page)];
	if (!z->state || page < z->first_page || page - z->first_page >= z->span_pages)
		return NULL;
	return &z->allocation[page - z->first_page];
}

static uint64_t held_by(const struct page_allocator *a, const struct page_allocation *r)
{
	if (r->flags & (PAGE_ALLOCATION_RESERVED | PAGE_ALLOCATION_METADATA))
		return r->pages;
	return a->ops->held_pages(r->pages, (uint64_t)1 << r->align_log2);
}

/* After zone z's total or metadata pages changed: the hot path's bound (regions_limit). */
static void update_regions_limit(struct page_allocator *a, enum pmm_zone z)
{
	struct page_allocator_zone *zone = &a->zone[z];
	zone->regions_limit = zone->regions ? zone->total_pages - zone->metadata_pages : 0;
}

/* `pages` pages from zone m's placement for zone z's, recorded as mm_meta where they lie. */
static bool give_metadata(struct page_allocator *a, enum pmm_zone z, enum pmm_zone m,
			  uint64_t pages)
{
	uint64_t start = trace_cost_start();
	struct page_allocator_zone *from = &a->zone[m];
	uint64_t first = a->ops->alloc_metadata(from->state, pages);
	if (first == PMM_PLACEMENT_FAILED)
		return false;
	from->allocation[first - from->first_page] = (struct page_allocation){
		.pages = (uint32_t)pages, .owner = MM_OWNER_MM_META, .flags = PAGE_ALLOCATION_METADATA
	};
	from->metadata_pages += pages;
	update_regions_limit(a, m);
	trace_pmm_alloc(first << PAGE_SHIFT, (uint32_t)pages, (uint32_t)pages, (uint8_t)m, 0,
			MM_OWNER_MM_META, trace_cost_since(start));
	a->ops->add_metadata(a->zone[z].state, first, pages);
	return true;
}

/*
 * Gives zone z's placement the pages it asks for (metadata_wanted) from the metadata zones in
 * their fallback order (the kernel's: ANY, so NORMAL's records come from NORMAL first). A zone
 * that serves another is first given what it asks for itself, from itself, so that serving never
 * runs its own bookkeeping dry; that goes no deeper, so this never recurses. Stops when z wants
 * nothing more or no metadata zone can serve it.
 */
static void serve_metadata(struct page_allocator *a, enum pmm_zone z)
{
	enum pmm_zone order[PMM_ZONE_COUNT];
	unsigned zones = pmm_zone_fallback(a->metadata_zone, order);
	uint64_t pages;
	while ((pages = a->ops->metadata_wanted(a->zone[z].state)) != 0) {
		bool given = false;
		for (unsigned i = 0; i < zones && !given; i++) {
			enum pmm_zone m = order[i];
			if (!a->zone[m].state)
				continue;
			uint64_t own;
			while (m != z && (own = a->ops->metadata_wanted(a->zone[m].state)) != 0 &&
			       give_metadata(a, m, m, own))
				;
			given = give_metadata(a, z, m, pages);
		}
		if (!given)
			return;
	}
}

/* Before add_free, which may take bookkeeping: what the placement asks for. */
static void top_up(struct page_allocator *a, enum pmm_zone z)
{
	if (a->ops->metadata_wanted && a->ops->metadata_wanted(a->zone[z].state))
		serve_metadata(a, z);
}

/* ---- initialisation: usable ranges, claims (reservations, metadata), zones ------------------- */

struct page_range {
	uint64_t first, end;
	uint8_t owner, flags;
};

/* What init works on: the usable ranges split at zone ends, and the claimed pieces, sorted. */
struct init_layout {
	const struct page_allocator *a;
	struct page_range usable[PAGE_ALLOCATOR_MAX_RANGES];
	unsigned usable_count;
	struct page_range claim[PAGE_ALLOCATOR_MAX_CLAIMS];
	unsigned claim_count;
};

static enum pmm_status add_usable(void *ctx, uint64_t first_page, uint64_t pages)
{
	struct init_layout *l = ctx;
	uint64_t page = first_page, end = first_page + pages;
	while (page < end) {
		uint64_t piece_end = MIN(end, l->a->zone_end_page[zone_of(l->a, page)]);
		if (l->usable_count == PAGE_ALLOCATOR_MAX_RANGES)
			return PMM_ERR_MAP_TOO_LARGE;
		l->usable[l->usable_count++] = (struct page_range){ page, piece_end, 0, 0 };
		page = piece_end;
	}
	return PMM_OK;
}

static enum pmm_status add_claim(struct init_layout *l, struct page_range claim)
{
	if (l->claim_count == PAGE_ALLOCATOR_MAX_CLAIMS)
		return PMM_ERR_NO_RECORDS;
	unsigned i = l->claim_count++;
	while (i && l->claim[i - 1].first > claim.first) {
		l->claim[i] = l->claim[i - 1];
		i--;
	}
	l->claim[i] = claim;
	return PMM_OK;
}

/* Claims the parts of [first, end) (inside one usable range) that no earlier claim holds: the
 * first reservation listed names the owner where they overlap. */
static enum pmm_status claim_unclaimed(struct init_layout *l, uint64_t first, uint64_t end,
				       uint8_t owner, uint8_t flags)
{
	struct page_range gaps[PAGE_ALLOCATOR_MAX_CLAIMS + 1];
	unsigned gap_count = 0;
	uint64_t page = first;
	for (unsigned i = 0; i < l->claim_count && page < end; i++) {
		if (l->claim[i].end <= page || l->claim[i].first >= end)
			continue;
		if (l->claim[i].first > page)
			gaps[gap_count++] = (struct page_range){ page, l->claim[i].first, owner, flags };
		page = MAX(page, l->claim[i].end);
	}
	if (page < end)
		gaps[gap_count++] = (struct page_range){ page, end, owner, flags };
	for (unsigned g = 0; g < gap_count; g++) {
		enum pmm_status status = add_claim(l, gaps[g]);
		if (status != PMM_OK)
			return status;
	}
	return PMM_OK;
}

static enum pmm_status claim_reservations(struct init_layout *l, const struct pmm_config *config)
{
	for (size_t i = 0; i < config->reservation_count; i++) {
		const struct pmm_reservation *r = &config->reservations[i];
		if (r->length == 0 || r->length - 1 > UINT64_MAX - r->base ||
		    (unsigned)r->owner >= MM_OWNER_COUNT) {
			mm_log("pmm_init: reservation %zu (base %#llx length %#llx owner %d) is invalid\n",
			       i, (unsigned long long)r->base, (unsigned long long)r->length,
			       (int)r->owner);
			return PMM_ERR_INVALID_ARGUMENT;
		}
		uint64_t first = r->base >> PAGE_SHIFT;
		uint64_t end = ((r->base + (r->length - 1)) >> PAGE_SHIFT) + 1;
		for (unsigned u = 0; u < l->usable_count; u++) {
			uint64_t lo = MAX(first, l->usable[u].first), hi = MIN(end, l->usable[u].end);
			if (lo >= hi)
				continue;
			enum pmm_status status = claim_unclaimed(l, lo, hi, (uint8_t)r->owner,
								 PAGE_ALLOCATION_RESERVED);
			if (status != PMM_OK)
				return status;
		}
	}
	return PMM_OK;
}

/* The highest unclaimed run of `pages` pages in usable memory of `zone`, or false. */
static bool find_metadata_room(const struct init_layout *l, enum pmm_zone zone, uint64_t pages,
			       uint64_t *first)
{
	for (unsigned u = l->usable_count; u-- > 0;) {
		const struct page_range *range = &l->usable[u];
		if (zone_of(l->a, range->first) != zone)
			continue;
		uint64_t end = range->end;
		while (end - range->first >= pages) {
			uint64_t lowest_conflict = end;
			for (unsigned i = 0; i < l->claim_count; i++)
				if (l->claim[i].first < end && l->claim[i].end > end - pages)
					lowest_conflict = MIN(lowest_conflict, l->claim[i].first);
			if (lowest_conflict == end) {
				*first = end - pages;
				return true;
			}
			end = MAX(lowest_conflict, range->first);
		}
	}
	return false;
}

/* Sizes, places and starts zone z's records and placement; returns why not, or NULL. */
static const char *start_zone(struct page_allocator *a, struct init_layout *l, enum pmm_zone z,
			      enum pmm_alloc_zone metadata_zone)
{
	struct page_allocator_zone *zone = &a->zone[z];
	uint64_t records_bytes = ALIGN_UP(zone->span_pages * sizeof(struct page_allocation), 64);
	uint64_t bytes = records_bytes + a->ops->state_bytes(zone->first_page, zone->span_pages);
	uint64_t pages = ALIGN_UP(bytes, PAGE_SIZE) >> PAGE_SHIFT, first = 0;
	enum pmm_zone order[PMM_ZONE_COUNT];
	unsigned zones = pmm_zone_fallback(metadata_zone, order);
	bool placed = false;
	for (unsigned i = 0; i < zones && !placed; i++)
		placed = find_metadata_room(l, order[i], pages, &first);
	if (!placed)
		return "no room for its records and state in the metadata zones";
	uint8_t *memory = phys_to_virt(first << PAGE_SHIFT);
	memset(memory, 0, bytes);
	const char *why = a->ops->init(memory + records_bytes, zone->first_page, zone->span_pages);
	if (why)
		return why;
	zone->allocation = (struct page_allocation *)memory;
	zone->state = memory + records_bytes;
	if (a->allocator == PMM_ALLOCATOR_regions)
		zone->regions = zone->state;
	if (add_claim(l, (struct page_range){ first, first + pages, MM_OWNER_MM_META,
					      PAGE_ALLOCATION_METADATA }) != PMM_OK)
		return "too many reserved pieces";
	return NULL;
}

/* Hands the usable pages of served zones to their placements; records every claim. */
static void populate(struct page_allocator *a, const struct init_layout *l)
{
	for (unsigned u = 0; u < l->usable_count; u++) {
		const struct page_range *range = &l->usable[u];
		enum pmm_zone z = zone_of(a, range->first);
		struct page_allocator_zone *zone = &a->zone[z];
		if (!zone->state)
			continue;
		zone->total_pages += range->end - range->first;
		uint64_t page = range->first;
		for (unsigned i = 0; i < l->claim_count; i++) {
			const struct page_range *c = &l->claim[i];
			if (c->end <= range->first || c->first >= range->end)
				continue;
			if (c->first > page) {
				top_up(a, z);
				a->ops->add_free(zone->state, page, c->first - page);
			}
			struct page_allocation *record = allocation_at(a, c->first);
			*record = (struct page_allocation){ .pages = (uint32_t)(c->end - c->first),
							    .owner = c->owner,
							    .flags = c->flags };
			if (c->flags & PAGE_ALLOCATION_METADATA)
				zone->metadata_pages += c->end - c->first;
			/* a boot claim, not an operation: no cost (events.def) */
			trace_pmm_alloc(c->first << PAGE_SHIFT, record->pages, record->pages, (uint8_t)z,
					0, c->owner, 0);
			page = c->end;
		}
		if (page < range->end) {
			top_up(a, z);
			a->ops->add_free(zone->state, page, range->end - page);
		}
		update_regions_limit(a, z);
	}
}

static enum pmm_status validate_config(const struct pmm_config *config)
{
	if (!config || (config->memory_map_count && !config->memory_map) ||
	    (config->reservation_count && !config->reservations) ||
	    (unsigned)config->metadata_zone > PMM_ALLOC_BELOW_16M)
		return PMM_ERR_INVALID_ARGUMENT;
	paddr_t previous = 0;
	for (unsigned z = 0; z + 1 < PMM_ZONE_COUNT; z++) {
		paddr_t end = config->zone_end[z];
		if (!IS_ALIGNED(end, PAGE_SIZE) || end < previous || end > PMM_PHYS_LIMIT)
			return PMM_ERR_INVALID_ARGUMENT;
		previous = end;
	}
	return PMM_OK;
}

static enum pmm_status build(struct page_allocator *a, const struct pmm_config *config)
{
	static struct init_layout layout; /* 6 KiB: kept off the boot stack; init is not reentrant */
	struct init_layout *l = &layout;
	enum pmm_status status = validate_config(config);
	if (status != PMM_OK)
		return status;
	for (unsigned z = 0; z + 1 < PMM_ZONE_COUNT; z++)
		a->zone_end_page[z] = config->zone_end[z] >> PAGE_SHIFT;
	a->metadata_zone = config->metadata_zone;
	memset(l, 0, sizeof(*l));
	l->a = a;
	status = pmm_memory_map_for_each_usable(config->memory_map, config->memory_map_count,
						add_usable, l, NULL);
	if (status == PMM_OK)
		status = claim_reservations(l, config);
	if (status != PMM_OK)
		return status;
	for (unsigned u = 0; u < l->usable_count; u++) {
		struct page_allocator_zone *zone = &a->zone[zone_of(a, l->usable[u].first)];
		if (!zone->span_pages)
			zone->first_page = l->usable[u].first;
		zone->span_pages = l->usable[u].end - zone->first_page;
	}
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		if (!a->zone[z].span_pages)
			continue;
		const char *why = start_zone(a, l, z, config->metadata_zone);
		if (why) {
			mm_log("pmm: %s cannot serve zone %s (%llu pages): %s\n", a->ops->name,
			       pmm_zone_name(z), (unsigned long long)a->zone[z].span_pages, why);
			a->zone[z].span_pages = 0; /* the hot free's span check refuses it */
		}
	}
	populate(a, l);
	return PMM_OK;
}

enum pmm_status page_allocator_init(struct page_allocator *a,
				    const struct page_allocator_config *config)
{
	memset(a, 0, sizeof(*a));
	a->zone_end_page[PMM_ZONE_COUNT - 1] = PMM_PHYS_LIMIT >> PAGE_SHIFT;
	if (!config || (unsigned)config->allocator >= PMM_ALLOCATOR_COUNT)
		return PMM_ERR_INVALID_ARGUMENT;
	a->allocator = config->allocator;
	a->ops = pmm_placement_of(config->allocator);
	enum pmm_status status = build(a, config->pmm);
	if (status != PMM_OK) {
		mm_log("pmm_init: %s\n", pmm_status_name(status));
		memset(a->zone, 0, sizeof(a->zone));
	}
	return status;
}

/* ---- allocation and free ---------------------------------------------------------------------- */

/* Why an allocation's arguments are refused: PMM_ERR_INVALID_ARGUMENT, or PMM_ERR_OUT_OF_MEMORY
 * for a size or alignment no record can describe. */
static enum pmm_status argument_status(uint64_t pages, enum pmm_alloc_zone zone,
				       uint64_t align_pages, enum mm_owner owner)
{
	if (pages == 0 || !IS_POW2(align_pages) || (unsigned)owner >= MM_OWNER_COUNT ||
	    (unsigned)zone > PMM_ALLOC_BELOW_16M)
		return PMM_ERR_INVALID_ARGUMENT;
	return PMM_ERR_OUT_OF_MEMORY;
}

/* The end of a refused allocation: its trace event and status. */
static __attribute__((noinline)) paddr_t alloc_refused(uint64_t pages, enum pmm_alloc_zone zone,
						       uint64_t align_pages, enum mm_owner owner,
						       enum pmm_status result,
						       enum pmm_status *status)
{
	trace_pmm_alloc_fail((uint32_t)pages, (uint8_t)zone,
			     IS_POW2(align_pages) ? (uint8_t)ilog2_u64(align_pages) : 0xff,
			     (uint8_t)owner);
	if (status)
		*status = result;
	return PMM_ALLOC_FAILED;
}

/* Writes the allocation's record (and event) once zone z's placement placed it at `first`. */
static ALWAYS_INLINE paddr_t alloc_placed(struct page_allocator *a, enum pmm_zone z,
					  uint64_t first, uint64_t pages, uint64_t align_pages,
					  enum mm_owner owner, enum pmm_status *status,
					  uint64_t start)
{
	struct page_allocator_zone *zone = &a->zone[z];
	uint8_t align_log2 = (uint8_t)__builtin_ctzll(align_pages);
	zone->allocation[first - zone->first_page] = (struct page_allocation){
		.pages = (uint32_t)pages, .align_log2 = align_log2, .owner = (uint8_t)owner
	};
	if (unlikely(trace_enabled))
		trace_pmm_alloc(first << PAGE_SHIFT, (uint32_t)pages,
				(uint32_t)a->ops->held_pages(pages, align_pages), (uint8_t)z,
				align_log2, (uint8_t)owner, trace_cost_since(start));
	if (status)
		*status = PMM_OK;
	return first << PAGE_SHIFT;
}

/* Zone z's placement's alloc, for valid arguments: regions' fast path inline, as the hot path
 * runs it (traced allocations come here), else through the ops. */
static ALWAYS_INLINE uint64_t placement_alloc(struct page_allocator *a, enum pmm_zone z,
					      uint64_t pages, uint64_t align_pages)
{
	if (a->zone[z].regions)
		return pmm_regions_alloc_fast(a->zone[z].regions, pages, align_pages);
	return a->ops->alloc(a->zone[z].state, pages, align_pages);
}

/*
 * Every allocation the inline hot path (page_allocator.h) does not finish: bad arguments, or the
 * zones of pmm_zone_fallback's order down to `asked` refused (`first`: the answer of `asked`'s
 * placement; the zones before it failed), then the rest of that order.
 */
paddr_t page_alloc_general(struct page_allocator *a, unsigned asked, uint64_t first,
			   uint64_t pages, enum pmm_alloc_zone zone, uint64_t align_pages,
			   enum mm_owner owner, enum pmm_status *status, uint64_t start)
{
	if (pages - 1 >= PAGE_ALLOCATION_MAX_PAGES || !IS_POW2(align_pages) ||
	    align_pages - 1 >= PMM_PHYS_LIMIT >> PAGE_SHIFT || (unsigned)owner >= MM_OWNER_COUNT ||
	    (unsigned)zone > PMM_ALLOC_BELOW_16M)
		return alloc_refused(pages, zone, align_pages, owner,
				     argument_status(pages, zone, align_pages, owner), status);
	enum pmm_zone order[PMM_ZONE_COUNT];
	unsigned zones = pmm_zone_fallback(zone, order);
	for (unsigned i = 0; i < zones; i++) {
		enum pmm_zone z = order[i];
		/* the order goes down: zones above `asked` refused it in the hot path */
		if (!a->zone[z].state || (asked < PMM_ZONE_COUNT && z > asked))
			continue;
		uint64_t answer = z == asked ? first : placement_alloc(a, z, pages, align_pages);
		if (answer == PMM_PLACEMENT_WANTS_METADATA) {
			serve_metadata(a, z);
			answer = placement_alloc(a, z, pages, align_pages);
		}
		if (answer < PMM_PLACEMENT_WANTS_METADATA)
			return alloc_placed(a, z, answer, pages, align_pages, owner, status, start);
	}
	return alloc_refused(pages, zone, align_pages, owner, PMM_ERR_OUT_OF_MEMORY, status);
}

struct free_count {
	uint64_t first, end, free;
};

static bool count_free(void *ctx, const struct pmm_region_info *extent)
{
	struct free_count *c = ctx;
	uint64_t first = extent->base >> PAGE_SHIFT, end = first + extent->pages;
	if (end > c->first && first < c->end)
		c->free += MIN(end, c->end) - MAX(first, c->first);
	return first < c->end;
}

/* Everything page_free's hot path (page_allocator.h) leaves alone: the refusals (a walk of the
 * free runs classifies a free of no allocation) and reservations. */
enum pmm_status page_free_general(struct page_allocator *a, paddr_t addr, uint64_t pages,
				  uint64_t start)
{
	uint64_t first = addr >> PAGE_SHIFT;
	if (pages - 1 >= PMM_PHYS_LIMIT >> PAGE_SHIFT || !IS_ALIGNED(addr, PAGE_SIZE) ||
	    first + pages > (PMM_PHYS_LIMIT >> PAGE_SHIFT))
		return PMM_ERR_INVALID_ARGUMENT;
	struct page_allocation *record = allocation_at(a, first);
	if (!record || !record->pages) {
		struct free_count c = { first, first + pages, 0 };
		page_allocator_for_each_free_extent(a, count_free, &c);
		if (c.free == pages)
			return PMM_ERR_DOUBLE_FREE;
		return c.free ? PMM_ERR_PARTLY_FREE : PMM_ERR_NOT_ALLOCATED;
	}
	if (record->pages != pages)
		return PMM_ERR_WRONG_LENGTH;
	if (record->flags & PAGE_ALLOCATION_METADATA)
		return PMM_ERR_PMM_METADATA;
	enum pmm_zone z = zone_of(a, first);
	if (record->flags & PAGE_ALLOCATION_RESERVED) {
		/* the placement may need bookkeeping to take the pages back: none to be had is an
		 * error the caller sees, with the reservation still in place */
		top_up(a, z);
		if (a->ops->can_add_free && !a->ops->can_add_free(a->zone[z].state))
			return PMM_ERR_NO_RECORDS;
	}
	struct page_allocation was = *record;
	*record = (struct page_allocation){ 0 };
	if (was.flags & PAGE_ALLOCATION_RESERVED)
		a->ops->add_free(a->zone[z].state, first, pages);
	else if (a->zone[z].regions) /* as the hot path frees it */
		pmm_regions_free_fast(a->zone[z].regions, first - a->zone[z].first_page);
	else
		a->ops->free(a->zone[z].state, first, pages, (uint64_t)1 << was.align_log2);
	trace_pmm_free(first << PAGE_SHIFT, (uint32_t)pages, (uint32_t)held_by(a, &was), (uint8_t)z,
		       was.owner, trace_cost_since(start));
	return PMM_OK;
}

/* The shared copies of the hot paths (page_allocator.h, PAGE_ALLOCATOR_SHARED_COPIES). The traced
 * ones run page_alloc_inline/page_free_inline in their own frame, as a file's own traced copy
 * does, so that the call chain starts there. */
paddr_t page_alloc_shared_untraced(struct page_allocator *a, uint64_t pages,
				   enum pmm_alloc_zone zone, uint64_t align_pages,
				   enum mm_owner owner, enum pmm_status *status)
{
	return page_alloc_untraced(a, pages, zone, align_pages, owner, status);
}

paddr_t page_alloc_shared_traced(struct page_allocator *a, uint64_t pages,
				 enum pmm_alloc_zone zone, uint64_t align_pages,
				 enum mm_owner owner, enum pmm_status *status)
{
	return page_alloc_inline(a, pages, zone, align_pages, owner, status,
				 page_allocator_trace_on());
}

enum pmm_status page_free_shared_untraced(struct page_allocator *a, paddr_t addr, uint64_t pages)
{
	return page_free_untraced(a, addr, pages);
}

enum pmm_status page_free_shared_traced(struct page_allocator *a, paddr_t addr, uint64_t pages)
{
	return page_free_inline(a, addr, pages, page_allocator_trace_on());
}

/* ---- reading the state ------------------------------------------------------------------------- */

struct extent_walk {
	pmm_region_visitor visit;
	void *ctx;
	enum pmm_zone zone;
	bool stopped;
};

static bool visit_run(void *ctx, uint64_t first_page, uint64_t pages)
{
	struct extent_walk *w = ctx;
	struct pmm_region_info info = { .base = first_page << PAGE_SHIFT, .pages = pages,
					.state = PMM_REGION_FREE, .owner = MM_OWNER_NONE,
					.zone = w->zone };
	w->stopped = !w->visit(w->ctx, &info);
	return !w->stopped;
}

void page_allocator_for_each_free_extent(const struct page_allocator *a, pmm_region_visitor visit,
					 void *ctx)
{
	struct extent_walk w = { visit, ctx, PMM_ZONE_DMA, false };
	for (unsigned z = 0; z < PMM_ZONE_COUNT && !w.stopped; z++) {
		if (!a->zone[z].state)
			continue;
		w.zone = z;
		a->ops->for_each_free_run(a->zone[z].state, visit_run, &w);
	}
}

void page_allocator_for_each_used(const struct page_allocator *a, pmm_region_visitor visit,
				  void *ctx)
{
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		const struct page_allocator_zone *zone = &a->zone[z];
		for (uint64_t i = 0; zone->state && i < zone->span_pages; i++) {
			const struct page_allocation *r = &zone->allocation[i];
			if (!r->pages)
				continue;
			struct pmm_region_info info = {
				.base = (zone->first_page + i) << PAGE_SHIFT, .pages = held_by(a, r),
				.state = PMM_REGION_USED, .owner = r->owner, .zone = z,
				.pmm_metadata = r->flags & PAGE_ALLOCATION_METADATA
			};
			if (!visit(ctx, &info))
				return;
			i += info.pages - 1;
		}
	}
}

static bool add_extent_stats(void *ctx, const struct pmm_region_info *extent)
{
	struct pmm_stats *stats = ctx;
	struct pmm_zone_stats *zone = &stats->zone[extent->zone];
	zone->free_pages += extent->pages;
	zone->free_extents++;
	zone->largest_free_extent = MAX(zone->largest_free_extent, extent->pages);
	zone->free_extents_by_order[ilog2_u64(extent->pages)]++;
	return true;
}

void page_allocator_stats(const struct page_allocator *a, struct pmm_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	page_allocator_for_each_free_extent(a, add_extent_stats, stats);
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		struct pmm_zone_stats *out = &stats->zone[z];
		out->total_pages = a->zone[z].total_pages;
		out->metadata_pages = a->zone[z].metadata_pages;
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

bool page_allocator_can_serve(const struct page_allocator *a, uint64_t pages,
			      uint64_t align_pages)
{
	uint64_t run_pages, run_align;
	a->ops->guarantee(pages, align_pages, &run_pages, &run_align);
	return run_pages != UINT64_MAX;
}

uint64_t page_allocator_held_pages(const struct page_allocator *a, uint64_t pages,
				   uint64_t align_pages)
{
	return a->ops->held_pages(pages, align_pages);
}

paddr_t page_allocator_zone_end(const struct page_allocator *a, enum pmm_zone zone)
{
	return a->zone_end_page[zone] << PAGE_SHIFT;
}

/* ---- checking ---------------------------------------------------------------------------------- */

struct run_check {
	const struct page_allocator_zone *zone;
	uint64_t previous_end, pages;
	bool bad;
};

static bool check_run(void *ctx, uint64_t first_page, uint64_t pages)
{
	struct run_check *c = ctx;
	const struct page_allocator_zone *z = c->zone;
	if (!pages || first_page < MAX(c->previous_end + (c->previous_end != 0), z->first_page) ||
	    first_page + pages > z->first_page + z->span_pages)
		c->bad = true;
	for (uint64_t p = first_page; !c->bad && p < first_page + pages; p++)
		c->bad = z->allocation[p - z->first_page].pages != 0;
	c->previous_end = first_page + pages;
	c->pages += pages;
	return !c->bad;
}

const char *page_allocator_check(struct page_allocator *a)
{
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		const struct page_allocator_zone *zone = &a->zone[z];
		if (!zone->state)
			continue;
		struct run_check c = { zone, 0, 0, false };
		a->ops->for_each_free_run(zone->state, check_run, &c);
		uint64_t held = 0, covered_to = zone->first_page;
		for (uint64_t i = 0; !c.bad && i < zone->span_pages; i++) {
			const struct page_allocation *r = &zone->allocation[i];
			if (!r->pages)
				continue;
			if (zone->first_page + i < covered_to)
				c.bad = true;
			held += held_by(a, r);
			covered_to = zone->first_page + i + held_by(a, r);
		}
		const char *problem = NULL;
		if (c.bad)
			problem = "a free run is out of order, touches another, or overlaps a record";
		else if (c.pages != a->ops->free_pages(zone->state))
			problem = "the free runs do not sum to the placement's free page count";
		else if (c.pages + held != zone->total_pages)
			problem = "free pages plus held pages differ from the zone's total";
		else if (zone->regions_limit !=
			 (zone->regions ? zone->total_pages - zone->metadata_pages : 0))
			problem = "the hot path's regions limit is not total minus metadata pages";
		else if (a->ops->check)
			problem = a->ops->check(zone->state);
		if (problem) {
			ksnprintf(a->check_message, sizeof(a->check_message), "zone %s: %s",
				  pmm_zone_name(z), problem);
			return a->check_message;
		}
	}
	return NULL;
}
