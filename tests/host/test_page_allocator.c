/*
 * The allocator lab's common layer (kernel/mm/page_allocator.c) under every allocator of
 * PMM_ALLOCATOR_LIST, over a host arena: zones and their fallback, owners, bad frees refused
 * with the state unchanged (double, partial, wrong length, unknown, inside a hole, metadata),
 * reservations freeable, metadata counted, and a zone the allocator cannot serve left empty.
 */
#include <stdlib.h>
#include <string.h>

#include "kernel/lib/testing.h"
#include "kernel/mm/page_allocator.h"
#include "tests/host/host_env.h"

#define LAB_PAGES 4096u
#define LAB_DMA_END_PAGE 1024u   /* zone DMA: pages 0..1023 */
#define LAB_DMA32_END_PAGE 2048u /* zone DMA32: 1024..2047, NORMAL above */
#define LAB_HOLE_FIRST 1500u     /* firmware-reserved pages inside DMA32: a hole */
#define LAB_HOLE_PAGES 10u
#define LAB_RESERVED_FIRST 100u  /* a reservation inside DMA */
#define LAB_RESERVED_PAGES 10u
#define MAX_EXTENTS 256

struct lab {
	struct page_allocator a;
	void *arena;
};

static struct lab *lab_create(enum pmm_allocator allocator)
{
	struct lab *l = calloc(1, sizeof(*l));
	l->arena = host_phys_arena_create(0, (uint64_t)LAB_PAGES * PAGE_SIZE);
	const struct pmm_memory_map_entry map[] = {
		{ 0, (uint64_t)LAB_PAGES * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
		{ (uint64_t)LAB_HOLE_FIRST * PAGE_SIZE, LAB_HOLE_PAGES * PAGE_SIZE, PMM_MEMORY_RESERVED },
	};
	const struct pmm_reservation reservations[] = {
		{ (uint64_t)LAB_RESERVED_FIRST * PAGE_SIZE, LAB_RESERVED_PAGES * PAGE_SIZE,
		  MM_OWNER_FIRMWARE },
	};
	struct pmm_config config = {
		.memory_map = map, .memory_map_count = ARRAY_SIZE(map),
		.reservations = reservations, .reservation_count = ARRAY_SIZE(reservations),
		.metadata_zone = PMM_ALLOC_ANY,
		.zone_end = { (uint64_t)LAB_DMA_END_PAGE * PAGE_SIZE,
			      (uint64_t)LAB_DMA32_END_PAGE * PAGE_SIZE },
	};
	struct page_allocator_config chosen = { allocator, &config };
	if (page_allocator_init(&l->a, &chosen) != PMM_OK) {
		host_phys_arena_destroy(l->arena, (uint64_t)LAB_PAGES * PAGE_SIZE);
		free(l);
		return NULL;
	}
	return l;
}

static void lab_destroy(struct lab *l)
{
	host_phys_arena_destroy(l->arena, (uint64_t)LAB_PAGES * PAGE_SIZE);
	free(l);
}

/* The free extents, as a snapshot carries them: what a refused free must leave unchanged. */
struct extents {
	uint64_t base[MAX_EXTENTS], pages[MAX_EXTENTS];
	unsigned count;
};

static bool collect(void *ctx, const struct pmm_region_info *extent)
{
	struct extents *e = ctx;
	if (e->count < MAX_EXTENTS) {
		e->base[e->count] = extent->base;
		e->pages[e->count] = extent->pages;
	}
	e->count++;
	return true;
}

static struct extents extents_of(const struct page_allocator *a)
{
	struct extents e = { .count = 0 };
	page_allocator_for_each_free_extent(a, collect, &e);
	return e;
}

static bool same_extents(const struct extents *x, const struct extents *y)
{
	return x->count == y->count && !memcmp(x->base, y->base, sizeof(x->base)) &&
	       !memcmp(x->pages, y->pages, sizeof(x->pages));
}

/* Frees and expects `status`; a refusal must leave every free extent as it was. */
static void expect_refused(struct page_allocator *a, paddr_t addr, uint64_t pages,
			   enum pmm_status status, const char *what)
{
	struct extents before = extents_of(a);
	enum pmm_status got = page_free(a, addr, pages);
	struct extents after = extents_of(a);
	if (got != status)
		testing_fail(__FILE__, __LINE__, "%s: %s: %s, expected %s",
			     pmm_allocator_name(a->allocator), what, pmm_status_name(got),
			     pmm_status_name(status));
	if (!same_extents(&before, &after))
		testing_fail(__FILE__, __LINE__, "%s: %s changed the free extents",
			     pmm_allocator_name(a->allocator), what);
}

struct used_find {
	bool metadata;
	paddr_t base;
	uint64_t pages;
	enum mm_owner owner;
	paddr_t containing;
};

static bool find_used(void *ctx, const struct pmm_region_info *r)
{
	struct used_find *f = ctx;
	if (f->containing != PMM_ALLOC_FAILED ? (r->base <= f->containing &&
						  f->containing < r->base + r->pages * PAGE_SIZE)
					      : r->pmm_metadata) {
		f->metadata = r->pmm_metadata;
		f->base = r->base;
		f->pages = r->pages;
		f->owner = r->owner;
		return false;
	}
	return true;
}

static void run_bad_frees(enum pmm_allocator allocator)
{
	struct lab *l = lab_create(allocator);
	ASSERT_TRUE(l != NULL);
	struct page_allocator *a = &l->a;
	EXPECT_TRUE(page_allocator_check(a) == NULL);

	paddr_t x = page_alloc(a, 3, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	paddr_t y = page_alloc(a, 5, PMM_ALLOC_ANY, 1, MM_OWNER_HEAP);
	ASSERT_NE(x, PMM_ALLOC_FAILED);
	ASSERT_NE(y, PMM_ALLOC_FAILED);
	EXPECT_GE(x, (paddr_t)LAB_DMA32_END_PAGE * PAGE_SIZE); /* ANY prefers NORMAL */
	paddr_t low = page_alloc(a, 2, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_DMA);
	ASSERT_NE(low, PMM_ALLOC_FAILED);
	EXPECT_LT(low, (paddr_t)LAB_DMA_END_PAGE * PAGE_SIZE);
	/* the owner and the length asked for are recorded */
	struct used_find f = { .containing = y };
	page_allocator_for_each_used(a, find_used, &f);
	EXPECT_EQ(f.base, y);
	EXPECT_EQ(f.owner, MM_OWNER_HEAP);
	EXPECT_EQ(f.pages, page_allocator_held_pages(a, 5, 1));

	expect_refused(a, y, 4, PMM_ERR_WRONG_LENGTH, "wrong length");
	expect_refused(a, y + PAGE_SIZE, 1, PMM_ERR_NOT_ALLOCATED, "inside an allocation");
	expect_refused(a, (paddr_t)LAB_HOLE_FIRST * PAGE_SIZE, 1, PMM_ERR_NOT_ALLOCATED, "a hole");
	expect_refused(a, y + 1, 5, PMM_ERR_INVALID_ARGUMENT, "unaligned");
	EXPECT_EQ(page_free(a, x, 3), PMM_OK);
	expect_refused(a, x, 3, PMM_ERR_DOUBLE_FREE, "double");
	/* a range that is half free: the last free page of an extent and the page after it */
	struct extents e = extents_of(a);
	ASSERT_TRUE(e.count >= 1);
	paddr_t last_free = e.base[0] + (e.pages[0] - 1) * PAGE_SIZE;
	expect_refused(a, last_free, 2, PMM_ERR_PARTLY_FREE, "partly free");

	struct used_find meta = { .containing = PMM_ALLOC_FAILED };
	page_allocator_for_each_used(a, find_used, &meta);
	ASSERT_TRUE(meta.metadata); /* every allocator has some: at least its per-page records */
	EXPECT_EQ(meta.owner, MM_OWNER_MM_META);
	expect_refused(a, meta.base, meta.pages, PMM_ERR_PMM_METADATA, "metadata");
	struct pmm_stats s;
	page_allocator_stats(a, &s);
	EXPECT_GE(s.metadata_pages, meta.pages);

	/* a reservation is freeable, and its pages become free */
	struct pmm_stats before, after;
	page_allocator_stats(a, &before);
	EXPECT_EQ(page_free(a, (paddr_t)LAB_RESERVED_FIRST * PAGE_SIZE, LAB_RESERVED_PAGES), PMM_OK);
	page_allocator_stats(a, &after);
	EXPECT_EQ(after.free_pages, before.free_pages + LAB_RESERVED_PAGES);
	EXPECT_EQ(after.total_pages, before.total_pages);
	EXPECT_EQ(after.total_pages, LAB_PAGES - LAB_HOLE_PAGES);

	EXPECT_EQ(page_free(a, y, 5), PMM_OK);
	EXPECT_EQ(page_free(a, low, 2), PMM_OK);
	EXPECT_TRUE(page_allocator_check(a) == NULL);
	lab_destroy(l);
}

/* Every allocator refuses double, partial, wrong-length, unknown and metadata frees with the
 * free extents unchanged, honours zones, records owners and frees reservations. */
TEST(page_allocator_bad_frees_refused_unchanged_under_every_allocator)
{
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++)
		run_bad_frees((enum pmm_allocator)i);
}

/* A zone whose memory is too scattered to hold the allocator's state (and whose state may only
 * live there) is left empty and every request fails; allowed elsewhere, its state lands there. */
TEST(page_allocator_zone_without_room_for_its_state_is_left_empty)
{
	enum { SPREAD = 64, GAP = 1000 };
	uint64_t top = (uint64_t)SPREAD * GAP + 8192;
	void *arena = host_phys_arena_create(0, top * PAGE_SIZE);
	static struct pmm_memory_map_entry map[SPREAD + 1];
	for (unsigned i = 0; i < SPREAD; i++) /* DMA: single pages GAP apart */
		map[i] = (struct pmm_memory_map_entry){ (uint64_t)i * GAP * PAGE_SIZE, PAGE_SIZE,
							PMM_MEMORY_AVAILABLE };
	map[SPREAD] = (struct pmm_memory_map_entry){ ((uint64_t)SPREAD * GAP + 4096) * PAGE_SIZE,
						     4096 * PAGE_SIZE, PMM_MEMORY_AVAILABLE };
	struct pmm_config config = {
		.memory_map = map, .memory_map_count = ARRAY_SIZE(map),
		.metadata_zone = PMM_ALLOC_BELOW_16M, /* only the scattered zone may hold state */
		.zone_end = { (uint64_t)SPREAD * GAP * PAGE_SIZE, (uint64_t)SPREAD * GAP * PAGE_SIZE },
	};
	static struct page_allocator a;
	struct page_allocator_config chosen = { PMM_ALLOCATOR_tlsf, &config };
	ASSERT_EQ(page_allocator_init(&a, &chosen), PMM_OK);
	struct pmm_stats s;
	page_allocator_stats(&a, &s);
	EXPECT_EQ(s.zone[PMM_ZONE_DMA].total_pages, 0);    /* 64 pages: no room for 64 000 slots */
	EXPECT_EQ(s.zone[PMM_ZONE_NORMAL].total_pages, 0); /* its state must be in DMA too */
	EXPECT_EQ(page_alloc(&a, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
	/* allowed anywhere, both zones' state lands in NORMAL, counted there, and both serve */
	config.metadata_zone = PMM_ALLOC_ANY;
	ASSERT_EQ(page_allocator_init(&a, &chosen), PMM_OK);
	page_allocator_stats(&a, &s);
	EXPECT_EQ(s.zone[PMM_ZONE_DMA].total_pages, SPREAD);
	EXPECT_EQ(s.zone[PMM_ZONE_NORMAL].total_pages, 4096);
	EXPECT_GE(s.zone[PMM_ZONE_NORMAL].metadata_pages, (uint64_t)SPREAD * GAP * 20 / PAGE_SIZE);
	EXPECT_EQ(s.zone[PMM_ZONE_DMA].free_pages, SPREAD);
	paddr_t pa = page_alloc(&a, 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
	EXPECT_NE(pa, PMM_ALLOC_FAILED);
	EXPECT_EQ(page_free(&a, pa, 1), PMM_OK);
	EXPECT_TRUE(page_allocator_check(&a) == NULL);
	host_phys_arena_destroy(arena, top * PAGE_SIZE);
}

/*
 * Under every allocator the zone ends are the configuration's, not amd64's: with DMA ending at
 * 1 MiB and DMA32 at 2 MiB over 4 MiB of memory, each zone manages its own pages, no request
 * crosses an end, and BELOW_16M / BELOW_4G are served only from those zones although all of the
 * memory lies below 16 MiB; decreasing, unaligned or too high ends are refused.
 */
TEST(page_allocator_zones_end_where_the_configuration_says_under_every_allocator)
{
	enum { MIB_PAGES = (1 << 20) / PAGE_SIZE };
	void *arena = host_phys_arena_create(0, 4 * MIB_PAGES * PAGE_SIZE);
	static const struct pmm_memory_map_entry map[] = {
		{ 0, 4 * MIB_PAGES * PAGE_SIZE, PMM_MEMORY_AVAILABLE }
	};
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		struct pmm_config config = { .memory_map = map, .memory_map_count = 1,
					     .zone_end = { MIB_PAGES * PAGE_SIZE,
							   2 * MIB_PAGES * PAGE_SIZE } };
		static struct page_allocator a;
		struct page_allocator_config chosen = { (enum pmm_allocator)i, &config };
		ASSERT_EQ(page_allocator_init(&a, &chosen), PMM_OK);
		EXPECT_EQ(page_allocator_zone_end(&a, PMM_ZONE_DMA), MIB_PAGES * PAGE_SIZE);
		EXPECT_EQ(page_allocator_zone_end(&a, PMM_ZONE_DMA32), 2 * MIB_PAGES * PAGE_SIZE);
		EXPECT_EQ(page_allocator_zone_end(&a, PMM_ZONE_NORMAL), PMM_PHYS_LIMIT);
		struct pmm_stats s;
		page_allocator_stats(&a, &s);
		EXPECT_EQ(s.zone[PMM_ZONE_DMA].total_pages, MIB_PAGES);
		EXPECT_EQ(s.zone[PMM_ZONE_DMA32].total_pages, MIB_PAGES);
		EXPECT_EQ(s.zone[PMM_ZONE_NORMAL].total_pages, 2 * MIB_PAGES);
		EXPECT_EQ(page_alloc(&a, MIB_PAGES + 1, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_DMA),
			  PMM_ALLOC_FAILED);
		paddr_t dma = page_alloc(&a, 16, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_DMA);
		EXPECT_LT(dma, MIB_PAGES * PAGE_SIZE);
		paddr_t dma32 = page_alloc(&a, 16, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST);
		EXPECT_GE(dma32, MIB_PAGES * PAGE_SIZE); /* DMA32 before DMA */
		EXPECT_LT(dma32, 2 * MIB_PAGES * PAGE_SIZE);
		paddr_t normal = page_alloc(&a, 16, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		EXPECT_GE(normal, 2 * MIB_PAGES * PAGE_SIZE);
		EXPECT_NE(normal, PMM_ALLOC_FAILED);
		EXPECT_EQ(page_free(&a, dma, 16), PMM_OK);
		EXPECT_EQ(page_free(&a, dma32, 16), PMM_OK);
		EXPECT_EQ(page_free(&a, normal, 16), PMM_OK);
		EXPECT_TRUE(page_allocator_check(&a) == NULL);

		static const paddr_t invalid[][PMM_ZONE_COUNT - 1] = {
			{ 2 << 20, 1 << 20 },                   /* decreasing */
			{ (1 << 20) + 1, 2 << 20 },             /* unaligned */
			{ 1 << 20, PMM_PHYS_LIMIT + PAGE_SIZE }, /* past the limit */
		};
		for (size_t k = 0; k < ARRAY_SIZE(invalid); k++) {
			memcpy(config.zone_end, invalid[k], sizeof(config.zone_end));
			EXPECT_EQ(page_allocator_init(&a, &chosen), PMM_ERR_INVALID_ARGUMENT);
			EXPECT_EQ(page_alloc(&a, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
		}
	}
	host_phys_arena_destroy(arena, 4 * MIB_PAGES * PAGE_SIZE);
}
