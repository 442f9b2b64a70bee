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

/* ---- properties of the common layer, under every allocator (restored from test_pmm.c) ------- */

/* The owner for_each_used names for the page at `pa`, MM_OWNER_COUNT when none. */
static enum mm_owner owner_at(const struct page_allocator *a, paddr_t pa)
{
	struct used_find f = { .containing = pa, .owner = MM_OWNER_COUNT };
	page_allocator_for_each_used(a, find_used, &f);
	return f.owner;
}

/*
 * Reservations (what replaced pmm_claim: a range chosen by the caller, marked at init with an
 * owner): overlapping ones give the overlap to the first listed, the parts in a hole are ignored,
 * one that crosses a zone end becomes one piece per zone, each freeable with its own length.
 */
TEST(page_allocator_init_applies_reservations_with_owners_under_every_allocator)
{
	void *arena = host_phys_arena_create(0, (uint64_t)LAB_PAGES * PAGE_SIZE);
	const struct pmm_memory_map_entry map[] = {
		{ 0, (uint64_t)LAB_PAGES * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
		{ (uint64_t)LAB_HOLE_FIRST * PAGE_SIZE, LAB_HOLE_PAGES * PAGE_SIZE, PMM_MEMORY_RESERVED },
	};
	const struct pmm_reservation reservations[] = {
		{ 200 * PAGE_SIZE, 10 * PAGE_SIZE, MM_OWNER_BOOT_MODULE },  /* 200..209 */
		{ 205 * PAGE_SIZE, 10 * PAGE_SIZE, MM_OWNER_FIRMWARE },     /* 210..214 remain */
		{ (LAB_HOLE_FIRST - 2) * PAGE_SIZE, 4 * PAGE_SIZE, MM_OWNER_KERNEL_IMAGE }, /* 2 in the hole */
		{ (LAB_DMA32_END_PAGE - 3) * PAGE_SIZE, 6 * PAGE_SIZE, MM_OWNER_USER }, /* across an end */
	};
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		struct pmm_config config = {
			.memory_map = map, .memory_map_count = ARRAY_SIZE(map),
			.reservations = reservations, .reservation_count = ARRAY_SIZE(reservations),
			.metadata_zone = PMM_ALLOC_BELOW_16M,
			.zone_end = { (uint64_t)LAB_DMA_END_PAGE * PAGE_SIZE,
				      (uint64_t)LAB_DMA32_END_PAGE * PAGE_SIZE },
		};
		static struct page_allocator a;
		struct page_allocator_config chosen = { (enum pmm_allocator)i, &config };
		ASSERT_EQ(page_allocator_init(&a, &chosen), PMM_OK);
		EXPECT_EQ(owner_at(&a, 200 * PAGE_SIZE), MM_OWNER_BOOT_MODULE);
		EXPECT_EQ(owner_at(&a, 209 * PAGE_SIZE), MM_OWNER_BOOT_MODULE);
		EXPECT_EQ(owner_at(&a, 210 * PAGE_SIZE), MM_OWNER_FIRMWARE);
		EXPECT_EQ(owner_at(&a, 214 * PAGE_SIZE), MM_OWNER_FIRMWARE);
		EXPECT_EQ(owner_at(&a, 215 * PAGE_SIZE), MM_OWNER_COUNT);
		EXPECT_EQ(owner_at(&a, (LAB_HOLE_FIRST - 1) * PAGE_SIZE), MM_OWNER_KERNEL_IMAGE);
		EXPECT_EQ(owner_at(&a, LAB_HOLE_FIRST * PAGE_SIZE), MM_OWNER_COUNT);
		EXPECT_EQ(owner_at(&a, (LAB_DMA32_END_PAGE - 1) * PAGE_SIZE), MM_OWNER_USER);
		EXPECT_EQ(owner_at(&a, (LAB_DMA32_END_PAGE + 2) * PAGE_SIZE), MM_OWNER_USER);
		struct pmm_stats s;
		page_allocator_stats(&a, &s);
		/* reserved: 10 + 5 + 2 + 6, metadata all in DMA; nothing of the hole is managed */
		EXPECT_EQ(s.total_pages, LAB_PAGES - LAB_HOLE_PAGES);
		EXPECT_EQ(s.used_pages, 23 + s.metadata_pages);
		EXPECT_EQ(s.metadata_pages, s.zone[PMM_ZONE_DMA].metadata_pages);
		/* each piece is freed with its own length; the whole of a split one is refused */
		expect_refused(&a, (LAB_DMA32_END_PAGE - 3) * PAGE_SIZE, 6, PMM_ERR_WRONG_LENGTH,
			       "a reservation across a zone end, whole");
		EXPECT_EQ(page_free(&a, (LAB_DMA32_END_PAGE - 3) * PAGE_SIZE, 3), PMM_OK);
		EXPECT_EQ(page_free(&a, LAB_DMA32_END_PAGE * PAGE_SIZE, 3), PMM_OK);
		EXPECT_EQ(page_free(&a, 200 * PAGE_SIZE, 10), PMM_OK);
		EXPECT_EQ(page_free(&a, 210 * PAGE_SIZE, 5), PMM_OK);
		EXPECT_EQ(page_free(&a, (LAB_HOLE_FIRST - 2) * PAGE_SIZE, 2), PMM_OK);
		page_allocator_stats(&a, &s);
		EXPECT_EQ(s.used_pages, s.metadata_pages);
		EXPECT_TRUE(page_allocator_check(&a) == NULL);
	}
	host_phys_arena_destroy(arena, (uint64_t)LAB_PAGES * PAGE_SIZE);
}

