/*
 * Host benchmark of the regions allocator (kernel/mm/pmm_regions.c, through page_allocator.h): nanoseconds per alloc+free pair, by request size,
 * zone and fragmentation (number of free extents), against a first-fit walk of the same
 * address-ordered region list, the seed design's search.
 *
 *   build/bench/bench_pmm                readable table and the targets' verdict, then the
 *                                        adversarial patterns
 *   build/bench/bench_pmm --csv          one row per measurement, for results/
 *   build/bench/bench_pmm --adversarial  only the adversarial patterns
 *   build/bench/bench_pmm --pairs PAGES  10 000 pairs of PAGES at ~100 000 extents, no timing:
 *                                        for valgrind --tool=callgrind --toggle-collect=measured_pairs
 *
 * Fragmentation: in each zone, pairs (2 pages, 1 page) are allocated from the start of the zone
 * and the 2-page pieces freed again, leaving that many 2-page holes between 1-page separators;
 * the rest of each zone stays one large free extent, so every size has somewhere to go.
 *
 * Baseline: a first-fit allocator would do the same record operations as the pmm (carve, hash,
 * merge), plus a walk of the list to the first free record that fits. To compare search with
 * search only, the walk follows the pmm's zone preference (NORMAL, DMA32, DMA for "any"): in each
 * zone it starts at the zone's first record. It is timed on its own, over the same list, reading
 * the records directly (the fastest walk possible); first-fit cost = walk + the pmm's pair cost.
 * A 1-page request fits the first free record of any list, so first fit is O(1) for it and the
 * speedup there is ~1 by construction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel/mm/page_allocator.h"
#include "kernel/mm/pmm_regions.h"
#include "tests/host/host_env.h"
#include "tests/host/pmm_patterns.h"
#include <machine/memory_zones.h>
#include "benchmarks/timing.h"

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)
#define ARENA_BYTES (12 * GiB)
#define REPEATS 5
#define PAIRS_PER_REPEAT 100000
#define WALK_BUDGET_NS 10000000ull /* time per repeat of the first-fit walk */
#define DMA_HOLES_MAX 900          /* leaves > 1000 pages free in the DMA zone */

static const uint64_t sizes[] = { 1, 8, 512, 262144, 3, 37, 1000 };
static const uint64_t extent_targets[] = { 10, 1000, 100000 };
static const enum pmm_alloc_zone zones[] = { PMM_ALLOC_ANY, PMM_ALLOC_BELOW_4G,
					     PMM_ALLOC_BELOW_16M };
static const char *const zone_labels[] = { "any", "<4G", "<16M" };

struct result {
	uint64_t extents_target, extents_actual, zone_extents;
	unsigned zone;
	uint64_t pages;
	double pair_ns, walk_ns;
};

static struct result results[ARRAY_SIZE(extent_targets) * ARRAY_SIZE(zones) * ARRAY_SIZE(sizes)];
static size_t result_count;
static volatile uint64_t sink;

static double median(double *values, size_t count)
{
	bench_sort_samples(values, count);
	return values[count / 2];
}

static void die(const char *what)
{
	fprintf(stderr, "bench_pmm: %s\n", what);
	exit(1);
}

/* ---- building a fragmented allocator ------------------------------------------------------ */

static void make_holes(struct page_allocator *pmm, enum pmm_alloc_zone zone, uint64_t holes)
{
	paddr_t *pieces = malloc(holes * sizeof(*pieces));
	for (uint64_t i = 0; i < holes; i++) {
		pieces[i] = page_alloc(pmm, 2, zone, 1, MM_OWNER_TEST);
		if (pieces[i] == PMM_ALLOC_FAILED ||
		    page_alloc(pmm, 1, zone, 1, MM_OWNER_TEST) == PMM_ALLOC_FAILED)
			die("cannot build the fragmentation");
	}
	for (uint64_t i = 0; i < holes; i++)
		if (page_free(pmm, pieces[i], 2) != PMM_OK)
			die("cannot free a fragmentation piece");
	free(pieces);
}

