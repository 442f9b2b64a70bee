/*
 * pmm-pairs: what one allocation and its free cost in the kernel's physical allocator (`pmm=`),
 * pair by pair, in guest instructions. Boot it under QEMU `-icount shift=0,sleep=off` (make
 * report-pmm does), where the TSC advances one per guest instruction; with `trace=off` the figure
 * is the allocator's own (tracing adds its encoder to every event). Stages:
 *   fill      a seeded mix of allocations (1 page 70%, 2..16 pages 20%, 17..256 pages 8%, 512
 *             pages at 2 MiB 2%, the mix of the kheap and dma scenarios) until they ask for half
 *             of the memory managed (at most PAIRS_LIVE), every other one freed again: a
 *             fragmented state, the same requests under every allocator;
 *   measure   PAIRS pairs of the same mix, each an alloc immediately freed, timed one by one with
 *             the TSC; the TSC's own cost (the median of PAIRS empty readings) is subtracted. A
 *             refused allocation is counted, not timed;
 *   release   the survivors of the fill are freed.
 * Prints `pmm-pairs: pmm=NAME: N pairs (N refused): median M, p99 P, worst W guest instructions
 * per pair` (p99 = the value at rank ceil(0.99 N) of the sorted pairs: exact, not sampled).
 */
#include "scenario.h"
#include "kernel/arch/amd64/cpu.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"

#define PAIRS 4000
#define PAIRS_LIVE 6000

struct live {
	paddr_t addr;
	uint64_t pages;
};

static struct live live[PAIRS_LIVE];
static uint64_t cost[PAIRS];

static void pick(struct scenario_run *run, uint64_t *pages, uint64_t *align)
{
	unsigned r = (unsigned)rng_below(&run->rng, 100);
	*align = 1;
	if (r < 70) {
		*pages = 1;
	} else if (r < 90) {
		*pages = rng_between(&run->rng, 2, 16);
	} else if (r < 98) {
		*pages = rng_between(&run->rng, 17, 256);
	} else {
		*pages = 512;
		*align = 512;
	}
}

/* Shell sort: no allocation, O(n^1.5) for these sizes. */
static void sort(uint64_t *v, unsigned n)
{
	for (unsigned gap = n / 2; gap; gap /= 2)
		for (unsigned i = gap; i < n; i++)
			for (unsigned j = i; j >= gap && v[j - gap] > v[j]; j -= gap) {
				uint64_t t = v[j];
				v[j] = v[j - gap];
				v[j - gap] = t;
			}
}

static void release(struct scenario_run *run, struct live *l)
{
	if (l->addr == PMM_ALLOC_FAILED)
		return;
	enum pmm_status st = page_free(&kernel_pmm, l->addr, l->pages);
	if (st != PMM_OK)
		scenario_error(run, "pmm_free(%#lx, %lu): %s", l->addr, l->pages, pmm_status_name(st));
	l->addr = PMM_ALLOC_FAILED;
}

static uint64_t tsc_cost(void)
{
	for (unsigned i = 0; i < PAIRS; i++) {
		uint64_t t0 = rdtsc();
		cost[i] = rdtsc() - t0;
	}
	sort(cost, PAIRS);
	return cost[PAIRS / 2];
}

void scenario_pmm_pairs(struct scenario_run *run)
{
	scenario_stage_begin(run, "fill");
	uint64_t requested = 0;
	for (unsigned i = 0; i < PAIRS_LIVE; i++)
		live[i].addr = PMM_ALLOC_FAILED;
	for (unsigned i = 0; i < PAIRS_LIVE && requested < run->memory_pages / 2; i++) {
		uint64_t align;
		pick(run, &live[i].pages, &align);
		requested += live[i].pages;
		live[i].addr = page_alloc(&kernel_pmm, live[i].pages, PMM_ALLOC_ANY, align, MM_OWNER_TEST);
		scenario_outcome(run, live[i].addr != PMM_ALLOC_FAILED);
	}
	for (unsigned i = 0; i < PAIRS_LIVE; i += 2)
		release(run, &live[i]);
	scenario_stage_end(run, "fill");

	scenario_stage_begin(run, "measure");
	uint64_t overhead = tsc_cost();
	unsigned timed = 0, refused = 0;
	for (unsigned i = 0; i < PAIRS; i++) {
		uint64_t pages, align;
		pick(run, &pages, &align);
		uint64_t t0 = rdtsc();
		paddr_t pa = page_alloc(&kernel_pmm, pages, PMM_ALLOC_ANY, align, MM_OWNER_TEST);
		enum pmm_status st = pa == PMM_ALLOC_FAILED ? PMM_OK : page_free(&kernel_pmm, pa, pages);
		uint64_t elapsed = rdtsc() - t0;
		if (!scenario_outcome(run, pa != PMM_ALLOC_FAILED)) {
			refused++;
			continue;
		}
		if (st != PMM_OK)
			scenario_error(run, "pmm_free(%#lx, %lu): %s", pa, pages, pmm_status_name(st));
		cost[timed++] = elapsed > overhead ? elapsed - overhead : 0;
	}
	scenario_stage_end(run, "measure");

	scenario_stage_begin(run, "release");
	for (unsigned i = 1; i < PAIRS_LIVE; i += 2)
		release(run, &live[i]);
	scenario_stage_end(run, "release");

	if (!timed) {
		kprintf("pmm-pairs: pmm=%s: every one of %u allocations was refused\n",
			pmm_allocator_name(kernel_pmm.allocator), refused);
		return;
	}
	sort(cost, timed);
	unsigned p99 = (timed * 99 + 99) / 100; /* rank ceil(0.99 n), 1-based */
	kprintf("pmm-pairs: pmm=%s: %u pairs (%u refused): median %lu, p99 %lu, worst %lu guest "
		"instructions per pair (TSC cost %lu subtracted)\n",
		pmm_allocator_name(kernel_pmm.allocator), timed, refused, cost[timed / 2],
		cost[p99 - 1], cost[timed - 1], overhead);
}