/* Bad configurations are refused with PMM_ERR_INVALID_ARGUMENT, and then every allocation fails;
 * a good one afterwards works. */
TEST(page_allocator_init_fails_cleanly_on_bad_input_under_every_allocator)
{
	void *arena = host_phys_arena_create(0, (uint64_t)LAB_PAGES * PAGE_SIZE);
	const struct pmm_memory_map_entry map[] = {
		{ 0, (uint64_t)LAB_PAGES * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
	};
	const struct pmm_reservation empty[] = { { 100 * PAGE_SIZE, 0, MM_OWNER_FIRMWARE } };
	const struct pmm_reservation wraps[] = { { UINT64_MAX - PAGE_SIZE, 2 * PAGE_SIZE,
						   MM_OWNER_FIRMWARE } };
	const struct pmm_reservation bad_owner[] = { { 100 * PAGE_SIZE, PAGE_SIZE,
						       (enum mm_owner)MM_OWNER_COUNT } };
	const struct pmm_reservation *bad[] = { empty, wraps, bad_owner };
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		static struct page_allocator a;
		struct pmm_config config = { .memory_map = map, .memory_map_count = 1,
					     .zone_end = { (uint64_t)LAB_DMA_END_PAGE * PAGE_SIZE,
							   (uint64_t)LAB_DMA32_END_PAGE * PAGE_SIZE } };
		struct page_allocator_config chosen = { (enum pmm_allocator)i, &config };
		for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
			config.reservations = bad[k];
			config.reservation_count = 1;
			EXPECT_EQ(page_allocator_init(&a, &chosen), PMM_ERR_INVALID_ARGUMENT);
			EXPECT_EQ(page_alloc(&a, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
		}
		config.reservations = NULL;
		config.reservation_count = 0;
		config.memory_map = NULL; /* a count without entries */
		EXPECT_EQ(page_allocator_init(&a, &chosen), PMM_ERR_INVALID_ARGUMENT);
		EXPECT_EQ(page_alloc(&a, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
		config.memory_map = map;
		struct page_allocator_config no_such = { (enum pmm_allocator)PMM_ALLOCATOR_COUNT,
							 &config };
		EXPECT_EQ(page_allocator_init(&a, &no_such), PMM_ERR_INVALID_ARGUMENT);
		EXPECT_EQ(page_alloc(&a, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST), PMM_ALLOC_FAILED);
		EXPECT_EQ(page_allocator_init(&a, NULL), PMM_ERR_INVALID_ARGUMENT);
		ASSERT_EQ(page_allocator_init(&a, &chosen), PMM_OK);
		paddr_t pa = page_alloc(&a, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		EXPECT_NE(pa, PMM_ALLOC_FAILED);
		EXPECT_EQ(page_free(&a, pa, 1), PMM_OK);
	}
	host_phys_arena_destroy(arena, (uint64_t)LAB_PAGES * PAGE_SIZE);
}

/* A request the allocator must refuse, and the status it must say. */
struct refused_request {
	uint64_t pages, align;
	unsigned zone, owner;
};

/* Under every allocator: each request fails with `expected`, and no page is allocated. */
static void expect_refused_under_every_allocator(const struct refused_request *requests, size_t count,
						 enum pmm_status expected)
{
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		struct lab *l = lab_create((enum pmm_allocator)i);
		ASSERT_TRUE(l != NULL);
		struct page_allocator *a = &l->a;
		struct pmm_stats before, after;
		page_allocator_stats(a, &before);
		for (size_t k = 0; k < count; k++) {
			enum pmm_status status = PMM_OK;
			EXPECT_EQ(page_alloc_status(a, requests[k].pages, (enum pmm_alloc_zone)requests[k].zone,
						    requests[k].align, (enum mm_owner)requests[k].owner, &status),
				  PMM_ALLOC_FAILED);
			EXPECT_EQ(status, expected);
		}
		page_allocator_stats(a, &after);
		EXPECT_EQ(after.free_pages, before.free_pages);
		EXPECT_EQ(after.used_pages, before.used_pages);
		lab_destroy(l);
	}
}

/* Zero pages, an alignment that is not a power of two, an owner or a zone out of range: refused
 * with PMM_ERR_INVALID_ARGUMENT and nothing allocated. */
TEST(page_allocator_alloc_rejects_invalid_arguments_under_every_allocator)
{
	const struct refused_request bad[] = {
		{ 0, 1, PMM_ALLOC_ANY, MM_OWNER_TEST },
		{ 1, 3, PMM_ALLOC_ANY, MM_OWNER_TEST },
		{ 1, 0, PMM_ALLOC_ANY, MM_OWNER_TEST },
		{ 1, 1, PMM_ALLOC_BELOW_16M + 1, MM_OWNER_TEST },
		{ 1, 1, PMM_ALLOC_ANY, MM_OWNER_COUNT },
	};
	expect_refused_under_every_allocator(bad, ARRAY_SIZE(bad), PMM_ERR_INVALID_ARGUMENT);
}

/* Requests no placement can hold, a record's length (2^32 pages and more) or an alignment past
 * the physical limit (a power of two above 2^52 bytes): refused as out of memory, nothing
 * allocated (the hot path tests the alignment's conditions as one). */
TEST(page_allocator_alloc_refuses_requests_past_its_limits_under_every_allocator)
{
	const uint64_t limit_pages = PMM_PHYS_LIMIT >> PAGE_SHIFT;
	const struct refused_request past[] = {
		{ 1, limit_pages << 1, PMM_ALLOC_ANY, MM_OWNER_TEST },
		{ 1, (uint64_t)1 << 63, PMM_ALLOC_ANY, MM_OWNER_TEST },
		{ (uint64_t)1 << 32, 1, PMM_ALLOC_ANY, MM_OWNER_TEST },
	};
	expect_refused_under_every_allocator(past, ARRAY_SIZE(past), PMM_ERR_OUT_OF_MEMORY);
}

/* No free extent spans a zone end, even after freeing the pages on both sides of it. */
TEST(page_allocator_free_never_merges_across_a_zone_end_under_every_allocator)
{
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		struct lab *l = lab_create((enum pmm_allocator)i);
		ASSERT_TRUE(l != NULL);
		struct page_allocator *a = &l->a;
		paddr_t low = page_alloc(a, 8, PMM_ALLOC_BELOW_16M, 1, MM_OWNER_TEST);
		paddr_t mid = page_alloc(a, 8, PMM_ALLOC_BELOW_4G, 1, MM_OWNER_TEST);
		ASSERT_NE(low, PMM_ALLOC_FAILED);
		ASSERT_NE(mid, PMM_ALLOC_FAILED);
		EXPECT_EQ(page_free(a, mid, 8), PMM_OK);
		EXPECT_EQ(page_free(a, low, 8), PMM_OK);
		struct extents e = extents_of(a);
		ASSERT_TRUE(e.count <= MAX_EXTENTS);
		bool ends_at_dma = false, starts_at_dma32 = false;
		for (unsigned k = 0; k < e.count; k++) {
			uint64_t first = e.base[k] / PAGE_SIZE, end = first + e.pages[k];
			EXPECT_TRUE(!(first < LAB_DMA_END_PAGE && end > LAB_DMA_END_PAGE));
			EXPECT_TRUE(!(first < LAB_DMA32_END_PAGE && end > LAB_DMA32_END_PAGE));
			ends_at_dma |= end == LAB_DMA_END_PAGE;
			starts_at_dma32 |= first == LAB_DMA_END_PAGE;
		}
		/* pages 1023 and 1024 are free (no reservation, hole or metadata there) */
		EXPECT_TRUE(ends_at_dma);
		EXPECT_TRUE(starts_at_dma32);
		lab_destroy(l);
	}
}

/* The statistics equal a recount of the free extents and of the test's own model: the lab's
 * pages minus the hole, its reservation, and the allocations the test made. */
TEST(page_allocator_stats_equal_a_recount_under_every_allocator)
{
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		struct lab *l = lab_create((enum pmm_allocator)i);
		ASSERT_TRUE(l != NULL);
		struct page_allocator *a = &l->a;
		uint64_t held = 0;
		for (uint64_t n = 1; n <= 20; n++) {
			paddr_t pa = page_alloc(a, n, (enum pmm_alloc_zone)(n % 3), 1, MM_OWNER_TEST);
			ASSERT_NE(pa, PMM_ALLOC_FAILED);
			if (n % 4 == 0)
				EXPECT_EQ(page_free(a, pa, n), PMM_OK);
			else
				held += page_allocator_held_pages(a, n, 1);
		}
		struct pmm_stats s;
		page_allocator_stats(a, &s);
		struct extents e = extents_of(a);
		ASSERT_TRUE(e.count <= MAX_EXTENTS);
		uint64_t free_pages = 0, largest = 0, zone_free[PMM_ZONE_COUNT] = { 0 };
		uint64_t zone_extents[PMM_ZONE_COUNT] = { 0 };
		for (unsigned k = 0; k < e.count; k++) {
			uint64_t first = e.base[k] / PAGE_SIZE;
			unsigned z = first < LAB_DMA_END_PAGE	  ? PMM_ZONE_DMA
				     : first < LAB_DMA32_END_PAGE ? PMM_ZONE_DMA32
								  : PMM_ZONE_NORMAL;
			free_pages += e.pages[k];
			zone_free[z] += e.pages[k];
			zone_extents[z]++;
			largest = MAX(largest, e.pages[k]);
		}
		EXPECT_EQ(s.free_pages, free_pages);
		EXPECT_EQ(s.free_extents, e.count);
		EXPECT_EQ(s.largest_free_extent, largest);
		EXPECT_EQ(s.total_pages, LAB_PAGES - LAB_HOLE_PAGES);
		EXPECT_EQ(s.used_pages, s.total_pages - s.free_pages);
		EXPECT_EQ(s.used_pages, LAB_RESERVED_PAGES + held + s.metadata_pages);
		EXPECT_EQ(s.zone[PMM_ZONE_DMA].total_pages, LAB_DMA_END_PAGE);
		EXPECT_EQ(s.zone[PMM_ZONE_DMA32].total_pages,
			  LAB_DMA32_END_PAGE - LAB_DMA_END_PAGE - LAB_HOLE_PAGES);
		EXPECT_EQ(s.zone[PMM_ZONE_NORMAL].total_pages, LAB_PAGES - LAB_DMA32_END_PAGE);
		uint64_t metadata = 0;
		for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
			EXPECT_EQ(s.zone[z].free_pages, zone_free[z]);
			EXPECT_EQ(s.zone[z].free_extents, zone_extents[z]);
			metadata += s.zone[z].metadata_pages;
		}
		EXPECT_EQ(s.metadata_pages, metadata);
		lab_destroy(l);
	}
}

