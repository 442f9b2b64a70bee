/* Host unit tests of the physical memory manager (kernel/mm/pmm.c) and its memory-map normaliser. */
#include <stdlib.h>
#include <string.h>

#include "kernel/lib/testing.h"
#include "kernel/mm/pmm.h"
#include "tests/host/host_env.h"
#include "tests/host/pmm_patterns.h"
#include <machine/memory_zones.h>

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)
#define FIXTURE_RECORDS 256

/* A pmm over a host arena that covers every address of the map. */
struct fixture {
	struct pmm pmm;
	struct pmm_region records[FIXTURE_RECORDS];
	void *arena;
	uint64_t arena_bytes;
};

struct fixture_options {
	const struct pmm_memory_map_entry *map;
	size_t map_count;
	const struct pmm_reservation *reservations;
	size_t reservation_count;
	size_t initial_records; /* 0: FIXTURE_RECORDS */
	enum pmm_alloc_zone metadata_zone;
	const paddr_t *zone_end; /* NULL: the kernel's machine (<machine/memory_zones.h>) */
};

static const paddr_t machine_zone_end[PMM_ZONE_COUNT - 1] = MACHINE_ZONE_ENDS;

static struct fixture *fixture_create(const struct fixture_options *o, enum pmm_status *status)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint64_t top = 0;
	for (size_t i = 0; i < o->map_count; i++)
		if (o->map[i].length && o->map[i].base + o->map[i].length > top)
			top = o->map[i].base + o->map[i].length;
	f->arena_bytes = ALIGN_UP(MAX(top, PAGE_SIZE), PAGE_SIZE);
	f->arena = host_phys_arena_create(0, f->arena_bytes);
	struct pmm_config config = {
		.memory_map = o->map,
		.memory_map_count = o->map_count,
		.reservations = o->reservations,
		.reservation_count = o->reservation_count,
		.initial_records = f->records,
		.initial_record_count = o->initial_records ? o->initial_records : FIXTURE_RECORDS,
		.metadata_zone = o->metadata_zone,
	};
	memcpy(config.zone_end, o->zone_end ? o->zone_end : machine_zone_end, sizeof(config.zone_end));
	*status = pmm_init(&f->pmm, &config);
	return f;
}

static void fixture_destroy(struct fixture *f)
{
	host_phys_arena_destroy(f->arena, f->arena_bytes);
	free(f);
}

/* The common case: one available range [base, base + pages pages). */
static struct fixture *simple_fixture(uint64_t base, uint64_t pages)
{
	struct pmm_memory_map_entry map[] = { { base, pages * PAGE_SIZE, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1 };
	enum pmm_status status;
	return fixture_create(&o, &status);
}

#define EXPECT_CONSISTENT(pmm)                                                  \
	do {                                                                    \
		const char *problem_ = pmm_check(pmm);                          \
		TESTING_CHECK(problem_ == NULL, (void)0, "pmm_check: %s", problem_); \
	} while (0)

/* ---- region dumps -------------------------------------------------------------------------- */

#define DUMP_MAX 64
struct dump {
	size_t count;
	struct pmm_region_info regions[DUMP_MAX];
};

static bool dump_visit(void *ctx, const struct pmm_region_info *region)
{
	struct dump *d = ctx;
	if (d->count < DUMP_MAX)
		d->regions[d->count] = *region;
	d->count++;
	return true;
}

static struct dump dump_regions(const struct pmm *pmm)
{
	struct dump d;
	memset(&d, 0, sizeof(d));
	pmm_for_each_region(pmm, dump_visit, &d);
	return d;
}

static bool dump_has(const struct dump *d, paddr_t base, uint64_t pages,
		     enum pmm_region_state state, enum mm_owner owner)
{
	for (size_t i = 0; i < d->count && i < DUMP_MAX; i++) {
		const struct pmm_region_info *r = &d->regions[i];
		if (r->base == base && r->pages == pages && r->state == state && r->owner == owner)
			return true;
	}
	return false;
}

/* ---- memory-map normaliser ----------------------------------------------------------------- */

struct ranges {
	size_t count;
	uint64_t first[16], pages[16];
};

static enum pmm_status collect_range(void *ctx, uint64_t first_page, uint64_t pages)
{
	struct ranges *r = ctx;
	if (r->count == 16)
		return PMM_ERR_MAP_TOO_LARGE;
	r->first[r->count] = first_page;
	r->pages[r->count] = pages;
	r->count++;
	return PMM_OK;
}

static struct ranges normalise(const struct pmm_memory_map_entry *map, size_t count,
			       enum pmm_status *status)
{
	struct ranges r;
	memset(&r, 0, sizeof(r));
	*status = pmm_memory_map_for_each_usable(map, count, collect_range, &r, NULL);
	return r;
}

/* Unsorted entries come out ascending, and touching available entries join into one run. */
TEST(pmm_memory_map_sorts_and_joins_entries)
{
	struct pmm_memory_map_entry map[] = {
		{ 0x200000, 0x100000, PMM_MEMORY_AVAILABLE },
		{ 0x0, 0x9f000, PMM_MEMORY_AVAILABLE },
		{ 0x100000, 0x100000, PMM_MEMORY_AVAILABLE },
		{ 0xf0000, 0x10000, PMM_MEMORY_RESERVED },
	};
	enum pmm_status status;
	struct ranges r = normalise(map, ARRAY_SIZE(map), &status);
	ASSERT_EQ(status, PMM_OK);
	ASSERT_EQ(r.count, 2);
	EXPECT_EQ(r.first[0], 0);
	EXPECT_EQ(r.pages[0], 0x9f);
	EXPECT_EQ(r.first[1], 0x100);
	EXPECT_EQ(r.pages[1], 0x200);
}

/* Where entries overlap, any non-available type (reserved, ACPI, bad) beats available. */
TEST(pmm_memory_map_overlap_stricter_type_wins)
{
	struct pmm_memory_map_entry map[] = {
		{ 0x0, 0x100000, PMM_MEMORY_AVAILABLE },
		{ 0x10000, 0x1000, PMM_MEMORY_ACPI_RECLAIMABLE },
		{ 0x20000, 0x2000, PMM_MEMORY_BAD },
		{ 0x30000, 0x1000, PMM_MEMORY_ACPI_NVS },
		{ 0x40000, 0x1000, 77 /* unknown = reserved */ },
		{ 0x40000, 0x1000, PMM_MEMORY_AVAILABLE },
	};
	enum pmm_status status;
	struct ranges r = normalise(map, ARRAY_SIZE(map), &status);
	ASSERT_EQ(status, PMM_OK);
	ASSERT_EQ(r.count, 5);
	uint64_t expect_first[] = { 0x0, 0x11, 0x22, 0x31, 0x41 };
	uint64_t expect_pages[] = { 0x10, 0xf, 0xe, 0xf, 0xbf };
	for (size_t i = 0; i < 5; i++) {
		EXPECT_EQ(r.first[i], expect_first[i]);
		EXPECT_EQ(r.pages[i], expect_pages[i]);
	}
}

/* Partial pages at the edges of a usable run are dropped, but not between touching entries. */
TEST(pmm_memory_map_drops_partial_edge_pages)
{
	struct pmm_memory_map_entry map[] = {
		{ 0x1800, 0x2000, PMM_MEMORY_AVAILABLE },  /* 0x1800..0x3800 */
		{ 0x3800, 0x2100, PMM_MEMORY_AVAILABLE },  /* 0x3800..0x5900 */
		{ 0x10100, 0x1000, PMM_MEMORY_AVAILABLE }, /* no whole page */
	};
	enum pmm_status status;
	struct ranges r = normalise(map, ARRAY_SIZE(map), &status);
	ASSERT_EQ(status, PMM_OK);
	ASSERT_EQ(r.count, 1);
	EXPECT_EQ(r.first[0], 2);
	EXPECT_EQ(r.pages[0], 3); /* pages 2, 3, 4 */
}

/* Zero-length entries are skipped; wrapping entries and oversized maps fail before any visit. */
TEST(pmm_memory_map_rejects_bad_entries)
{
	struct pmm_memory_map_entry zero[] = {
		{ 0x0, 0, PMM_MEMORY_RESERVED },
		{ 0x0, 0x4000, PMM_MEMORY_AVAILABLE },
	};
	enum pmm_status status;
	struct ranges r = normalise(zero, ARRAY_SIZE(zero), &status);
	EXPECT_EQ(status, PMM_OK);
	EXPECT_EQ(r.count, 1);

	struct pmm_memory_map_entry wraps[] = {
		{ 0x0, 0x4000, PMM_MEMORY_AVAILABLE },
		{ 0xfffffffffffff000ull, 0x2000, PMM_MEMORY_AVAILABLE },
	};
	r = normalise(wraps, ARRAY_SIZE(wraps), &status);
	EXPECT_EQ(status, PMM_ERR_MAP_ENTRY_WRAPS);
	EXPECT_EQ(r.count, 0);

	/* Ending exactly at 2^64 does not wrap; everything above 2^52 is ignored. */
	struct pmm_memory_map_entry top[] = {
		{ 0xfffffffffffff000ull, 0x1000, PMM_MEMORY_AVAILABLE },
		{ PMM_PHYS_LIMIT - 0x2000, 0x4000, PMM_MEMORY_AVAILABLE },
	};
	r = normalise(top, ARRAY_SIZE(top), &status);
	EXPECT_EQ(status, PMM_OK);
	ASSERT_EQ(r.count, 1);
	EXPECT_EQ(r.pages[0], 2);

	static struct pmm_memory_map_entry many[PMM_MEMORY_MAP_MAX_ENTRIES + 1];
	r = normalise(many, ARRAY_SIZE(many), &status);
	EXPECT_EQ(status, PMM_ERR_MAP_TOO_LARGE);
	EXPECT_EQ(pmm_memory_map_for_each_usable(NULL, 3, collect_range, &r, NULL),
		  PMM_ERR_INVALID_ARGUMENT);
}

/* ---- init ---------------------------------------------------------------------------------- */

/* The few-lines example of pmm.h builds a working 64-page allocator. */
TEST(pmm_init_builds_64_page_allocator)
{
	struct fixture *f = simple_fixture(0, 64);
	struct pmm_stats stats;
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_EQ(stats.total_pages, 64);
	EXPECT_EQ(stats.free_pages, 64);
	EXPECT_EQ(stats.used_pages, 0);
	EXPECT_EQ(stats.free_extents, 1);
	EXPECT_EQ(stats.largest_free_extent, 64);
	EXPECT_EQ(stats.free_extents_by_order[6], 1);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA].free_pages, 64);
	paddr_t pa = pmm_alloc(&f->pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_EQ(pa, 0);
	EXPECT_EQ(pmm_free(&f->pmm, pa, 4), PMM_OK);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);
}

