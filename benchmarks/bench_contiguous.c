/*
 * Contiguous page allocation, pagescope's allocator beside its peers (the allocator lab's
 * placements in kernel/mm/, the same files the kernel runs with `pmm=`: regions, Linux-style
 * buddy, TLSF, first fit), all in this process, all fed the same request sequence, per request
 * size and per layout. Each allocator manages the same 16 GiB of page numbers over a
 * MAP_NORESERVE arena. "pagescope" is the kernel's whole allocator, the common layer
 * (page_allocator.c) over the regions placement, as the kernel calls it; "regions" and the
 * peers are placements alone (their ops), without the common layer's owners, events and
 * bad-free checks.
 *
 *   bench_contiguous --mode time  [--quick] [--layout NAME]   wall clock, CSV on stdout
 *   bench_contiguous --mode count [--quick] [--layout NAME]   under valgrind --tool=callgrind
 *       --instr-atstart=no: each measured loop runs twice (PAIRS_SHORT and PAIRS_LONG steps),
 *       each run framed by CALLGRIND_ZERO_STATS and CALLGRIND_DUMP_STATS_AT("key|steps"); the
 *       driver (run_bench.py) differences the two dumps, so set-up and fixed costs cancel.
 *   --allocators NAME,NAME...  only these allocators (default: all), e.g. pagescope,regions,tlsf
 *
 * Layouts (a step is one alloc + one free of the measured size; requests are aligned as their
 * use demands: 512 pages at 2 MiB, 262144 at 1 GiB):
 *   best-empty        BEST CASE: one free extent; each step frees the block it just took.
 *   best-2page-holes  BEST CASE: bench_pmm's layout, HOLES 2-page holes between 1-page
 *                     separators; each step frees the block it just took.
 *   mixed-holes       HOLES holes between 1-page separators, in random order: half just short of
 *                     the request (size - 1 pages; fewer for large sizes, at most a quarter of
 *                     memory), the rest a geometric spread of 1..32 pages. Each step frees the
 *                     block it just took, so every step searches the same holes.
 *   churn             a live set of CHURN_LIVE blocks (geometric sizes 1..64, a few to 1024) made
 *                     by random allocs and frees; then each step frees a random one of the live
 *                     blocks of the measured size and allocates a new one: the state moves.
 * A "harness" row runs each loop against an allocator that does nothing: what the loop itself
 * costs (a few instructions per step, included in every other row).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

#include "kernel/mm/pmm_placement.h"
#include "kernel/mm/page_allocator.h"
#include "tests/host/host_env.h"
#include <machine/memory_zones.h>
#include "benchmarks/timing.h"

#define RANGE_FIRST_PAGE ((uint64_t)1 << 20) /* 4 GiB: one pmm zone, aligned for buddy */
#define RANGE_PAGES ((uint64_t)4 << 20)      /* 16 GiB */
#define MAX_SIZE_BLOCKS 64

static const uint64_t sizes[] = { 1, 3, 8, 37, 512, 1000, 262144 };
static const uint64_t quick_sizes[] = { 1, 37, 512, 262144 };

struct params {
	bool quick;
	uint64_t holes, churn_live, churn_steps;
	unsigned repeats;
};
static struct params P;

enum mode { MODE_TIME, MODE_COUNT };
static enum mode mode;

static void die(const char *what)
{
	fprintf(stderr, "bench_contiguous: %s\n", what);
	exit(1);
}

/* ---- the allocators, behind one interface ------------------------------------------------ */

struct allocator {
	const char *name;
	const struct pmm_placement_ops *peer; /* the peer behind the peer_* wrappers, else NULL */
	void *(*create)(const struct pmm_placement_ops *peer);
	void (*destroy)(void *state);
	uint64_t (*alloc)(void *state, uint64_t pages, uint64_t align);
	void (*free)(void *state, uint64_t first, uint64_t pages, uint64_t align);
	uint64_t (*free_extents)(void *state);
	uint64_t (*held)(const struct allocator *a, uint64_t pages, uint64_t align);
};

/* "pagescope": the kernel's allocator as the kernel calls it, the common layer (owners, trace
 * points, bad-free checks) over the regions placement; its records and state take the top of the
 * range (mm_meta), so it has about 0.4% fewer free pages than the peers. */
static struct page_allocator bench_pmm;