/* Returns the number of free extents actually reached. */
static uint64_t build_fragmented(struct page_allocator *pmm, uint64_t extents)
{
	static const struct pmm_memory_map_entry map[] = {
		{ 0x0, 0x9f000, PMM_MEMORY_AVAILABLE },
		{ MiB, ARENA_BYTES - MiB, PMM_MEMORY_AVAILABLE },
	};
	static const struct pmm_reservation reservations[] = { { 0, MiB, MM_OWNER_FIRMWARE } };
	struct pmm_config config = {
		.memory_map = map,
		.memory_map_count = ARRAY_SIZE(map),
		.reservations = reservations,
		.reservation_count = ARRAY_SIZE(reservations),
		.zone_end = MACHINE_ZONE_ENDS,
	};
	struct page_allocator_config chosen = { PMM_ALLOCATOR_regions, &config };
	if (page_allocator_init(pmm, &chosen) != PMM_OK)
		die("page_allocator_init failed");
	/* Each zone keeps its large tail extent: 3 extents before any hole. */
	uint64_t holes = extents > 3 ? extents - 3 : 0;
	uint64_t dma = MIN(holes / 10, (uint64_t)DMA_HOLES_MAX);
	uint64_t dma32 = (holes - dma) / 2;
	make_holes(pmm, PMM_ALLOC_BELOW_16M, dma);
	make_holes(pmm, PMM_ALLOC_BELOW_4G, dma32);
	make_holes(pmm, PMM_ALLOC_ANY, holes - dma - dma32);
	const char *problem = page_allocator_check(pmm);
	if (problem)
		die(problem);
	struct pmm_stats stats;
	page_allocator_stats(pmm, &stats);
	return stats.free_extents;
}

/* ---- measurements --------------------------------------------------------------------------- */

static double time_pairs(struct page_allocator *pmm, uint64_t pages, enum pmm_alloc_zone zone)
{
	double samples[REPEATS];
	for (unsigned r = 0; r < REPEATS; r++) {
		uint64_t start = bench_now_ns();
		for (unsigned i = 0; i < PAIRS_PER_REPEAT; i++) {
			paddr_t pa = page_alloc(pmm, pages, zone, 1, MM_OWNER_TEST);
			if (pa == PMM_ALLOC_FAILED || page_free(pmm, pa, pages) != PMM_OK)
				die("a benchmark allocation failed");
		}
		samples[r] = (double)(bench_now_ns() - start) / PAIRS_PER_REPEAT;
	}
	return median(samples, REPEATS);
}

/* Each zone's regions instance, whose record list first_fit walks. */
static const struct pmm_regions *zone_instance[PMM_ZONE_COUNT];

static void find_zone_starts(const struct page_allocator *pmm)
{
	for (unsigned z = 0; z < PMM_ZONE_COUNT; z++)
		zone_instance[z] = pmm->zone[z].state;
}

/* The zones a request may use, in the pmm's order of preference. */
static const enum pmm_zone zone_order[3][PMM_ZONE_COUNT + 1] = {
	{ PMM_ZONE_NORMAL, PMM_ZONE_DMA32, PMM_ZONE_DMA, PMM_ZONE_COUNT },
	{ PMM_ZONE_DMA32, PMM_ZONE_DMA, PMM_ZONE_COUNT },
	{ PMM_ZONE_DMA, PMM_ZONE_COUNT },
};

/* The first-fit search: in each allowed zone, the first free record that fits. */
static const struct pmm_region *first_fit(uint64_t pages, unsigned zone)
{
	for (const enum pmm_zone *z = zone_order[zone]; *z != PMM_ZONE_COUNT; z++)
		for (const struct pmm_region *r = zone_instance[*z] ? pmm_regions_first(zone_instance[*z])
								  : NULL;
		     r; r = pmm_regions_next(zone_instance[*z], r))
			if (r->state == PMM_REGION_FREE && r->pages >= pages)
				return r;
	return NULL;
}

