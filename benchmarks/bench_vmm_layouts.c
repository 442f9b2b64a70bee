/*
 * The VMM's two bookkeeping backends (vmm=pagetable, vmm=list) side by side, per number of mapped
 * pages (1 000 ... 1 000 000) and per layout, in the user anonymous-mapping region:
 *
 *   best-contiguous  BEST CASE (bench_vmm's layout): 16-page reservations, all mapped, end to end.
 *   mixed-holes      reservations of 1..32 pages (uniform in log2), all mapped, with a hole after
 *                    each: half of the holes 15 pages (just short of the 16-page request), half
 *                    1..32 pages; the holes are released (and unmapped) after the build.
 *
 * Operations measured, one step each:
 *   reserve-release           vmm_reserve of 16 pages (lowest first fit) + vmm_release
 *   reserve-map-unmap-release the same, with its 16 data pages mapped and unmapped in between
 *   aligned-reserve-release   512 pages at 2 MiB alignment (a large-page mapping's reservation)
 * Data pages are borrowed physical addresses (never touched); page tables and backend records come
 * from a page stack over a host arena. The address each step got is printed, so the two backends
 * can be checked to place the same requests at the same place.
 *
 *   bench_vmm_layouts --mode time|count [--quick]    (count: under valgrind --tool=callgrind
 *   --instr-atstart=no; two loop lengths per row, differenced by run_bench.py)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

#include "kernel/mm/vmm.h"
#include "tests/host/host_env.h"
#include "tests/host/host_regions.h"
#include "benchmarks/page_stack.h"
#include "benchmarks/timing.h"

#define ARENA_PHYS 0x40000000ull
#define ARENA_PAGES (128ull * 1024) /* 512 MiB: page tables and records only */
#define DATA_PA 0x100000000ull     /* borrowed, never touched */
#define REQUEST_PAGES 16
#define ALIGNED_PAGES 512

static const uint64_t mapped_counts[] = { 1000, 10000, 100000, 1000000 };
static const uint64_t quick_mapped_counts[] = { 1000, 100000 };
static bool count_mode, quick;

static void die(const char *what, enum vm_status st)
{
	fprintf(stderr, "bench_vmm_layouts: %s: %s\n", what, vm_status_name(st));
	exit(1);
}

static void check(enum vm_status st, const char *what)
{
	if (st != VM_OK)
		die(what, st);
}

static uint64_t rng;
static uint64_t random_below(uint64_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (rng * 0x2545F4914F6CDD1Dull) % n;
}

static uint64_t geometric_size(unsigned max_log)
{
	unsigned k = (unsigned)random_below(max_log);
	return ((uint64_t)1 << k) + random_below((uint64_t)1 << k);
}

enum layout { BEST_CONTIGUOUS, MIXED_HOLES };
static const char *const layout_names[] = { "best-contiguous", "mixed-holes" };

static void reserve_mapped(struct vmm_context *ctx, uint64_t pages, uint64_t *addr)
{
	check(vmm_reserve(ctx, VMM_UREGION_MMAP, pages, 1, addr), "build reserve");
	check(vmm_map(ctx, *addr, DATA_PA, pages, PT_PAGE_4K, PT_READ | PT_USER), "build map");
}

static void build(struct vmm_context *ctx, enum layout layout, uint64_t mapped)
{
	uint64_t addr;
	if (layout == BEST_CONTIGUOUS) {
		for (uint64_t done = 0; done < mapped; done += 16)
			reserve_mapped(ctx, MIN((uint64_t)16, mapped - done), &addr);
		return;
	}
	uint64_t capacity = mapped / 4 + 16, holes = 0;
	struct { uint64_t addr, pages; } *hole = malloc(capacity * sizeof(*hole));
	for (uint64_t done = 0; done < mapped;) {
		uint64_t keep = MIN(geometric_size(6), mapped - done);
		reserve_mapped(ctx, keep, &addr);
		done += keep;
		if (holes == capacity) {
			capacity *= 2;
			hole = realloc(hole, capacity * sizeof(*hole));
		}
		hole[holes].pages = random_below(2) ? REQUEST_PAGES - 1 : geometric_size(6);
		reserve_mapped(ctx, hole[holes].pages, &hole[holes].addr);
		holes++;
	}
	for (uint64_t i = 0; i < holes; i++)
		check(vmm_release(ctx, hole[i].addr, hole[i].pages), "build release");
	free(hole);
}

enum operation { RESERVE_RELEASE, RESERVE_MAP_UNMAP_RELEASE, ALIGNED_RESERVE_RELEASE };
static const char *const operation_names[] = { "reserve-release", "reserve-map-unmap-release",
					       "aligned-reserve-release" };

static uint64_t step_addr, step_work;

static void step(struct vmm_context *ctx, enum operation op)
{
	uint64_t pages = op == ALIGNED_RESERVE_RELEASE ? ALIGNED_PAGES : REQUEST_PAGES;
	uint64_t align = op == ALIGNED_RESERVE_RELEASE ? ALIGNED_PAGES : 1;
	check(vmm_reserve(ctx, VMM_UREGION_MMAP, pages, align, &step_addr), "reserve");
	step_work += ctx->last_work;
	if (op == RESERVE_MAP_UNMAP_RELEASE) {
		check(vmm_map(ctx, step_addr, DATA_PA, pages, PT_PAGE_4K, PT_READ | PT_WRITE | PT_USER),
		      "map");
		check(vmm_unmap(ctx, step_addr, pages), "unmap");
	}
	check(vmm_release(ctx, step_addr, pages), "release");
	step_work += ctx->last_work;
}

