/*
 * fragment: how much contiguous memory survives fragmentation. Stages:
 *   fill      physical memory is filled to 92% of what the pmm manages (the last requests may
 *             be refused: the boot's own pages count in what the pmm manages) with small allocations
 *             (1..3 units of memory_pages / 8192 pages) of four mixed owners;
 *   free      the allocations of two of the four owners (chosen by the seed) are freed, leaving
 *             holes between the survivors;
 *   probe     for each zone request (below 16 MiB, below 4 GiB, any), runs of growing size are
 *             asked for and given back at once: 16 sizes per doubling, from 1 page to the pages
 *             the zones hold, the same list whatever succeeds (so both VMM backends issue the
 *             same requests). The largest that succeeded is the result: a fragment_result event
 *             and a console line, beside the largest free extent the pmm's statistics report;
 *   release   the survivors are freed.
 */
#define PAGE_ALLOCATOR_SHARED_COPIES /* allocates rarely: the shared copies (page_allocator.h) */
#include "scenario.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"
#include "kernel/trace/tracepoints.h"

#define FRAGMENT_CHUNKS 8192
#define STEPS_PER_DOUBLING 16

struct chunk {
	paddr_t addr; /* PMM_ALLOC_FAILED when the allocation was refused or freed */
	uint32_t pages;
	uint8_t owner;
};

static struct chunk chunks[FRAGMENT_CHUNKS];
static unsigned chunk_count;

static const enum mm_owner fill_owners[4] = { MM_OWNER_USER, MM_OWNER_HEAP, MM_OWNER_DMA,
					      MM_OWNER_SLAB };

static void free_chunk(struct scenario_run *run, struct chunk *c)
{
	if (c->addr == PMM_ALLOC_FAILED)
		return;
	enum pmm_status st = page_free(&kernel_pmm, c->addr, c->pages);
	if (st != PMM_OK)
		scenario_error(run, "pmm_free(%#lx, %u): %s", c->addr, c->pages, pmm_status_name(st));
	c->addr = PMM_ALLOC_FAILED;
}

static void fill(struct scenario_run *run)
{
	uint64_t unit = MAX(1, run->memory_pages / FRAGMENT_CHUNKS);
	uint64_t target = run->memory_pages * 92 / 100, requested = 0;
	for (chunk_count = 0; chunk_count < FRAGMENT_CHUNKS && requested < target; chunk_count++) {
		struct chunk *c = &chunks[chunk_count];
		c->pages = (uint32_t)(unit * rng_between(&run->rng, 1, 3));
		c->owner = (uint8_t)fill_owners[rng_below(&run->rng, 4)];
		c->addr = page_alloc(&kernel_pmm, c->pages, PMM_ALLOC_ANY, 1, c->owner);
		scenario_outcome(run, c->addr != PMM_ALLOC_FAILED);
		requested += c->pages;
	}
}

/* Pages in the zones a request may use, and the largest free extent among them. */
static void zone_extent(enum pmm_alloc_zone zone, uint64_t *total, uint64_t *largest, uint64_t *free)
{
	struct pmm_stats s;
	page_allocator_stats(&kernel_pmm, &s);
	*total = *largest = *free = 0;
	unsigned last = zone == PMM_ALLOC_ANY ? PMM_ZONE_NORMAL
			: zone == PMM_ALLOC_BELOW_4G ? PMM_ZONE_DMA32 : PMM_ZONE_DMA;
	for (unsigned z = PMM_ZONE_DMA; z <= last; z++) {
		*total += s.zone[z].total_pages;
		*free += s.zone[z].free_pages;
		*largest = MAX(*largest, s.zone[z].largest_free_extent);
	}
}

static void probe(struct scenario_run *run, enum pmm_alloc_zone zone, const char *label)
{
	uint64_t total, largest_extent, free;
	zone_extent(zone, &total, &largest_extent, &free);
	uint64_t largest = 0, previous = 0;
	uint32_t probes = 0;
	for (unsigned order = 0; ((uint64_t)1 << order) <= total; order++)
		for (unsigned step = 0; step < STEPS_PER_DOUBLING; step++) {
			uint64_t pages = ((uint64_t)1 << order) * (STEPS_PER_DOUBLING + step) / STEPS_PER_DOUBLING;
			if (pages <= previous || pages > total)
				continue;
			previous = pages;
			probes++;
			paddr_t pa = page_alloc(&kernel_pmm, pages, zone, 1, MM_OWNER_TEST);
			if (!scenario_outcome(run, pa != PMM_ALLOC_FAILED))
				continue;
			largest = MAX(largest, pages);
			enum pmm_status st = page_free(&kernel_pmm, pa, pages);
			if (st != PMM_OK)
				scenario_error(run, "pmm_free(%#lx, %lu): %s", pa, pages, pmm_status_name(st));
		}
	trace_fragment_result(largest, largest_extent, free, probes, (uint8_t)zone);
	kprintf("fragment: %-10s largest run that succeeded %8lu pages (%lu KiB); largest free "
		"extent %lu pages, %lu pages free, %u probes\n",
		label, largest, largest * 4, largest_extent, free, probes);
}

void scenario_fragment(struct scenario_run *run)
{
	scenario_stage_begin(run, "fill");
	fill(run);
	scenario_stage_end(run, "fill");

	scenario_stage_begin(run, "free");
	unsigned keep = (unsigned)rng_below(&run->rng, 4), also_keep = (keep + 1 + rng_below(&run->rng, 3)) % 4;
	for (unsigned i = 0; i < chunk_count; i++)
		if (chunks[i].owner != fill_owners[keep] && chunks[i].owner != fill_owners[also_keep])
			free_chunk(run, &chunks[i]);
	scenario_stage_end(run, "free");

	scenario_stage_begin(run, "probe");
	probe(run, PMM_ALLOC_BELOW_16M, "below-16M");
	probe(run, PMM_ALLOC_BELOW_4G, "below-4G");
	probe(run, PMM_ALLOC_ANY, "any");
	scenario_stage_end(run, "probe");

	scenario_stage_begin(run, "release");
	for (unsigned i = 0; i < chunk_count; i++)
		free_chunk(run, &chunks[i]);
	scenario_stage_end(run, "release");
}
