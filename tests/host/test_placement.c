/*
 * Every placement of the allocator lab (PMM_ALLOCATOR_LIST: regions, buddy, TLSF, first fit)
 * against a page-bitmap model: seeded random allocs and frees of
 * mixed sizes and alignments (up to 1 GiB at 1 GiB) over a span with a hole that is never added,
 * checking after every step that an allocation is aligned, inside the span and over free pages
 * only, that a failure happens only when the placement's stated promise allows it (its guarantee:
 * no free run it promises to find), and every FULL_CHECK_INTERVAL steps that the free page count,
 * the number of free blocks (a missed merge shows as an extra block) and the free runs it reports
 * (what snapshots carry) equal the model's. A placement that asks for metadata pages
 * (metadata_wanted: regions) is served as the common layer serves it; the model holds those
 * pages used for good.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/mm/pmm_placement.h"
#include "kernel/lib/testing.h"
#include "tests/host/host_env.h"

#define SPAN_BASE (((uint64_t)1 << 18) + 3) /* not aligned: an instance takes any span */
#define SPAN_PAGES (3 * ((uint64_t)1 << 18) + 4321)
#define HOLE_FIRST 5000 /* relative pages never added: the model holds them used */
#define HOLE_PAGES 777
#define SPAN_WORDS ((SPAN_PAGES + 63) / 64)
#define OPERATIONS 60000
#define FULL_CHECK_INTERVAL 250
#define TARGET_LIVE 600
#define MAX_LIVE 2048

struct live_block {
	uint64_t first, pages, align;
};

static struct bitmap_model {
	uint64_t used[SPAN_WORDS]; /* pages held by live allocations, relative to SPAN_BASE */
	struct live_block live[MAX_LIVE];
	size_t live_count;
	uint64_t rng, free_pages, allocs, failed, frees, metadata_pages;
} *m;

static uint64_t next_random(void)
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t random_below(uint64_t n) { return next_random() % n; }

static bool page_used(uint64_t page) { return m->used[page / 64] >> (page % 64) & 1; }

static void mark(uint64_t first, uint64_t pages, bool used)
{
	for (uint64_t p = first; p < first + pages; p++) {
		if (used)
			m->used[p / 64] |= 1ull << (p % 64);
		else
			m->used[p / 64] &= ~(1ull << (p % 64));
	}
	m->free_pages += used ? -pages : pages;
}

/* Calls visit(first, pages) for every maximal free run (relative pages); stops on true. */
static bool for_each_free_run(bool (*visit)(uint64_t, uint64_t, void *), void *ctx)
{
	uint64_t p = 0;
	while (p < SPAN_PAGES) {
		while (p < SPAN_PAGES && p % 64 == 0 && m->used[p / 64] == ~0ull)
			p += 64;
		while (p < SPAN_PAGES && page_used(p))
			p++;
		if (p >= SPAN_PAGES)
			break;
		uint64_t start = p;
		while (p < SPAN_PAGES && !page_used(p)) {
			if (p % 64 == 0 && m->used[p / 64] == 0 && p + 64 <= SPAN_PAGES)
				p += 64;
			else
				p++;
		}
		if (visit(start, p - start, ctx))
			return true;
	}
	return false;
}

struct run_need {
	uint64_t pages, align;
};

static bool run_holds(uint64_t first, uint64_t pages, void *ctx)
{
	const struct run_need *need = ctx;
	uint64_t absolute = SPAN_BASE + first;
	uint64_t start = (absolute + need->align - 1) & ~(need->align - 1);
	return start + need->pages <= absolute + pages;
}

struct block_count {
	const struct pmm_placement_ops *ops;
	uint64_t blocks;
};

static bool count_blocks(uint64_t first, uint64_t pages, void *ctx)
{
	struct block_count *c = ctx;
	c->blocks += c->ops->blocks_for_free_run(SPAN_BASE + first, pages);
	return false;
}

