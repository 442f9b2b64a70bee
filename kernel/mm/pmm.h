/*
 * The physical memory manager: hands out contiguous runs of physical pages, optionally limited to
 * low memory (DMA) and aligned (for large pages). The ground truth is an address-ordered list of
 * region records, free and used; per zone, a size-class index serves most allocations with one
 * look, and a fit tree per class (filed when first needed) answers the rest exactly, so an
 * allocation fails only when nothing can hold it.
 * The design, its invariants and its bounds are described in pmm.c.
 *
 * All state lives in a struct pmm passed in: a test builds a 64-page allocator in a few lines:
 *
 *   struct pmm_memory_map_entry map[] = { { 0, 64 * PAGE_SIZE, PMM_MEMORY_AVAILABLE } };
 *   static struct pmm_region records[32];
 *   struct pmm_config config = { .memory_map = map, .memory_map_count = 1,
 *                                .initial_records = records, .initial_record_count = 32 };
 *   static struct pmm pmm;
 *   pmm_init(&pmm, &config);
 *   paddr_t pa = pmm_alloc(&pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
 *
 * (config.zone_end is left zero there, so all 64 pages are in one zone, NORMAL.)
 *
 * Not thread-safe: the caller serialises calls.
 */
#ifndef PAGESCOPE_MM_PMM_H
#define PAGESCOPE_MM_PMM_H

#include "mm_env.h"
#include "owner.h"
#include "page_source.h"
#include "pmm_region.h"
#include "pmm_size_classes.h"
#include "pmm_used_map.h"

/* ---- status codes ------------------------------------------------------------------------- */

#define PMM_STATUS_LIST(X)                                                                       \
	X(PMM_OK,                  "ok")                                                         \
	X(PMM_ERR_INVALID_ARGUMENT, "invalid argument")                                          \
	X(PMM_ERR_OUT_OF_MEMORY,   "out of memory")                                              \
	X(PMM_ERR_NO_RECORDS,      "out of region records")                                      \
	X(PMM_ERR_NOT_ALLOCATED,   "range is not an allocation")                                 \
	X(PMM_ERR_DOUBLE_FREE,     "range is already free")                                      \
	X(PMM_ERR_PARTLY_FREE,     "range overlaps free memory")                                 \
	X(PMM_ERR_WRONG_LENGTH,    "length differs from the allocation's")                       \
	X(PMM_ERR_PMM_METADATA,    "range holds the pmm's own bookkeeping")                      \
	X(PMM_ERR_NOT_FREE,        "range is not entirely free")                                 \
	X(PMM_ERR_MAP_ENTRY_WRAPS, "memory map entry wraps past 2^64")                           \
	X(PMM_ERR_MAP_TOO_LARGE,   "memory map has too many entries")

enum pmm_status {
#define PMM_STATUS_ENUM(e, s) e,
	PMM_STATUS_LIST(PMM_STATUS_ENUM)
#undef PMM_STATUS_ENUM
	PMM_STATUS_COUNT
};

/* A short human-readable description of a status, for log lines; "?" when out of range. */
const char *pmm_status_name(enum pmm_status status);

/* ---- memory map input (multiboot2 numbering) ---------------------------------------------- */

enum pmm_memory_type {
	PMM_MEMORY_AVAILABLE = 1,
	PMM_MEMORY_RESERVED = 2,
	PMM_MEMORY_ACPI_RECLAIMABLE = 3,
	PMM_MEMORY_ACPI_NVS = 4,
	PMM_MEMORY_BAD = 5,
	/* any other value counts as reserved */
};

struct pmm_memory_map_entry {
	uint64_t base;   /* bytes */
	uint64_t length; /* bytes */
	uint32_t type;   /* enum pmm_memory_type, or any other value (= reserved) */
};

/* Entries beyond this make pmm_memory_map_for_each_usable fail with PMM_ERR_MAP_TOO_LARGE. */
#define PMM_MEMORY_MAP_MAX_ENTRIES 1024
/* Addresses at or above 2^52 (x86-64's architectural physical limit) are ignored. */
#define PMM_PHYS_LIMIT ((uint64_t)1 << 52)