static void *pmm_create(const struct pmm_placement_ops *peer)
{
	(void)peer;
	static const struct pmm_memory_map_entry map[] = {
		{ RANGE_FIRST_PAGE * PAGE_SIZE, RANGE_PAGES * PAGE_SIZE, PMM_MEMORY_AVAILABLE },
	};
	struct pmm_config config = {
		.memory_map = map,
		.memory_map_count = 1,
		.zone_end = MACHINE_ZONE_ENDS,
	};
	struct page_allocator_config chosen = { PMM_ALLOCATOR_regions, &config };
	if (page_allocator_init(&bench_pmm, &chosen) != PMM_OK)
		die("page_allocator_init failed");
	return &bench_pmm;
}

static void pmm_destroy(void *state) { (void)state; }

static uint64_t pmm_bench_alloc(void *state, uint64_t pages, uint64_t align)
{
	paddr_t pa = page_alloc(state, pages, PMM_ALLOC_ANY, align, MM_OWNER_TEST);
	return pa == PMM_ALLOC_FAILED ? PMM_PLACEMENT_FAILED : pa / PAGE_SIZE;
}

static void pmm_bench_free(void *state, uint64_t first, uint64_t pages, uint64_t align)
{
	(void)align;
	if (page_free(state, first * PAGE_SIZE, pages) != PMM_OK)
		die("page_free refused a benchmark block");
}

static uint64_t pmm_free_extents(void *state)
{
	struct pmm_stats stats;
	page_allocator_stats(state, &stats);
	return stats.free_extents;
}

static uint64_t exact_held(const struct allocator *a, uint64_t pages, uint64_t align)
{
	(void)a;
	(void)align;
	return pages;
}

static uint64_t peer_held(const struct allocator *a, uint64_t pages, uint64_t align)
{
	return a->peer->held_pages(pages, align);
}

/* The peers, through their ops table: the state is the ops and the peer's own state. */
struct peer_instance {
	const struct pmm_placement_ops *ops;
	void *state;
};

static void *peer_create(const struct pmm_placement_ops *peer)
{
	struct peer_instance *p = malloc(sizeof(*p));
	if (!p)
		return NULL;
	p->ops = peer;
	p->state = calloc(1, peer->state_bytes(RANGE_FIRST_PAGE, RANGE_PAGES));
	if (!p->state || peer->init(p->state, RANGE_FIRST_PAGE, RANGE_PAGES)) {
		free(p->state);
		free(p);
		return NULL;
	}
	peer->add_free(p->state, RANGE_FIRST_PAGE, RANGE_PAGES);
	return p;
}

static void peer_destroy(void *s)
{
	struct peer_instance *p = s;
	free(p->state);
	free(p);
}

static uint64_t peer_alloc(void *s, uint64_t pages, uint64_t align)
{
	struct peer_instance *p = s;
	return p->ops->alloc(p->state, pages, align);
}

/* A placement whose records grow (regions): given the pages it asks for, from itself, when its
 * alloc asks, as the common layer gives them. */
static uint64_t growing_peer_alloc(void *s, uint64_t pages, uint64_t align)
{
	struct peer_instance *p = s;
	uint64_t first = p->ops->alloc(p->state, pages, align);
	while (unlikely(first == PMM_PLACEMENT_WANTS_METADATA)) {
		uint64_t page = p->ops->alloc_metadata(p->state, 1);
		if (page != PMM_PLACEMENT_FAILED)
			p->ops->add_metadata(p->state, page, 1);
		first = p->ops->alloc(p->state, pages, align);
	}
	return first;
}

static void peer_free(void *s, uint64_t first, uint64_t pages, uint64_t align)
{
	struct peer_instance *p = s;
	p->ops->free(p->state, first, pages, align);
}

static uint64_t peer_extents(void *s)
{
	struct peer_instance *p = s;
	return p->ops->free_blocks(p->state);
}

/* The harness: hands out a fixed page and frees nothing, to show what the loop costs. */
static uint64_t harness_next;
static void *harness_create(const struct pmm_placement_ops *peer)
{
	(void)peer;
	return &harness_next;
}
static void harness_destroy(void *s) { (void)s; }
static uint64_t harness_alloc(void *s, uint64_t p, uint64_t a)
{
	(void)s;
	(void)a;
	return RANGE_FIRST_PAGE + (harness_next++ % 1024) * p;
}
static void harness_free(void *s, uint64_t f, uint64_t p, uint64_t a) { (void)s, (void)f, (void)p, (void)a; }
static uint64_t harness_extents(void *s) { (void)s; return 0; }