static void random_request(uint64_t *pages, uint64_t *align)
{
	uint64_t r = random_below(100);
	*align = random_below(10) < 7 ? 1 : 1ull << random_below(7);
	if (r < 55)
		*pages = 1 + random_below(8);
	else if (r < 80)
		*pages = 9 + random_below(300);
	else if (r < 94)
		*pages = 301 + random_below(5000);
	else if (r < 97)
		*pages = 5001 + random_below(50000);
	else {
		static const uint64_t exact[][2] = { { 512, 512 }, { 262144, 262144 }, { 3, 1 },
						     { 37, 1 }, { 1000, 1 }, { 1, 512 } };
		unsigned i = (unsigned)random_below(ARRAY_SIZE(exact));
		*pages = exact[i][0];
		*align = exact[i][1];
	}
}

/* What the common layer does before an add_free and when alloc answers WANTS_METADATA: gives
 * the placement the pages it asks for (here from itself). */
static bool serve_metadata(const struct pmm_placement_ops *ops, void *placement, char *problem,
			   size_t size)
{
	uint64_t pages;
	while (ops->metadata_wanted && (pages = ops->metadata_wanted(placement)) != 0) {
		uint64_t first = ops->alloc_metadata(placement, pages);
		if (first == PMM_PLACEMENT_FAILED)
			return true;
		for (uint64_t p = first - SPAN_BASE; p < first - SPAN_BASE + pages; p++)
			if (first < SPAN_BASE || p >= SPAN_PAGES || page_used(p)) {
				snprintf(problem, size, "metadata page %lu is not a free page",
					 (unsigned long)(p + SPAN_BASE));
				return false;
			}
		mark(first - SPAN_BASE, pages, true);
		m->metadata_pages += pages;
		ops->add_metadata(placement, first, pages);
	}
	return true;
}

static bool step_alloc(const struct pmm_placement_ops *ops, void *placement, char *problem,
		       size_t size)
{
	uint64_t pages, align;
	random_request(&pages, &align);
	uint64_t first = ops->alloc(placement, pages, align);
	while (first == PMM_PLACEMENT_WANTS_METADATA) {
		if (!serve_metadata(ops, placement, problem, size))
			return false;
		first = ops->alloc(placement, pages, align);
	}
	m->allocs++;
	if (first == PMM_PLACEMENT_FAILED) {
		struct run_need need;
		ops->guarantee(pages, align, &need.pages, &need.align);
		m->failed++;
		if (need.pages != UINT64_MAX && for_each_free_run(run_holds, &need)) {
			snprintf(problem, size, "alloc %lu/%lu failed beside a free run of %lu at %lu",
				 (unsigned long)pages, (unsigned long)align,
				 (unsigned long)need.pages, (unsigned long)need.align);
			return false;
		}
		return true;
	}
	uint64_t held = ops->held_pages(pages, align);
	if (first % align || first < SPAN_BASE || first + held > SPAN_BASE + SPAN_PAGES) {
		snprintf(problem, size, "alloc %lu/%lu at page %lu: misaligned or outside",
			 (unsigned long)pages, (unsigned long)align, (unsigned long)first);
		return false;
	}
	for (uint64_t p = first - SPAN_BASE; p < first - SPAN_BASE + held; p++)
		if (page_used(p)) {
			snprintf(problem, size, "alloc %lu at page %lu overlaps live page %lu",
				 (unsigned long)pages, (unsigned long)first,
				 (unsigned long)(p + SPAN_BASE));
			return false;
		}
	mark(first - SPAN_BASE, held, true);
	m->live[m->live_count++] = (struct live_block){ first, pages, align };
	return true;
}

static void step_free(const struct pmm_placement_ops *ops, void *placement, size_t index)
{
	struct live_block b = m->live[index];
	m->live[index] = m->live[--m->live_count];
	ops->free(placement, b.first, b.pages, b.align);
	mark(b.first - SPAN_BASE, ops->held_pages(b.pages, b.align), false);
	m->frees++;
}

/* The placement's runs, collected to compare with the model's. */
struct reported_runs {
	uint64_t first[MAX_LIVE * 2 + 2], pages[MAX_LIVE * 2 + 2];
	size_t count, checked;
	bool overflow, differ;
};

