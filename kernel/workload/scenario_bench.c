/*
 * bench: the allocators measured inside the running kernel, in guest instructions. Under QEMU
 * `-icount shift=0,sleep=off` the TSC advances by exactly one per guest instruction, so the TSC
 * difference around a loop is its instruction count, the same on every run; like the host
 * benchmarks, each loop runs at two lengths and the difference is divided by the extra steps, so
 * what surrounds the loop cancels. Trace events emitted per step come from the tracer's own
 * per-event counters. Rows go to the console as `bench-guest: <table>,<csv>`; benchmarks/
 * run_bench.py boots this once per vmm= backend and trace=on/off and writes results/bench/guest-*.csv.
 *
 * Stages (each a phase, so a traced run can be checked like any scenario):
 *   pmm  alloc+free of 1, 3, 8, 37, 512 (at 2 MiB), 1000 and 262144 (at 1 GiB) pages, the block
 *        just taken freed again: first in the pmm as booted (BEST CASE: few free extents), then
 *        amid mixed holes (PMM_HOLES holes between 1-page separators, half of them one page short
 *        of the request, the rest 1..32 pages; at most 1/8 of memory in the short ones).
 *   vmm  in a fresh user context with 1 000 ... 1 000 000 pages mapped (16-page reservations,
 *        all mapped to one run of 16 user-owned data pages; a count whose page tables would take
 *        1/64 of memory or more is skipped): reserve+release of 16 pages, the same with the 16
 *        pages mapped and unmapped in between, and 512 pages reserved at 2 MiB alignment. These
 *        reservations lie in the context's shared-memory region, the one region where a page may
 *        be mapped in many places (`analyzer check` holds every other region to one mapping per
 *        page); it is as large and as aligned as the anonymous region and served by the same
 *        backend code, so the figures are those of any region.
 * Sizes scale down with memory (a request larger than half of memory is skipped), so a small guest
 * (the determinism test boots 128 MiB) runs the same code on a reduced set.
 */
#include "scenario.h"
#include "kernel/arch/amd64/cpu.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"
#include "kernel/core/options.h"
#include "kernel/trace/tracepoints.h"

#define PMM_HOLES 10000
#define SHORT_STEPS 64
#define LONG_STEPS 192
#define VMM_REQUEST 16
#define VMM_ALIGNED 512
#define VMM_DATA_PAGES 16
#define BRK_STEP_PAGES 8 /* 32 KiB per brk call */
/* Where the vmm rows reserve: many mappings of the 16 data pages are shared memory (see above). */
#define BENCH_REGION VMM_UREGION_SHM

static const uint64_t bench_sizes[] = { 1, 3, 8, 37, 512, 1000, 262144 };
static const uint64_t bench_mapped[] = { 1000, 10000, 100000, 1000000 };
static paddr_t hole_addr[PMM_HOLES], separator_addr[PMM_HOLES];
static uint64_t hole_pages[PMM_HOLES];

static const char *trace_name(void)
{
	return kernel_options.trace == TRACE_MODE_OFF ? "off" :
	       kernel_options.trace == TRACE_MODE_DROP ? "drop" : "on";
}

static uint64_t events_emitted(void)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < TRACE_EVENT_ID_LIMIT; i++)
		n += trace_global.emitted[i];
	return n;
}

/* One measured loop: a step function and what it works on. */
struct bench_loop {
	struct scenario_run *run;
	void (*step)(struct bench_loop *);
	uint64_t pages, align, failed;
	struct vmm_context *ctx;
	paddr_t data;
	bool map;
	uint64_t brk; /* the current break, for the brk steps */
};

struct bench_figures {
	uint64_t tenths_per_step;  /* instructions per step, x10 */
	uint64_t events_per_step_x10;
};

/*
 * Runs `step` (a constant where the caller names one: then it is inlined into the loop, and a
 * step costs only what it does, not a call through a pointer and a function's own entry and
 * exit) in the measured loops.
 */
static ALWAYS_INLINE struct bench_figures measure_steps(struct bench_loop *loop,
							void (*step)(struct bench_loop *))
{
	/* A first step to warm (it may create what later steps reuse), then the two measured
	 * loops, all from one call site (the loop over the lengths is kept whole: unrolled, each
	 * length would have its own): every step has the same call chain, so the chain a traced
	 * step records is defined (call_chain) in the warm step, never inside a measured loop. */
	static const uint64_t lengths[3] = { 1, SHORT_STEPS, LONG_STEPS };
	uint64_t ticks[3], events[3];
	/*
	 * An empty trace ring first: the loops then never wait for the device (the whole ring holds
	 * more than they emit), and waiting is host time, the one thing icount cannot make exact.
	 */
	if (trace_enabled)
		trace_flush(&trace_global);
#pragma GCC unroll 1
	for (unsigned i = 0; i < 3; i++) {
		uint64_t e0 = events_emitted(), t0 = rdtsc();
#pragma GCC unroll 1
		for (uint64_t s = 0; s < lengths[i]; s++)
			step(loop);
		ticks[i] = rdtsc() - t0;
		events[i] = events_emitted() - e0;
	}
	uint64_t extra = lengths[2] - lengths[1];
	/* Counted here, not in the steps, so the count costs no measured instruction. */
	loop->run->requests += lengths[0] + lengths[1] + lengths[2];
	loop->run->failures += loop->failed;
	return (struct bench_figures){
		.tenths_per_step = (ticks[2] - ticks[1]) * 10 / extra,
		.events_per_step_x10 = (events[2] - events[1]) * 10 / extra,
	};
}