static const struct allocator allocators[] = {
	{ "pagescope", NULL, pmm_create, pmm_destroy, pmm_bench_alloc, pmm_bench_free,
	  pmm_free_extents, exact_held },
	{ "regions", &pmm_regions_ops, peer_create, peer_destroy, growing_peer_alloc, peer_free,
	  peer_extents, peer_held },
	{ "buddy", &pmm_buddy_ops, peer_create, peer_destroy, peer_alloc, peer_free, peer_extents,
	  peer_held },
	{ "tlsf", &pmm_tlsf_ops, peer_create, peer_destroy, peer_alloc, peer_free, peer_extents,
	  peer_held },
	{ "first-fit", &pmm_firstfit_ops, peer_create, peer_destroy, peer_alloc, peer_free,
	  peer_extents, peer_held },
	{ "harness", NULL, harness_create, harness_destroy, harness_alloc, harness_free,
	  harness_extents, exact_held },
};

/* ---- deterministic request sequences -------------------------------------------------------- */

static uint64_t rng;
static uint64_t next_random(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}
static uint64_t random_below(uint64_t n) { return next_random() % n; }

static uint64_t align_for(uint64_t pages)
{
	return pages == 512 || pages == 262144 ? pages : 1;
}

/* 1..2^max_log pages, uniform in log2: as many 1-page holes as 16..31-page ones. */
static uint64_t geometric_size(unsigned max_log)
{
	unsigned k = (unsigned)random_below(max_log);
	return ((uint64_t)1 << k) + random_below((uint64_t)1 << k);
}

/* ---- layouts ------------------------------------------------------------------------------ */

struct block {
	uint64_t first, pages, align;
};

struct run {
	const struct allocator *a;
	void *state;
	struct block *live;   /* churn: the background live set */
	size_t live_count;
	struct block sized[MAX_SIZE_BLOCKS]; /* churn: live blocks of the measured size */
	unsigned sized_count;
	uint64_t size, align, failed;
	uint64_t setup_failed; /* allocations refused while building the layout */
};

static bool take(struct run *r, uint64_t pages, uint64_t align, struct block *out)
{
	uint64_t first = r->a->alloc(r->state, pages, align);
	if (first == PMM_PLACEMENT_FAILED) {
		r->setup_failed++;
		return false;
	}
	*out = (struct block){ first, pages, align };
	return true;
}

static void give(struct run *r, const struct block *b)
{
	r->a->free(r->state, b->first, b->pages, b->align);
}

/* Holes of the given sizes, each followed by a 1-page separator; returns holes made. */
static uint64_t make_holes(struct run *r, const uint64_t *hole_sizes, uint64_t count)
{
	struct block *holes = malloc(count * sizeof(*holes)), separator;
	uint64_t made = 0;
	while (made < count && take(r, hole_sizes[made], 1, &holes[made]) &&
	       take(r, 1, 1, &separator))
		made++;
	/* Highest address first: a first-fit list then inserts each at its head. */
	for (uint64_t i = made; i-- > 0;)
		give(r, &holes[i]);
	free(holes);
	return made;
}

static void layout_2page_holes(struct run *r)
{
	uint64_t *hole_sizes = malloc(P.holes * sizeof(*hole_sizes));
	for (uint64_t i = 0; i < P.holes; i++)
		hole_sizes[i] = 2;
	make_holes(r, hole_sizes, P.holes);
	free(hole_sizes);
}

static void layout_mixed_holes(struct run *r, uint64_t size)
{
	uint64_t *hole_sizes = malloc(P.holes * sizeof(*hole_sizes));
	uint64_t just_short = size > 1 ? MIN(P.holes / 2, RANGE_PAGES / 4 / (size - 1)) : 0;
	for (uint64_t i = 0; i < P.holes; i++)
		hole_sizes[i] = i < just_short ? size - 1 : geometric_size(5);
	for (uint64_t i = P.holes; i-- > 1;) {
		uint64_t j = random_below(i + 1), t = hole_sizes[i];
		hole_sizes[i] = hole_sizes[j];
		hole_sizes[j] = t;
	}
	make_holes(r, hole_sizes, P.holes);
	free(hole_sizes);
}

static uint64_t churn_size(void)
{
	return random_below(50) ? geometric_size(6) : 65 + random_below(960);
}

static void layout_churn(struct run *r)
{
	r->live = malloc(P.churn_live * sizeof(*r->live));
	r->live_count = 0;
	for (uint64_t step = 0; step < P.churn_steps; step++) {
		bool alloc = r->live_count == 0 ||
			     (r->live_count < P.churn_live &&
			      random_below(100) < (step < P.churn_live ? 80 : 50));
		if (alloc) {
			if (take(r, churn_size(), 1, &r->live[r->live_count]))
				r->live_count++;
		} else {
			size_t i = random_below(r->live_count);
			give(r, &r->live[i]);
			r->live[i] = r->live[--r->live_count];
		}
	}
}

