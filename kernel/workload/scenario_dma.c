/*
 * dma: contiguous physical buffers as drivers ask for them, straight from the pmm: sizes from
 * 4 KiB to 64 MiB (at most 1/8 of memory), alignments from a page to 1 GiB (2 MiB and 1 GiB only
 * where memory is large enough to hold such a block), and the three zones a device may be limited
 * to (below 16 MiB, below 4 GiB, anywhere), amid background single-page churn that keeps cutting
 * the free space. Stages:
 *   background  the single pages are taken
 *   buffers     each step either replaces a background page or allocates a buffer (a random held
 *               buffer is freed when all slots are taken)
 *   release     everything is freed
 */
#define PAGE_ALLOCATOR_SHARED_COPIES /* allocates rarely: the shared copies (page_allocator.h) */
#include "scenario.h"
#include "kernel/core/memory.h"

#define DMA_BUFFERS 32
#define BACKGROUND_PAGES 512
#define GIB_PAGES ((uint64_t)1 << 18)
#define MIB2_PAGES ((uint64_t)1 << 9)

struct held {
	paddr_t addr; /* PMM_ALLOC_FAILED: slot unused */
	uint64_t pages;
};

static struct held buffers[DMA_BUFFERS], background[BACKGROUND_PAGES];

static void release(struct scenario_run *run, struct held *h)
{
	if (h->addr == PMM_ALLOC_FAILED)
		return;
	enum pmm_status st = page_free(&kernel_pmm, h->addr, h->pages);
	if (st != PMM_OK)
		scenario_error(run, "pmm_free(%#lx, %lu): %s", h->addr, h->pages, pmm_status_name(st));
	h->addr = PMM_ALLOC_FAILED;
}

static void take(struct scenario_run *run, struct held *h, uint64_t pages, enum pmm_alloc_zone zone,
		 uint64_t align, enum mm_owner owner)
{
	h->addr = page_alloc(&kernel_pmm, pages, zone, align, owner);
	h->pages = pages;
	scenario_outcome(run, h->addr != PMM_ALLOC_FAILED);
}

static void allocate_buffer(struct scenario_run *run, struct held *h)
{
	uint64_t max_pages = MAX(1, MIN((64u << 20) / PAGE_SIZE, run->memory_pages / 8));
	unsigned z = (unsigned)rng_below(&run->rng, 10);
	enum pmm_alloc_zone zone = z < 2 ? PMM_ALLOC_BELOW_16M : z < 6 ? PMM_ALLOC_BELOW_4G : PMM_ALLOC_ANY;
	if (zone == PMM_ALLOC_BELOW_16M) /* the whole zone is 15 MiB: ask for what could fit */
		max_pages = MIN(max_pages, (4u << 20) / PAGE_SIZE);
	uint64_t pages = rng_log_uniform(&run->rng, 1, max_pages);
	unsigned a = (unsigned)rng_below(&run->rng, 100);
	uint64_t align = 1;
	if (a >= 50 && a < 80)
		align = (uint64_t)1 << (ilog2_u64(pages) + !IS_POW2(pages)); /* natural: the size rounded up */
	else if (a >= 80 && a < 95 && run->memory_pages >= 8 * MIB2_PAGES)
		align = MIB2_PAGES;
	else if (a >= 95 && run->memory_pages >= 2 * GIB_PAGES)
		align = GIB_PAGES;
	take(run, h, pages, zone, align, MM_OWNER_DMA);
}

void scenario_dma(struct scenario_run *run)
{
	for (unsigned i = 0; i < DMA_BUFFERS; i++)
		buffers[i].addr = PMM_ALLOC_FAILED;
	scenario_stage_begin(run, "background");
	for (unsigned i = 0; i < BACKGROUND_PAGES; i++)
		take(run, &background[i], 1, PMM_ALLOC_ANY, 1, MM_OWNER_USER);
	scenario_stage_end(run, "background");

	scenario_stage_begin(run, "buffers");
	for (unsigned step = 0; step < 3000; step++) {
		if (rng_percent(&run->rng, 60)) {
			struct held *h = &background[rng_below(&run->rng, BACKGROUND_PAGES)];
			release(run, h);
			take(run, h, 1, PMM_ALLOC_ANY, 1, MM_OWNER_USER);
			continue;
		}
		struct held *h = &buffers[rng_below(&run->rng, DMA_BUFFERS)];
		release(run, h); /* a held buffer's lifetime ends when its slot is wanted */
		allocate_buffer(run, h);
	}
	scenario_stage_end(run, "buffers");

	scenario_stage_begin(run, "release");
	for (unsigned i = 0; i < DMA_BUFFERS; i++)
		release(run, &buffers[i]);
	for (unsigned i = 0; i < BACKGROUND_PAGES; i++)
		release(run, &background[i]);
	scenario_stage_end(run, "release");
}
