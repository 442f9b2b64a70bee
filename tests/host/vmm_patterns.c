/* Adversarial layouts for the VMM bookkeeping backends (see vmm_patterns.h). */
#include <stdio.h>
#include <stdlib.h>

#include <machine/pte.h>
#include "tests/host/vmm_patterns.h"

const struct vmm_region vmm_pattern_region = { "patterns", 1ull << 40, 1ull << 28, MM_OWNER_USER };

#define REGION 0
#define DATA_PA 0x100000000ull /* borrowed, never touched */
#define LEAF_PAGES PT_SPAN_PAGES(1)
#define GIB_PAGES PT_SPAN_PAGES(2)

/* One pattern run: its context, what it reserved (to undo), and the figures. */
struct run {
	struct vmm_context *ctx;
	struct vmm_pattern_stats *stats;
	uint64_t *addr, *pages;
	size_t count, capacity;
	uint64_t layout_base; /* the first page after the packed block, on a 1 GiB boundary */
};

static uint64_t page_addr(const struct run *r, uint64_t page)
{
	return r->layout_base + page * PAGE_SIZE;
}

static void measure(struct run *r, uint64_t bound)
{
	uint64_t work = r->ctx->last_work;
	r->stats->ops++;
	if (work > r->stats->worst_work) {
		r->stats->worst_work = work;
		r->stats->worst_bound = bound;
	}
	if (work > bound) {
		r->stats->over_bound++;
		fprintf(stderr, "vmm pattern: %s: work %llu over the stated bound %llu\n",
			r->ctx->backend->name, (unsigned long long)work, (unsigned long long)bound);
	}
}

static void remember(struct run *r, uint64_t addr, uint64_t pages)
{
	if (r->count == r->capacity) {
		r->capacity = r->capacity ? 2 * r->capacity : 1024;
		r->addr = realloc(r->addr, r->capacity * sizeof(uint64_t));
		r->pages = realloc(r->pages, r->capacity * sizeof(uint64_t));
	}
	r->addr[r->count] = addr;
	r->pages[r->count++] = pages;
}

static void fail(struct run *r, const char *what, uint64_t got, uint64_t expected)
{
	r->stats->wrong_answers++;
	fprintf(stderr, "vmm pattern: %s: %s: got %llx, expected %llx\n", r->ctx->backend->name, what,
		(unsigned long long)got, (unsigned long long)expected);
}

/* Reserves exactly [addr, addr + pages) and maps it (borrowed pages) unless it is huge. */
static void lay(struct run *r, uint64_t addr, uint64_t pages, bool map)
{
	uint64_t bound = r->ctx->backend->work_bound(r->ctx, pages);
	enum vm_status st = vmm_reserve_at(r->ctx, addr, pages);
	measure(r, bound);
	if (st != VM_OK) {
		fail(r, "reserve_at", st, VM_OK);
		return;
	}
	remember(r, addr, pages);
	if (map && vmm_map(r->ctx, addr, DATA_PA, pages, PT_PAGE_4K, PT_READ | PT_USER) != VM_OK)
		fail(r, "map", addr, addr);
}

static void release(struct run *r, uint64_t addr, uint64_t pages)
{
	uint64_t bound = r->ctx->backend->work_bound(r->ctx, pages);
	enum vm_status st = vmm_release(r->ctx, addr, pages);
	measure(r, bound);
	if (st != VM_OK)
		fail(r, "release", st, VM_OK);
}

/* One request of the pattern: must land at `expected` (0: must find no space); then released. */
static void probe(struct run *r, uint64_t pages, uint64_t align, uint64_t expected)
{
	uint64_t bound = r->ctx->backend->work_bound(r->ctx, pages);
	uint64_t addr = 0;
	r->stats->mapped_pages = r->ctx->pt.mapped_pages;
	enum vm_status st = vmm_reserve(r->ctx, REGION, pages, align, &addr);
	measure(r, bound);
	if (r->ctx->last_work > r->stats->worst_request) {
		r->stats->worst_request = r->ctx->last_work;
		r->stats->request_bound = bound;
	}
	if (st == VM_OK)
		release(r, addr, pages);
	if (expected ? (st != VM_OK || addr != expected) : st != VM_ERR_NO_SPACE) {
		char what[64];
		snprintf(what, sizeof(what), "reserve(%llu, align %llu)", (unsigned long long)pages,
			 (unsigned long long)align);
		fail(r, what, st == VM_OK ? addr : 0, expected);
	}
}

