/*
 * Host unit tests of the regions placement (kernel/mm/pmm_regions.c, the default allocator) under
 * the common layer (page_allocator.h), and of the memory-map normaliser: exact placement, the
 * work bounds stated in pmm_regions.c on adversarial layouts, coalescing, the record pool growing
 * from its own zone, and the self-check.
 */
#include <stdlib.h>
#include <string.h>

#include "kernel/lib/testing.h"
#include "kernel/mm/page_allocator.h"
#include "kernel/mm/pmm_regions.h"
#include "tests/host/host_env.h"
#include "tests/host/pmm_patterns.h"
#include <machine/memory_zones.h>

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

/* The regions allocator over a host arena that covers every address of the map. */
struct fixture {
	struct page_allocator a;
	void *arena;
	uint64_t arena_bytes;
};

struct fixture_options {
	const struct pmm_memory_map_entry *map;
	size_t map_count;
	enum pmm_alloc_zone metadata_zone;
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
		.metadata_zone = o->metadata_zone,
	};
	memcpy(config.zone_end, machine_zone_end, sizeof(config.zone_end));
	struct page_allocator_config chosen = { PMM_ALLOCATOR_regions, &config };
	*status = page_allocator_init(&f->a, &chosen);
	return f;
}

static void fixture_destroy(struct fixture *f)
{
	host_phys_arena_destroy(f->arena, f->arena_bytes);
	free(f);
}

/* One available range [base, base + pages pages), and the allocator's own pages above it (in
 * DMA32 when the range is in DMA, else in DMA), so that the range is all the test's. */
static struct fixture *simple_fixture(uint64_t base, uint64_t pages)
{
	bool in_dma = base < MACHINE_ZONE_DMA_END;
	struct pmm_memory_map_entry map[] = {
		{ base, pages * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
		{ in_dma ? MACHINE_ZONE_DMA_END : 0, 8 * MiB, PMM_MEMORY_AVAILABLE },
	};
	struct fixture_options o = { .map = map, .map_count = 2,
				     .metadata_zone = in_dma ? PMM_ALLOC_BELOW_4G
							     : PMM_ALLOC_BELOW_16M };
	enum pmm_status status;
	return fixture_create(&o, &status);
}

/* The regions instance serving the zone of page `page`. */
static struct pmm_regions *instance_at(const struct page_allocator *a, uint64_t page)
{
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		const struct page_allocator_zone *zone = &a->zone[z];
		if (zone->state && page >= zone->first_page &&
		    page < zone->first_page + zone->span_pages)
			return zone->state;
	}
	return NULL;
}

/* The free extents of one zone: the counters the test reads for that zone alone. */
static struct pmm_zone_stats zone_stats(const struct page_allocator *a, enum pmm_zone z)
{
	struct pmm_stats stats;
	page_allocator_stats(a, &stats);
	return stats.zone[z];
}

#define EXPECT_CONSISTENT(a)                                                    \
	do {                                                                    \
		const char *problem_ = page_allocator_check(a);                 \
		TESTING_CHECK(problem_ == NULL, (void)0, "check: %s", problem_); \
	} while (0)

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

/* A 64-page zone (its allocator's own pages kept elsewhere) is one free extent, served from its
 * low end. */