/* Receives one usable range; a status other than PMM_OK stops the walk and is returned. */
typedef enum pmm_status (*pmm_usable_range_fn)(void *ctx, uint64_t first_page, uint64_t pages);

/*
 * Normalises a firmware memory map (pmm_memory_map.c) and calls `visit` for each maximal usable
 * range of whole pages, in ascending address order. Entries may be unsorted, overlapping and
 * unaligned: where entries overlap the stricter type wins (available < ACPI reclaimable < ACPI NVS
 * < reserved < bad), and the partial pages at the edges of a usable range are dropped.
 * Zero-length entries are skipped with a log line.
 * Returns PMM_OK, PMM_ERR_MAP_ENTRY_WRAPS (base + length > 2^64), PMM_ERR_MAP_TOO_LARGE (more
 * than PMM_MEMORY_MAP_MAX_ENTRIES entries) — both detected before anything is visited — or the
 * first non-OK status returned by `visit`. Adds the entries it reads to *work (unless NULL): at
 * most (2n + 1) * 2n for n entries.
 */
enum pmm_status pmm_memory_map_for_each_usable(const struct pmm_memory_map_entry *entries,
					       size_t count, pmm_usable_range_fn visit, void *ctx,
					       uint64_t *work);

/* ---- zones -------------------------------------------------------------------------------- */

/*
 * Physical zones, as in Linux: consecutive address ranges, in the order of enum pmm_zone (DMA,
 * DMA32, NORMAL), that free runs never cross. The values and their names (pmm_zone_name) are the
 * `zone` group of trace/events.def. Where each zone ends is a fact of the machine, not of the
 * allocator: the caller says it in pmm_config.zone_end (amd64: 16 MiB and 4 GiB, from
 * <machine/memory_zones.h>), and pmm_zone_end reads it back.
 */
#define PMM_ZONE_COUNT TRACE_VALUE_LIMIT(pmm_zone)

/*
 * What an allocation may use (enum pmm_alloc_zone, the `alloc_zone` group of trace/events.def):
 * PMM_ALLOC_ANY tries NORMAL, then DMA32, then DMA (keeping low memory for those who need it);
 * PMM_ALLOC_BELOW_4G DMA32, then DMA; PMM_ALLOC_BELOW_16M DMA only. The names are amd64's zone
 * ends; what they select is the zones, wherever the configuration ends them.
 */

/* The zones an allocation may use, in the order they are tried (above). Returns how many. */
static inline unsigned pmm_zone_fallback(enum pmm_alloc_zone zone,
					 enum pmm_zone order[PMM_ZONE_COUNT])
{
	switch (zone) {
	case PMM_ALLOC_ANY:
		order[0] = PMM_ZONE_NORMAL;
		order[1] = PMM_ZONE_DMA32;
		order[2] = PMM_ZONE_DMA;
		return 3;
	case PMM_ALLOC_BELOW_4G:
		order[0] = PMM_ZONE_DMA32;
		order[1] = PMM_ZONE_DMA;
		return 2;
	case PMM_ALLOC_BELOW_16M:
		order[0] = PMM_ZONE_DMA;
		return 1;
	}
	return 0;
}

/* ---- the allocator state -------------------------------------------------------------------- */

/*
 * The record (struct pmm_region, pmm_region.h), the size classes (PMM_ORDER_COUNT and the class
 * index, pmm_size_classes.h) and the used-record map (pmm_used_map.h) are the pmm's parts; their
 * structs are visible here only because struct pmm embeds them.
 */

struct pmm_zone_index {
	struct pmm_size_classes classes; /* the zone's free records (and their count per class) */
	uint64_t total_pages;
	uint64_t free_pages;
	uint64_t metadata_pages;
};