/* ---- measured steps ---------------------------------------------------------------------- */

static void step_same_block(struct run *r)
{
	uint64_t first = r->a->alloc(r->state, r->size, r->align);
	if (first == PMM_PLACEMENT_FAILED)
		r->failed++;
	else
		r->a->free(r->state, first, r->size, r->align);
}

static void step_churn(struct run *r)
{
	unsigned i = (unsigned)random_below(r->sized_count);
	struct block *b = &r->sized[i];
	if (b->pages)
		give(r, b);
	uint64_t first = r->a->alloc(r->state, r->size, r->align);
	if (first == PMM_PLACEMENT_FAILED) {
		b->pages = 0;
		r->failed++;
	} else {
		*b = (struct block){ first, r->size, r->align };
	}
}

/* Before churn steps: the live blocks of the measured size (as many as fit in 1/8 of memory). */
static void churn_fill_sized(struct run *r)
{
	r->sized_count = (unsigned)MAX(1, MIN((uint64_t)MAX_SIZE_BLOCKS, RANGE_PAGES / 8 / r->size));
	for (unsigned i = 0; i < r->sized_count; i++)
		if (!take(r, r->size, r->align, &r->sized[i]))
			r->sized[i].pages = 0;
}

static void churn_drop_sized(struct run *r)
{
	for (unsigned i = 0; i < r->sized_count; i++)
		if (r->sized[i].pages)
			give(r, &r->sized[i]);
	r->sized_count = 0;
}

/* ---- measuring ---------------------------------------------------------------------------- */

/* Steps per run: slow allocators (a first-fit walk of 100 000 records) get fewer. */
static void count_steps(const struct run *r, uint64_t *short_steps, uint64_t *long_steps)
{
	bool slow = strcmp(r->a->name, "first-fit") == 0;
	*short_steps = slow ? 10 : 100;
	*long_steps = slow ? 30 : 300;
}

static void run_steps(struct run *r, void (*step)(struct run *), uint64_t steps)
{
	for (uint64_t i = 0; i < steps; i++)
		step(r);
}

static void measure(struct run *r, const char *layout, void (*step)(struct run *))
{
	uint64_t extents = r->a->free_extents(r->state);
	uint64_t held = r->a->held(r->a, r->size, r->align);
	printf("%s,%llu,%llu,%s,%llu,%llu,%llu,%llu", layout, (unsigned long long)r->size,
	       (unsigned long long)r->align, r->a->name, (unsigned long long)extents,
	       (unsigned long long)held, (unsigned long long)(held - r->size),
	       (unsigned long long)r->setup_failed);
	r->failed = 0;
	if (mode == MODE_COUNT) {
		uint64_t lengths[2];
		count_steps(r, &lengths[0], &lengths[1]);
		CALLGRIND_START_INSTRUMENTATION;
		for (unsigned i = 0; i < 2; i++) {
			char label[160];
			snprintf(label, sizeof(label), "%s|%llu|%s|%llu", layout,
				 (unsigned long long)r->size, r->a->name,
				 (unsigned long long)lengths[i]);
			CALLGRIND_ZERO_STATS;
			run_steps(r, step, lengths[i]);
			CALLGRIND_DUMP_STATS_AT(label);
		}
		CALLGRIND_STOP_INSTRUMENTATION;
		printf(",%llu,%llu,%llu\n", (unsigned long long)lengths[0],
		       (unsigned long long)lengths[1], (unsigned long long)r->failed);
	} else {
		/* Calibrate to about 5 ms per repeat, then time the repeats. */
		uint64_t t0 = bench_now_ns();
		run_steps(r, step, 10);
		double once = (double)(bench_now_ns() - t0) / 10;
		uint64_t steps = (uint64_t)MAX(5.0, MIN(20000.0, 5e6 / MAX(once, 1.0)));
		double samples[16];
		for (unsigned i = 0; i < P.repeats; i++) {
			t0 = bench_now_ns();
			run_steps(r, step, steps);
			samples[i] = (double)(bench_now_ns() - t0) / (double)steps;
		}
		bench_sort_samples(samples, P.repeats);
		printf(",%.1f,%.1f,%.1f,%u,%llu,%llu\n", samples[P.repeats / 2], samples[0],
		       samples[P.repeats - 1], P.repeats, (unsigned long long)steps,
		       (unsigned long long)r->failed);
	}
	fflush(stdout);
}