/* `packed` mapped pages in 16-page reservations from the region's base, then the layout base. */
static void begin(struct run *r, struct vmm_context *ctx, uint64_t packed,
		  struct vmm_pattern_stats *stats)
{
	*r = (struct run){ .ctx = ctx, .stats = stats };
	*stats = (struct vmm_pattern_stats){ 0 };
	for (uint64_t done = 0; done < packed; done += 16) {
		uint64_t pages = MIN(16, packed - done), addr;
		uint64_t bound = ctx->backend->work_bound(ctx, pages);
		if (vmm_reserve(ctx, REGION, pages, 1, &addr) != VM_OK) {
			fail(r, "packed reserve", 0, 1);
			break;
		}
		measure(r, bound);
		remember(r, addr, pages);
		vmm_map(ctx, addr, DATA_PA, pages, PT_PAGE_4K, PT_READ | PT_USER);
	}
	uint64_t packed_end = vmm_pattern_region.base + ALIGN_UP(packed, 16) * PAGE_SIZE;
	r->layout_base = ALIGN_UP(packed_end, PT_SPAN_BYTES(2));
	if (r->layout_base > packed_end) /* reserved, unmapped: no request lands before the layout */
		lay(r, packed_end, (r->layout_base - packed_end) / PAGE_SIZE, false);
}

static void end(struct run *r)
{
	while (r->count > 0) {
		r->count--;
		release(r, r->addr[r->count], r->pages[r->count]);
	}
	free(r->addr);
	free(r->pages);
}

/* Every 2 MiB leaf: three free runs of 150 pages between reserved pieces (62 pages reserved). */
static uint64_t lay_near_fit_4k(struct run *r, uint64_t first_page, uint64_t leaves)
{
	for (uint64_t l = 0; l < leaves; l++) {
		uint64_t leaf = first_page + l * LEAF_PAGES;
		lay(r, page_addr(r, leaf), 20, true);
		lay(r, page_addr(r, leaf + 170), 21, true);
		lay(r, page_addr(r, leaf + 341), 21, true);
	}
	return first_page + leaves * LEAF_PAGES;
}

/* Every 2 MiB leaf: its first page reserved, so every free run is 511 pages. */
static uint64_t lay_near_fit_2m(struct run *r, uint64_t first_page, uint64_t leaves)
{
	for (uint64_t l = 0; l < leaves; l++)
		lay(r, page_addr(r, first_page + l * LEAF_PAGES), 1, true);
	return first_page + leaves * LEAF_PAGES;
}

static void near_fit_4k(struct vmm_context *ctx, uint64_t packed, uint64_t scale,
			struct vmm_pattern_stats *stats)
{
	struct run r;
	begin(&r, ctx, packed, stats);
	lay_near_fit_4k(&r, 0, scale);
	uint64_t last_run = (scale - 1) * LEAF_PAGES + 362; /* only the last run reaches free space */
	probe(&r, 200, 1, page_addr(&r, last_run));
	probe(&r, 151, 1, page_addr(&r, last_run));
	probe(&r, 150, 1, page_addr(&r, 20));
	end(&r);
}

static void near_fit_2m(struct vmm_context *ctx, uint64_t packed, uint64_t scale,
			struct vmm_pattern_stats *stats)
{
	struct run r;
	begin(&r, ctx, packed, stats);
	lay_near_fit_2m(&r, 0, scale);
	probe(&r, 512, 1, page_addr(&r, (scale - 1) * LEAF_PAGES + 1));
	probe(&r, 511, 1, page_addr(&r, 1));
	end(&r);
}

/* Every 1 GiB chunk: its first page reserved, so every free run is 262 143 pages. */
static void near_fit_1g(struct vmm_context *ctx, uint64_t packed, uint64_t scale,
			struct vmm_pattern_stats *stats)
{
	struct run r;
	begin(&r, ctx, packed, stats);
	uint64_t chunks = MIN(scale, 64);
	for (uint64_t c = 0; c < chunks; c++)
		lay(&r, page_addr(&r, c * GIB_PAGES), 1, true);
	probe(&r, GIB_PAGES, 1, page_addr(&r, (chunks - 1) * GIB_PAGES + 1));
	probe(&r, GIB_PAGES - 1, 1, page_addr(&r, 1));
	end(&r);
}

/* 2 x scale pages, every other one reserved: one-page holes a 2-page request must all pass. */
static void one_page_holes(struct vmm_context *ctx, uint64_t packed, uint64_t scale,
			   struct vmm_pattern_stats *stats)
{
	struct run r;
	begin(&r, ctx, packed, stats);
	for (uint64_t i = 1; i < 2 * scale; i += 2)
		lay(&r, page_addr(&r, i), 1, true);
	probe(&r, 2, 1, page_addr(&r, 2 * scale));
	probe(&r, 1, 1, page_addr(&r, 0));
	end(&r);
}

/* Everything after the packed block reserved but the last 64 pages of the region. */
static void far_end_holes(struct vmm_context *ctx, uint64_t packed, uint64_t scale,
			  struct vmm_pattern_stats *stats)
{
	(void)scale;
	struct run r;
	begin(&r, ctx, packed, stats);
	uint64_t region_end = vmm_pattern_region.base + vmm_pattern_region.pages * PAGE_SIZE;
	lay(&r, r.layout_base, (region_end - r.layout_base) / PAGE_SIZE - 64, false);
	probe(&r, 64, 1, region_end - 64 * PAGE_SIZE);
	probe(&r, 16, 16, region_end - 64 * PAGE_SIZE);
	probe(&r, 65, 1, 0);
	probe(&r, 64, 128, 0);
	end(&r);
}

