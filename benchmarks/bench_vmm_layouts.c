/*
 * The VMM's range bookkeeping per number of reserved pages (1 000 ... 1 000 000, mapped) and per
 * layout, in the user anonymous-mapping region, four ways, each fed the same request sequence:
 *
 *   pagetable     vmm_reserve + vmm_release, vmm=pagetable (vmm.c and its page-table backend)
 *   list          vmm_reserve + vmm_release, vmm=list (vmm.c and the list backend)
 *   list-backend  the list backend alone: reserve_lowest + release, as vmm.c's placement
 *                 calls it (find_free_run + mark_reserved without it), without vmm.c's checks, tracing
 *                 and page-table release
 *   vmem-peer     benchmarks/peers/vmem.c (Bonwick & Adams' design) over the same region: the
 *                 yardstick of issue 22; it places by instant fit, not lowest first fit, so its
 *                 addresses differ (its rows are compared by cost only)
 *
 * Layouts:
 *   best-contiguous  BEST CASE: 16-page reservations, all mapped, end to end (one free run after).
 *   mixed-holes      reservations of 1..32 pages (uniform in log2), all mapped, with a hole after
 *                    each: half of the holes 15 pages (just short of the 16-page request), half
 *                    1..32 pages; the holes are released (and unmapped) after the build.
 *
 * Operations measured, one step each:
 *   reserve-release           reserve of 1 or 16 pages (lowest first fit) + release
 *   reserve-map-unmap-release 16 pages, its data pages mapped and unmapped in between (VMM rows)
 *   aligned-reserve-release   512 pages at 2 MiB alignment (a large-page mapping's reservation)
 * Data pages are borrowed physical addresses (never touched); page tables and backend records come
 * from a page stack over a host arena. The address each step got is printed, so the VMM rows can
 * be checked to place the same requests at the same place.
 *
 *   bench_vmm_layouts --mode time|count [--quick] [--mapped N] [--backend NAME]
 *   (count: under valgrind --tool=callgrind --instr-atstart=no; two loop lengths per row,
 *   differenced by run_bench.py)
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
#include "benchmarks/vmm_contexts.h"
#include "benchmarks/peers/vmem.h"
#include "benchmarks/timing.h"

#define ARENA_PHYS 0x40000000ull
#define ARENA_PAGES (128ull * 1024) /* 512 MiB: page tables and records only */
#define DATA_PA 0x100000000ull     /* borrowed, never touched */
#define REQUEST_PAGES 16

static const uint64_t mapped_counts[] = { 1000, 10000, 100000, 1000000 };
static const uint64_t quick_mapped_counts[] = { 1000, 100000 };
static bool count_mode, quick;
static uint64_t only_mapped;
static const char *only_backend;

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

/* What a layout is built with: the VMM (reserve and map) or the peer (reserve only). */
struct target {
	struct vmm_context *ctx; /* NULL: the peer */
	struct vmem_peer *peer;
};

static uint64_t build_reserve(struct target *t, uint64_t pages)
{
	uint64_t addr;
	if (!t->ctx) {
		addr = vmem_peer_reserve(t->peer, pages, 1);
		if (addr == VMEM_PEER_FAILED)
			die("build reserve (peer)", VM_ERR_NO_SPACE);
		return addr;
	}
	check(vmm_reserve(t->ctx, VMM_UREGION_MMAP, pages, 1, &addr), "build reserve");
	check(vmm_map(t->ctx, addr, DATA_PA, pages, PT_PAGE_4K, PT_READ | PT_USER), "build map");
	return addr;
}

static void build_release(struct target *t, uint64_t addr, uint64_t pages)
{
	if (!t->ctx) {
		if (!vmem_peer_release(t->peer, addr))
			die("build release (peer)", VM_ERR_NOT_RESERVED);
		return;
	}
	check(vmm_release(t->ctx, addr, pages), "build release");
}

static void build(struct target *t, enum layout layout, uint64_t mapped)
{
	if (layout == BEST_CONTIGUOUS) {
		for (uint64_t done = 0; done < mapped; done += 16)
			build_reserve(t, MIN((uint64_t)16, mapped - done));
		return;
	}
	uint64_t capacity = mapped / 4 + 16, holes = 0;
	struct { uint64_t addr, pages; } *hole = malloc(capacity * sizeof(*hole));
	for (uint64_t done = 0; done < mapped;) {
		uint64_t keep = MIN(geometric_size(6), mapped - done);
		build_reserve(t, keep);
		done += keep;
		if (holes == capacity) {
			capacity *= 2;
			hole = realloc(hole, capacity * sizeof(*hole));
		}
		hole[holes].pages = random_below(2) ? REQUEST_PAGES - 1 : geometric_size(6);
		hole[holes].addr = build_reserve(t, hole[holes].pages);
		holes++;
	}
	for (uint64_t i = 0; i < holes; i++)
		build_release(t, hole[i].addr, hole[i].pages);
	free(hole);
}

