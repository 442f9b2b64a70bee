/*
 * What every physical page allocator of the kernel shares (the allocator lab: page_allocator.h,
 * the designs in pmm_placement.h): the status codes, the firmware memory map and its normaliser,
 * the zones and their fallback order, the initial configuration (map, reservations, zone ends),
 * statistics and the description of a region handed to visitors.
 *
 * A test builds a 64-page allocator in a few lines (tests/host/test_page_allocator.c):
 *
 *   struct pmm_memory_map_entry map[] = { { 0, 64 * PAGE_SIZE, PMM_MEMORY_AVAILABLE } };
 *   struct pmm_config config = { .memory_map = map, .memory_map_count = 1 };
 *   struct page_allocator_config chosen = { PMM_ALLOCATOR_regions, &config };
 *   static struct page_allocator a;
 *   page_allocator_init(&a, &chosen);
 *   paddr_t pa = page_alloc(&a, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
 *
 * (config.zone_end is left zero there, so all 64 pages are in one zone, NORMAL; the allocator's
 * own records take some of them, through phys_to_virt.)
 */
#ifndef PAGESCOPE_MM_PMM_H
#define PAGESCOPE_MM_PMM_H

#include "mm_env.h"
#include "owner.h"
#include "page_source.h"
#include "pmm_region.h"
#include "pmm_size_classes.h"

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
	 * Where the allocator places its records and state at init, read and written through
	 * phys_to_virt(): that window must cover this zone and must not change while it lives.
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

#define PMM_ALLOC_FAILED ((paddr_t)-1)

/* ---- statistics ---------------------------------------------------------------------------- */

struct pmm_zone_stats {
	uint64_t total_pages;          /* managed: free + used (reservations and metadata included) */
	uint64_t free_pages;
	uint64_t free_extents;
	uint64_t largest_free_extent;  /* pages */
	uint64_t metadata_pages;       /* taken by the allocator for its records and state */
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
	uint64_t free_extents_by_order[PMM_ORDER_COUNT]; /* all zones */
	struct pmm_zone_stats zone[PMM_ZONE_COUNT];
};

/*
 * Adds to blocks_by_order[o] the number of naturally aligned 2^o-page blocks a buddy allocator
 * (Linux, /proc/buddyinfo) would see for the free extent [first_page, first_page + pages), with
 * orders capped at max_order (Linux: MAX_ORDER; pass PMM_ORDER_COUNT - 1 for no cap). The blocks
 * are greedy: at each step the largest block aligned at the current page that still fits.
 * Returns the number of blocks added.
 */
uint64_t pmm_extent_buddy_blocks(uint64_t first_page, uint64_t pages, unsigned max_order,
				 uint64_t blocks_by_order[PMM_ORDER_COUNT]);

/* ---- iteration ------------------------------------------------------------------------------- */

struct pmm_region_info {
	paddr_t base;
	uint64_t pages;
	enum pmm_region_state state;
	enum mm_owner owner;      /* MM_OWNER_NONE for free regions */
	enum pmm_zone zone;
	bool pmm_metadata;        /* pages the allocator took for its own bookkeeping */
};

/* Returns true to continue, false to stop the walk. */
typedef bool (*pmm_region_visitor)(void *ctx, const struct pmm_region_info *region);

#endif