/*
 * Near-fit leaves of both kinds, then request sizes on each side of every power of two (the
 * rounded summary's boundaries) and of the layout's run lengths; each lands on the lowest fit.
 */
static void size_sweep(struct vmm_context *ctx, uint64_t packed, uint64_t scale,
		       struct vmm_pattern_stats *stats)
{
	struct run r;
	begin(&r, ctx, packed, stats);
	uint64_t leaves = MAX(scale / 2, 2);
	uint64_t middle = lay_near_fit_4k(&r, 0, leaves);
	uint64_t end_page = lay_near_fit_2m(&r, middle, leaves);
	for (unsigned k = 0; k <= 19; k++) {
		for (int delta = -1; delta <= 1; delta++) {
			uint64_t pages = ((uint64_t)1 << k) + (uint64_t)(int64_t)delta;
			if (pages == 0)
				continue;
			uint64_t expected = pages <= 150 ? 20 :
					    pages <= 511 ? middle + 1 :
							   end_page - LEAF_PAGES + 1;
			probe(&r, pages, 1, page_addr(&r, expected));
		}
	}
	end(&r);
}

/*
 * `scale` blocks of 8 pages from the layout base: [1 reserved][4 free][3 reserved], so 4-page
 * holes that are never 4-aligned. Returns the end of the blocks.
 */
static uint64_t lay_misaligned_holes(struct run *r, uint64_t scale)
{
	for (uint64_t b = 0; b < scale; b++) {
		lay(r, page_addr(r, 8 * b), 1, true);
		lay(r, page_addr(r, 8 * b + 5), 3, true);
	}
	return page_addr(r, 8 * scale);
}

/* Misaligned 4-page holes, then free space: aligned requests land past them. */
static void aligned_over_misaligned_holes(struct vmm_context *ctx, uint64_t packed, uint64_t scale,
					  struct vmm_pattern_stats *stats)
{
	struct run r;
	begin(&r, ctx, packed, stats);
	uint64_t layout_end = lay_misaligned_holes(&r, scale);
	probe(&r, 4, 512, ALIGN_UP(layout_end, PT_SPAN_BYTES(1)));
	probe(&r, 4, 4, layout_end);
	probe(&r, 4, 1, page_addr(&r, 1));
	probe(&r, 1, 1ull << 18, ALIGN_UP(layout_end, PT_SPAN_BYTES(2)));
	end(&r);
}

/*
 * The misaligned 4-page holes of aligned-holes and, past them, nothing free but one 4-page hole
 * at a 2 MiB boundary near the region's end: no run has pages + align - 1 pages, so every aligned
 * request fails after one search (the placement policy does not test tight runs one by one,
 * vmm.c), while reserve_at takes the aligned hole exactly.
 */
static void aligned_tight_holes(struct vmm_context *ctx, uint64_t packed, uint64_t scale,
				struct vmm_pattern_stats *stats)
{
	struct run r;
	begin(&r, ctx, packed, stats);
	uint64_t layout_end = lay_misaligned_holes(&r, scale);
	uint64_t region_end = vmm_pattern_region.base + vmm_pattern_region.pages * PAGE_SIZE;
	uint64_t tight = region_end - PT_SPAN_BYTES(1);
	lay(&r, layout_end, (tight - layout_end) / PAGE_SIZE, false);
	lay(&r, tight + 4 * PAGE_SIZE, LEAF_PAGES - 4, false);
	probe(&r, 4, 512, 0);
	probe(&r, 4, 4, 0);
	probe(&r, 2, 2, page_addr(&r, 2)); /* padded to 3: the first hole holds it */
	probe(&r, 1, 1ull << 18, 0);
	probe(&r, 4, 1, page_addr(&r, 1));
	probe(&r, 5, 1, 0);
	lay(&r, tight, 4, false); /* the exact placement the policy leaves to the caller */
	end(&r);
}

const struct vmm_pattern vmm_patterns[] = {
	{ "near-fit-4k", "every 2 MiB leaf holds three 150-page runs; reserve 200, 151, 150", near_fit_4k },
	{ "near-fit-2m", "every 2 MiB leaf has 511 free pages; reserve 512, 511", near_fit_2m },
	{ "near-fit-1g", "every 1 GiB chunk has 262 143 free pages; reserve 262 144, 262 143", near_fit_1g },
	{ "one-page-holes", "alternating one-page holes; reserve 2, 1", one_page_holes },
	{ "far-end-holes", "the only free pages are the region's last 64; reserve 64, 65", far_end_holes },
	{ "size-sweep", "near-fit leaves; reserve 2^k - 1, 2^k, 2^k + 1 for k = 0..19", size_sweep },
	{ "aligned-holes", "misaligned 4-page holes; reserve 4 pages aligned 512, 4, 1 and 1 GiB",
	  aligned_over_misaligned_holes },
	{ "aligned-tight-holes", "aligned-holes with nothing else free but a tight 2 MiB-aligned hole; "
	  "reserve 4 aligned 512, 4 and 1 GiB (no space), 2 aligned 2, 4",
	  aligned_tight_holes },
};
const unsigned vmm_pattern_count = ARRAY_SIZE(vmm_patterns);
