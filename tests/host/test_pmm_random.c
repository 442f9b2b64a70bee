/*
 * Randomized differential test of the kernel's default allocator (regions, through the common
 * layer: page_allocator.h) against a reference model: a bitmap of pages plus the
 * table of live allocations. One million seeded operations (PMM_SEED overrides the seed) mix
 * sizes from 1 page to over a GiB, odd sizes, all three zones, alignments up to 2^23 pages, valid
 * frees and every kind of invalid free; a second workload crowds the DMA zone with 300 000
 * small, often aligned requests. Every failed allocation is checked against the model's bitmap:
 * it must have no free run, in an allowed zone, holding the aligned request (no false
 * out-of-memory). Cheap invariants are checked after every step, the full
 * comparison (page_allocator_check, the allocator's pages against the model's, free extents
 * against the model's maximal runs) every FULL_CHECK_INTERVAL steps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/lib/testing.h"
#include "kernel/mm/page_allocator.h"
#include "kernel/mm/pmm_regions.h"
#include "tests/host/host_env.h"
#include <machine/memory_zones.h>

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)
#define FULL_CHECK_INTERVAL 2000
#define MAX_LIVE 8192
#define RECENTLY_FREED 64
#define DEFAULT_SEED 0x5ca1ab1e2024ull

/* The model's zones end where the pmm is told they do: amd64's (<machine/memory_zones.h>). */
#define DMA_END_PAGE (MACHINE_ZONE_DMA_END / PAGE_SIZE)
#define DMA32_END_PAGE (MACHINE_ZONE_DMA32_END / PAGE_SIZE)

/* The machine: usable memory in all three zones, holes, overlaps, an unaligned edge. */
static const struct pmm_memory_map_entry random_map[] = {
	{ 0x0, 0x9fc00, PMM_MEMORY_AVAILABLE },                   /* pages 0..0x9e */
	{ 0x100000, 15 * MiB, PMM_MEMORY_AVAILABLE },              /* up to 16 MiB */
	{ 0x800000, 0x3000, PMM_MEMORY_BAD },                     /* 3 bad pages in DMA */
	{ 16 * MiB, 240 * MiB, PMM_MEMORY_AVAILABLE },             /* DMA32 */
	{ 100 * MiB, 2 * MiB, PMM_MEMORY_ACPI_RECLAIMABLE },       /* hole in DMA32 */
	{ 4 * GiB, GiB + 4 * MiB + 0x800, PMM_MEMORY_AVAILABLE }, /* NORMAL, unaligned end */
};
static const struct pmm_reservation random_reservations[] = {
	{ 0x0, 0x100000, MM_OWNER_FIRMWARE },
	{ 20 * MiB, 2 * MiB, MM_OWNER_KERNEL_IMAGE },
};
#define MODEL_PAGES ((5 * GiB + 8 * MiB) / PAGE_SIZE)
#define MODEL_WORDS (MODEL_PAGES / 64)

struct allocation {
	uint64_t first, pages;
};

/*
 * What the random steps ask for. The whole machine: every size and zone, room to spare. Crowded
 * low memory: small, often aligned requests in the DMA zone only, more live than it holds, so
 * most allocations go through the exact fit search and many fail, each failure checked.
 */
enum workload { WORKLOAD_WHOLE_MACHINE, WORKLOAD_CROWDED_DMA };
static const struct {
	uint64_t operations, target_live;
} workloads[] = {
	[WORKLOAD_WHOLE_MACHINE] = { 1000000, 3000 },
	[WORKLOAD_CROWDED_DMA] = { 300000, 600 },
};
static enum workload workload;

/* The reference model. */
static struct model {
	uint64_t managed[MODEL_WORDS];  /* usable pages (independent per-page reading of the map) */
	uint64_t used[MODEL_WORDS];     /* pages of live allocations */
	uint64_t metadata[MODEL_WORDS]; /* pages the pmm took for itself, as last synchronised */
	uint32_t length_at[MODEL_PAGES];/* pages of the live allocation starting here, else 0 */
	struct allocation live[MAX_LIVE];
	size_t live_count;
	struct allocation recently_freed[RECENTLY_FREED];
	unsigned freed_cursor;
	struct allocation metadata_ranges[4096];
	size_t metadata_count;
	uint64_t zone_free[PMM_ZONE_COUNT];
	uint64_t known_metadata_pages;
	uint64_t rng;
	uint64_t allocs, failed_allocs, frees, bad_frees, largest_live_pages, most_records;
	uint64_t out_of_memory_checked; /* = failed_allocs: every failure is checked */
} *model;