static void measure(struct vmm_context *ctx, const char *backend, enum layout layout,
		    uint64_t mapped, enum operation op)
{
	const char *lname = layout_names[layout], *oname = operation_names[op];
	step_work = 0;
	step(ctx, op); /* warm: a first step may create a table the others reuse */
	printf("%s,%s,%llu,%s,%llu,%llx,%llu", lname, oname, (unsigned long long)mapped, backend,
	       (unsigned long long)step_work, (unsigned long long)step_addr,
	       (unsigned long long)vmm_bookkeeping_bytes(ctx));
	if (count_mode) {
		static const uint64_t lengths[2] = { 50, 150 };
		CALLGRIND_START_INSTRUMENTATION;
		for (unsigned i = 0; i < 2; i++) {
			char label[160];
			snprintf(label, sizeof(label), "%s|%s|%llu|%s|%llu", lname, oname,
				 (unsigned long long)mapped, backend, (unsigned long long)lengths[i]);
			CALLGRIND_ZERO_STATS;
			for (uint64_t s = 0; s < lengths[i]; s++)
				step(ctx, op);
			CALLGRIND_DUMP_STATS_AT(label);
		}
		CALLGRIND_STOP_INSTRUMENTATION;
		printf(",%llu,%llu\n", (unsigned long long)lengths[0], (unsigned long long)lengths[1]);
	} else {
		unsigned repeats = quick ? 3 : 5;
		uint64_t steps = quick ? 2000 : 10000;
		double samples[8];
		for (unsigned r = 0; r < repeats; r++) {
			uint64_t t0 = bench_now_ns();
			for (uint64_t s = 0; s < steps; s++)
				step(ctx, op);
			samples[r] = (double)(bench_now_ns() - t0) / (double)steps;
		}
		bench_sort_samples(samples, repeats);
		printf(",%.1f,%.1f,%.1f,%u,%llu\n", samples[repeats / 2], samples[0],
		       samples[repeats - 1], repeats, (unsigned long long)steps);
	}
	fflush(stdout);
}

static void run(enum vmm_backend_kind backend, enum layout layout, uint64_t mapped,
		struct page_stack *stack)
{
	struct vmm_context kernel, user;
	struct vmm_config kc = { .kind = VMM_CONTEXT_KERNEL, .backend = backend,
				 .source = &stack->source, .regions = host_kernel_regions,
				 .region_count = HOST_KERNEL_REGION_COUNT,
				 .user_regions = host_user_regions,
				 .user_region_count = HOST_USER_REGION_COUNT,
				 .brk_region = VMM_NO_REGION, .shm_region = VMM_NO_REGION };
	check(vmm_context_create(&kernel, &kc), "kernel context");
	struct vmm_config uc = { .kind = VMM_CONTEXT_USER, .backend = backend,
				 .source = &stack->source, .brk_region = VMM_UREGION_HEAP,
				 .shm_region = VMM_UREGION_SHM, .kernel = &kernel };
	check(vmm_context_create(&user, &uc), "user context");
	rng = 0x5eed0000 + mapped; /* the same layout for both backends */
	build(&user, layout, mapped);
	for (unsigned op = 0; op < ARRAY_SIZE(operation_names); op++)
		measure(&user, vmm_backend_kind_name(backend), layout, mapped, (enum operation)op);
	vmm_context_destroy(&user);
	vmm_context_destroy(&kernel);
	if (page_stack_missing(stack)) {
		fprintf(stderr, "bench_vmm_layouts: %llu pages leaked\n",
			(unsigned long long)page_stack_missing(stack));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	bool args_ok = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = true;
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc &&
			   (strcmp(argv[i + 1], "time") == 0 || strcmp(argv[i + 1], "count") == 0)) {
			count_mode = strcmp(argv[++i], "count") == 0;
		} else {
			args_ok = false;
			break;
		}
	}
	if (!args_ok) {
		fprintf(stderr, "usage: bench_vmm_layouts [--mode time|count] [--quick]\n");
		return 2;
	}
	if (count_mode && !RUNNING_ON_VALGRIND) {
		fprintf(stderr, "bench_vmm_layouts: --mode count must run under valgrind "
				"--tool=callgrind --instr-atstart=no\n");
		return 1;
	}
	void *arena = host_phys_arena_create(ARENA_PHYS, ARENA_PAGES * PAGE_SIZE);
	struct page_stack stack;
	page_stack_init(&stack, ARENA_PHYS, ARENA_PAGES);

	printf("layout,operation,mapped_pages,backend,work_per_step_entries,first_addr,"
	       "bookkeeping_bytes,%s\n",
	       count_mode ? "short_steps,long_steps"
			  : "wall_ns_median,wall_ns_min,wall_ns_max,repeats,steps_per_repeat");
	const uint64_t *counts = quick ? quick_mapped_counts : mapped_counts;
	size_t count_n = quick ? ARRAY_SIZE(quick_mapped_counts) : ARRAY_SIZE(mapped_counts);
	static const enum vmm_backend_kind backends[] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };
	for (unsigned layout = 0; layout < 2; layout++)
		for (size_t c = 0; c < count_n; c++)
			for (unsigned b = 0; b < ARRAY_SIZE(backends); b++)
				run(backends[b], (enum layout)layout, counts[c], &stack);
	page_stack_fini(&stack);
	host_phys_arena_destroy(arena, ARENA_PAGES * PAGE_SIZE);
	return 0;
}