static struct bench_figures measure(struct bench_loop *loop)
{
	return measure_steps(loop, loop->step);
}

/* ---- pmm ------------------------------------------------------------------------------------- */

static ALWAYS_INLINE void pmm_pair(struct bench_loop *loop)
{
	paddr_t pa = page_alloc(&kernel_pmm, loop->pages, PMM_ALLOC_ANY, loop->align, MM_OWNER_TEST);
	if (pa == PMM_ALLOC_FAILED) {
		loop->failed++;
		return;
	}
	enum pmm_status st = page_free(&kernel_pmm, pa, loop->pages);
	if (st != PMM_OK)
		scenario_error(loop->run, "pmm_free(%#lx, %lu): %s", pa, loop->pages, pmm_status_name(st));
}

static uint64_t free_extents(void)
{
	struct pmm_stats stats;
	page_allocator_stats(&kernel_pmm, &stats);
	return stats.free_extents;
}

static void pmm_row(struct bench_loop *loop, const char *layout)
{
	loop->failed = 0;
	uint64_t extents = free_extents();
	struct bench_figures f = measure_steps(loop, pmm_pair);
	kprintf("bench-guest: pmm,%s,%s,%lu,%lu,%lu,%s,%s,%lu.%lu,%lu.%lu,%lu\n", layout,
		layout[0] == 'b' ? "yes" : "no", loop->pages, loop->align, extents,
		vmm_backend_kind_name(kernel_options.vmm), trace_name(), f.tenths_per_step / 10,
		f.tenths_per_step % 10, f.events_per_step_x10 / 10, f.events_per_step_x10 % 10,
		loop->failed);
}

/* Holes one page short of `size` (at most 1/8 of memory) and of 1..32 pages, in random order,
 * each followed by a 1-page separator that stays allocated. Returns how many were made. */