struct operation {
	const char *name;
	uint64_t pages, align;
	bool maps; /* maps and unmaps its pages between reserve and release (VMM rows only) */
};
static const struct operation operations[] = {
	{ "reserve-release", 1, 1, false },
	{ "reserve-release", REQUEST_PAGES, 1, false },
	{ "reserve-map-unmap-release", REQUEST_PAGES, 1, true },
	{ "aligned-reserve-release", 512, 512, false },
};

enum way { WAY_VMM, WAY_LIST_BACKEND, WAY_PEER };

static uint64_t step_addr, step_work;

static void vmm_step(struct vmm_context *ctx, const struct operation *op)
{
	check(vmm_reserve(ctx, VMM_UREGION_MMAP, op->pages, op->align, &step_addr), "reserve");
	step_work += ctx->last_work;
	if (op->maps) {
		check(vmm_map(ctx, step_addr, DATA_PA, op->pages, PT_PAGE_4K,
			      PT_READ | PT_WRITE | PT_USER), "map");
		check(vmm_unmap(ctx, step_addr, op->pages), "unmap");
	}
	check(vmm_release(ctx, step_addr, op->pages), "release");
	step_work += ctx->last_work;
}

/*
 * The backend's calls as vmm.c's placement makes them (vmm.c: place_and_mark), nothing else:
 * reserve_lowest when the backend has it, else find_free_run and mark_reserved; then release.
 */
static void backend_step(struct vmm_context *ctx, const struct operation *op)
{
	const struct vmm_region *region = &ctx->regions[VMM_UREGION_MMAP];
	uint64_t before = ctx->backend_work;
	if (ctx->backend->reserve_lowest) {
		check(ctx->backend->reserve_lowest(ctx, region, op->pages, op->align, VMM_ACCESS_DEFAULT,
						   &step_addr), "backend reserve_lowest");
	} else {
		uint64_t padded = op->pages + op->align - 1;
		struct vmm_free_run run;
		if (!ctx->backend->find_free_run(ctx, region, region->base, padded, padded, &run))
			die("backend find_free_run", VM_ERR_NO_SPACE);
		step_addr = ALIGN_UP(run.start, op->align * PAGE_SIZE);
		check(ctx->backend->mark_reserved(ctx, region, step_addr, op->pages, VMM_ACCESS_DEFAULT),
		      "backend mark_reserved");
	}
	check(ctx->backend->release(ctx, region, step_addr, op->pages), "backend release");
	step_work += ctx->backend_work - before;
}

static void peer_step(struct vmem_peer *peer, const struct operation *op)
{
	step_addr = vmem_peer_reserve(peer, op->pages, op->align);
	if (step_addr == VMEM_PEER_FAILED)
		die("peer reserve", VM_ERR_NO_SPACE);
	if (!vmem_peer_release(peer, step_addr))
		die("peer release", VM_ERR_NOT_RESERVED);
}

static void step(struct target *t, enum way way, const struct operation *op)
{
	if (way == WAY_PEER)
		peer_step(t->peer, op);
	else if (way == WAY_LIST_BACKEND)
		backend_step(t->ctx, op);
	else
		vmm_step(t->ctx, op);
}

static void measure(struct target *t, enum way way, const char *backend, enum layout layout,
		    uint64_t mapped, const struct operation *op)
{
	const char *lname = layout_names[layout];
	step_work = 0;
	step(t, way, op); /* warm: a first step may create a table the others reuse */
	uint64_t bookkeeping = t->ctx ? vmm_bookkeeping_bytes(t->ctx) : vmem_peer_bookkeeping_bytes(t->peer);
	printf("%s,%s,%llu,%llu,%llu,%s,%llu,%llx,%llu", lname, op->name, (unsigned long long)op->pages,
	       (unsigned long long)op->align, (unsigned long long)mapped, backend,
	       (unsigned long long)step_work, (unsigned long long)step_addr,
	       (unsigned long long)bookkeeping);
	if (count_mode) {
		static const uint64_t lengths[2] = { 50, 150 };
		CALLGRIND_START_INSTRUMENTATION;
		for (unsigned i = 0; i < 2; i++) {
			char label[160];
			snprintf(label, sizeof(label), "%s|%s|%llu|%llu|%llu|%s|%llu", lname, op->name,
				 (unsigned long long)op->pages, (unsigned long long)op->align,
				 (unsigned long long)mapped, backend, (unsigned long long)lengths[i]);
			CALLGRIND_ZERO_STATS;
			for (uint64_t s = 0; s < lengths[i]; s++)
				step(t, way, op);
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
				step(t, way, op);
			samples[r] = (double)(bench_now_ns() - t0) / (double)steps;
		}
		bench_sort_samples(samples, repeats);
		printf(",%.1f,%.1f,%.1f,%u,%llu\n", samples[repeats / 2], samples[0],
		       samples[repeats - 1], repeats, (unsigned long long)steps);
	}
	fflush(stdout);
}