struct ordered_walk {
	paddr_t last_end;
	bool in_order;
	unsigned visits, stop_after;
};

static bool ordered_visit(void *ctx, const struct pmm_region_info *r)
{
	struct ordered_walk *w = ctx;
	w->in_order &= r->base >= w->last_end && r->pages > 0;
	w->last_end = r->base + r->pages * PAGE_SIZE;
	return ++w->visits != w->stop_after;
}

/* Both walks visit in address order without overlap, and stop when the visitor says so. */
TEST(page_allocator_iteration_visits_in_order_and_stops_early_under_every_allocator)
{
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		struct lab *l = lab_create((enum pmm_allocator)i);
		ASSERT_TRUE(l != NULL);
		struct page_allocator *a = &l->a;
		paddr_t kept[12];
		for (unsigned k = 0; k < 12; k++) {
			kept[k] = page_alloc(a, 2, (enum pmm_alloc_zone)(k % 3), 1, MM_OWNER_TEST);
			ASSERT_NE(kept[k], PMM_ALLOC_FAILED);
		}
		for (unsigned k = 0; k < 12; k += 2) /* holes between the kept ones */
			EXPECT_EQ(page_free(a, kept[k], 2), PMM_OK);
		/* free extents: at least one per zone; used runs: 6 kept + reservation + metadata */
		struct ordered_walk all_free = { .in_order = true };
		page_allocator_for_each_free_extent(a, ordered_visit, &all_free);
		EXPECT_TRUE(all_free.in_order);
		EXPECT_GE(all_free.visits, PMM_ZONE_COUNT);
		struct ordered_walk all_used = { .in_order = true };
		page_allocator_for_each_used(a, ordered_visit, &all_used);
		EXPECT_TRUE(all_used.in_order);
		EXPECT_GE(all_used.visits, 6 + 1 + 1);
		struct ordered_walk two = { .in_order = true, .stop_after = 2 };
		page_allocator_for_each_free_extent(a, ordered_visit, &two);
		EXPECT_EQ(two.visits, 2);
		struct ordered_walk three = { .in_order = true, .stop_after = 3 };
		page_allocator_for_each_used(a, ordered_visit, &three);
		EXPECT_EQ(three.visits, 3);
		lab_destroy(l);
	}
}