static struct page_allocator random_pmm;

/* The regions instance of zone z (its counters are read where a full walk would be too slow). */
static struct pmm_regions *instance(unsigned z)
{
	return random_pmm.zone[z].state;
}

static uint64_t metadata_pages(void)
{
	uint64_t pages = 0;
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		pages += random_pmm.zone[z].metadata_pages;
	return pages;
}

/* Free extents of every zone, from the placements' counts (no walk). */
static uint64_t free_extents(void)
{
	uint64_t extents = 0;
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		if (instance(z))
			extents += random_pmm.ops->free_blocks(instance(z));
	return extents;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t next_random(void)
{
	/* xorshift64* */
	model->rng ^= model->rng >> 12;
	model->rng ^= model->rng << 25;
	model->rng ^= model->rng >> 27;
	return model->rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t random_below(uint64_t n)
{
	return next_random() % n;
}

static bool bit(const uint64_t *map, uint64_t page)
{
	return map[page / 64] >> (page % 64) & 1;
}

static void set_bits(uint64_t *map, uint64_t first, uint64_t pages, bool value)
{
	for (uint64_t p = first; p < first + pages; p++) {
		if (p % 64 == 0 && p + 64 <= first + pages) {
			map[p / 64] = value ? ~0ull : 0;
			p += 63;
		} else if (value) {
			map[p / 64] |= 1ull << (p % 64);
		} else {
			map[p / 64] &= ~(1ull << (p % 64));
		}
	}
}

static bool page_is_free(uint64_t page)
{
	return page < MODEL_PAGES && bit(model->managed, page) && !bit(model->used, page) &&
	       !bit(model->metadata, page);
}

/* Free pages of the model in [first, first + pages), a word at a time. */
static uint64_t count_free(uint64_t first, uint64_t pages)
{
	uint64_t end = MIN(first + pages, (uint64_t)MODEL_PAGES), count = 0;
	for (uint64_t p = first; p < end;) {
		uint64_t w = p / 64, lo = p % 64, n = MIN(64 - lo, end - p);
		uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << lo;
		uint64_t free = model->managed[w] & ~model->used[w] & ~model->metadata[w];
		count += (uint64_t)__builtin_popcountll(free & mask);
		p += n;
	}
	return count;
}

static enum pmm_zone zone_of(uint64_t page)
{
	if (page < DMA_END_PAGE)
		return PMM_ZONE_DMA;
	return page < DMA32_END_PAGE ? PMM_ZONE_DMA32 : PMM_ZONE_NORMAL;
}

/* Marks pages used (or free) in a bitmap and keeps the per-zone free counts. */
static void model_mark(uint64_t *map, uint64_t first, uint64_t pages, bool used)
{
	set_bits(map, first, pages, used);
	for (uint64_t p = first; p < first + pages;) {
		enum pmm_zone zone = zone_of(p);
		uint64_t end = zone == PMM_ZONE_DMA ? DMA_END_PAGE
			     : zone == PMM_ZONE_DMA32 ? DMA32_END_PAGE
						      : UINT64_MAX;
		uint64_t n = MIN(end, first + pages) - p;
		if (used)
			model->zone_free[zone] -= n;
		else
			model->zone_free[zone] += n;
		p += n;
	}
}

/* The model's own reading of the map: a page is usable when wholly inside an available entry
 * and touching no other type. Independent of the normaliser's sweep. */
static void model_build_managed(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(random_map); i++) {
		const struct pmm_memory_map_entry *e = &random_map[i];
		if (e->type != PMM_MEMORY_AVAILABLE)
			continue;
		uint64_t first = ALIGN_UP(e->base, PAGE_SIZE) / PAGE_SIZE;
		uint64_t end = ALIGN_DOWN(e->base + e->length, PAGE_SIZE) / PAGE_SIZE;
		set_bits(model->managed, first, end - first, true);
	}
	for (size_t i = 0; i < ARRAY_SIZE(random_map); i++) {
		const struct pmm_memory_map_entry *e = &random_map[i];
		if (e->type == PMM_MEMORY_AVAILABLE)
			continue;
		uint64_t first = e->base / PAGE_SIZE;
		uint64_t end = ALIGN_UP(e->base + e->length, PAGE_SIZE) / PAGE_SIZE;
		set_bits(model->managed, first, end - first, false);
	}
	for (uint64_t p = 0; p < MODEL_PAGES; p++)
		if (bit(model->managed, p))
			model->zone_free[zone_of(p)]++;
}

static void model_add_live(uint64_t first, uint64_t pages)
{
	model->live[model->live_count++] = (struct allocation){ first, pages };
	model->length_at[first] = (uint32_t)pages;
	model_mark(model->used, first, pages, true);
}

static struct allocation model_remove_live(size_t index)
{
	struct allocation a = model->live[index];
	model->live[index] = model->live[--model->live_count];
	model->length_at[a.first] = 0;
	model_mark(model->used, a.first, a.pages, false);
	model->recently_freed[model->freed_cursor++ % RECENTLY_FREED] = a;
	return a;
}

static bool collect_metadata(void *ctx, const struct pmm_region_info *r)
{
	(void)ctx;
	if (r->pmm_metadata && model->metadata_count < ARRAY_SIZE(model->metadata_ranges)) {
		struct allocation a = { r->base / PAGE_SIZE, r->pages };
		model->metadata_ranges[model->metadata_count++] = a;
		model_mark(model->metadata, a.first, a.pages, true);
	}
	return true;
}

/*
 * Re-reads where the allocator keeps its own pages; returns true when they changed (a record page
 * taken adds a metadata page; none is ever given back).
 */
static bool model_sync_metadata(void)
{
	if (metadata_pages() == model->known_metadata_pages)
		return false;
	for (size_t i = 0; i < model->metadata_count; i++)
		model_mark(model->metadata, model->metadata_ranges[i].first,
			   model->metadata_ranges[i].pages, false);
	model->metadata_count = 0;
	page_allocator_for_each_used(&random_pmm, collect_metadata, NULL);
	model->known_metadata_pages = metadata_pages();
	return true;
}

/* What page_free must answer for [first, first + pages), by the rules of page_allocator.h. */
static enum pmm_status model_expected_free(uint64_t first, uint64_t pages)
{
	if (first < MODEL_PAGES && model->length_at[first])
		return model->length_at[first] == pages ? PMM_OK : PMM_ERR_WRONG_LENGTH;
	for (size_t i = 0; i < model->metadata_count; i++)
		if (model->metadata_ranges[i].first == first)
			return model->metadata_ranges[i].pages == pages ? PMM_ERR_PMM_METADATA
									: PMM_ERR_WRONG_LENGTH;
	uint64_t free_pages = count_free(first, pages);
	if (free_pages == pages)
		return PMM_ERR_DOUBLE_FREE;
	return free_pages ? PMM_ERR_PARTLY_FREE : PMM_ERR_NOT_ALLOCATED;
}

/* 1 when a free page lies just outside [first, end) on that side, in the same zone. */
static int free_neighbours(uint64_t first, uint64_t end)
{
	int n = 0;
	if (first > 0 && page_is_free(first - 1) && zone_of(first - 1) == zone_of(first))
		n++;
	if (page_is_free(end) && zone_of(end) == zone_of(end - 1))
		n++;
	return n;
}

/* ---- full comparison -------------------------------------------------------------------------- */

struct walk {
	uint64_t *pmm_used; /* pages in used records, as the pmm sees them */
	uint64_t free_extents, largest, live_records;
	bool ok;
	char problem[160];
};

static bool walk_visit(void *ctx, const struct pmm_region_info *r)
{
	struct walk *w = ctx;
	uint64_t first = r->base / PAGE_SIZE;
	if (r->state == PMM_REGION_FREE) {
		w->free_extents++;
		w->largest = MAX(w->largest, r->pages);
		return true;
	}
	set_bits(w->pmm_used, first, r->pages, true);
	if (!r->pmm_metadata) {
		w->live_records++;
		if (model->length_at[first] != r->pages) {
			w->ok = false;
			snprintf(w->problem, sizeof(w->problem),
				 "used record at page %#lx (%lu pages) is no live allocation",
				 (unsigned long)first, (unsigned long)r->pages);
			return false;
		}
	}
	return true;
}

/* Counts the model's maximal free runs, which never continue across a zone boundary. */
static uint64_t model_free_runs(void)
{
	uint64_t runs = 0, carry = 0;
	for (uint64_t w = 0; w < MODEL_WORDS; w++) {
		uint64_t page = w * 64;
		if (page == DMA_END_PAGE || page == DMA32_END_PAGE)
			carry = 0;
		uint64_t free = model->managed[w] & ~model->used[w] & ~model->metadata[w];
		runs += (uint64_t)__builtin_popcountll(free & ~((free << 1) | carry));
		carry = free >> 63;
	}
	return runs;
}

static bool full_comparison(char *problem, size_t size)
{
	const char *check = page_allocator_check(&random_pmm);
	if (check) {
		snprintf(problem, size, "page_allocator_check: %s", check);
		return false;
	}
	static uint64_t pmm_used[MODEL_WORDS];
	memset(pmm_used, 0, sizeof(pmm_used));
	struct walk w = { .pmm_used = pmm_used, .ok = true };
	page_allocator_for_each_used(&random_pmm, walk_visit, &w);
	if (w.ok)
		page_allocator_for_each_free_extent(&random_pmm, walk_visit, &w);
	if (!w.ok) {
		snprintf(problem, size, "%s", w.problem);
		return false;
	}
	for (uint64_t i = 0; i < MODEL_WORDS; i++) {
		uint64_t model_used = model->managed[i] & (model->used[i] | model->metadata[i]);
		if (pmm_used[i] != model_used) {
			snprintf(problem, size, "pages %#lx..: pmm used %#lx, model %#lx",
				 (unsigned long)(i * 64), (unsigned long)pmm_used[i],
				 (unsigned long)model_used);
			return false;
		}
	}
	struct pmm_stats stats;
	page_allocator_stats(&random_pmm, &stats);
	uint64_t runs = model_free_runs();
	if (w.live_records != model->live_count || stats.free_extents != runs ||
	    w.free_extents != runs || stats.largest_free_extent != w.largest) {
		snprintf(problem, size,
			 "live %lu/%lu, extents stats %lu walk %lu model %lu, largest %lu/%lu",
			 (unsigned long)w.live_records, (unsigned long)model->live_count,
			 (unsigned long)stats.free_extents, (unsigned long)w.free_extents,
			 (unsigned long)runs, (unsigned long)stats.largest_free_extent,
			 (unsigned long)w.largest);
		return false;
	}
	return true;
}

/* ---- operations ------------------------------------------------------------------------------- */

static uint64_t random_size(void)
{
	uint64_t r = random_below(100);
	if (r < 55)
		return 1 + random_below(8);
	if (r < 80)
		return 9 + random_below(300);
	if (r < 94)
		return 301 + random_below(20000);
	if (r < 98)
		return 20001 + random_below(300000);
	static const uint64_t exact[] = { 512, 1024, 262144, 262145, 3, 37, 1000 };
	return exact[random_below(ARRAY_SIZE(exact))];
}

static uint64_t random_alignment(void)
{
	uint64_t r = random_below(100);
	if (r < 60)
		return 1;
	if (r < 85)
		return 1ull << random_below(7);
	if (r < 93)
		return 512;
	if (r < 96)
		return 262144;
	return 1ull << random_below(24);
}

struct step {
	char problem[200];
};

static bool fail_step(struct step *s, const char *fmt, unsigned long a, unsigned long b,
		      unsigned long c)
{
	snprintf(s->problem, sizeof(s->problem), fmt, a, b, c);
	return false;
}

/* The first page >= p and < end whose free bit in the model equals `want`; end if none. */
static uint64_t next_page_with(uint64_t p, uint64_t end, bool want)
{
	while (p < end) {
		uint64_t w = p / 64;
		uint64_t bits = model->managed[w] & ~model->used[w] & ~model->metadata[w];
		bits = (want ? bits : ~bits) & (~0ull << (p % 64));
		if (bits)
			return MIN(end, w * 64 + (uint64_t)__builtin_ctzll(bits));
		p = w * 64 + 64;
	}
	return end;
}

static uint64_t zone_end_page(uint64_t page)
{
	switch (zone_of(page)) {
	case PMM_ZONE_DMA:
		return DMA_END_PAGE;
	case PMM_ZONE_DMA32:
		return DMA32_END_PAGE;
	default:
		return MODEL_PAGES;
	}
}

/*
 * The reference answer to "can this request be served?": some maximal free run of the model's
 * bitmap, inside one zone the request may use, holds `pages` pages at an `align` boundary.
 */
static bool model_has_fit(uint64_t pages, uint64_t align, enum pmm_alloc_zone zone)
{
	uint64_t limit = zone == PMM_ALLOC_BELOW_16M ? DMA_END_PAGE
		       : zone == PMM_ALLOC_BELOW_4G  ? DMA32_END_PAGE
						     : MODEL_PAGES;
	for (uint64_t p = next_page_with(0, limit, true); p < limit;) {
		uint64_t end = next_page_with(p, MIN(limit, zone_end_page(p)), false);
		if (ALIGN_UP(p, align) + pages <= end)
			return true;
		p = next_page_with(end, limit, true);
	}
	return false;
}

/* A failure is right only when the model has no fitting run. */
static bool check_failed_alloc(struct step *s, uint64_t pages, uint64_t align,
			       enum pmm_alloc_zone zone, enum pmm_status status)
{
	if (status != PMM_ERR_OUT_OF_MEMORY)
		return fail_step(s, "alloc of %lu pages failed with status %lu", pages, status, 0);
	if (model_has_fit(pages, align, zone))
		return fail_step(s, "alloc %lu/%lu (zone %lu) failed although the model has a fit",
				 pages, align, zone);
	model->out_of_memory_checked++;
	return true;
}

static bool step_alloc(struct step *s)
{
	uint64_t pages = random_size(), align = random_alignment();
	enum pmm_alloc_zone zone = (enum pmm_alloc_zone)(random_below(10) < 7 ? PMM_ALLOC_ANY
							 : random_below(2)   ? PMM_ALLOC_BELOW_4G
									     : PMM_ALLOC_BELOW_16M);
	if (workload == WORKLOAD_CROWDED_DMA) {
		pages = random_below(4) ? 1 + random_below(12) : 13 + random_below(52);
		align = random_below(3) ? 1 : 1ull << random_below(9);
		zone = PMM_ALLOC_BELOW_16M;
	}
	enum mm_owner owner = (enum mm_owner)(1 + random_below(MM_OWNER_COUNT - 1));
	uint64_t extents_before = free_extents();
	enum pmm_status status;
	paddr_t pa = page_alloc_status(&random_pmm, pages, zone, align, owner, &status);
	bool metadata_moved = model_sync_metadata();
	model->allocs++;
	if (pa == PMM_ALLOC_FAILED) {
		model->failed_allocs++;
		return check_failed_alloc(s, pages, align, zone, status);
	}
	model->largest_live_pages = MAX(model->largest_live_pages, pages);

	uint64_t first = pa / PAGE_SIZE, end = first + pages;
	uint64_t limit = zone == PMM_ALLOC_BELOW_16M ? DMA_END_PAGE
		       : zone == PMM_ALLOC_BELOW_4G  ? DMA32_END_PAGE
						     : UINT64_MAX;
	if (status != PMM_OK || pa % PAGE_SIZE || first % align || end > limit)
		return fail_step(s, "alloc at page %#lx of %lu pages breaks alignment %lu or zone",
				 first, pages, align);
	if (end > MODEL_PAGES)
		return fail_step(s, "alloc at page %#lx (%lu pages) outside memory", first, pages, 0);
	if (count_free(first, pages) != pages)
		return fail_step(s, "alloc at page %#lx (%lu pages) overlaps used pages", first,
				 pages, 0);
	int neighbours = free_neighbours(first, end);
	model_add_live(first, pages);
	uint64_t extents_after = free_extents();
	/* The extent it came from loses its middle: -1, plus one per free remainder. */
	if (!metadata_moved && extents_after + 1 != extents_before + neighbours)
		return fail_step(s, "alloc at page %#lx: free extents %lu -> %lu", first,
				 extents_before, extents_after);
	return true;
}

static bool step_free(struct step *s)
{
	size_t index = random_below(model->live_count);
	struct allocation a = model->live[index];
	uint64_t extents_before = free_extents();
	enum pmm_status status = page_free(&random_pmm, a.first * PAGE_SIZE, a.pages);
	if (status != PMM_OK)
		return fail_step(s, "free of page %#lx (%lu pages) failed: %lu", a.first, a.pages,
				 status);
	model_remove_live(index);
	model->frees++;
	int neighbours = free_neighbours(a.first, a.first + a.pages);
	uint64_t extents_after = free_extents();
	/* Coalescing: the freed run joins each free neighbour instead of adding an extent (a record
	 * page taken by the top-up after the free would split one: re-read the metadata first). */
	if (!model_sync_metadata() && extents_after != extents_before + 1 - neighbours)
		return fail_step(s, "free of page %#lx: free extents %lu -> %lu (not coalesced)",
				 a.first, extents_before, extents_after);
	return true;
}

static struct allocation random_bad_free(void)
{
	uint64_t kind = random_below(4);
	if (kind == 0 && model->freed_cursor)
		return model->recently_freed[random_below(MIN(model->freed_cursor, RECENTLY_FREED))];
	if (kind <= 2 && model->live_count) {
		struct allocation a = model->live[random_below(model->live_count)];
		if (kind == 1 || a.pages < 2)
			a.pages += random_below(2) ? 1 : -1; /* wrong length */
		else
			a.first += 1 + random_below(a.pages - 1); /* inside */
		return a;
	}
	return (struct allocation){ random_below(MODEL_PAGES), 1 + random_below(16) };
}

static bool step_bad_free(struct step *s)
{
	struct allocation a = random_bad_free();
	enum pmm_status expected = model_expected_free(a.first, a.pages);
	if (a.pages == 0)
		expected = PMM_ERR_INVALID_ARGUMENT;
	if (expected == PMM_OK)
		return true; /* by chance a valid free: step_free covers those */
	model->bad_frees++;
	/* The state a refusal must leave: the allocator, each zone's instance header (its records
	 * are reached from there and from used_at, which a free changes first) */
	static struct page_allocator before;
	static struct pmm_regions before_zone[PMM_ZONE_COUNT];
	memcpy(&before, &random_pmm, sizeof(before));
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		if (instance(z))
			memcpy(&before_zone[z], instance(z), sizeof(before_zone[z]));
	enum pmm_status status = page_free(&random_pmm, a.first * PAGE_SIZE, a.pages);
	if (status != expected)
		return fail_step(s, "bad free of page %#lx (%lu pages): status %lu", a.first,
				 a.pages, status);
	bool same = memcmp(&before, &random_pmm, sizeof(before)) == 0;
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		if (instance(z))
			same = same && memcmp(&before_zone[z], instance(z), sizeof(before_zone[z])) == 0;
	if (!same)
		return fail_step(s, "bad free of page %#lx (%lu pages) changed the allocator", a.first,
				 a.pages, 0);
	return true;
}

static bool step_invalid_alloc(struct step *s)
{
	bool zero = random_below(2);
	uint64_t align = zero ? 1 : 3 + 2 * random_below(100);
	enum pmm_status status;
	paddr_t pa = page_alloc_status(&random_pmm, zero ? 0 : 4, PMM_ALLOC_ANY, align,
				       MM_OWNER_TEST, &status);
	if (pa != PMM_ALLOC_FAILED || status != PMM_ERR_INVALID_ARGUMENT)
		return fail_step(s, "invalid alloc (align %lu) returned %#lx, status %lu", align, pa,
				 status);
	return true;
}

static bool cheap_checks(struct step *s)
{
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++) {
		uint64_t free = instance(z) ? random_pmm.ops->free_pages(instance(z)) : 0;
		if (free != model->zone_free[z])
			return fail_step(s, "zone %lu: allocator free %lu, model %lu", z, free,
					 model->zone_free[z]);
		if (instance(z))
			model->most_records = MAX(model->most_records, instance(z)->records_owned -
								      instance(z)->spare_record_count);
	}
	return true;
}