static bool collect_run(void *ctx, uint64_t first_page, uint64_t pages)
{
	struct reported_runs *r = ctx;
	if (r->count == ARRAY_SIZE(r->first)) {
		r->overflow = true;
		return false;
	}
	r->first[r->count] = first_page;
	r->pages[r->count++] = pages;
	return true;
}

static bool compare_run(uint64_t first, uint64_t pages, void *ctx)
{
	struct reported_runs *r = ctx;
	if (r->checked >= r->count || r->first[r->checked] != SPAN_BASE + first ||
	    r->pages[r->checked] != pages)
		r->differ = true;
	r->checked++;
	return r->differ;
}

static bool full_comparison(const struct pmm_placement_ops *ops, void *placement, char *problem,
			    size_t size)
{
	static struct reported_runs runs;
	memset(&runs, 0, sizeof(runs));
	ops->for_each_free_run(placement, collect_run, &runs);
	for_each_free_run(compare_run, &runs);
	if (runs.overflow || runs.differ || runs.checked != runs.count) {
		snprintf(problem, size, "free runs reported differ from the model's (run %zu of %zu)",
			 runs.checked, runs.count);
		return false;
	}
	struct block_count count = { ops, 0 };
	for_each_free_run(count_blocks, &count);
	if (ops->free_pages(placement) != m->free_pages || ops->free_blocks(placement) != count.blocks) {
		snprintf(problem, size, "free pages %lu (model %lu), free blocks %lu (model %lu)",
			 (unsigned long)ops->free_pages(placement), (unsigned long)m->free_pages,
			 (unsigned long)ops->free_blocks(placement), (unsigned long)count.blocks);
		return false;
	}
	return true;
}

static void run_differential(const struct pmm_placement_ops *ops)
{
	m = calloc(1, sizeof(*m));
	ASSERT_TRUE(m != NULL);
	m->rng = 0x9e3779b97f4a7c15ull;
	m->free_pages = SPAN_PAGES;
	mark(HOLE_FIRST, HOLE_PAGES, true);
	void *arena = host_phys_arena_create(SPAN_BASE * PAGE_SIZE, SPAN_PAGES * PAGE_SIZE);
	void *placement = calloc(1, ops->state_bytes(SPAN_BASE, SPAN_PAGES));
	ASSERT_TRUE(placement != NULL);
	ASSERT_TRUE(ops->init(placement, SPAN_BASE, SPAN_PAGES) == NULL);
	char problem[200] = "";
	bool ok = serve_metadata(ops, placement, problem, sizeof(problem));
	ops->add_free(placement, SPAN_BASE, HOLE_FIRST);
	ok = ok && serve_metadata(ops, placement, problem, sizeof(problem));
	ops->add_free(placement, SPAN_BASE + HOLE_FIRST + HOLE_PAGES,
		      SPAN_PAGES - HOLE_FIRST - HOLE_PAGES);
	for (uint64_t step = 0; ok && step < OPERATIONS; step++) {
		bool alloc = m->live_count == 0 ||
			     (m->live_count < MAX_LIVE &&
			      random_below(100) < (m->live_count < TARGET_LIVE ? 60 : 40));
		if (alloc)
			ok = step_alloc(ops, placement, problem, sizeof(problem));
		else
			step_free(ops, placement, random_below(m->live_count));
		if (ok && step % FULL_CHECK_INTERVAL == 0)
			ok = full_comparison(ops, placement, problem, sizeof(problem));
		if (!ok)
			testing_fail(__FILE__, __LINE__, "%s, step %lu: %s", ops->name,
				     (unsigned long)step, problem);
	}
	while (ok && m->live_count)
		step_free(ops, placement, random_below(m->live_count));
	if (ok) {
		EXPECT_TRUE(full_comparison(ops, placement, problem, sizeof(problem)));
		EXPECT_EQ(ops->free_pages(placement), SPAN_PAGES - HOLE_PAGES - m->metadata_pages);
		/* the hole is added last: with it, the span is one run again (but for metadata) */
		EXPECT_TRUE(serve_metadata(ops, placement, problem, sizeof(problem)));
		ops->add_free(placement, SPAN_BASE + HOLE_FIRST, HOLE_PAGES);
		mark(HOLE_FIRST, HOLE_PAGES, false);
		EXPECT_TRUE(full_comparison(ops, placement, problem, sizeof(problem)));
		if (!m->metadata_pages)
			EXPECT_EQ(ops->free_blocks(placement),
				  ops->blocks_for_free_run(SPAN_BASE, SPAN_PAGES));
		if (ops->check)
			EXPECT_TRUE(ops->check(placement) == NULL);
	}
	EXPECT_GE(m->failed, 1);                /* the promise was tested at the edge too */
	EXPECT_GE(m->allocs - m->failed, 20000); /* and it mostly allocated */
	testing_note("%s: %llu allocs (%llu failed), %llu frees, %llu metadata pages", ops->name,
		     (unsigned long long)m->allocs, (unsigned long long)m->failed,
		     (unsigned long long)m->frees, (unsigned long long)m->metadata_pages);
	free(placement);
	host_phys_arena_destroy(arena, SPAN_PAGES * PAGE_SIZE);
	free(m);
	m = NULL;
}