TEST(pmm_init_builds_64_page_allocator)
{
	struct fixture *f = simple_fixture(0, 64);
	struct pmm_zone_stats stats = zone_stats(&f->a, PMM_ZONE_DMA);
	EXPECT_EQ(stats.total_pages, 64);
	EXPECT_EQ(stats.free_pages, 64);
	EXPECT_EQ(stats.free_extents, 1);
	EXPECT_EQ(stats.largest_free_extent, 64);
	EXPECT_EQ(stats.free_extents_by_order[6], 1);
	EXPECT_EQ(stats.metadata_pages, 0);
	paddr_t pa = page_alloc(&f->a, 4, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
	EXPECT_EQ(pa, 0);
	EXPECT_EQ(page_free(&f->a, pa, 4), PMM_OK);
	EXPECT_CONSISTENT(&f->a);
	fixture_destroy(f);
}

/* ---- allocation ---------------------------------------------------------------------------- */

/* Aligned requests start on their alignment, including 2 MiB and 1 GiB large-page runs. */
TEST(pmm_alloc_aligns_runs_for_large_pages)
{
	struct pmm_memory_map_entry map[] = { { 0x3000, 3 * GiB, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct page_allocator *pmm = &f->a;
	paddr_t odd = page_alloc(pmm, 3, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST);
	EXPECT_NE(odd, PMM_ALLOC_FAILED);
	paddr_t two_mib = page_alloc(pmm, 512, PMM_ALLOC_BELOW_4G, 512, MM_OWNER_PAGE_TABLE);
	EXPECT_TRUE(IS_ALIGNED(two_mib, 2 * MiB));
	paddr_t one_gib = page_alloc(pmm, 262144, PMM_ALLOC_BELOW_4G, 262144, MM_OWNER_PAGE_TABLE);
	EXPECT_NE(one_gib, PMM_ALLOC_FAILED);
	EXPECT_TRUE(IS_ALIGNED(one_gib, GiB));
	paddr_t small_aligned = page_alloc(pmm, 5, PMM_ALLOC_BELOW_4G, 64, MM_OWNER_TEST);
	EXPECT_TRUE(IS_ALIGNED(small_aligned, 64 * PAGE_SIZE));
	EXPECT_CONSISTENT(pmm);
	EXPECT_EQ(page_free(pmm, one_gib, 262144), PMM_OK);
	EXPECT_EQ(page_free(pmm, two_mib, 512), PMM_OK);
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/* Running out of memory returns PMM_ALLOC_FAILED with PMM_ERR_OUT_OF_MEMORY, never panics. */
TEST(pmm_alloc_out_of_memory_fails_nicely)
{
	struct fixture *f = simple_fixture(0, 64);
	struct page_allocator *pmm = &f->a;
	enum pmm_status status;
	EXPECT_EQ(page_alloc_status(pmm, 65, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST, &status),
		  PMM_ALLOC_FAILED);
	EXPECT_EQ(status, PMM_ERR_OUT_OF_MEMORY);
	unsigned got = 0;
	while (page_alloc(pmm, 3, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST) != PMM_ALLOC_FAILED)
		got++;
	EXPECT_EQ(got, 21); /* 63 of 64 pages */
	EXPECT_NE(page_alloc(pmm, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
	EXPECT_EQ(page_alloc_status(pmm, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST, &status),
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
			paddr_t pa = page_alloc(&f->a, sizes[s], PMM_ALLOC_ANY, aligns[a],
					       MM_OWNER_TEST);
			EXPECT_NE(pa, PMM_ALLOC_FAILED);
			EXPECT_GE(pa, MACHINE_ZONE_DMA_END); /* from the extent, not the DMA zone */
			EXPECT_TRUE(IS_ALIGNED(pa, aligns[a] * PAGE_SIZE));
			EXPECT_CONSISTENT(&f->a);
			fixture_destroy(f);
		}
	}
	EXPECT_EQ(pmm_guaranteed_fit_pages(0, 1), UINT64_MAX);
	EXPECT_EQ(pmm_guaranteed_fit_pages(1, 3), UINT64_MAX);
}

/* The first class whose every extent holds n pages, against its definition by class_of: the
 * class of n when n is the smallest size of its class, else the next one. Every n below 2^16, and
 * around every power of two up to the last request (2^41 - 1). */
TEST(pmm_class_at_least_is_the_first_class_whose_every_size_holds_the_request)
{
	unsigned wrong = 0;
	for (uint64_t n = 1; n < ((uint64_t)1 << 41); n = n < 65536 ? n + 1 : n * 2 - 3) {
		for (uint64_t m = n; m < n + 4 && m < ((uint64_t)1 << 41); m++) {
			unsigned expected = pmm_class_of(m) + (pmm_class_of(m - 1) == pmm_class_of(m));
			wrong += pmm_class_at_least(m) != expected;
		}
	}
	EXPECT_EQ(wrong, 0);
	EXPECT_EQ(pmm_class_at_least(((uint64_t)1 << 41) - 1), PMM_CLASS_COUNT); /* the spare row */
}

/*
 * The lagging record (pmm_size_classes.h): a carve leaves the extent it shrank in its class, the
 * free that gives the run back grows it into that class again, and the next allocation settles
 * it first when it still lags. Classes by hand (pmm_size_classes.h's table): 40 pages are row 2
 * (32..63 pages, classes 2 wide), subdivision 40 / 2 - 16 = 4, class 16 * 2 + 4 = 36 (40 and 41
 * pages); 20 pages are an exact class, numbered 20.
 */
TEST(pmm_a_carved_extent_lags_in_its_class_until_the_next_allocation)
{
	struct fixture *f = simple_fixture(0, 40); /* pages 0..39, alone in the DMA zone */
	struct pmm_regions *r = instance_at(&f->a, 0);
	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(page_alloc(&f->a, 20, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), 0);
	const struct pmm_region *rest = r->classes.lagging;
	ASSERT_TRUE(rest != NULL);
	EXPECT_EQ(rest->first_page, 20);
	EXPECT_EQ(rest->pages, 20);
	EXPECT_EQ(rest->size_class, 36); /* not moved to class 20 */
	EXPECT_CONSISTENT(&f->a);

	EXPECT_EQ(page_free(&f->a, 0, 20), PMM_OK);
	EXPECT_TRUE(r->classes.lagging == NULL); /* grown back into class 36 */
	EXPECT_EQ(rest->pages, 40);
	EXPECT_EQ(rest->size_class, 36);
	EXPECT_CONSISTENT(&f->a);

	ASSERT_EQ(page_alloc(&f->a, 20, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), 0);
	/* 21 pages: 20 are free; the lagging record must not be offered from class 36 */
	EXPECT_EQ(page_alloc(&f->a, 21, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
	EXPECT_TRUE(r->classes.lagging == NULL);
	EXPECT_EQ(rest->size_class, 20); /* settled */
	EXPECT_CONSISTENT(&f->a);
	EXPECT_EQ(page_alloc(&f->a, 20, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), 20 * PAGE_SIZE);
	EXPECT_CONSISTENT(&f->a);
	fixture_destroy(f);
}

/*
 * The deferred record (pmm_size_classes.h): a carve from the middle of an extent keeps the larger
 * remainder in the record it shrank and puts the other in a new record that enters no class until
 * the next allocation settles it; a free that merges it away forgets it, one that grows it keeps
 * it in no class. Classes by hand (pmm_size_classes.h's table): 1..31 pages are exact classes
 * numbered by their size; 60 pages are row 2 (32..63, 2 wide), class 16 * 2 + 60 / 2 - 16 = 46.
 */
TEST(pmm_a_carve_from_the_middle_defers_the_smaller_remainder_until_the_next_allocation)
{
	struct fixture *f = simple_fixture(PAGE_SIZE, 99); /* pages 1..99, in the DMA zone */
	struct pmm_regions *r = instance_at(&f->a, 1);
	ASSERT_TRUE(r != NULL);
	/* page 1 first, so that the remainder of 2..99 is what the aligned run is cut from */
	ASSERT_EQ(page_alloc(&f->a, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), PAGE_SIZE);
	ASSERT_EQ(page_alloc(&f->a, 8, PMM_ALLOC_BELOW_16M, 32, MM_OWNER_TEST), 32 * PAGE_SIZE);
	const struct pmm_region *head = r->classes.deferred;
	ASSERT_TRUE(head != NULL); /* 2..31 (30 pages), beside the tail 40..99 (60) */
	EXPECT_EQ(head->first_page, 2);
	EXPECT_EQ(head->pages, 30);
	EXPECT_EQ(head->size_class, PMM_CLASS_NONE);
	EXPECT_EQ(r->classes.classes[30].count, 0); /* not in the class of its size */
	EXPECT_TRUE(r->classes.lagging != NULL && r->classes.lagging->first_page == 40);
	EXPECT_CONSISTENT(&f->a);

	/* page 1 back: it merges with the deferred head alone, which grows and stays in no class */
	EXPECT_EQ(page_free(&f->a, PAGE_SIZE, 1), PMM_OK);
	EXPECT_TRUE(r->classes.deferred == head);
	EXPECT_EQ(head->first_page, 1);
	EXPECT_EQ(head->pages, 31);
	EXPECT_EQ(head->size_class, PMM_CLASS_NONE);
	EXPECT_EQ(r->classes.classes[31].count, 0);
	EXPECT_CONSISTENT(&f->a);

	/* the run back: the head (the smaller neighbour) is merged away and forgotten */
	EXPECT_EQ(page_free(&f->a, 32 * PAGE_SIZE, 8), PMM_OK);
	EXPECT_TRUE(r->classes.deferred == NULL);
	EXPECT_TRUE(r->classes.lagging == NULL);
	EXPECT_CONSISTENT(&f->a);

	/* carved again; the next allocation links the head into class 30 before reading the
	 * index, so a page comes from it (the lowest class), not from the tail */
	ASSERT_EQ(page_alloc(&f->a, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), PAGE_SIZE);
	ASSERT_EQ(page_alloc(&f->a, 8, PMM_ALLOC_BELOW_16M, 32, MM_OWNER_TEST), 32 * PAGE_SIZE);
	head = r->classes.deferred;
	ASSERT_TRUE(head != NULL && head->first_page == 2 && head->pages == 30);
	ASSERT_EQ(page_alloc(&f->a, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), 2 * PAGE_SIZE);
	EXPECT_TRUE(r->classes.deferred == NULL);
	EXPECT_EQ(r->classes.classes[46].count, 1); /* the tail, 60 pages, settled into its class */
	EXPECT_CONSISTENT(&f->a);
	fixture_destroy(f);
}

/* A head and a tail of one size: the free drops the shrunk (lagging) record and the deferred one
 * takes the run, still in no class, until an allocation settles it. */
TEST(pmm_a_deferred_record_that_takes_the_merged_run_stays_exact)
{
	struct fixture *f = simple_fixture(PAGE_SIZE, 70); /* pages 1..70 */
	struct pmm_regions *r = instance_at(&f->a, 1);
	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(page_alloc(&f->a, 8, PMM_ALLOC_BELOW_16M, 32, MM_OWNER_TEST), 32 * PAGE_SIZE);
	const struct pmm_region *head = r->classes.deferred;
	ASSERT_TRUE(head != NULL); /* 1..31 and 40..70: 31 pages each */
	EXPECT_EQ(head->pages, 31);
	EXPECT_CONSISTENT(&f->a);
	EXPECT_EQ(page_free(&f->a, 32 * PAGE_SIZE, 8), PMM_OK);
	EXPECT_TRUE(r->classes.deferred == head);
	EXPECT_TRUE(r->classes.lagging == NULL);
	EXPECT_EQ(head->first_page, 1);
	EXPECT_EQ(head->pages, 70);
	EXPECT_CONSISTENT(&f->a);
	/* the whole extent: found only if the settle indexed it */
	EXPECT_EQ(page_alloc(&f->a, 70, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), PAGE_SIZE);
	EXPECT_TRUE(r->classes.deferred == NULL);
	EXPECT_CONSISTENT(&f->a);
	fixture_destroy(f);
}

/* Below the guaranteed class, the fit tree still finds an exact or aligned fit. */
TEST(pmm_alloc_fit_tree_finds_fits_below_the_guaranteed_class)
{
	struct fixture *f = simple_fixture(0, 1000);
	EXPECT_EQ(page_alloc(&f->a, 1000, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), 0);
	fixture_destroy(f);
	f = simple_fixture(PAGE_SIZE, 1023); /* pages 1..1023: a 512-aligned 512 fits at 512 */
	EXPECT_EQ(page_alloc(&f->a, 512, PMM_ALLOC_BELOW_16M, 512, MM_OWNER_TEST), 512 * PAGE_SIZE);
	EXPECT_CONSISTENT(&f->a);
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
		page_allocator_stats(&w.a, &stats);
		EXPECT_EQ(stats.zone[PMM_ZONE_NORMAL].free_extents, counts[c] + 1);
		EXPECT_EQ(page_alloc(&w.a, 37, PMM_ALLOC_ANY, 1, MM_OWNER_TEST),
			  w.fit_first_page * PAGE_SIZE);
		EXPECT_CONSISTENT(&w.a);
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
	struct page_allocator *pmm = &f->a;
	unsigned wrong = 0;
	for (uint64_t s = 1; s <= EDGE; s++) {
		for (uint64_t len = 1; len <= EDGE; len++) {
			uint64_t tail = s + len;
			/* an exact allocator carves the one extent from its low end, in order */
			EXPECT_EQ(page_alloc(pmm, s, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST), 0);
			paddr_t gap = page_alloc(pmm, len, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
			EXPECT_EQ(gap, s * PAGE_SIZE);
			EXPECT_EQ(page_alloc(pmm, PAGES - tail, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST),
				  tail * PAGE_SIZE);
			EXPECT_EQ(page_free(pmm, gap, len), PMM_OK);
			for (uint64_t n = 1; n <= EDGE; n++) {
				for (uint64_t a = 1; a <= 64; a *= 2) {
					uint64_t expected_first = ALIGN_UP(s, a);
					bool fits = expected_first + n <= tail;
					paddr_t pa = page_alloc(pmm, n, PMM_ALLOC_BELOW_16M, a,
							       MM_OWNER_TEST);
					if (pa != (fits ? expected_first * PAGE_SIZE : PMM_ALLOC_FAILED))
						wrong++;
					if (pa != PMM_ALLOC_FAILED)
						page_free(pmm, pa, n);
				}
			}
			EXPECT_EQ(page_free(pmm, 0, s), PMM_OK);
			EXPECT_EQ(page_free(pmm, tail * PAGE_SIZE, PAGES - tail), PMM_OK);
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

/* ---- work bounds (the BOUNDS paragraph of pmm_regions.c), on the adversarial patterns --------------- */

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
static uint64_t extents_at_least(const struct page_allocator *pmm, enum pmm_zone zone, uint64_t pages)
{
	struct extents_at_least c = { zone, pages, 0 };
	page_allocator_for_each_free_extent(pmm, count_long, &c);
	return c.count;
}

/* Filing one record into a fit tree of height <= h: reading it, then an insert (pmm_regions.c, BOUNDS). */
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
		struct page_allocator *pmm = &w.a;
		uint64_t extents = w.holes + 1, n = p->request_pages, a = p->request_align;
		EXPECT_EQ(extents_at_least(pmm, PMM_ZONE_NORMAL, 1), extents);
		uint64_t h = pmm_pattern_height_bound(extents);
		uint64_t meta_extents = extents_at_least(pmm, PMM_ZONE_DMA32, 1);
		uint64_t h_meta = pmm_pattern_height_bound(meta_extents + 4);
		/* carving from a filed record, then a record page from DMA32 */
		uint64_t update = unfiling(h) + 1 + unfiling(h_meta);
		uint64_t search = pmm_pattern_search_bound(h, n, a, extents_at_least(pmm, PMM_ZONE_NORMAL, n));
		uint64_t first_bound = search + extents * filing(h) + update;

		uint64_t before = pmm_regions_work(pmm);
		paddr_t pa = page_alloc(pmm, n, PMM_ALLOC_ANY, a, MM_OWNER_TEST);
		uint64_t first_work = pmm_regions_work(pmm) - before;
		EXPECT_EQ(pa, ALIGN_UP(w.fit_first_page, a) * PAGE_SIZE);
		TESTING_CHECK(first_work <= first_bound, (void)0, "%s: alloc visited %llu, bound %llu",
			      p->name, (unsigned long long)first_work, (unsigned long long)first_bound);

		/* No fit left in NORMAL: every extent there is searched in vain, then DMA32 serves. */
		search = pmm_pattern_search_bound(h, n, a, extents_at_least(pmm, PMM_ZONE_NORMAL, n));
		uint64_t meta_search =
			pmm_pattern_search_bound(h_meta, n, a, extents_at_least(pmm, PMM_ZONE_DMA32, n));
		uint64_t fall_bound = search + (extents + 2) * filing(h) + meta_search +
				      (meta_extents + 2) * filing(h_meta) + update;
		before = pmm_regions_work(pmm);
		paddr_t low = page_alloc(pmm, n, PMM_ALLOC_ANY, a, MM_OWNER_TEST);
		uint64_t fall_work = pmm_regions_work(pmm) - before;
		EXPECT_TRUE(low == PMM_ALLOC_FAILED ? n + a > PMM_PATTERN_META_BYTES / PAGE_SIZE
						    : low < page_allocator_zone_end(pmm, PMM_ZONE_DMA32));
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
		before = pmm_regions_work(pmm);
		paddr_t again = page_alloc(pmm, n, PMM_ALLOC_ANY, a, MM_OWNER_TEST);
		uint64_t again_work = pmm_regions_work(pmm) - before;
		TESTING_CHECK(again_work <= again_bound, (void)0, "%s: repeat visited %llu, bound %llu",
			      p->name, (unsigned long long)again_work, (unsigned long long)again_bound);
		testing_note("%s: %llu/%llu among %llu extents: first %llu (bound %llu), fall-through "
			     "%llu (bound %llu), repeat %llu (bound %llu)",
			     p->name, (unsigned long long)n, (unsigned long long)a,
			     (unsigned long long)extents, (unsigned long long)first_work,
			     (unsigned long long)first_bound, (unsigned long long)fall_work,
			     (unsigned long long)fall_bound, (unsigned long long)again_work,
			     (unsigned long long)again_bound);
		EXPECT_TRUE(pmm_classes_tallest_tree(&pmm_pattern_normal(&w)->classes) <= h);
		if (again != PMM_ALLOC_FAILED)
			EXPECT_EQ(page_free(pmm, again, n), PMM_OK);
		if (low != PMM_ALLOC_FAILED)
			EXPECT_EQ(page_free(pmm, low, n), PMM_OK);

		/* A free: its map chain (load <= 2: a few entries), then at most two neighbours leave
		 * their trees. */
		before = pmm_regions_work(pmm);
		EXPECT_EQ(page_free(pmm, pa, n), PMM_OK);
		uint64_t work = pmm_regions_work(pmm) - before;
		TESTING_CHECK(work <= 8 + 2 * unfiling(h), (void)0, "%s: free visited %llu", p->name,
			      (unsigned long long)work);
		EXPECT_CONSISTENT(pmm);
		pmm_pattern_destroy(&w);
	}
}

/*
 * The amortised bound: over a whole history (the pattern's build, then rounds of an exact search
 * that finds the far-end extent and its free), all work is within the sum, over the operations,
 * of their search bound without filing plus F = 1 + 7(h + 1) per record they unfiled (2 per
 * allocation, 1 per free, 1 per record made at init), plus the bookkeeping: a record page per
 * record page taken.
 */
TEST(pmm_filing_is_paid_once_per_change_over_a_history)
{
	enum { ROUNDS = 200 };
	static struct pmm_pattern_world w;
	const struct pmm_pattern *p = &pmm_patterns[0]; /* too-small-in-class: one class, 20 001 */
	ASSERT_TRUE(pmm_pattern_build(&w, p, PATTERN_HOLES));
	struct page_allocator *pmm = &w.a;
	uint64_t h = pmm_pattern_height_bound(w.holes + 1) + 1;
	uint64_t f = 1 + 7 * (h + 1);
	/* the build: w.allocations fast-path allocations (1 visit each), w.frees frees */
	uint64_t bound = w.allocations * (1 + 2 * f) + w.frees * (8 + f) + 2 * f /* init records */;
	for (unsigned round = 0; round < ROUNDS; round++) {
		paddr_t pa = page_alloc(pmm, p->request_pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		ASSERT_EQ(pa, w.fit_first_page * PAGE_SIZE);
		ASSERT_EQ(page_free(pmm, pa, p->request_pages), PMM_OK);
	}
	uint64_t search = pmm_pattern_search_bound(h, p->request_pages, 1, 1);
	bound += ROUNDS * ((search + 2 * f) + (8 + f));
	uint64_t record_pages = 0;
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		if (pmm->zone[z].state)
			record_pages += ((struct pmm_regions *)pmm->zone[z].state)->record_pages;
	bound += record_pages * (1 + 2 * f);
	TESTING_CHECK(pmm_regions_work(pmm) <= bound, (void)0, "history of %llu operations: %llu visits, bound %llu",
		      (unsigned long long)(w.allocations + w.frees + 2 * ROUNDS),
		      (unsigned long long)pmm_regions_work(pmm), (unsigned long long)bound);
	testing_note("history of %llu operations: %llu visits, amortised bound %llu",
		     (unsigned long long)(w.allocations + w.frees + 2 * ROUNDS),
		     (unsigned long long)pmm_regions_work(pmm), (unsigned long long)bound);
	/* and the filing happened once: every round after the first costs the search alone */
	uint64_t before = pmm_regions_work(pmm);
	paddr_t pa = page_alloc(pmm, p->request_pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_EQ(page_free(pmm, pa, p->request_pages), PMM_OK);
	TESTING_CHECK(pmm_regions_work(pmm) - before <= search + 2 * f + 8 + f, (void)0,
		      "a repeated round visited %llu", (unsigned long long)(pmm_regions_work(pmm) - before));
	EXPECT_CONSISTENT(pmm);
	pmm_pattern_destroy(&w);
}

/* ---- free ---------------------------------------------------------------------------------- */

/* Freeing between two free neighbours merges all three into one extent. */
TEST(pmm_free_coalesces_both_sides)
{
	struct fixture *f = simple_fixture(0, 64);
	struct page_allocator *pmm = &f->a;
	paddr_t a = page_alloc(pmm, 4, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
	paddr_t b = page_alloc(pmm, 4, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
	paddr_t c = page_alloc(pmm, 4, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
	paddr_t rest = page_alloc(pmm, 52, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
	ASSERT_NE(rest, PMM_ALLOC_FAILED);
	struct pmm_zone_stats stats;
	EXPECT_EQ(page_free(pmm, a, 4), PMM_OK);
	EXPECT_EQ(page_free(pmm, c, 4), PMM_OK);
	stats = zone_stats(pmm, PMM_ZONE_DMA);
	EXPECT_EQ(stats.free_extents, 2);
	EXPECT_EQ(page_free(pmm, b, 4), PMM_OK); /* merges left and right */
	stats = zone_stats(pmm, PMM_ZONE_DMA);
	EXPECT_EQ(stats.free_extents, 1);
	EXPECT_EQ(stats.largest_free_extent, 12);
	EXPECT_EQ(page_free(pmm, rest, 52), PMM_OK); /* merges left only */
	stats = zone_stats(pmm, PMM_ZONE_DMA);
	EXPECT_EQ(stats.free_extents, 1);
	EXPECT_EQ(stats.largest_free_extent, 64);
	const struct pmm_regions *r = instance_at(pmm, 0);
	EXPECT_EQ(r->records_owned - r->spare_record_count, 1); /* one record, free */
	EXPECT_CONSISTENT(pmm);
	fixture_destroy(f);
}

/*
 * Allocations that each take 2 records (an aligned run with a head and a tail): the pool is
 * refilled from the zone's own pages in time, so no allocation fails for want of records while
 * pages remain.
 */
TEST(pmm_record_pool_is_refilled_before_it_runs_dry)
{
	struct pmm_memory_map_entry map[] = { { 0x0, 4096 * PAGE_SIZE, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	for (int i = 0; i < 200; i++) {
		enum pmm_status st;
		EXPECT_NE(page_alloc_status(&f->a, 3, PMM_ALLOC_ANY, 4, MM_OWNER_TEST, &st),
			  PMM_ALLOC_FAILED);
		EXPECT_EQ(st, PMM_OK);
	}
	struct pmm_stats stats;
	page_allocator_stats(&f->a, &stats);
	EXPECT_GE(stats.metadata_pages, 1);
	EXPECT_CONSISTENT(&f->a);
	fixture_destroy(f);
}

/* ---- bookkeeping memory ------------------------------------------------------------------------ */

/* Beyond its initial records the pool grows from pages of the allocator's own, tagged mm-meta. */
TEST(pmm_record_pool_grows_from_its_own_memory)
{
	struct pmm_memory_map_entry map[] = { { 0x0, 64 * MiB, PMM_MEMORY_AVAILABLE } };
	struct fixture_options o = { .map = map, .map_count = 1 };
	enum pmm_status status;
	struct fixture *f = fixture_create(&o, &status);
	ASSERT_EQ(status, PMM_OK);
	struct page_allocator *pmm = &f->a;
	enum { N = 3000 };
	static paddr_t kept[N];
	for (int i = 0; i < N; i++) {
		kept[i] = page_alloc(pmm, 1 + (i % 5), PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		ASSERT_NE(kept[i], PMM_ALLOC_FAILED);
	}
	for (int i = 0; i < N; i += 2) /* free every other: no merging, many records */
		EXPECT_EQ(page_free(pmm, kept[i], 1 + (i % 5)), PMM_OK);
	struct pmm_stats stats;
	page_allocator_stats(pmm, &stats);
	const struct pmm_regions *r = instance_at(pmm, MACHINE_ZONE_DMA_END / PAGE_SIZE); /* DMA32 */
	EXPECT_GE(r->records_owned - r->spare_record_count, N);
	EXPECT_GE(r->record_pages, N * sizeof(struct pmm_region) / PAGE_SIZE);
	EXPECT_GE(stats.metadata_pages, r->record_pages);
	EXPECT_CONSISTENT(pmm);
	for (int i = 1; i < N; i += 2)
		EXPECT_EQ(page_free(pmm, kept[i], 1 + (i % 5)), PMM_OK);
	page_allocator_stats(pmm, &stats);
	EXPECT_EQ(stats.used_pages, stats.metadata_pages);
	EXPECT_CONSISTENT(pmm);
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

/* The self-check notices a corrupted counter, a broken link and a lost used record, and names
 * the problem. */
TEST(pmm_check_detects_corruption)
{
	struct fixture *f = simple_fixture(0, 64);
	struct page_allocator *pmm = &f->a;
	paddr_t pa = page_alloc(pmm, 4, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
	EXPECT_CONSISTENT(pmm);
	struct pmm_regions *r = instance_at(pmm, 0);
	r->free_pages++;
	const char *problem = page_allocator_check(pmm);
	EXPECT_TRUE(problem && strstr(problem, "free page"));
	r->free_pages--;
	struct pmm_region *second = pmm_regions_next(r, pmm_regions_first(r));
	struct list_node *saved = second->address_link.prev;
	second->address_link.prev = NULL;
	problem = page_allocator_check(pmm);
	EXPECT_TRUE(problem && strstr(problem, "prev link"));
	second->address_link.prev = saved;
	EXPECT_CONSISTENT(pmm);
	struct pmm_region *used = r->used_at[pa / PAGE_SIZE - r->first_page];
	r->used_at[pa / PAGE_SIZE - r->first_page] = NULL;
	problem = page_allocator_check(pmm);
	EXPECT_TRUE(problem && strstr(problem, "used_at"));
	r->used_at[pa / PAGE_SIZE - r->first_page] = used;
	EXPECT_EQ(page_free(pmm, pa, 4), PMM_OK);
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

/* ---- running out of records (restored from test_pmm.c) --------------------------------------- */

#define DMA32_FIRST_PAGE (MACHINE_ZONE_DMA_END / PAGE_SIZE)
#define DMA32_PAGES 4096u

/* Regions over 64 pages of DMA and DMA32_PAGES of DMA32 with `reservation` (when its length is
 * not 0) in it; bookkeeping only from `metadata_zone`. */
static void build_records_world(struct page_allocator *a, const struct pmm_reservation *reservation,
				enum pmm_alloc_zone metadata_zone)
{
	static const struct pmm_memory_map_entry map[] = {
		{ 0, 64 * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
		{ MACHINE_ZONE_DMA_END, DMA32_PAGES * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
	};
	struct pmm_config config = {
		.memory_map = map, .memory_map_count = ARRAY_SIZE(map),
		.reservations = reservation, .reservation_count = reservation->length ? 1 : 0,
		.metadata_zone = metadata_zone,
	};
	memcpy(config.zone_end, machine_zone_end, sizeof(config.zone_end));
	struct page_allocator_config chosen = { PMM_ALLOCATOR_regions, &config };
	ASSERT_EQ(page_allocator_init(a, &chosen), PMM_OK);
}

/* Allocates single DMA pages until none is left: with bookkeeping only from DMA, no page for a
 * record pool anywhere. */
static void fill_dma(struct page_allocator *a)
{
	while (page_alloc(a, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST) != PMM_ALLOC_FAILED)
		;
	EXPECT_EQ(zone_stats(a, PMM_ZONE_DMA).free_pages, 0);
}

/*
 * With no page to grow its record pool from, an allocation that would need a record it lacks
 * fails with PMM_ERR_OUT_OF_MEMORY although pages are free (the test made far fewer allocations
 * than DMA32 has pages), and frees still work (they never need a record) and make room again.
 */
TEST(pmm_alloc_fails_cleanly_when_records_run_out_and_free_still_works)
{
	void *arena = host_phys_arena_create(0, MACHINE_ZONE_DMA_END + DMA32_PAGES * PAGE_SIZE);
	static struct page_allocator a;
	struct pmm_reservation none = { 0 };
	build_records_world(&a, &none, PMM_ALLOC_BELOW_16M);
	fill_dma(&a);
	enum { TRIES = 4 * PMM_REGIONS_INITIAL_RECORDS };
	paddr_t got[TRIES];
	unsigned made = 0;
	enum pmm_status status = PMM_OK;
	for (; made < TRIES; made++) {
		/* every other page: each allocation leaves a free page before it, one more record */
		got[made] = page_alloc_status(&a, 1, PMM_ALLOC_BELOW_4G, 2, MM_OWNER_TEST, &status);
		if (got[made] == PMM_ALLOC_FAILED)
			break;
	}
	ASSERT_TRUE(made < TRIES);
	EXPECT_EQ(status, PMM_ERR_OUT_OF_MEMORY);
	EXPECT_GE(zone_stats(&a, PMM_ZONE_DMA32).free_pages, DMA32_PAGES - 2 * TRIES);
	EXPECT_CONSISTENT(&a);
	for (unsigned k = 0; k < made; k++)
		EXPECT_EQ(page_free(&a, got[k], 1), PMM_OK);
	EXPECT_EQ(zone_stats(&a, PMM_ZONE_DMA32).free_pages, DMA32_PAGES);
	paddr_t again = page_alloc(&a, 1, PMM_ALLOC_BELOW_4G, 2, MM_OWNER_TEST);
	EXPECT_NE(again, PMM_ALLOC_FAILED);
	EXPECT_EQ(page_free(&a, again, 1), PMM_OK);
	EXPECT_CONSISTENT(&a);
	host_phys_arena_destroy(arena, MACHINE_ZONE_DMA_END + DMA32_PAGES * PAGE_SIZE);
}

/*
 * Out of memory is an event, never a panic: returning a reservation to an instance with no spare
 * record, when no zone has a page to give it one, is refused with PMM_ERR_NO_RECORDS and changes
 * nothing; once records exist again the same free succeeds. The empty pool is made by hand (the
 * spare list detached, then restored): reaching it by allocations alone needs a precise history,
 * and what is tested is the refusal, whatever the path to it.
 */
TEST(pmm_returning_a_reservation_without_records_or_pages_fails_cleanly)
{
	void *arena = host_phys_arena_create(0, MACHINE_ZONE_DMA_END + DMA32_PAGES * PAGE_SIZE);
	static struct page_allocator a;
	const uint64_t reserved_first = DMA32_FIRST_PAGE + 100, reserved_pages = 4;
	struct pmm_reservation reservation = { reserved_first * PAGE_SIZE, reserved_pages * PAGE_SIZE,
					       MM_OWNER_FIRMWARE };
	build_records_world(&a, &reservation, PMM_ALLOC_BELOW_16M);
	fill_dma(&a);
	struct pmm_regions *r = instance_at(&a, DMA32_FIRST_PAGE);
	ASSERT_TRUE(r != NULL);
	struct pmm_region *spares = r->spare_records;
	uint64_t spare_count = r->spare_record_count;
	r->spare_records = NULL;
	r->spare_record_count = 0;
	struct pmm_stats before, after;
	page_allocator_stats(&a, &before);
	EXPECT_EQ(page_free(&a, reserved_first * PAGE_SIZE, reserved_pages), PMM_ERR_NO_RECORDS);
	page_allocator_stats(&a, &after);
	EXPECT_EQ(memcmp(&before, &after, sizeof(before)), 0);
	r->spare_records = spares;
	r->spare_record_count = spare_count;
	EXPECT_CONSISTENT(&a);
	EXPECT_EQ(page_free(&a, reserved_first * PAGE_SIZE, reserved_pages), PMM_OK);
	EXPECT_EQ(zone_stats(&a, PMM_ZONE_DMA32).free_pages, DMA32_PAGES);
	EXPECT_CONSISTENT(&a);
	host_phys_arena_destroy(arena, MACHINE_ZONE_DMA_END + DMA32_PAGES * PAGE_SIZE);
}

/*
 * The regions walks that follow the record list visit each record at most once: returning a
 * reservation at the low end of a zone of thousands of records walks the list back from its end
 * (pmm_regions.c, COSTS: at most one visit per record), plus the filing of the records merged.
 */
TEST(pmm_list_walks_visit_each_record_at_most_once)
{
	void *arena = host_phys_arena_create(0, MACHINE_ZONE_DMA_END + DMA32_PAGES * PAGE_SIZE);
	static struct page_allocator a;
	const uint64_t reserved_first = DMA32_FIRST_PAGE + 1;
	struct pmm_reservation reservation = { reserved_first * PAGE_SIZE, PAGE_SIZE,
					       MM_OWNER_FIRMWARE };
	build_records_world(&a, &reservation, PMM_ALLOC_BELOW_4G); /* records from DMA32 itself */
	static paddr_t kept[DMA32_PAGES];
	unsigned made = 0;
	while (made < DMA32_PAGES &&
	       (kept[made] = page_alloc(&a, 1, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST)) >=
		       MACHINE_ZONE_DMA_END && kept[made] != PMM_ALLOC_FAILED)
		made++;
	ASSERT_TRUE(made >= DMA32_PAGES / 2);
	for (unsigned k = 0; k < made; k += 2) /* every other page free: no merging */
		EXPECT_EQ(page_free(&a, kept[k], 1), PMM_OK);
	struct pmm_regions *r = instance_at(&a, DMA32_FIRST_PAGE);
	uint64_t records = 0, free_records = 0;
	for (const struct pmm_region *region = pmm_regions_first(r); region;
	     region = pmm_regions_next(r, region)) {
		records++;
		free_records += region->state == PMM_REGION_FREE;
	}
	ASSERT_TRUE(records >= made / 2);
	uint64_t h = pmm_pattern_height_bound(free_records + 1);
	uint64_t before = r->work;
	EXPECT_EQ(page_free(&a, reserved_first * PAGE_SIZE, 1), PMM_OK);
	uint64_t work = r->work - before;
	TESTING_CHECK(work <= records + 3 * unfiling(h) + 4, (void)0,
		      "returning a reservation visited %llu, %llu records", (unsigned long long)work,
		      (unsigned long long)records);
	EXPECT_CONSISTENT(&a);
	host_phys_arena_destroy(arena, MACHINE_ZONE_DMA_END + DMA32_PAGES * PAGE_SIZE);
}