static double time_first_fit_walk(uint64_t pages, unsigned zone)
{
	uint64_t start = bench_now_ns();
	if (!first_fit(pages, zone))
		die("first fit found nothing");
	uint64_t once = MAX(bench_now_ns() - start, (uint64_t)1);
	uint64_t iterations = MAX(MIN(WALK_BUDGET_NS / once, (uint64_t)PAIRS_PER_REPEAT), 5ull);
	double samples[REPEATS];
	for (unsigned r = 0; r < REPEATS; r++) {
		start = bench_now_ns();
		for (uint64_t i = 0; i < iterations; i++)
			sink += first_fit(pages, zone)->first_page;
		samples[r] = (double)(bench_now_ns() - start) / (double)iterations;
	}
	return median(samples, REPEATS);
}

static void measure(struct page_allocator *pmm, uint64_t extents_target, uint64_t extents_actual)
{
	struct pmm_stats stats;
	page_allocator_stats(pmm, &stats);
	find_zone_starts(pmm);
	for (unsigned z = 0; z < ARRAY_SIZE(zones); z++) {
		for (unsigned s = 0; s < ARRAY_SIZE(sizes); s++) {
			if (zones[z] == PMM_ALLOC_BELOW_16M && sizes[s] * PAGE_SIZE > 4 * MiB)
				continue; /* does not fit the DMA zone (16 MiB, part fragmented) */
			struct result *out = &results[result_count++];
			out->extents_target = extents_target;
			out->extents_actual = extents_actual;
			out->zone_extents = stats.zone[zone_order[z][0]].free_extents;
			out->zone = z;
			out->pages = sizes[s];
			out->pair_ns = time_pairs(pmm, sizes[s], zones[z]);
			out->walk_ns = time_first_fit_walk(sizes[s], z);
		}
	}
}

/* ---- reporting ------------------------------------------------------------------------------ */

static const struct result *find_result(uint64_t extents_target, unsigned zone, uint64_t pages)
{
	for (size_t i = 0; i < result_count; i++)
		if (results[i].extents_target == extents_target && results[i].zone == zone &&
		    results[i].pages == pages)
			return &results[i];
	return NULL;
}

static void print_csv(void)
{
	printf("extents_target,extents_actual,zone,zone_extents,pages,pmm_pair_ns,"
	       "first_fit_walk_ns,first_fit_pair_ns,speedup\n");
	for (size_t i = 0; i < result_count; i++) {
		const struct result *r = &results[i];
		printf("%llu,%llu,%s,%llu,%llu,%.1f,%.1f,%.1f,%.2f\n",
		       (unsigned long long)r->extents_target, (unsigned long long)r->extents_actual,
		       zone_labels[r->zone], (unsigned long long)r->zone_extents,
		       (unsigned long long)r->pages, r->pair_ns, r->walk_ns,
		       r->walk_ns + r->pair_ns, (r->walk_ns + r->pair_ns) / r->pair_ns);
	}
}