/* The record of the last event of `type` trace_global holds (its ring has no sink here). */
static const struct trace_record_header *last_event(uint8_t type)
{
	const struct trace_record_header *found = NULL;
	for (uint32_t off = TRACE_CHUNK_HEADER_BYTES; off < trace_open_bytes(&trace_global);) {
		const struct trace_record_header *h = (const void *)(trace_global.open_base + off);
		if (h->type == type)
			found = h;
		off += h->length;
	}
	return found;
}

/*
 * An allocation the first zone of its order cannot hold, for lack of free pages or of a fit,
 * comes from the next zone; traced, its events name that zone and the run. Zones: DMA 1 MiB,
 * DMA32 2.5 MiB, NORMAL 0.5 MiB (less its records).
 */
static void check_fallback(enum pmm_allocator allocator, bool traced)
{
	enum { MIB_PAGES = (1 << 20) / PAGE_SIZE, NORMAL_FIRST = 7 * MIB_PAGES / 2 };
	static const struct pmm_memory_map_entry map[] = {
		{ 0, 4 * MIB_PAGES * PAGE_SIZE, PMM_MEMORY_AVAILABLE }
	};
	struct pmm_config config = { .memory_map = map, .memory_map_count = 1,
				     .zone_end = { MIB_PAGES * PAGE_SIZE,
						   (paddr_t)NORMAL_FIRST * PAGE_SIZE } };
	static struct page_allocator a;
	struct page_allocator_config chosen = { allocator, &config };
	ASSERT_EQ(page_allocator_init(&a, &chosen), PMM_OK);
	const paddr_t normal = (paddr_t)NORMAL_FIRST * PAGE_SIZE;
	/* more pages than NORMAL has at all */
	const uint64_t big_pages = MIB_PAGES / 2 + 8;
	paddr_t big = page_alloc(&a, big_pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	ASSERT_NE(big, PMM_ALLOC_FAILED);
	EXPECT_GE(big, MIB_PAGES * PAGE_SIZE);
	EXPECT_LT(big, normal);
	if (traced) {
		const struct trace_record_header *h = last_event(TRACE_ID_pmm_alloc);
		ASSERT_TRUE(h != NULL);
		const struct trace_payload_pmm_alloc *p = (const void *)(h + 1);
		EXPECT_EQ(p->addr, big);
		EXPECT_EQ(p->pages, big_pages);
		EXPECT_EQ(p->held, page_allocator_held_pages(&a, big_pages, 1));
		EXPECT_EQ(p->zone, PMM_ZONE_DMA32);
		EXPECT_EQ(p->owner, MM_OWNER_TEST);
	}
	/* NORMAL fragmented: filled with 8-page blocks, then every other one freed, so 32 pages
	 * fit nowhere there although more than 32 are free */
	paddr_t taken[MIB_PAGES / 16];
	unsigned n = 0;
	while (n < ARRAY_SIZE(taken)) {
		paddr_t pa = page_alloc(&a, 8, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		ASSERT_NE(pa, PMM_ALLOC_FAILED);
		if (pa < normal) { /* NORMAL is full */
			EXPECT_EQ(page_free(&a, pa, 8), PMM_OK);
			break;
		}
		taken[n++] = pa;
	}
	ASSERT_TRUE(n >= 10);
	unsigned kept = 0;
	for (unsigned k = 0; k < n; k++) {
		if (k % 2)
			EXPECT_EQ(page_free(&a, taken[k], 8), PMM_OK);
		else
			taken[kept++] = taken[k];
	}
	n = kept;
	paddr_t mid = page_alloc(&a, 32, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
	EXPECT_NE(mid, PMM_ALLOC_FAILED);
	EXPECT_LT(mid, normal);
	if (traced) {
		const struct trace_record_header *h = last_event(TRACE_ID_pmm_alloc);
		ASSERT_TRUE(h != NULL);
		EXPECT_EQ(((const struct trace_payload_pmm_alloc *)(h + 1))->addr, mid);
	}
	EXPECT_EQ(page_free(&a, mid, 32), PMM_OK);
	EXPECT_EQ(page_free(&a, big, big_pages), PMM_OK);
	if (traced) {
		const struct trace_record_header *h = last_event(TRACE_ID_pmm_free);
		ASSERT_TRUE(h != NULL);
		const struct trace_payload_pmm_free *p = (const void *)(h + 1);
		EXPECT_EQ(p->addr, big);
		EXPECT_EQ(p->pages, big_pages);
		EXPECT_EQ(p->zone, PMM_ZONE_DMA32);
	}
	for (unsigned k = 0; k < n; k++)
		EXPECT_EQ(page_free(&a, taken[k], 8), PMM_OK);
	EXPECT_TRUE(page_allocator_check(&a) == NULL);
}

TEST(page_allocator_falls_back_past_a_zone_too_small_or_too_fragmented_under_every_allocator)
{
	void *arena = host_phys_arena_create(0, (4 << 20));
	bool was_enabled = trace_enabled;
	for (unsigned traced = 0; traced < 2; traced++) {
		for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
			trace_enabled = traced;
			check_fallback((enum pmm_allocator)i, traced);
			trace_enabled = was_enabled;
			trace_discard(&trace_global);
		}
	}
	host_phys_arena_destroy(arena, (4 << 20));
}