static bool run_step(struct step *s)
{
	uint64_t r = random_below(100);
	bool more_allocs = model->live_count < workloads[workload].target_live;
	bool ok;
	if (r < 2)
		ok = step_invalid_alloc(s);
	else if (r < 12)
		ok = step_bad_free(s);
	else if (model->live_count < MAX_LIVE && (!model->live_count || r < (more_allocs ? 62 : 52)))
		ok = step_alloc(s);
	else
		ok = step_free(s);
	return ok && cheap_checks(s);
}

static uint64_t seed_from_environment(void)
{
	const char *text = getenv("PMM_SEED");
	return text && *text ? strtoull(text, NULL, 0) : DEFAULT_SEED;
}

static bool set_up(uint64_t seed)
{
	model = calloc(1, sizeof(*model));
	model->rng = seed ? seed : DEFAULT_SEED;
	model_build_managed();
	struct pmm_config config = {
		.memory_map = random_map,
		.memory_map_count = ARRAY_SIZE(random_map),
		.reservations = random_reservations,
		.reservation_count = ARRAY_SIZE(random_reservations),
		.zone_end = MACHINE_ZONE_ENDS,
	};
	struct page_allocator_config chosen = { PMM_ALLOCATOR_regions, &config };
	if (page_allocator_init(&random_pmm, &chosen) != PMM_OK)
		return false;
	/* Each reservation is one used record per usable run it covers, freeable like the rest. */
	for (size_t i = 0; i < ARRAY_SIZE(random_reservations); i++) {
		uint64_t p = random_reservations[i].base / PAGE_SIZE;
		uint64_t end = p + random_reservations[i].length / PAGE_SIZE;
		while (p < end) {
			uint64_t run = 0;
			while (p + run < end && bit(model->managed, p + run) &&
			       zone_of(p + run) == zone_of(p))
				run++;
			if (run)
				model_add_live(p, run);
			p += run ? run : 1;
		}
	}
	model_sync_metadata();
	return true;
}