static void print_table(void)
{
	printf("pmm alloc+free pair, ns (median of %d x %d pairs); first fit = list walk + pair\n",
	       REPEATS, PAIRS_PER_REPEAT);
	printf("%-8s %-5s %-8s %7s | %9s %12s %9s | %s\n", "extents", "zone", "in zone", "pages",
	       "pmm ns", "first-fit ns", "speedup", "growth 10->100k");
	double worst_ns = 0, worst_growth = 0, worst_speedup = 1e30;
	for (size_t i = 0; i < result_count; i++) {
		const struct result *r = &results[i];
		const struct result *base = find_result(extent_targets[0], r->zone, r->pages);
		double growth = r->pair_ns / base->pair_ns, speedup = (r->walk_ns + r->pair_ns) /
								    r->pair_ns;
		char growth_text[16] = "";
		if (r->extents_target == extent_targets[ARRAY_SIZE(extent_targets) - 1]) {
			snprintf(growth_text, sizeof(growth_text), "%.2fx", growth);
			worst_ns = MAX(worst_ns, r->pair_ns);
			worst_growth = MAX(worst_growth, growth);
			if (r->pages > 1) /* 1 page: first fit is O(1), see the top */
				worst_speedup = MIN(worst_speedup, speedup);
		}
		printf("%-8llu %-5s %-8llu %7llu | %9.1f %12.1f %8.1fx | %s\n",
		       (unsigned long long)r->extents_actual, zone_labels[r->zone],
		       (unsigned long long)r->zone_extents, (unsigned long long)r->pages, r->pair_ns, r->walk_ns + r->pair_ns, speedup,
		       growth_text);
	}
	printf("\nat ~100000 extents: worst pair %.1f ns (target <= 100), worst growth from 10 "
	       "extents %.2fx (target <= 1.5), smallest speedup over first fit (sizes > 1 page) %.1fx (target >= 10)\n",
	       worst_ns, worst_growth, worst_speedup);
}

/* ---- adversarial patterns: the allocator's own work count (its instances' work), not time ---- */

#define ADVERSARIAL_HOLES 100000

static bool count_at_least(void *ctx, const struct pmm_region_info *r)
{
	uint64_t *counts = ctx; /* [0]: pages, [1]: count */
	counts[1] += r->zone == PMM_ZONE_NORMAL && r->pages >= counts[0];
	return true;
}

/*
 * Per pattern, at ADVERSARIAL_HOLES free extents in NORMAL: the work of the allocation that finds
 * the one fitting extent at the far end (the zone's first exact search: it files every extent),
 * of the same request once that extent is taken (NORMAL searched in vain, then DMA32), and of
 * freeing the first allocation; with the bounds pmm_regions.c states (h = the AVL height bound, K =
 * extents of >= n pages): the search without filing, and the first allocation with the filing of
 * every extent (1 + 3(h + 1) each), its carving and a record page.
 */
static void adversarial_report(void)
{
	printf("\nadversarial patterns, %d free extents in NORMAL: pmm work (records + tree nodes + "
	       "map entries visited) per operation\n", ADVERSARIAL_HOLES);
	printf("%-28s %8s %7s | %3s %6s | %9s %10s %6s | %s\n", "pattern", "pages", "align", "h",
	       "K", "alloc", "no-fit", "free", "stated: search in NORMAL, first alloc with filing");
	for (size_t i = 0; i < ARRAY_SIZE(pmm_patterns); i++) {
		const struct pmm_pattern *p = &pmm_patterns[i];
		static struct pmm_pattern_world w;
		if (!pmm_pattern_build(&w, p, ADVERSARIAL_HOLES))
			die("cannot build an adversarial pattern");
		struct page_allocator *pmm = &w.a;
		struct pmm_regions *normal = pmm_pattern_normal(&w);
		struct pmm_stats stats;
		page_allocator_stats(pmm, &stats);
		uint64_t extents = stats.zone[PMM_ZONE_NORMAL].free_extents;
		uint64_t h = pmm_pattern_height_bound(extents);
		uint64_t counts[2] = { p->request_pages, 0 };
		page_allocator_for_each_free_extent(pmm, count_at_least, counts);
		uint64_t n = p->request_pages, a = p->request_align;
		uint64_t h_meta = pmm_pattern_height_bound(stats.zone[PMM_ZONE_DMA32].free_extents + 2);
		uint64_t search = pmm_pattern_search_bound(h, n, a, counts[1]);
		/* + filing every extent + carving from a filed record + a record page from DMA32 */
		uint64_t whole = search + extents * (1 + 3 * (h + 1)) + 4 * (h + 1) + 1 + 4 * (h_meta + 1);

		uint64_t before = pmm_regions_work(pmm);
		paddr_t pa = page_alloc(pmm, n, PMM_ALLOC_ANY, a, MM_OWNER_TEST);
		uint64_t alloc_work = pmm_regions_work(pmm) - before;
		if (pa != ALIGN_UP(w.fit_first_page, a) * PAGE_SIZE)
			die("the far-end fit was not found");
		if (pmm_classes_tallest_tree(&normal->classes) > h)
			die("a class tree is taller than the AVL bound");
		before = pmm_regions_work(pmm);
		paddr_t low = page_alloc(pmm, n, PMM_ALLOC_ANY, a, MM_OWNER_TEST);
		uint64_t miss_work = pmm_regions_work(pmm) - before;
		if (low != PMM_ALLOC_FAILED && low >= page_allocator_zone_end(pmm, PMM_ZONE_DMA32))
			die("a request found a fit in NORMAL that does not exist");
		before = pmm_regions_work(pmm);
		if (page_free(pmm, pa, n) != PMM_OK)
			die("free failed");
		uint64_t free_work = pmm_regions_work(pmm) - before;
		printf("%-28s %8llu %7llu | %3llu %6llu | %9llu %10llu %6llu | %llu, %llu%s\n", p->name,
		       (unsigned long long)n, (unsigned long long)a, (unsigned long long)h,
		       (unsigned long long)counts[1], (unsigned long long)alloc_work,
		       (unsigned long long)miss_work, (unsigned long long)free_work,
		       (unsigned long long)search, (unsigned long long)whole,
		       a > 1 && a < n ? " (linear: 1 < align < pages)" : "");
		pmm_pattern_destroy(&w);
	}
	printf("no-fit = the same request once the far-end fit is taken: NORMAL has none (its extents "
	       "now filed), DMA32 is tried next; free = used_at's record + at most two neighbours "
	       "leaving their trees (stated <= 8(h + 1))\n");
}