/*
 * Every placement of PMM_ALLOCATOR_LIST keeps its promise against the model: regions fails only
 * when no free run holds an aligned fit (exact), buddy keeps its blocks aligned, coalesces every buddy pair and fails only when no free aligned block of the
 * rounded order exists (or above its largest order); TLSF coalesces immediately and fails only
 * when no free run of the rounded class size exists; first fit fails only when no free run holds
 * an aligned fit.
 */
TEST(placement_every_allocator_matches_page_bitmap_model)
{
	unsigned tested = 0;
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		run_differential(pmm_placement_of(i));
		tested++;
	}
	EXPECT_EQ(tested, 4);
}

/* Every row of PMM_ALLOCATOR_LIST has placement ops named as `pmm=` spells it. */
TEST(placement_list_names_every_allocator)
{
	EXPECT_STREQ(pmm_allocator_name(PMM_ALLOCATOR_regions), "regions");
	EXPECT_TRUE(pmm_placement_of(PMM_ALLOCATOR_regions) == &pmm_regions_ops);
	unsigned with_ops = 0;
	for (unsigned i = 0; i < PMM_ALLOCATOR_COUNT; i++) {
		const struct pmm_placement_ops *ops = pmm_placement_of(i);
		ASSERT_TRUE(ops != NULL);
		with_ops++;
		EXPECT_STREQ(ops->name, pmm_allocator_name(i));
	}
	EXPECT_EQ(with_ops, 4);
	EXPECT_TRUE(pmm_allocator_name(PMM_ALLOCATOR_COUNT) == NULL);
}

/* The waste each design shows in the benchmark tables: buddy rounds 37 pages up to 64. */
TEST(placement_held_pages_follow_each_design)
{
	EXPECT_EQ(pmm_buddy_ops.held_pages(37, 1), 64);
	EXPECT_EQ(pmm_buddy_ops.held_pages(1000, 1), 1024);
	EXPECT_EQ(pmm_buddy_ops.held_pages(1, 512), 512);
	EXPECT_EQ(pmm_tlsf_ops.held_pages(37, 1), 37);
	EXPECT_EQ(pmm_firstfit_ops.held_pages(1000, 1), 1000);
	uint64_t run, align;
	pmm_tlsf_ops.guarantee(37, 1, &run, &align);
	EXPECT_EQ(run, 38); /* class 36..37 is passed over: the search rounds up */
	pmm_tlsf_ops.guarantee(1000, 1, &run, &align);
	EXPECT_EQ(run, 1024);
	pmm_buddy_ops.guarantee(1025, 1, &run, &align);
	EXPECT_EQ(run, UINT64_MAX); /* above order 10, as Linux: no promise */
}