static unsigned make_holes(struct scenario_run *run, uint64_t size)
{
	uint64_t short_budget = size > 1 ? run->memory_pages / 8 / (size - 1) : 0;
	unsigned made = 0;
	while (made < PMM_HOLES) {
		bool short_hole = short_budget && rng_below(&run->rng, 2);
		uint64_t pages = short_hole ? size - 1 : rng_between(&run->rng, 1, 32);
		paddr_t hole = page_alloc(&kernel_pmm, pages, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		paddr_t separator = page_alloc(&kernel_pmm, 1, PMM_ALLOC_ANY, 1, MM_OWNER_TEST);
		if (hole == PMM_ALLOC_FAILED || separator == PMM_ALLOC_FAILED) {
			if (hole != PMM_ALLOC_FAILED)
				page_free(&kernel_pmm, hole, pages);
			if (separator != PMM_ALLOC_FAILED)
				page_free(&kernel_pmm, separator, 1);
			break;
		}
		short_budget -= short_hole;
		hole_addr[made] = hole;
		hole_pages[made] = pages;
		separator_addr[made++] = separator;
	}
	for (unsigned i = 0; i < made; i++)
		page_free(&kernel_pmm, hole_addr[i], hole_pages[i]);
	return made;
}

static void drop_separators(unsigned made)
{
	for (unsigned i = 0; i < made; i++)
		page_free(&kernel_pmm, separator_addr[i], 1);
}

static void bench_pmm(struct scenario_run *run)
{
	struct bench_loop loop = { .run = run };
	for (unsigned s = 0; s < ARRAY_SIZE(bench_sizes); s++) {
		loop.pages = bench_sizes[s];
		loop.align = loop.pages == 512 || loop.pages == 262144 ? loop.pages : 1;
		if (loop.pages > run->memory_pages / 2)
			continue;
		pmm_row(&loop, "best-as-booted");
		unsigned made = make_holes(run, loop.pages);
		pmm_row(&loop, "mixed-holes");
		drop_separators(made);
	}
}

/* ---- vmm ------------------------------------------------------------------------------------- */

static void vmm_step(struct bench_loop *loop)
{
	uint64_t addr;
	enum vm_status st = vmm_reserve(loop->ctx, BENCH_REGION, loop->pages, loop->align, &addr);
	if (st != VM_OK) {
		loop->failed++;
		return;
	}
	if (loop->map) {
		st = vmm_map(loop->ctx, addr, loop->data, loop->pages, PT_PAGE_4K, PT_READ | PT_USER);
		if (st == VM_OK)
			st = vmm_unmap(loop->ctx, addr, loop->pages);
		if (st != VM_OK)
			scenario_error(loop->run, "map/unmap at %#lx: %s", addr, vm_status_name(st));
	}
	st = vmm_release(loop->ctx, addr, loop->pages);
	if (st != VM_OK)
		scenario_error(loop->run, "vmm_release(%#lx): %s", addr, vm_status_name(st));
}

/*
 * brk steps: the heap grows by loop->pages pages per call through every step of a row, then the
 * next row shrinks it back by as much per call (both rows run the same number of steps), so
 * each call moves the break across fresh or just-used pages as a malloc arena's top does.
 */
static void brk_step(struct bench_loop *loop, int64_t pages)
{
	uint64_t target = loop->brk + (uint64_t)(pages * (int64_t)PAGE_SIZE);
	if (vmm_brk(loop->ctx, target, &loop->brk) != VM_OK)
		loop->failed++;
}

static void brk_grow_step(struct bench_loop *loop) { brk_step(loop, (int64_t)loop->pages); }
static void brk_shrink_step(struct bench_loop *loop) { brk_step(loop, -(int64_t)loop->pages); }

static void vmm_row(struct bench_loop *loop, const char *operation, uint64_t mapped)
{
	loop->failed = 0;
	struct bench_figures f = measure(loop);
	kprintf("bench-guest: vmm,%s,%lu,%s,%s,%lu.%lu,%lu.%lu,%lu\n", operation, mapped,
		vmm_backend_kind_name(kernel_options.vmm), trace_name(), f.tenths_per_step / 10,
		f.tenths_per_step % 10, f.events_per_step_x10 / 10, f.events_per_step_x10 % 10,
		loop->failed);
}

static void bench_vmm_at(struct scenario_run *run, uint64_t mapped, paddr_t data)
{
	static struct vmm_context user;
	enum vm_status st = memory_user_context_create(&user);
	if (!scenario_outcome(run, st == VM_OK))
		return;
	for (uint64_t done = 0; done < mapped; done += VMM_DATA_PAGES) {
		uint64_t addr, pages = MIN((uint64_t)VMM_DATA_PAGES, mapped - done);
		st = vmm_reserve(&user, BENCH_REGION, pages, 1, &addr);
		if (st == VM_OK)
			st = vmm_map(&user, addr, data, pages, PT_PAGE_4K, PT_READ | PT_USER);
		if (!scenario_outcome(run, st == VM_OK))
			break;
	}
	struct bench_loop loop = { .run = run, .step = vmm_step, .ctx = &user, .data = data,
				   .pages = VMM_REQUEST, .align = 1 };
	vmm_row(&loop, "reserve-release", mapped);
	loop.map = true;
	vmm_row(&loop, "reserve-map-unmap-release", mapped);
	loop.map = false;
	loop.pages = loop.align = VMM_ALIGNED;
	vmm_row(&loop, "aligned-reserve-release", mapped);
	loop.pages = BRK_STEP_PAGES;
	vmm_brk(&user, 0, &loop.brk);
	loop.step = brk_grow_step;
	vmm_row(&loop, "brk-grow", mapped);
	loop.step = brk_shrink_step;
	vmm_row(&loop, "brk-shrink", mapped);
	vmm_context_destroy(&user);
}

static void bench_vmm(struct scenario_run *run)
{
	paddr_t data = page_alloc(&kernel_pmm, VMM_DATA_PAGES, PMM_ALLOC_ANY, 1, MM_OWNER_USER);
	if (!scenario_outcome(run, data != PMM_ALLOC_FAILED))
		return;
	for (unsigned i = 0; i < ARRAY_SIZE(bench_mapped); i++)
		/* Page tables for n mapped pages take n/512 pages: stay far below memory. */
		if (bench_mapped[i] / 512 < run->memory_pages / 64)
			bench_vmm_at(run, bench_mapped[i], data);
	page_free(&kernel_pmm, data, VMM_DATA_PAGES);
}

void scenario_bench(struct scenario_run *run)
{
	kprintf("bench-guest: header,icount instructions per step = (TSC(%u steps) - TSC(%u steps)) "
		"/ %u\n", LONG_STEPS, SHORT_STEPS, LONG_STEPS - SHORT_STEPS);
	scenario_stage_begin(run, "pmm");
	bench_pmm(run);
	scenario_stage_end(run, "pmm");
	scenario_stage_begin(run, "vmm");
	bench_vmm(run);
	scenario_stage_end(run, "vmm");
}