/* The instruction-count mode: callgrind collects inside this function only. */
__attribute__((noinline)) static void measured_pairs(struct page_allocator *pmm, uint64_t pages, unsigned pairs)
{
	for (unsigned i = 0; i < pairs; i++) {
		paddr_t pa = page_alloc(pmm, pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		if (pa == PMM_ALLOC_FAILED || page_free(pmm, pa, pages) != PMM_OK)
			die("a benchmark allocation failed");
	}
}

int main(int argc, char **argv)
{
	bool csv = argc == 2 && strcmp(argv[1], "--csv") == 0;
	bool adversarial_only = argc == 2 && strcmp(argv[1], "--adversarial") == 0;
	bool pairs_only = argc == 3 && strcmp(argv[1], "--pairs") == 0;
	if (argc > 3 || (argc == 2 && !csv && !adversarial_only) || (argc == 3 && !pairs_only)) {
		fprintf(stderr, "usage: %s [--csv | --adversarial | --pairs PAGES]\n", argv[0]);
		return 2;
	}
	if (pairs_only) {
		uint64_t pages = strtoull(argv[2], NULL, 0);
		if (pages == 0)
			die("--pairs wants a page count");
		void *pairs_arena = host_phys_arena_create(0, ARENA_BYTES);
		static struct page_allocator pairs_pmm;
		build_fragmented(&pairs_pmm, extent_targets[ARRAY_SIZE(extent_targets) - 1]);
		measured_pairs(&pairs_pmm, pages, 10000);
		host_phys_arena_destroy(pairs_arena, ARENA_BYTES);
		return 0;
	}
	if (adversarial_only) {
		adversarial_report();
		return 0;
	}
	void *arena = host_phys_arena_create(0, ARENA_BYTES);
	static struct page_allocator pmm;
	for (unsigned e = 0; e < ARRAY_SIZE(extent_targets); e++) {
		uint64_t actual = build_fragmented(&pmm, extent_targets[e]);
		measure(&pmm, extent_targets[e], actual);
	}
	if (csv)
		print_csv();
	else
		print_table();
	host_phys_arena_destroy(arena, ARENA_BYTES);
	if (!csv)
		adversarial_report();
	return 0;
}