static bool wanted(const char *backend)
{
	return !only_backend || strcmp(only_backend, backend) == 0;
}

static void run(enum vmm_backend_kind backend, enum layout layout, uint64_t mapped,
		struct page_stack *stack)
{
	const char *name = vmm_backend_kind_name(backend);
	bool list = backend == VMM_BACKEND_LIST;
	if (!wanted(name) && !(list && wanted("list-backend")))
		return;
	struct vmm_contexts c;
	vmm_contexts_open(&c, backend, &stack->source, false, "bench_vmm_layouts");
	rng = 0x5eed0000 + mapped; /* the same layout for every row */
	struct target t = { .ctx = &c.user };
	build(&t, layout, mapped);
	for (unsigned op = 0; op < ARRAY_SIZE(operations); op++) {
		if (wanted(name))
			measure(&t, WAY_VMM, name, layout, mapped, &operations[op]);
		if (list && !operations[op].maps && wanted("list-backend"))
			measure(&t, WAY_LIST_BACKEND, "list-backend", layout, mapped, &operations[op]);
	}
	vmm_contexts_close(&c);
	if (page_stack_missing(stack)) {
		fprintf(stderr, "bench_vmm_layouts: %llu pages leaked\n",
			(unsigned long long)page_stack_missing(stack));
		exit(1);
	}
}

static void run_peer(enum layout layout, uint64_t mapped)
{
	if (!wanted("vmem-peer"))
		return;
	const struct vmm_region *region = &host_user_regions[VMM_UREGION_MMAP];
	struct vmem_peer peer;
	if (!vmem_peer_init(&peer, region->base, region->pages))
		die("vmem_peer_init", VM_ERR_NO_MEMORY);
	rng = 0x5eed0000 + mapped;
	struct target t = { .peer = &peer };
	build(&t, layout, mapped);
	for (unsigned op = 0; op < ARRAY_SIZE(operations); op++)
		if (!operations[op].maps)
			measure(&t, WAY_PEER, "vmem-peer", layout, mapped, &operations[op]);
	if (vmem_peer_check(&peer) != 0)
		die("vmem peer self-check", VM_ERR_INVALID);
	vmem_peer_destroy(&peer);
}

int main(int argc, char **argv)
{
	bool args_ok = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = true;
		} else if (strcmp(argv[i], "--mapped") == 0 && i + 1 < argc) {
			only_mapped = strtoull(argv[++i], NULL, 0);
		} else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
			only_backend = argv[++i];
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc &&
			   (strcmp(argv[i + 1], "time") == 0 || strcmp(argv[i + 1], "count") == 0)) {
			count_mode = strcmp(argv[++i], "count") == 0;
		} else {
			args_ok = false;
			break;
		}
	}
	if (!args_ok) {
		fprintf(stderr, "usage: bench_vmm_layouts [--mode time|count] [--quick] [--mapped N] "
				"[--backend pagetable|list|list-backend|vmem-peer]\n");
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

	printf("layout,operation,size_pages,align_pages,mapped_pages,backend,work_per_step_entries,first_addr,"
	       "bookkeeping_bytes,%s\n",
	       count_mode ? "short_steps,long_steps"
			  : "wall_ns_median,wall_ns_min,wall_ns_max,repeats,steps_per_repeat");
	const uint64_t *counts = quick ? quick_mapped_counts : mapped_counts;
	size_t count_n = quick ? ARRAY_SIZE(quick_mapped_counts) : ARRAY_SIZE(mapped_counts);
	static const enum vmm_backend_kind backends[] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };
	for (unsigned layout = 0; layout < 2; layout++)
		for (size_t c = 0; c < count_n; c++) {
			if (only_mapped && counts[c] != only_mapped)
				continue;
			for (unsigned b = 0; b < ARRAY_SIZE(backends); b++)
				run(backends[b], (enum layout)layout, counts[c], &stack);
			run_peer((enum layout)layout, counts[c]);
		}
	page_stack_fini(&stack);
	host_phys_arena_destroy(arena, ARENA_PAGES * PAGE_SIZE);
	return 0;
}