struct pmm {
	struct list_node records;        /* every record in address order (pmm_first_record) */
	struct pmm_zone_index zone[PMM_ZONE_COUNT];
	/* zone z holds the pages from zone_end_page[z - 1] (0 for DMA) below zone_end_page[z]
	 * (NORMAL's end is PMM_PHYS_LIMIT): pmm_config.zone_end in pages */
	uint64_t zone_end_page[PMM_ZONE_COUNT];

	struct pmm_region *spare_records;
	uint64_t spare_record_count;
	uint64_t records_owned;          /* in the pool or in use: the initial ones and record pages' */
	uint64_t record_pages;           /* pages the pmm took from itself for records */
	enum pmm_alloc_zone metadata_zone;
	uintptr_t phys_window_at_init;   /* records hold pointers through this window */

	struct pmm_used_map used;        /* used records by first page */
	paddr_t used_map_phys;           /* pages holding its buckets, or PMM_ALLOC_FAILED if embedded */
	uint64_t used_map_pages;

	/*
	 * Records, tree nodes and map entries visited so far, by every operation (pmm_visit): the
	 * unit of the bounds stated in pmm.c. Only ever increases; callers read differences.
	 */
	uint64_t work;

	char check_message[160];
};

/* The records in address order (NULL after the last), for code that inspects them directly. */
static inline struct pmm_region *pmm_first_record(const struct pmm *pmm)
{
	return list_entry(list_first(&pmm->records), struct pmm_region, address_link);
}

static inline struct pmm_region *pmm_next_record(const struct pmm *pmm,
						 const struct pmm_region *region)
{
	return list_entry(list_next(&pmm->records, &region->address_link), struct pmm_region,
			  address_link);
}

static inline struct pmm_region *pmm_prev_record(const struct pmm *pmm,
						 const struct pmm_region *region)
{
	return list_entry(list_prev(&pmm->records, &region->address_link), struct pmm_region,
			  address_link);
}

/* ---- initialisation ---------------------------------------------------------------------- */

/* A range to mark used before anything is handed out (firmware, kernel image, boot modules...). */
struct pmm_reservation {
	paddr_t base;   /* bytes; partial pages at either end are reserved whole */
	uint64_t length;
	enum mm_owner owner;
};

struct pmm_config {
	const struct pmm_memory_map_entry *memory_map;
	size_t memory_map_count;
	const struct pmm_reservation *reservations;
	size_t reservation_count;
	/*
	 * Records to start with (the kernel passes a static .bss array). They must cover the usable
	 * ranges (split at zone boundaries) plus two per reservation piece; 64 is plenty for a PC.
	 */
	struct pmm_region *initial_records;
	size_t initial_record_count;
	/*
	 * Where the pmm takes pages for its own records and hash table, read and written through
	 * phys_to_virt(): that window must cover this zone and must not change while the pmm lives.
	 */
	enum pmm_alloc_zone metadata_zone;
	/*
	 * Where the zones end, in bytes: zone_end[z] is the first address past zone z (DMA, DMA32);
	 * NORMAL takes everything from zone_end[PMM_ZONE_COUNT - 2] up. Page-aligned, non-decreasing
	 * and at most PMM_PHYS_LIMIT. A zone that ends where the one before it does (at zero, for
	 * DMA) is empty: left zero, every page is NORMAL, and only PMM_ALLOC_ANY can succeed. The
	 * values are the machine's (amd64: `.zone_end = MACHINE_ZONE_ENDS`, <machine/memory_zones.h>).
	 */
	paddr_t zone_end[PMM_ZONE_COUNT - 1];
};

/*
 * Builds an allocator over the usable pages of the memory map, minus the reservations. Parts of a
 * reservation that fall in holes or non-available memory are ignored (those pages are never
 * managed); where reservations overlap, the first one listed names the owner. Each reservation
 * becomes one used record per usable piece it covers (per zone), freeable with pmm_free.
 * Returns PMM_OK, or: the normaliser's errors; PMM_ERR_INVALID_ARGUMENT (NULL pointers, zone ends
 * unaligned, decreasing or past PMM_PHYS_LIMIT, a reservation of length 0 or wrapping past 2^64,
 * an owner out of range); PMM_ERR_NO_RECORDS (the
 * initial record array is too small). Every failure is also logged. On failure the pmm is empty
 * (every allocation fails) but safe to use.
 */