static void start(struct run *r, unsigned allocator, uint64_t seed)
{
	memset(r, 0, sizeof(*r));
	r->a = &allocators[allocator];
	r->state = r->a->create(r->a->peer);
	if (!r->state)
		die("cannot create an allocator (host memory)");
	rng = seed;
}

static void finish(struct run *r)
{
	free(r->live);
	r->a->destroy(r->state);
}

static bool wanted(const char *only, const char *layout)
{
	return !only || strcmp(only, layout) == 0;
}

/* Whether the comma-separated list `only` (NULL: every allocator) names `name`. */
static bool allocator_wanted(const char *only, const char *name)
{
	size_t length = strlen(name);
	for (const char *at = only; at; at = strchr(at, ',') ? strchr(at, ',') + 1 : NULL)
		if (strncmp(at, name, length) == 0 && (at[length] == ',' || at[length] == '\0'))
			return true;
	return !only;
}

int main(int argc, char **argv)
{
	const char *only = NULL, *only_allocators = NULL;
	bool args_ok = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			P.quick = true;
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			const char *m = argv[++i];
			mode = strcmp(m, "count") == 0 ? MODE_COUNT : MODE_TIME;
			args_ok = strcmp(m, "count") == 0 || strcmp(m, "time") == 0;
			if (!args_ok)
				break;
		} else if (strcmp(argv[i], "--layout") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--allocators") == 0 && i + 1 < argc) {
			only_allocators = argv[++i];
		} else {
			args_ok = false;
			break;
		}
	}
	if (!args_ok) {
		fprintf(stderr, "usage: bench_contiguous [--mode time|count] [--quick] [--layout NAME] "
			"[--allocators NAME,NAME...]\n");
		return 2;
	}
	if (mode == MODE_COUNT && !RUNNING_ON_VALGRIND)
		die("--mode count must run under valgrind --tool=callgrind --instr-atstart=no");
	P.holes = P.quick ? 10000 : 100000;
	P.churn_live = P.quick ? 2000 : 10000;
	P.churn_steps = P.quick ? 6000 : 30000;
	P.repeats = P.quick ? 3 : 5;
	const uint64_t *size_list = P.quick ? quick_sizes : sizes;
	size_t size_count = P.quick ? ARRAY_SIZE(quick_sizes) : ARRAY_SIZE(sizes);

	void *arena = host_phys_arena_create(RANGE_FIRST_PAGE * PAGE_SIZE, RANGE_PAGES * PAGE_SIZE);
	printf("layout,size_pages,align_pages,allocator,free_extents,held_pages,wasted_pages,"
	       "setup_failed_allocs,%s\n",
	       mode == MODE_COUNT ? "short_steps,long_steps,failed_allocs"
				  : "wall_ns_median,wall_ns_min,wall_ns_max,repeats,steps_per_repeat,"
				    "failed_allocs");
	struct run r;
	for (unsigned a = 0; a < ARRAY_SIZE(allocators); a++) {
		if (!allocator_wanted(only_allocators, allocators[a].name))
			continue;
		if (wanted(only, "best-empty")) {
			start(&r, a, 1);
			for (size_t s = 0; s < size_count; s++) {
				r.size = size_list[s];
				r.align = align_for(r.size);
				measure(&r, "best-empty", step_same_block);
			}
			finish(&r);
		}
		if (wanted(only, "best-2page-holes")) {
			start(&r, a, 2);
			layout_2page_holes(&r);
			for (size_t s = 0; s < size_count; s++) {
				r.size = size_list[s];
				r.align = align_for(r.size);
				measure(&r, "best-2page-holes", step_same_block);
			}
			finish(&r);
		}
		if (wanted(only, "mixed-holes")) {
			for (size_t s = 0; s < size_count; s++) {
				start(&r, a, 3 + s);
				r.size = size_list[s];
				r.align = align_for(r.size);
				layout_mixed_holes(&r, r.size);
				measure(&r, "mixed-holes", step_same_block);
				finish(&r);
			}
		}
		if (wanted(only, "churn")) {
			start(&r, a, 4);
			layout_churn(&r);
			for (size_t s = 0; s < size_count; s++) {
				r.size = size_list[s];
				r.align = align_for(r.size);
				rng = 100 + s; /* the same steps for every allocator */
				churn_fill_sized(&r);
				measure(&r, "churn", step_churn);
				churn_drop_sized(&r);
			}
			finish(&r);
		}
	}
	host_phys_arena_destroy(arena, RANGE_PAGES * PAGE_SIZE);
	return 0;
}