/* Reservations become used records with their owner, rounded out to whole pages; holes are skipped
 * and the first reservation wins where two overlap. */
TEST(pmm_init_applies_reservations_with_owners)
{
	struct pmm_memory_map_entry map[] = {
		{ 0x0, 0x9f000, PMM_MEMORY_AVAILABLE },
		{ 0x100000, 0x300000, PMM_MEMORY_AVAILABLE },
	};
	struct pmm_reservation reservations[] = {
		{ 0x0, 0x100000, MM_OWNER_FIRMWARE },        /* first MiB, covers a hole */
		{ 0x200800, 0x1000, MM_OWNER_KERNEL_IMAGE }, /* unaligned: pages 0x200, 0x201 */
		{ 0x201000, 0x2000, MM_OWNER_BOOT_MODULE },  /* overlaps the kernel at 0x201 */
	};
	struct fixture_options o = { .map = map, .map_count = 2, .reservations = reservations,
				     .reservation_count = 3 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct dump d = dump_regions(&f->pmm);
	EXPECT_TRUE(dump_has(&d, 0x0, 0x9f, PMM_REGION_USED, MM_OWNER_FIRMWARE));
	EXPECT_TRUE(dump_has(&d, 0x200000, 2, PMM_REGION_USED, MM_OWNER_KERNEL_IMAGE));
	EXPECT_TRUE(dump_has(&d, 0x202000, 1, PMM_REGION_USED, MM_OWNER_BOOT_MODULE));
	EXPECT_TRUE(dump_has(&d, 0x100000, 0x100, PMM_REGION_FREE, MM_OWNER_NONE));
	struct pmm_stats stats;
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_EQ(stats.total_pages, 0x9f + 0x300);
	EXPECT_EQ(stats.used_pages, 0x9f + 3);
	/* A reservation piece is freeable like an allocation. */
	EXPECT_EQ(pmm_free(&f->pmm, 0x202000, 1), PMM_OK);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);
}

/* Bad reservations and a too-small record array fail with a status and leave an empty pmm. */
TEST(pmm_init_fails_cleanly_on_bad_input)
{
	struct pmm_memory_map_entry map[] = {
		{ 0x0, 0x100000, PMM_MEMORY_AVAILABLE },
		{ 0x200000, 0x100000, PMM_MEMORY_AVAILABLE },
		{ 0x400000, 0x100000, PMM_MEMORY_AVAILABLE },
	};
	struct pmm_reservation zero_length[] = { { 0x1000, 0, MM_OWNER_KERNEL_IMAGE } };
	struct pmm_reservation wrapping[] = { { 0x1000, UINT64_MAX, MM_OWNER_KERNEL_IMAGE } };
	struct pmm_reservation bad_owner[] = { { 0x1000, 0x1000, MM_OWNER_COUNT } };
	const struct pmm_reservation *cases[] = { zero_length, wrapping, bad_owner };
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fixture_options o = { .map = map, .map_count = 3, .reservations = cases[i],
					     .reservation_count = 1 };
		enum pmm_status status;
		struct fixture *f = fixture_create(&o, &status);
		EXPECT_EQ(status, PMM_ERR_INVALID_ARGUMENT);
		EXPECT_EQ(pmm_alloc(&f->pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
		EXPECT_CONSISTENT(&f->pmm);
		fixture_destroy(f);
	}
	struct fixture_options few = { .map = map, .map_count = 3, .initial_records = 2 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&few, &status);
	EXPECT_EQ(status, PMM_ERR_NO_RECORDS);
	struct pmm_stats stats;
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_EQ(stats.total_pages, 0);
	EXPECT_EQ(pmm_init(&f->pmm, NULL), PMM_ERR_INVALID_ARGUMENT);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);
}

/* Free memory is split at amd64's zone ends (16 MiB, 4 GiB); each zone counts its own pages. */
TEST(pmm_init_splits_free_memory_at_zone_boundaries)
{
	struct pmm_memory_map_entry map[] = { { 0x100000, 5 * GiB, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct dump d = dump_regions(&f->pmm);
	uint64_t dma_pages = (MACHINE_ZONE_DMA_END - 0x100000) / PAGE_SIZE;
	uint64_t dma32_pages = (MACHINE_ZONE_DMA32_END - MACHINE_ZONE_DMA_END) / PAGE_SIZE;
	EXPECT_TRUE(dump_has(&d, 0x100000, dma_pages, PMM_REGION_FREE, MM_OWNER_NONE));
	EXPECT_TRUE(dump_has(&d, MACHINE_ZONE_DMA_END, dma32_pages, PMM_REGION_FREE, MM_OWNER_NONE));
	struct pmm_stats stats;
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA].total_pages, dma_pages);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA32].total_pages, dma32_pages);
	EXPECT_EQ(stats.zone[PMM_ZONE_NORMAL].total_pages,
		  (0x100000 + 5 * GiB - MACHINE_ZONE_DMA32_END) / PAGE_SIZE);
	EXPECT_EQ(stats.total_pages, 5 * GiB / PAGE_SIZE);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);
}

/* ---- allocation ---------------------------------------------------------------------------- */