enum pmm_status pmm_init(struct pmm *pmm, const struct pmm_config *config);

/* The first address past `zone` (bytes), as configured; PMM_PHYS_LIMIT for NORMAL. */
static inline paddr_t pmm_zone_end(const struct pmm *pmm, enum pmm_zone zone)
{
	return pmm->zone_end_page[zone] << PAGE_SHIFT;
}

/* ---- allocation ---------------------------------------------------------------------------- */

#define PMM_ALLOC_FAILED ((paddr_t)-1)

/*
 * Allocates `pages` contiguous pages whose first page number is a multiple of `align_pages` (a
 * power of two: 512 for a 2 MiB page, 262144 for a 1 GiB page), inside `zone`, tagged `owner`.
 * Returns the physical address, or PMM_ALLOC_FAILED when: pages == 0, align_pages is not a power
 * of two, owner is out of range (all logged), no free extent of the allowed zones can hold the
 * aligned run (PMM_ERR_OUT_OF_MEMORY: never while one can — proved in pmm.c), or no region
 * record can be had. Never panics for lack of memory.
 * Work (pmm->work): O(1) when the size-class path serves (an extent of
 * pmm_guaranteed_fit_pages exists); otherwise the exact search, O(log N) for N free extents when
 * align_pages == 1, O(C log N) when align_pages >= pages (C the size classes between pages and
 * pages + align_pages, at most 16 per doubling), and also O(log N) per free extent of at least
 * `pages` pages when 1 < align_pages < pages; plus, the first time a class is searched after
 * records entered it, filing them into its fit tree (O(log N) each: AMORTISED O(log N) per
 * operation, not a worst case per call). The exact bounds are in pmm.c.
 * `status`, if not NULL, receives PMM_OK or the reason of the failure.
 */
paddr_t pmm_alloc_status(struct pmm *pmm, uint64_t pages, enum pmm_alloc_zone zone,
			 uint64_t align_pages, enum mm_owner owner, enum pmm_status *status);

/* pmm_alloc_status without the status. */
paddr_t pmm_alloc(struct pmm *pmm, uint64_t pages, enum pmm_alloc_zone zone, uint64_t align_pages,
		  enum mm_owner owner);

/*
 * The smallest free extent from which pmm_alloc serves `pages` pages aligned to `align_pages` by
 * its O(1) size-class path (pages + align_pages - 1 rounded up to the next size-class boundary).
 * Smaller extents that fit are found by the exact search (the class fit trees) instead.
 */
uint64_t pmm_guaranteed_fit_pages(uint64_t pages, uint64_t align_pages);

/*
 * Returns an allocation: [addr, addr + pages * PAGE_SIZE) must be exactly one allocation (or one
 * reservation piece). It is merged with free neighbours of the same zone. Never needs a record.
 * Returns PMM_OK, or, with the allocator's state left exactly as it was:
 *   PMM_ERR_INVALID_ARGUMENT  pages == 0, addr not page-aligned, or the range ends past
 *                             PMM_PHYS_LIMIT
 *   PMM_ERR_WRONG_LENGTH      an allocation starts at addr but has another length
 *   PMM_ERR_PMM_METADATA      the allocation is the pmm's own bookkeeping
 *   PMM_ERR_DOUBLE_FREE       every page of the range is already free
 *   PMM_ERR_PARTLY_FREE       some pages of the range are free, others are not
 *   PMM_ERR_NOT_ALLOCATED     no page is free, but addr is not the start of an allocation
 *                             (inside one, in a hole, or unmanaged)
 * The success path visits the used-record map's chain of addr (average length <= 2,
 * pmm_used_map.h) and merges: O(1), or O(log N) when a neighbour it merges with had been filed
 * into a fit tree. Classifying an error walks the record list: at most one visit per record.
 */