/* How many of a workload's allocations failed, each checked against the model (no fit anywhere
 * allowed), and how many failed at all. */
struct failures {
	uint64_t out_of_memory_checked, failed;
};

static struct failures run_workload(enum workload chosen)
{
	struct failures failures = { 0, 0 };
	uint64_t seed = seed_from_environment(), operations = workloads[chosen].operations;
	void *arena = host_phys_arena_create(0, MODEL_PAGES * PAGE_SIZE);
	static struct step s;
	workload = chosen;
	if (!set_up(seed)) {
		testing_fail(__FILE__, __LINE__, "page_allocator_init refused the test machine");
		return failures;
	}
	for (uint64_t step = 0; step < operations; step++) {
		bool ok = run_step(&s);
		if (ok && (step % FULL_CHECK_INTERVAL == 0 || step == operations - 1))
			ok = full_comparison(s.problem, sizeof(s.problem));
		if (!ok) {
			testing_fail(__FILE__, __LINE__, "step %lu: %s", (unsigned long)step,
				     s.problem);
			testing_note("reproduce with PMM_SEED=%#llx", (unsigned long long)seed);
			break;
		}
	}
	testing_note("seed %#llx: %llu allocs (%llu failed, largest %llu pages), %llu frees, "
		     "%llu bad frees, up to %llu records",
		     (unsigned long long)seed, (unsigned long long)model->allocs,
		     (unsigned long long)model->failed_allocs,
		     (unsigned long long)model->largest_live_pages, (unsigned long long)model->frees,
		     (unsigned long long)model->bad_frees, (unsigned long long)model->most_records);
	testing_note("failures: %llu out of memory, each checked: no fit in the model",
		     (unsigned long long)model->out_of_memory_checked);
	failures = (struct failures){ model->out_of_memory_checked, model->failed_allocs };
	free(model);
	model = NULL;
	host_phys_arena_destroy(arena, MODEL_PAGES * PAGE_SIZE);
	return failures;
}

/* One million random operations agree with a page-bitmap reference model at every step. */
TEST(pmm_random_operations_match_reference_model)
{
	run_workload(WORKLOAD_WHOLE_MACHINE);
}

/*
 * In a full, fragmented DMA zone no small or aligned request fails while the model has a fit: the
 * workload must make many requests fail (else the claim was never tested), and every failure is
 * checked: none for want of records while pages are free.
 */
TEST(pmm_random_crowded_low_memory_never_fails_beside_a_fit)
{
	struct failures failures = run_workload(WORKLOAD_CROWDED_DMA);
	ASSERT_TRUE(failures.out_of_memory_checked >= 1000);
	ASSERT_EQ(failures.out_of_memory_checked, failures.failed);
}