/* BELOW_16M and BELOW_4G stay under their limits; ANY prefers high memory and falls back down. */
TEST(pmm_alloc_honours_zones_and_prefers_high_memory)
{
	struct pmm_memory_map_entry map[] = {
		{ 0x0, 2 * MACHINE_ZONE_DMA_END, PMM_MEMORY_AVAILABLE },
		{ MACHINE_ZONE_DMA32_END, 64 * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
	};
	struct fixture_options o = { .map = map, .map_count = 2 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct pmm *pmm = &f->pmm;
	EXPECT_LT(pmm_alloc(pmm, 8, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_DMA), MACHINE_ZONE_DMA_END);
	paddr_t below_4g = pmm_alloc(pmm, 8, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST);
	EXPECT_GE(below_4g, MACHINE_ZONE_DMA_END); /* DMA32 before DMA */
	EXPECT_LT(below_4g, MACHINE_ZONE_DMA32_END);
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	uint64_t high_free = stats.zone[PMM_ZONE_NORMAL].free_pages;
	paddr_t high = pmm_alloc(pmm, high_free, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_GE(high, MACHINE_ZONE_DMA32_END);
	paddr_t next = pmm_alloc(pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_GE(next, MACHINE_ZONE_DMA_END); /* NORMAL is full: DMA32 next */
	EXPECT_LT(next, MACHINE_ZONE_DMA32_END);
	/* A BELOW_16M request larger than the DMA zone fails even though memory is free above. */
	EXPECT_EQ(pmm_alloc(pmm, MACHINE_ZONE_DMA_END / PAGE_SIZE + 1, PMM_ALLOC_BELOW_16M, 1,
			    MM_OWNER_DMA),
		  PMM_ALLOC_FAILED);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/*
 * The zone ends are the configuration's, not amd64's: with DMA ending at 1 MiB and DMA32 at 2 MiB
 * over 4 MiB of memory, extents split there, and BELOW_16M / BELOW_4G are served only from those
 * zones although all of the memory lies below 16 MiB.
 */
TEST(pmm_zones_end_where_the_configuration_says)
{
	static const paddr_t zone_end[PMM_ZONE_COUNT - 1] = { 1 * MiB, 2 * MiB };
	struct pmm_memory_map_entry map[] = { { 0, 4 * MiB, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1, .zone_end = zone_end };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct pmm *pmm = &f->pmm;
	EXPECT_EQ(pmm_zone_end(pmm, PMM_ZONE_DMA), 1 * MiB);
	EXPECT_EQ(pmm_zone_end(pmm, PMM_ZONE_DMA32), 2 * MiB);
	EXPECT_EQ(pmm_zone_end(pmm, PMM_ZONE_NORMAL), PMM_PHYS_LIMIT);

	const uint64_t pages_per_mib = MiB / PAGE_SIZE;
	struct dump d = dump_regions(pmm);
	EXPECT_EQ(d.count, 3);
	EXPECT_TRUE(dump_has(&d, 0, pages_per_mib, PMM_REGION_FREE, MM_OWNER_NONE));
	EXPECT_TRUE(dump_has(&d, 1 * MiB, pages_per_mib, PMM_REGION_FREE, MM_OWNER_NONE));
	EXPECT_TRUE(dump_has(&d, 2 * MiB, 2 * pages_per_mib, PMM_REGION_FREE, MM_OWNER_NONE));
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA].total_pages, pages_per_mib);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA32].total_pages, pages_per_mib);
	EXPECT_EQ(stats.zone[PMM_ZONE_NORMAL].total_pages, 2 * pages_per_mib);

	/* No request crosses an end: one page more than a zone holds is refused. */
	EXPECT_EQ(pmm_alloc(pmm, pages_per_mib + 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_DMA),
		  PMM_ALLOC_FAILED);
	paddr_t dma = pmm_alloc(pmm, 16, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_DMA);
	EXPECT_LT(dma, 1 * MiB);
	paddr_t dma32 = pmm_alloc(pmm, 16, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST);
	EXPECT_GE(dma32, 1 * MiB); /* DMA32 before DMA */
	EXPECT_LT(dma32, 2 * MiB);
	paddr_t normal = pmm_alloc(pmm, 16, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_GE(normal, 2 * MiB);

	/* With DMA and DMA32 used up, the low requests fail though NORMAL, below 16 MiB, is free. */
	pmm_get_stats(pmm, &stats);
	paddr_t rest_dma = pmm_alloc(pmm, stats.zone[PMM_ZONE_DMA].free_pages, PMM_ALLOC_BELOW_16M,
				     1, MM_OWNER_DMA);
	EXPECT_LT(rest_dma, 1 * MiB);
	paddr_t rest_dma32 = pmm_alloc(pmm, stats.zone[PMM_ZONE_DMA32].free_pages,
				       PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST);
	EXPECT_GE(rest_dma32, 1 * MiB);
	EXPECT_LT(rest_dma32, 2 * MiB);
	EXPECT_EQ(pmm_alloc(pmm, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_DMA), PMM_ALLOC_FAILED);
	EXPECT_EQ(pmm_alloc(pmm, 1, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
	EXPECT_GE(pmm_alloc(pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), 2 * MiB);
	EXPECT_CONSISTENT(pmm);

	/* Freed runs on either side of an end stay apart. */
	EXPECT_EQ(pmm_free(pmm, rest_dma, (1 * MiB - rest_dma) / PAGE_SIZE), PMM_OK);
	EXPECT_EQ(pmm_free(pmm, dma32, 16), PMM_OK);
	EXPECT_EQ(pmm_free(pmm, rest_dma32, (2 * MiB - rest_dma32) / PAGE_SIZE), PMM_OK);
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA32].free_extents, 1);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA32].largest_free_extent, pages_per_mib);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* Zone ends that are decreasing, unaligned or past PMM_PHYS_LIMIT are refused, leaving the pmm
 * empty; equal ends leave a zone empty, and zero ends put every page in NORMAL. */
TEST(pmm_init_refuses_invalid_zone_ends)
{
	static const paddr_t invalid[][PMM_ZONE_COUNT - 1] = {
		{ 2 * MiB, 1 * MiB },               /* decreasing */
		{ 1 * MiB + 1, 2 * MiB },           /* unaligned */
		{ 1 * MiB, 2 * MiB - PAGE_SIZE / 2 },
		{ 1 * MiB, PMM_PHYS_LIMIT + PAGE_SIZE },
	};
	struct pmm_memory_map_entry map[] = { { 0, 4 * MiB, PMM_MEMORY_AVAILABLE } };
	struct pmm_stats stats;
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
		struct fixture_options o = { .map = map, .map_count = 1, .zone_end = invalid[i] };
		enum pmm_status status;
		struct fixture *f = fixture_create(&o, &status);
		EXPECT_EQ(status, PMM_ERR_INVALID_ARGUMENT);
		pmm_get_stats(&f->pmm, &stats);
		EXPECT_EQ(stats.total_pages, 0);
		EXPECT_EQ(pmm_alloc(&f->pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
		EXPECT_CONSISTENT(&f->pmm);
		fixture_destroy(f);
	}

	static const paddr_t no_dma32[PMM_ZONE_COUNT - 1] = { 1 * MiB, 1 * MiB };
	struct fixture_options o = { .map = map, .map_count = 1, .zone_end = no_dma32 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA].total_pages, MiB / PAGE_SIZE);
	EXPECT_EQ(stats.zone[PMM_ZONE_DMA32].total_pages, 0);
	EXPECT_LT(pmm_alloc(&f->pmm, 1, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST), 1 * MiB);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);

	static const paddr_t all_normal[PMM_ZONE_COUNT - 1] = { 0, 0 };
	o.zone_end = all_normal;
	f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_EQ(stats.zone[PMM_ZONE_NORMAL].total_pages, 4 * MiB / PAGE_SIZE);
	EXPECT_EQ(pmm_alloc(&f->pmm, 1, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
	EXPECT_EQ(pmm_alloc(&f->pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), 0);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);
}

/* Aligned requests start on their alignment, including 2 MiB and 1 GiB large-page runs. */
TEST(pmm_alloc_aligns_runs_for_large_pages)
{
	struct pmm_memory_map_entry map[] = { { 0x3000, 3 * GiB, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct pmm *pmm = &f->pmm;
	paddr_t odd = pmm_alloc(pmm, 3, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST);
	EXPECT_NE(odd, PMM_ALLOC_FAILED);
	paddr_t two_mib = pmm_alloc(pmm, 512, PMM_ALLOC_BELOW_4G, 512, MM_OWNER_PAGE_TABLE);
	EXPECT_TRUE(IS_ALIGNED(two_mib, 2 * MiB));
	paddr_t one_gib = pmm_alloc(pmm, 262144, PMM_ALLOC_BELOW_4G, 262144, MM_OWNER_PAGE_TABLE);
	EXPECT_NE(one_gib, PMM_ALLOC_FAILED);
	EXPECT_TRUE(IS_ALIGNED(one_gib, GiB));
	paddr_t small_aligned = pmm_alloc(pmm, 5, PMM_ALLOC_BELOW_4G, 64, MM_OWNER_TEST);
	EXPECT_TRUE(IS_ALIGNED(small_aligned, 64 * PAGE_SIZE));
	EXPECT_CONSISTENT(pmm);
	EXPECT_EQ(pmm_free(pmm, one_gib, 262144), PMM_OK);
	EXPECT_EQ(pmm_free(pmm, two_mib, 512), PMM_OK);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* Zero pages, a non-power-of-two alignment, a bad owner or zone are errors, not allocations. */
TEST(pmm_alloc_rejects_invalid_arguments)
{
	struct fixture *f = simple_fixture(0, 64);
	struct pmm *pmm = &f->pmm;
	enum pmm_status status;
	EXPECT_EQ(pmm_alloc_status(pmm, 0, PMM_ALLOC_ANY, 1, MM_OWNER_TEST, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(pmm_alloc_status(pmm, 1, PMM_ALLOC_ANY, 3, MM_OWNER_TEST, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(pmm_alloc_status(pmm, 1, PMM_ALLOC_ANY, 0, MM_OWNER_TEST, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(pmm_alloc_status(pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_COUNT, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(pmm_alloc_status(pmm, 1, (enum pmm_alloc_zone)7, 1, MM_OWNER_TEST, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_INVALID_ARGUMENT);
	EXPECT_EQ(pmm_alloc_status(pmm, UINT64_MAX, PMM_ALLOC_ANY, 1, MM_OWNER_TEST, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_OUT_OF_MEMORY);
	EXPECT_EQ(pmm_alloc_status(pmm, 1, PMM_ALLOC_ANY, (uint64_t)1 << 63, MM_OWNER_TEST,
				   &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_OUT_OF_MEMORY);
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(stats.free_pages, 64);
	fixture_destroy(f);
}

/* Running out of memory returns PMM_ALLOC_FAILED with PMM_ERR_OUT_OF_MEMORY, never panics. */
TEST(pmm_alloc_out_of_memory_fails_nicely)
{
	struct fixture *f = simple_fixture(0, 64);
	struct pmm *pmm = &f->pmm;
	enum pmm_status status;
	EXPECT_EQ(pmm_alloc_status(pmm, 65, PMM_ALLOC_ANY, 1, MM_OWNER_TEST, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_OUT_OF_MEMORY);
	unsigned got = 0;
	while (pmm_alloc(pmm, 3, PMM_ALLOC_ANY, 1, MM_OWNER_TEST) != PMM_ALLOC_FAILED)
		got++;
	EXPECT_EQ(got, 21); /* 63 of 64 pages */
	EXPECT_NE(pmm_alloc(pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
	EXPECT_EQ(pmm_alloc_status(pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_OUT_OF_MEMORY);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* An extent of exactly pmm_guaranteed_fit_pages always serves the request, for many shapes. */
TEST(pmm_alloc_guaranteed_fit_always_succeeds)
{
	static const uint64_t sizes[] = { 1, 3, 15, 16, 31, 32, 33, 37, 100, 511, 1000, 4097 };
	static const uint64_t aligns[] = { 1, 2, 8, 64, 512 };
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		for (size_t a = 0; a < ARRAY_SIZE(aligns); a++) {
			uint64_t extent = pmm_guaranteed_fit_pages(sizes[s], aligns[a]);
			ASSERT_TRUE(extent >= sizes[s] + aligns[a] - 1);
			ASSERT_TRUE(extent <= (sizes[s] + aligns[a] - 1) * 17 / 16 + 1);
			/* One page past an alignment boundary (the worst case), inside one zone. */
			struct fixture *f = simple_fixture(
				MACHINE_ZONE_DMA_END + PAGE_SIZE * (aligns[a] + 1), extent);
			paddr_t pa = pmm_alloc(&f->pmm, sizes[s], PMM_ALLOC_ANY, aligns[a],
					       MM_OWNER_TEST);
			EXPECT_NE(pa, PMM_ALLOC_FAILED);
			EXPECT_TRUE(IS_ALIGNED(pa, aligns[a] * PAGE_SIZE));
			EXPECT_CONSISTENT(&f->pmm);
			fixture_destroy(f);
		}
	}
	EXPECT_EQ(pmm_guaranteed_fit_pages(0, 1), UINT64_MAX);
	EXPECT_EQ(pmm_guaranteed_fit_pages(1, 3), UINT64_MAX);
}

/* Below the guaranteed class, the fit tree still finds an exact or aligned fit. */
TEST(pmm_alloc_fit_tree_finds_fits_below_the_guaranteed_class)
{
	struct fixture *f = simple_fixture(0, 1000);
	EXPECT_EQ(pmm_alloc(&f->pmm, 1000, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), 0);
	fixture_destroy(f);
	f = simple_fixture(PAGE_SIZE, 1023); /* pages 1..1023: a 512-aligned 512 fits at 512 */
	EXPECT_EQ(pmm_alloc(&f->pmm, 512, PMM_ALLOC_ANY, 512, MM_OWNER_TEST), 512 * PAGE_SIZE);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);
}

/* Regression: 64 (and 500) too-small extents in the class of 37 no longer hide a 37-page one. */
TEST(pmm_alloc_finds_the_fit_behind_64_too_small_extents_of_its_class)
{
	static const uint64_t counts[] = { 64, 65, 500 };
	for (size_t c = 0; c < ARRAY_SIZE(counts); c++) {
		static struct pmm_pattern_world w;
		ASSERT_TRUE(pmm_pattern_build(&w, &pmm_patterns[0], counts[c]));
		struct pmm_stats stats;
		pmm_get_stats(&w.pmm, &stats);
		EXPECT_EQ(stats.zone[PMM_ZONE_NORMAL].free_extents, counts[c] + 1);
		EXPECT_EQ(pmm_alloc(&w.pmm, 37, PMM_ALLOC_ANY, 1, MM_OWNER_TEST),
			  w.fit_first_page * PAGE_SIZE);
		EXPECT_CONSISTENT(&w.pmm);
		pmm_pattern_destroy(&w);
	}
}

/*
 * Every extent shape [s, s + len) with s, len in 1..72 against every request of 1..72 pages at
 * alignments 1..64: pmm_alloc succeeds exactly when a page-by-page search finds an aligned run.
 */
TEST(pmm_alloc_fails_only_when_no_aligned_run_exists_for_every_small_shape)
{
	enum { EDGE = 72, PAGES = 256 };
	/* the shapes in DMA; the pmm's own pages in DMA32, out of the way */
	struct pmm_memory_map_entry map[] = {
		{ 0, PAGES * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
		{ MACHINE_ZONE_DMA_END, MiB, PMM_MEMORY_AVAILABLE },
	};
	struct fixture_options o = { .map = map, .map_count = 2, .metadata_zone = PMM_ALLOC_BELOW_4G };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	struct pmm *pmm = &f->pmm;
	unsigned wrong = 0;
	for (uint64_t s = 1; s <= EDGE; s++) {
		for (uint64_t len = 1; len <= EDGE; len++) {
			uint64_t tail = s + len;
			EXPECT_EQ(pmm_claim(pmm, 0, s, MM_OWNER_TEST), PMM_OK);
			EXPECT_EQ(pmm_claim(pmm, tail * PAGE_SIZE, PAGES - tail, MM_OWNER_TEST), PMM_OK);
			for (uint64_t n = 1; n <= EDGE; n++) {
				for (uint64_t a = 1; a <= 64; a *= 2) {
					uint64_t expected_first = ALIGN_UP(s, a);
					bool fits = expected_first + n <= tail;
					paddr_t pa = pmm_alloc(pmm, n, PMM_ALLOC_BELOW_16M, a,
							       MM_OWNER_TEST);
					if (pa != (fits ? expected_first * PAGE_SIZE : PMM_ALLOC_FAILED))
						wrong++;
					if (pa != PMM_ALLOC_FAILED)
						pmm_free(pmm, pa, n);
				}
			}
			EXPECT_EQ(pmm_free(pmm, 0, s), PMM_OK);
			EXPECT_EQ(pmm_free(pmm, tail * PAGE_SIZE, PAGES - tail), PMM_OK);
		}
	}
	EXPECT_EQ(wrong, 0);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

static enum pmm_status count_range(void *ctx, uint64_t first_page, uint64_t pages)
{
	(void)first_page;
	(void)pages;
	(*(uint64_t *)ctx)++;
	return PMM_OK;
}

/* The normaliser reads at most (2n + 1) * 2n entries, on its worst input: the most entries,
 * every one a distinct pair of boundaries, unsorted, alternating types. */
TEST(pmm_memory_map_work_meets_its_stated_bound)
{
	enum { N = PMM_MEMORY_MAP_MAX_ENTRIES };
	static struct pmm_memory_map_entry map[N];
	for (size_t i = 0; i < N; i++) {
		size_t slot = (i * 389) % N; /* a permutation: 389 is prime to 1024 */
		map[i] = (struct pmm_memory_map_entry){ slot * 3 * PAGE_SIZE, 2 * PAGE_SIZE,
							slot % 2 ? PMM_MEMORY_RESERVED
								 : PMM_MEMORY_AVAILABLE };
	}
	uint64_t runs = 0, work = 0;
	EXPECT_EQ(pmm_memory_map_for_each_usable(map, N, count_range, &runs, &work), PMM_OK);
	EXPECT_EQ(runs, N / 2);
	TESTING_CHECK(work <= (2ull * N + 1) * 2 * N, (void)0, "read %llu entries, bound %llu",
		      (unsigned long long)work, (2ull * N + 1) * 2 * N);
	EXPECT_TRUE(work >= 2ull * N * N); /* and it is the quadratic walk the header says */
}

/* ---- work bounds (the BOUNDS paragraph of pmm.c), on the adversarial patterns --------------- */

#define PATTERN_HOLES 20000

struct extents_at_least {
	enum pmm_zone zone;
	uint64_t pages, count;
};

static bool count_long(void *ctx, const struct pmm_region_info *r)
{
	struct extents_at_least *c = ctx;
	c->count += r->zone == c->zone && r->pages >= c->pages;
	return true;
}

/* The free extents of `zone` of at least `pages` pages, counted through the public iteration. */
static uint64_t extents_at_least(const struct pmm *pmm, enum pmm_zone zone, uint64_t pages)
{
	struct extents_at_least c = { zone, pages, 0 };
	pmm_for_each_free_extent(pmm, count_long, &c);
	return c.count;
}

static bool count_used(void *ctx, const struct pmm_region_info *r)
{
	*(uint64_t *)ctx += r->state == PMM_REGION_USED;
	return true;
}

/* The used records, counted through the public iteration. */
static uint64_t used_records(const struct pmm *pmm)
{
	uint64_t used = 0;
	pmm_for_each_region(pmm, count_used, &used);
	return used;
}

/* Filing one record into a fit tree of height <= h: reading it, then an insert (pmm.c, BOUNDS). */
static uint64_t filing(uint64_t h)
{
	return 1 + 3 * (h + 1);
}

/* A record leaving a fit tree of height <= h. */
static uint64_t unfiling(uint64_t h)
{
	return 4 * (h + 1);
}

/*
 * On each pattern: the first exact search of NORMAL files every one of its extents (none was ever
 * searched) and finds the far-end fit, unless the size-class path finds it first; the same request
 * then has no fit left in NORMAL and falls through to DMA32. Each is within its search bound plus
 * the filing of what is unfiled, and the two file the layout's extents once between them: a third
 * request pays only the search bounds and the filing of what the second changed. A free costs its
 * map chain and at most two neighbours leaving their trees.
 */
TEST(pmm_alloc_work_meets_the_stated_bound_on_every_adversarial_pattern)
{
	for (size_t i = 0; i < ARRAY_SIZE(pmm_patterns); i++) {
		const struct pmm_pattern *p = &pmm_patterns[i];
		static struct pmm_pattern_world w;
		ASSERT_TRUE(pmm_pattern_build(&w, p, PATTERN_HOLES));
		struct pmm *pmm = &w.pmm;
		uint64_t extents = PATTERN_HOLES + 1, n = p->request_pages, a = p->request_align;
		EXPECT_EQ(extents_at_least(pmm, PMM_ZONE_NORMAL, 1), extents);
		uint64_t h = pmm_pattern_height_bound(extents);
		uint64_t meta_extents = extents_at_least(pmm, PMM_ZONE_DMA32, 1);
		uint64_t h_meta = pmm_pattern_height_bound(meta_extents + 4);
		/* carving from a filed record, then a record page from DMA32 */
		uint64_t update = unfiling(h) + 1 + unfiling(h_meta);
		uint64_t search = pmm_pattern_search_bound(h, n, a, extents_at_least(pmm, PMM_ZONE_NORMAL, n));
		uint64_t first_bound = search + extents * filing(h) + update;

		uint64_t before = pmm->work;
		paddr_t pa = pmm_alloc(pmm, n, PMM_ALLOC_ANY, a, MM_OWNER_TEST);
		uint64_t first_work = pmm->work - before;
		EXPECT_EQ(pa, ALIGN_UP(w.fit_first_page, a) * PAGE_SIZE);
		TESTING_CHECK(first_work <= first_bound, (void)0, "%s: alloc visited %llu, bound %llu",
			      p->name, (unsigned long long)first_work, (unsigned long long)first_bound);

		/* No fit left in NORMAL: every extent there is searched in vain, then DMA32 serves. */
		search = pmm_pattern_search_bound(h, n, a, extents_at_least(pmm, PMM_ZONE_NORMAL, n));
		uint64_t meta_search =
			pmm_pattern_search_bound(h_meta, n, a, extents_at_least(pmm, PMM_ZONE_DMA32, n));
		uint64_t fall_bound = search + (extents + 2) * filing(h) + meta_search +
				      (meta_extents + 2) * filing(h_meta) + update;
		before = pmm->work;
		paddr_t low = pmm_alloc(pmm, n, PMM_ALLOC_ANY, a, MM_OWNER_TEST);
		uint64_t fall_work = pmm->work - before;
		EXPECT_TRUE(low == PMM_ALLOC_FAILED ? n + a > PMM_PATTERN_META_BYTES / PAGE_SIZE
						    : low < pmm_zone_end(pmm, PMM_ZONE_DMA32));
		TESTING_CHECK(fall_work <= fall_bound, (void)0, "%s: fall-through visited %llu, bound %llu",
			      p->name, (unsigned long long)fall_work, (unsigned long long)fall_bound);
		/* Filed once between the two: the extents once, plus the far-end extent's remains (2). */
		uint64_t both_bound = first_bound + fall_bound - (extents + 2) * filing(h) -
				      meta_extents * filing(h_meta);
		TESTING_CHECK(first_work + fall_work <= both_bound, (void)0,
			      "%s: the two visited %llu, bound %llu", p->name,
			      (unsigned long long)(first_work + fall_work), (unsigned long long)both_bound);

		/* Once filed, the same request again pays the searches and what the last one changed. */
		uint64_t again_bound = search + 2 * filing(h) + meta_search + 2 * filing(h_meta) + update;
		before = pmm->work;
		paddr_t again = pmm_alloc(pmm, n, PMM_ALLOC_ANY, a, MM_OWNER_TEST);
		uint64_t again_work = pmm->work - before;
		TESTING_CHECK(again_work <= again_bound, (void)0, "%s: repeat visited %llu, bound %llu",
			      p->name, (unsigned long long)again_work, (unsigned long long)again_bound);
		testing_note("%s: %llu/%llu among %llu extents: first %llu (bound %llu), fall-through "
			     "%llu (bound %llu), repeat %llu (bound %llu)",
			     p->name, (unsigned long long)n, (unsigned long long)a,
			     (unsigned long long)extents, (unsigned long long)first_work,
			     (unsigned long long)first_bound, (unsigned long long)fall_work,
			     (unsigned long long)fall_bound, (unsigned long long)again_work,
			     (unsigned long long)again_bound);
		EXPECT_TRUE(pmm_classes_tallest_tree(&pmm->zone[PMM_ZONE_NORMAL].classes) <= h);
		if (again != PMM_ALLOC_FAILED)
			EXPECT_EQ(pmm_free(pmm, again, n), PMM_OK);
		if (low != PMM_ALLOC_FAILED)
			EXPECT_EQ(pmm_free(pmm, low, n), PMM_OK);

		/* A free: its map chain (load <= 2: a few entries), then at most two neighbours leave
		 * their trees. */
		before = pmm->work;
		EXPECT_EQ(pmm_free(pmm, pa, n), PMM_OK);
		uint64_t work = pmm->work - before;
		TESTING_CHECK(work <= 8 + 2 * unfiling(h), (void)0, "%s: free visited %llu", p->name,
			      (unsigned long long)work);
		struct pmm_stats stats;
		pmm_get_stats(pmm, &stats);
		EXPECT_TRUE(used_records(pmm) <= 2 * stats.hash_buckets); /* the map's load */
		EXPECT_CONSISTENT(pmm);
		pmm_pattern_destroy(&w);
	}
}

/*
 * The amortised bound: over a whole history (the pattern's build, then rounds of an exact search
 * that finds the far-end extent and its free), all work is within the sum, over the operations,
 * of their search bound without filing plus F = 1 + 7(h + 1) per record they unfiled (2 per
 * allocation, 1 per free, 1 per record made at init), plus the bookkeeping: a record page per
 * record page taken, and each map doubling's rehash (fewer than 2 visits per allocation in all).
 */
TEST(pmm_filing_is_paid_once_per_change_over_a_history)
{
	enum { ROUNDS = 200 };
	static struct pmm_pattern_world w;
	const struct pmm_pattern *p = &pmm_patterns[0]; /* too-small-in-class: one class, 20 001 */
	ASSERT_TRUE(pmm_pattern_build(&w, p, PATTERN_HOLES));
	struct pmm *pmm = &w.pmm;
	uint64_t h = pmm_pattern_height_bound(PATTERN_HOLES + 1) + 1;
	uint64_t f = 1 + 7 * (h + 1);
	/* the build: w.allocations fast-path allocations (1 visit each), w.frees frees */
	uint64_t bound = w.allocations * (1 + 2 * f) + w.frees * (8 + f) + 2 * f /* init records */;
	for (unsigned round = 0; round < ROUNDS; round++) {
		paddr_t pa = pmm_alloc(pmm, p->request_pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		ASSERT_EQ(pa, w.fit_first_page * PAGE_SIZE);
		ASSERT_EQ(pmm_free(pmm, pa, p->request_pages), PMM_OK);
	}
	uint64_t search = pmm_pattern_search_bound(h, p->request_pages, 1, 1);
	bound += ROUNDS * ((search + 2 * f) + (8 + f));
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	bound += stats.metadata_pages * (1 + 2 * f) + 2 * (w.allocations + ROUNDS);
	TESTING_CHECK(pmm->work <= bound, (void)0, "history of %llu operations: %llu visits, bound %llu",
		      (unsigned long long)(w.allocations + w.frees + 2 * ROUNDS),
		      (unsigned long long)pmm->work, (unsigned long long)bound);
	testing_note("history of %llu operations: %llu visits, amortised bound %llu",
		     (unsigned long long)(w.allocations + w.frees + 2 * ROUNDS),
		     (unsigned long long)pmm->work, (unsigned long long)bound);
	/* and the filing happened once: every round after the first costs the search alone */
	uint64_t before = pmm->work;
	paddr_t pa = pmm_alloc(pmm, p->request_pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_EQ(pmm_free(pmm, pa, p->request_pages), PMM_OK);
	TESTING_CHECK(pmm->work - before <= search + 2 * f + 8 + f, (void)0,
		      "a repeated round visited %llu", (unsigned long long)(pmm->work - before));
	EXPECT_CONSISTENT(pmm);
	pmm_pattern_destroy(&w);
}

/* pmm_claim and a failing pmm_free visit each record at most once (plus carving). */
TEST(pmm_list_walks_visit_each_record_at_most_once)
{
	static struct pmm_pattern_world w;
	ASSERT_TRUE(pmm_pattern_build(&w, &pmm_patterns[2], PATTERN_HOLES));
	struct pmm *pmm = &w.pmm;
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	uint64_t records = stats.records_in_use;
	uint64_t h = pmm_pattern_height_bound(PATTERN_HOLES + 1) + 1;
	uint64_t before = pmm->work;
	/* a double free of the far-end extent: no used record there, the list is walked */
	EXPECT_EQ(pmm_free(pmm, w.fit_first_page * PAGE_SIZE, 2), PMM_ERR_DOUBLE_FREE);
	EXPECT_TRUE(pmm->work - before <= records + 4);
	before = pmm->work;
	EXPECT_EQ(pmm_claim(pmm, w.fit_first_page * PAGE_SIZE, 1, MM_OWNER_TEST), PMM_OK);
	EXPECT_TRUE(pmm->work - before <= records + unfiling(h) + 1 + unfiling(h));
	EXPECT_CONSISTENT(pmm);
	pmm_pattern_destroy(&w);
}

/* ---- free ---------------------------------------------------------------------------------- */

/* Freeing between two free neighbours merges all three into one extent. */
TEST(pmm_free_coalesces_both_sides)
{
	struct fixture *f = simple_fixture(0, 64);
	struct pmm *pmm = &f->pmm;
	paddr_t a = pmm_alloc(pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	paddr_t b = pmm_alloc(pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	paddr_t c = pmm_alloc(pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	paddr_t rest = pmm_alloc(pmm, 52, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	ASSERT_NE(rest, PMM_ALLOC_FAILED);
	struct pmm_stats stats;
	EXPECT_EQ(pmm_free(pmm, a, 4), PMM_OK);
	EXPECT_EQ(pmm_free(pmm, c, 4), PMM_OK);
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(stats.free_extents, 2);
	EXPECT_EQ(pmm_free(pmm, b, 4), PMM_OK); /* merges left and right */
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(stats.free_extents, 1);
	EXPECT_EQ(stats.largest_free_extent, 12);
	EXPECT_EQ(pmm_free(pmm, rest, 52), PMM_OK); /* merges left only */
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(stats.free_extents, 1);
	EXPECT_EQ(stats.largest_free_extent, 64);
	EXPECT_EQ(stats.records_in_use, 1);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* Two free extents touching at the end of DMA stay two extents: zones never merge. */
TEST(pmm_free_never_merges_across_a_zone_boundary)
{
	struct pmm_memory_map_entry map[] = { { MACHINE_ZONE_DMA_END - 8 * PAGE_SIZE, 16 * PAGE_SIZE,
						PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	paddr_t low = pmm_alloc(&f->pmm, 8, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
	paddr_t high = pmm_alloc(&f->pmm, 8, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_EQ(low + 8 * PAGE_SIZE, high);
	EXPECT_EQ(pmm_alloc(&f->pmm, 9, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
	EXPECT_EQ(pmm_free(&f->pmm, low, 8), PMM_OK);
	EXPECT_EQ(pmm_free(&f->pmm, high, 8), PMM_OK);
	struct pmm_stats stats;
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_EQ(stats.free_extents, 2);
	EXPECT_EQ(stats.largest_free_extent, 8);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);
}

/* A byte image of everything a failed free could touch: the pmm and every record. */
struct state_image {
	struct pmm pmm;
	struct pmm_region records[FIXTURE_RECORDS];
};

static void take_image(const struct fixture *f, struct state_image *image)
{
	memcpy(&image->pmm, &f->pmm, sizeof(f->pmm));
	memcpy(image->records, f->records, sizeof(f->records));
}

/* The work counter is the one field a failed call may change: it counts the records it read. */
static bool same_image(const struct fixture *f, const struct state_image *image)
{
	static struct pmm now;
	memcpy(&now, &f->pmm, sizeof(now));
	now.work = image->pmm.work;
	return memcmp(&image->pmm, &now, sizeof(now)) == 0 &&
	       memcmp(image->records, f->records, sizeof(f->records)) == 0;
}

/* Every kind of bad free returns its own error and leaves the state byte-identical. */
TEST(pmm_free_errors_leave_state_byte_identical)
{
	struct pmm_memory_map_entry map[] = {
		{ 0x0, 64 * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
		{ 128 * PAGE_SIZE, 3 * PAGE_SIZE, PMM_MEMORY_AVAILABLE }, /* too small to be chosen */
	};
	struct fixture_options o = { .map = map, .map_count = 2 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	struct pmm *pmm = &f->pmm;
	paddr_t a = pmm_alloc(pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);  /* pages 0..3 */
	paddr_t b = pmm_alloc(pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);  /* pages 4..7 */
	paddr_t c = pmm_alloc(pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);  /* pages 8..11 */
	EXPECT_EQ(pmm_free(pmm, b, 4), PMM_OK);
	ASSERT_EQ(a, 0);
	ASSERT_EQ(c, 8 * PAGE_SIZE);

	static const struct {
		paddr_t addr;
		uint64_t pages;
		enum pmm_status expected;
	} cases[] = {
		{ 4 * PAGE_SIZE, 4, PMM_ERR_DOUBLE_FREE },
		{ 5 * PAGE_SIZE, 1, PMM_ERR_DOUBLE_FREE },
		{ 0, 3, PMM_ERR_WRONG_LENGTH },
		{ 0, 5, PMM_ERR_WRONG_LENGTH },
		{ 0, 8, PMM_ERR_WRONG_LENGTH },
		{ 2 * PAGE_SIZE, 4, PMM_ERR_PARTLY_FREE },
		{ 6 * PAGE_SIZE, 4, PMM_ERR_PARTLY_FREE },
		{ 1 * PAGE_SIZE, 2, PMM_ERR_NOT_ALLOCATED },
		{ 9 * PAGE_SIZE, 3, PMM_ERR_NOT_ALLOCATED },
		{ 64 * PAGE_SIZE, 1, PMM_ERR_NOT_ALLOCATED },  /* hole */
		{ 500 * PAGE_SIZE, 1, PMM_ERR_NOT_ALLOCATED }, /* beyond memory */
		{ 60 * PAGE_SIZE, 8, PMM_ERR_PARTLY_FREE },    /* free, then a hole */
		{ 0x800, 1, PMM_ERR_INVALID_ARGUMENT },
		{ 0, 0, PMM_ERR_INVALID_ARGUMENT },
		{ PMM_PHYS_LIMIT - PAGE_SIZE, 2, PMM_ERR_INVALID_ARGUMENT },
	};
	static struct state_image before;
	take_image(f, &before);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		EXPECT_EQ(pmm_free(pmm, cases[i].addr, cases[i].pages), cases[i].expected);
		EXPECT_TRUE(same_image(f, &before));
	}
	EXPECT_EQ(pmm_free(pmm, a, 4), PMM_OK);
	EXPECT_EQ(pmm_free(pmm, a, 4), PMM_ERR_DOUBLE_FREE);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/*
 * A pool of 8 records and allocations that each take 2 (an aligned run with a head and a tail):
 * the pool is refilled from the pmm's own pages in time, so no allocation fails for want of
 * records while pages remain (the fast path leaves the refill to the next allocation).
 */
TEST(pmm_record_pool_is_refilled_before_it_runs_dry)
{
	struct pmm_memory_map_entry map[] = { { 0x0, 4096 * PAGE_SIZE, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1, .initial_records = 8 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	for (int i = 0; i < 200; i++) {
		enum pmm_status st;
		EXPECT_NE(pmm_alloc_status(&f->pmm, 3, PMM_ALLOC_ANY, 4, MM_OWNER_TEST, &st),
			  PMM_ALLOC_FAILED);
		EXPECT_EQ(st, PMM_OK);
	}
	struct pmm_stats stats;
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_GE(stats.metadata_pages, 1);
	EXPECT_CONSISTENT(&f->pmm);
	fixture_destroy(f);
}

/* The pmm's own pages cannot be freed by a caller: the state stays byte-identical. */
TEST(pmm_free_refuses_the_pmm_metadata)
{
	struct fixture_options o;
	struct pmm_memory_map_entry map[] = { { 0x0, 4096 * PAGE_SIZE, PMM_MEMORY_AVAILABLE } };
	memset(&o, 0, sizeof(o));
	o.map = map;
	o.map_count = 1;
	o.initial_records = 8;
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	for (int i = 0; i < 40; i++) /* odd sizes and alignment keep heads: many records */
		pmm_alloc(&f->pmm, 3, PMM_ALLOC_ANY, 4, MM_OWNER_TEST);
	struct dump d = dump_regions(&f->pmm);
	paddr_t metadata = PMM_ALLOC_FAILED;
	uint64_t pages = 0;
	for (size_t i = 0; i < d.count && i < DUMP_MAX; i++)
		if (d.regions[i].pmm_metadata) {
			metadata = d.regions[i].base;
			pages = d.regions[i].pages;
			EXPECT_EQ(d.regions[i].owner, MM_OWNER_MM_META);
		}
	ASSERT_NE(metadata, PMM_ALLOC_FAILED);
	static struct state_image before;
	take_image(f, &before);
	EXPECT_EQ(pmm_free(&f->pmm, metadata, pages), PMM_ERR_PMM_METADATA);
	EXPECT_TRUE(same_image(f, &before));
	fixture_destroy(f);
}

/* ---- bookkeeping memory ------------------------------------------------------------------------ */

/* With few initial records the pool grows from the pmm's own pages, tagged mm-meta. */
TEST(pmm_record_pool_grows_from_its_own_memory)
{
	struct pmm_memory_map_entry map[] = { { 0x0, 64 * MiB, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1, .initial_records = 4 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct pmm *pmm = &f->pmm;
	enum { N = 3000 };
	static paddr_t kept[N];
	for (int i = 0; i < N; i++) {
		kept[i] = pmm_alloc(pmm, 1 + (i % 5), PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		ASSERT_NE(kept[i], PMM_ALLOC_FAILED);
	}
	for (int i = 0; i < N; i += 2) /* free every other: no merging, many records */
		EXPECT_EQ(pmm_free(pmm, kept[i], 1 + (i % 5)), PMM_OK);
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	EXPECT_GE(stats.records_in_use, N);
	EXPECT_GE(stats.metadata_pages, N * sizeof(struct pmm_region) / PAGE_SIZE);
	EXPECT_GE(stats.hash_buckets, 1024); /* grew past the embedded table */
	EXPECT_CONSISTENT(pmm);
	for (int i = 1; i < N; i += 2)
		EXPECT_EQ(pmm_free(pmm, kept[i], 1 + (i % 5)), PMM_OK);
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(stats.used_pages, stats.metadata_pages);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* When no page can be had for records, allocation fails with NO_RECORDS but every free works. */
TEST(pmm_alloc_fails_cleanly_when_records_run_out_and_free_still_works)
{
	/* Memory only above DMA, metadata only from DMA: the pool can never grow. */
	struct pmm_memory_map_entry map[] = { { MACHINE_ZONE_DMA_END, 256 * PAGE_SIZE,
						PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1, .initial_records = 8,
				     .metadata_zone = PMM_ALLOC_BELOW_16M };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct pmm *pmm = &f->pmm;
	paddr_t kept[128];
	unsigned count = 0;
	for (; count < ARRAY_SIZE(kept); count++) {
		/* Alignment 2 for 1 page leaves a one-page head: each allocation costs records. */
		kept[count] = pmm_alloc_status(pmm, 1, PMM_ALLOC_ANY, 2, MM_OWNER_TEST, &status);
		if (kept[count] == PMM_ALLOC_FAILED)
			break;
	}
	EXPECT_EQ(status, PMM_ERR_NO_RECORDS);
	EXPECT_LT(count, 16);
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	EXPECT_TRUE(stats.free_pages > 128);
	for (unsigned i = 0; i < count; i++)
		EXPECT_EQ(pmm_free(pmm, kept[i], 1), PMM_OK);
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(stats.free_extents, 1);
	EXPECT_EQ(stats.free_pages, 256);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* ---- claim, page source -------------------------------------------------------------------- */

/* pmm_claim marks a chosen free range used and refuses ranges that are not wholly free. */
TEST(pmm_claim_marks_a_chosen_range)
{
	struct fixture *f = simple_fixture(0, 64);
	struct pmm *pmm = &f->pmm;
	EXPECT_EQ(pmm_claim(pmm, 10 * PAGE_SIZE, 5, MM_OWNER_FIRMWARE), PMM_OK);
	EXPECT_EQ(pmm_claim(pmm, 12 * PAGE_SIZE, 1, MM_OWNER_FIRMWARE), PMM_ERR_NOT_FREE);
	EXPECT_EQ(pmm_claim(pmm, 60 * PAGE_SIZE, 8, MM_OWNER_FIRMWARE), PMM_ERR_NOT_FREE);
	EXPECT_EQ(pmm_claim(pmm, 8 * PAGE_SIZE, 4, MM_OWNER_FIRMWARE), PMM_ERR_NOT_FREE);
	EXPECT_EQ(pmm_claim(pmm, 0x10, 1, MM_OWNER_FIRMWARE), PMM_ERR_INVALID_ARGUMENT);
	struct dump d = dump_regions(pmm);
	EXPECT_EQ(d.count, 3);
	EXPECT_TRUE(dump_has(&d, 10 * PAGE_SIZE, 5, PMM_REGION_USED, MM_OWNER_FIRMWARE));
	EXPECT_EQ(pmm_free(pmm, 10 * PAGE_SIZE, 5), PMM_OK);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* The page_source adapter allocates aligned pages and gives them back. */
TEST(pmm_page_source_allocates_and_frees)
{
	struct fixture *f = simple_fixture(0, 64);
	struct page_source source = pmm_page_source(&f->pmm);
	paddr_t pa = page_source_alloc(&source, 4, 4, MM_OWNER_PAGE_TABLE);
	EXPECT_TRUE(IS_ALIGNED(pa, 4 * PAGE_SIZE));
	EXPECT_EQ(page_source_alloc(&source, 100, 1, MM_OWNER_PAGE_TABLE), PAGE_SOURCE_FAILED);
	page_source_free(&source, pa, 4);
	struct pmm_stats stats;
	pmm_get_stats(&f->pmm, &stats);
	EXPECT_EQ(stats.free_pages, 64);
	fixture_destroy(f);
}

/* ---- statistics and iteration -------------------------------------------------------------- */

struct recount {
	uint64_t free_pages, used_pages, free_extents, largest;
	uint64_t by_order[PMM_ORDER_COUNT];
	paddr_t last_end;
	bool ordered;
};

static bool recount_visit(void *ctx, const struct pmm_region_info *r)
{
	struct recount *c = ctx;
	c->ordered = c->ordered && r->base >= c->last_end;
	c->last_end = r->base + r->pages * PAGE_SIZE;
	if (r->state == PMM_REGION_FREE) {
		c->free_pages += r->pages;
		c->free_extents++;
		c->largest = MAX(c->largest, r->pages);
		c->by_order[ilog2_u64(r->pages)]++;
	} else {
		c->used_pages += r->pages;
	}
	return true;
}

/* Statistics equal a recount from the region walk after a mix of operations. */
TEST(pmm_stats_equal_a_recount)
{
	struct pmm_memory_map_entry map[] = { { 0x0, 64 * MiB, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	struct pmm *pmm = &f->pmm;
	paddr_t kept[200];
	uint64_t sizes[200];
	for (int i = 0; i < 200; i++) {
		sizes[i] = 1 + (uint64_t)(i * 37 % 97);
		kept[i] = pmm_alloc(pmm, sizes[i], i % 3 ? PMM_ALLOC_ANY : PMM_ALLOC_BELOW_16M,
				    (uint64_t)1 << (i % 4), MM_OWNER_TEST);
		ASSERT_NE(kept[i], PMM_ALLOC_FAILED);
	}
	for (int i = 0; i < 200; i += 3)
		EXPECT_EQ(pmm_free(pmm, kept[i], sizes[i]), PMM_OK);
	struct recount c;
	memset(&c, 0, sizeof(c));
	c.ordered = true;
	pmm_for_each_region(pmm, recount_visit, &c);
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	EXPECT_TRUE(c.ordered);
	EXPECT_EQ(stats.free_pages, c.free_pages);
	EXPECT_EQ(stats.used_pages, c.used_pages);
	EXPECT_EQ(stats.free_extents, c.free_extents);
	EXPECT_EQ(stats.largest_free_extent, c.largest);
	EXPECT_EQ(stats.total_pages, 64 * MiB / PAGE_SIZE);
	for (unsigned i = 0; i < PMM_ORDER_COUNT; i++)
		EXPECT_EQ(stats.free_extents_by_order[i], c.by_order[i]);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

static bool count_and_stop_at_three(void *ctx, const struct pmm_region_info *r)
{
	unsigned *count = ctx;
	(void)r;
	return ++*count < 3;
}

static bool expect_free(void *ctx, const struct pmm_region_info *r)
{
	unsigned *count = ctx;
	EXPECT_EQ(r->state, PMM_REGION_FREE);
	++*count;
	return true;
}

/* The walks visit records in address order, free extents only when asked, and stop early. */
TEST(pmm_iteration_visits_in_order_and_stops_early)
{
	struct fixture *f = simple_fixture(0, 64);
	struct pmm *pmm = &f->pmm;
	for (int i = 0; i < 8; i++)
		pmm_alloc(pmm, 2, PMM_ALLOC_ANY, 4, MM_OWNER_TEST);
	unsigned count = 0;
	pmm_for_each_region(pmm, count_and_stop_at_three, &count);
	EXPECT_EQ(count, 3);
	count = 0;
	pmm_for_each_free_extent(pmm, expect_free, &count);
	struct pmm_stats stats;
	pmm_get_stats(pmm, &stats);
	EXPECT_EQ(count, stats.free_extents);
	fixture_destroy(f);
}

/* An extent decomposes into the aligned power-of-two blocks a buddy allocator would hold. */
TEST(pmm_extent_buddy_blocks_match_the_linux_view)
{
	uint64_t blocks[PMM_ORDER_COUNT] = { 0 };
	/* pages 3..15: 3 (order 0), 4..7 (order 2), 8..15 (order 3) */
	EXPECT_EQ(pmm_extent_buddy_blocks(3, 13, PMM_ORDER_COUNT - 1, blocks), 3);
	EXPECT_EQ(blocks[0], 1);
	EXPECT_EQ(blocks[2], 1);
	EXPECT_EQ(blocks[3], 1);
	memset(blocks, 0, sizeof(blocks));
	/* 4096 pages at 0 with MAX_ORDER 10: four order-10 blocks. */
	EXPECT_EQ(pmm_extent_buddy_blocks(0, 4096, 10, blocks), 4);
	EXPECT_EQ(blocks[10], 4);
	memset(blocks, 0, sizeof(blocks));
	/* pages 1..6: 1 (0), 2..3 (1), 4..5 (1), 6 (0) */
	EXPECT_EQ(pmm_extent_buddy_blocks(1, 6, 10, blocks), 4);
	EXPECT_EQ(blocks[0], 2);
	EXPECT_EQ(blocks[1], 2);
}

/* pmm_check notices a corrupted counter and a broken link, and names the problem. */
TEST(pmm_check_detects_corruption)
{
	struct fixture *f = simple_fixture(0, 64);
	struct pmm *pmm = &f->pmm;
	paddr_t pa = pmm_alloc(pmm, 4, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_CONSISTENT(pmm);
	pmm->zone[PMM_ZONE_DMA].free_pages++;
	const char *problem = pmm_check(pmm);
	EXPECT_TRUE(problem && strstr(problem, "free pages"));
	pmm->zone[PMM_ZONE_DMA].free_pages--;
	struct pmm_region *second = pmm_next_record(pmm, pmm_first_record(pmm));
	struct list_node *saved = second->address_link.prev;
	second->address_link.prev = NULL;
	problem = pmm_check(pmm);
	EXPECT_TRUE(problem && strstr(problem, "prev link"));
	second->address_link.prev = saved;
	EXPECT_EQ(pmm_free(pmm, pa, 4), PMM_OK);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* Status and zone names exist for every value and fall back to "?". */
TEST(pmm_names_cover_every_value)
{
	for (int s = 0; s < PMM_STATUS_COUNT; s++)
		EXPECT_NE(pmm_status_name((enum pmm_status)s)[0], '?');
	EXPECT_STREQ(pmm_status_name(PMM_STATUS_COUNT), "?");
	EXPECT_STREQ(pmm_zone_name(PMM_ZONE_DMA32), "dma32");
	EXPECT_STREQ(pmm_zone_name(PMM_ZONE_COUNT), "?");
}