enum pmm_status pmm_free(struct pmm *pmm, paddr_t addr, uint64_t pages);

/*
 * Marks the given range used by `owner` (e.g. a framebuffer found after boot). The range must lie
 * inside one free extent. Returns PMM_OK, PMM_ERR_INVALID_ARGUMENT, PMM_ERR_NOT_FREE or
 * PMM_ERR_NO_RECORDS; on failure nothing changes. Finding the extent walks the list: at most one
 * visit per record, then O(log N) to carve.
 */
enum pmm_status pmm_claim(struct pmm *pmm, paddr_t addr, uint64_t pages, enum mm_owner owner);

/*
 * A page_source (page_source.h) backed by this pmm: allocations use PMM_ALLOC_ANY. Freeing pages
 * that did not come from it is a caller bug and panics, naming the error.
 */
struct page_source pmm_page_source(struct pmm *pmm);

/* ---- statistics ---------------------------------------------------------------------------- */

struct pmm_zone_stats {
	uint64_t total_pages;          /* managed: free + used (reservations and metadata included) */
	uint64_t free_pages;
	uint64_t free_extents;
	uint64_t largest_free_extent;  /* pages */
	uint64_t metadata_pages;       /* taken by the pmm for its records and hash table */
	/* extent form: each free extent counted once, at order floor(log2(pages)) */
	uint64_t free_extents_by_order[PMM_ORDER_COUNT];
};

struct pmm_stats {
	uint64_t total_pages;
	uint64_t used_pages;
	uint64_t free_pages;
	uint64_t free_extents;
	uint64_t largest_free_extent;
	uint64_t metadata_pages;
	uint64_t records_in_use;       /* free + used records */
	uint64_t spare_records;
	uint64_t hash_buckets;
	uint64_t free_extents_by_order[PMM_ORDER_COUNT]; /* all zones */
	struct pmm_zone_stats zone[PMM_ZONE_COUNT];
};

/*
 * Fills `stats`. The free pages are counted as they change and the extents by order derived from
 * the size classes' counts; the largest extent is the longest of the highest non-empty class (its
 * tree root knows the filed ones, its unfiled ones are read). O(zones * classes + the unfiled
 * records of each zone's highest class).
 */
void pmm_get_stats(const struct pmm *pmm, struct pmm_stats *stats);

/*
 * Adds to blocks_by_order[o] the number of naturally aligned 2^o-page blocks a buddy allocator
 * (Linux, /proc/buddyinfo) would see for the free extent [first_page, first_page + pages), with
 * orders capped at max_order (Linux: MAX_ORDER; pass PMM_ORDER_COUNT - 1 for no cap). The blocks
 * are greedy: at each step the largest block aligned at the current page that still fits.
 * Returns the number of blocks added.
 */
uint64_t pmm_extent_buddy_blocks(uint64_t first_page, uint64_t pages, unsigned max_order,
				 uint64_t blocks_by_order[PMM_ORDER_COUNT]);

/* ---- iteration and checking ----------------------------------------------------------------- */

struct pmm_region_info {
	paddr_t base;
	uint64_t pages;
	enum pmm_region_state state;
	enum mm_owner owner;      /* MM_OWNER_NONE for free regions */
	enum pmm_zone zone;
	bool pmm_metadata;        /* pages the pmm took for its own bookkeeping */
};

/* Returns true to continue, false to stop the walk. */
typedef bool (*pmm_region_visitor)(void *ctx, const struct pmm_region_info *region);

/* Visits every record (free and used) in address order. O(records). */
void pmm_for_each_region(const struct pmm *pmm, pmm_region_visitor visit, void *ctx);
/* Visits every free extent in address order. O(records). */
void pmm_for_each_free_extent(const struct pmm *pmm, pmm_region_visitor visit, void *ctx);

/*
 * Checks every invariant listed at the top of pmm.c against a full recount: O(records + buckets).
 * Returns NULL when consistent, else a description of the first violation (kept in the pmm until
 * the next call).
 */
const char *pmm_check(struct pmm *pmm);

#endif
