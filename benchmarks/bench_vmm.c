/*
 * Host benchmark of the VMM bookkeeping backends: cost of one reserve+release pair in the user
 * anonymous-mapping region while 1 000 / 100 000 / 1 000 000 / 2^20 pages are mapped
 * (contiguous), and with 500 000 one-page holes between 500 000 mapped pages; plus the bytes each
 * backend uses for the same state. Median (and minimum) of REPEATS runs of PAIRS pairs; both
 * backends must place the pairs at the same address, or the run fails.
 * Then the adversarial patterns of tests/host/vmm_patterns.c, each laid out after 1 000 000 mapped
 * pages: the worst backend work of one operation, and the bound the backend's header states for it
 * (the run fails if an operation exceeds its bound or a request lands elsewhere than first fit).
 * Usage: bench_vmm [--csv] [--pairs N] [--scenario NAME|--pattern NAME] [--backend pagetable|list]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel/mm/vmm.h"
#include "tests/host/host_env.h"
#include "tests/host/host_regions.h"
#include "tests/host/vmm_patterns.h"
#include "benchmarks/page_stack.h"
#include "benchmarks/vmm_contexts.h"
#include "benchmarks/timing.h"

#define ARENA_PHYS 0x40000000ull
#define ARENA_PAGES (64ull * 1024) /* 256 MiB: page tables and records only, data is borrowed */
#define REPEATS 7
#define PAIRS 20000
static unsigned pairs = PAIRS; /* --pairs: e.g. two runs under callgrind, to subtract */
#define DATA_PA 0x100000000ull     /* borrowed, never touched */

enum layout { LAYOUT_CONTIGUOUS, LAYOUT_HOLES };

struct scenario {
	const char *name;
	uint64_t pages;
	enum layout layout;
};

static const struct scenario scenarios[] = {
	{ "mapped-1k", 1000, LAYOUT_CONTIGUOUS },
	{ "mapped-100k", 100000, LAYOUT_CONTIGUOUS },
	{ "mapped-1m", 1000000, LAYOUT_CONTIGUOUS },
	/* A multiple of 512: the free space starts on a table boundary, so every pair creates a
	 * leaf table and frees it again (the worst layout for the pagetable backend). */
	{ "mapped-2^20", 1u << 20, LAYOUT_CONTIGUOUS },
	{ "holes-500k", 1000000, LAYOUT_HOLES },
};

struct result {
	double ns_per_pair, min_ns_per_pair;
	uint64_t addr; /* where the pairs were placed */
	double work_per_pair;
	uint64_t bookkeeping_bytes;
	uint64_t table_pages;
};

static void check(enum vm_status st, const char *what)
{
	if (st != VM_OK) {
		fprintf(stderr, "bench_vmm: %s: %s\n", what, vm_status_name(st));
		exit(1);
	}
}

/* Contiguous: 16-page reservations, all mapped. Holes: 1-page reservations, every other released. */
static void build_state(struct vmm_context *ctx, const struct scenario *s)
{
	uint64_t chunk = s->layout == LAYOUT_CONTIGUOUS ? 16 : 1, addr;
	for (uint64_t done = 0; done < s->pages; done += chunk) {
		uint64_t pages = MIN(chunk, s->pages - done);
		check(vmm_reserve(ctx, VMM_UREGION_MMAP, pages, 1, &addr), "reserve");
		check(vmm_map(ctx, addr, DATA_PA, pages, PT_PAGE_4K, PT_READ | PT_USER), "map");
	}
	if (s->layout == LAYOUT_HOLES)
		for (uint64_t i = 0; i < s->pages; i += 2)
			check(vmm_release(ctx, host_user_regions[VMM_UREGION_MMAP].base + i * PAGE_SIZE, 1), "release");
}

static struct result run(enum vmm_backend_kind backend, const struct scenario *s)
{
	struct page_stack stack;
	page_stack_init(&stack, ARENA_PHYS, ARENA_PAGES);
	struct vmm_contexts c;
	vmm_contexts_open(&c, backend, &stack.source, false, "bench_vmm");
	struct vmm_context *user = &c.user;
	build_state(user, s);
	struct result r = { .bookkeeping_bytes = vmm_bookkeeping_bytes(user),
			    .table_pages = vmm_page_table_pages(user) };
	double samples[REPEATS];
	uint64_t work = 0;
	for (unsigned rep = 0; rep < REPEATS; rep++) {
		uint64_t t0 = bench_now_ns();
		for (unsigned i = 0; i < pairs; i++) {
			uint64_t addr;
			check(vmm_reserve(user, VMM_UREGION_MMAP, 4, 1, &addr), "bench reserve");
			r.addr = addr;
			work += user->last_work;
			check(vmm_release(user, addr, 4), "bench release");
			work += user->last_work;
		}
		samples[rep] = (double)(bench_now_ns() - t0) / pairs;
	}
	bench_sort_samples(samples, REPEATS);
	r.ns_per_pair = samples[REPEATS / 2];
	r.min_ns_per_pair = samples[0];
	r.work_per_pair = (double)work / (REPEATS * pairs);
	vmm_contexts_close(&c);
	if (page_stack_missing(&stack)) {
		fprintf(stderr, "bench_vmm: %llu pages leaked\n",
			(unsigned long long)page_stack_missing(&stack));
		exit(1);
	}
	page_stack_fini(&stack);
	return r;
}

#define PATTERN_MAPPED_PAGES 1000000

/* Leaves, chunks or holes per pattern: the probe sizes (512 leaves, 100 000 holes). */
static uint64_t pattern_scale(const char *name)
{
	if (strcmp(name, "one-page-holes") == 0 || strcmp(name, "aligned-holes") == 0 ||
	    strcmp(name, "aligned-tight-holes") == 0)
		return 100000;
	if (strcmp(name, "near-fit-1g") == 0)
		return 64;
	return 512;
}

/* Runs one pattern on one backend; exits non-zero if a bound or an answer is broken. */
static struct vmm_pattern_stats run_pattern(enum vmm_backend_kind backend, const struct vmm_pattern *p)
{
	struct page_stack stack;
	page_stack_init(&stack, ARENA_PHYS, ARENA_PAGES);
	struct vmm_context kernel, user;
	struct vmm_config kc = { .kind = VMM_CONTEXT_KERNEL, .backend = backend, .source = &stack.source,
				 .regions = host_kernel_regions, .region_count = HOST_KERNEL_REGION_COUNT,
				 .brk_region = VMM_NO_REGION, .shm_region = VMM_NO_REGION };
	check(vmm_context_create(&kernel, &kc), "kernel context");
	struct vmm_config uc = { .kind = VMM_CONTEXT_USER, .backend = backend, .source = &stack.source,
				 .regions = &vmm_pattern_region, .region_count = 1,
				 .brk_region = VMM_NO_REGION, .shm_region = VMM_NO_REGION,
				 .kernel = &kernel };
	check(vmm_context_create(&user, &uc), "user context");
	struct vmm_pattern_stats stats;
	p->run(&user, PATTERN_MAPPED_PAGES, pattern_scale(p->name), &stats);
	vmm_context_destroy(&user);
	vmm_context_destroy(&kernel);
	if (stats.over_bound || stats.wrong_answers || page_stack_missing(&stack)) {
		fprintf(stderr, "bench_vmm: %s on %s: %llu over the bound, %llu wrong answers, %llu pages leaked\n",
			p->name, vmm_backend_kind_name(backend), (unsigned long long)stats.over_bound,
			(unsigned long long)stats.wrong_answers,
			(unsigned long long)page_stack_missing(&stack));
		exit(1);
	}
	page_stack_fini(&stack);
	return stats;
}

/* A filter given on the command line that this name does not match. */
static bool filtered_out(const char *filter, const char *name)
{
	return filter && strcmp(filter, name) != 0;
}

int main(int argc, char **argv)
{
	bool csv = false;
	const char *only_scenario = NULL, *only_backend = NULL, *only_pattern = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0) {
			csv = true;
		} else if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc) {
			only_scenario = argv[++i];
		} else if (strcmp(argv[i], "--pattern") == 0 && i + 1 < argc) {
			only_pattern = argv[++i];
		} else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
			pairs = (unsigned)strtoul(argv[++i], NULL, 0);
		} else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
			only_backend = argv[++i];
		} else {
			fprintf(stderr, "usage: bench_vmm [--csv] [--pairs N] [--scenario NAME|--pattern NAME] "
					"[--backend pagetable|list]\n");
			return 2;
		}
	}
	void *arena = host_phys_arena_create(ARENA_PHYS, ARENA_PAGES * PAGE_SIZE);
	static const enum vmm_backend_kind backends[] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };
	if (only_pattern)
		;
	else if (csv)
		printf("scenario,backend,ns_per_reserve_release,min_ns,work_per_pair,bookkeeping_bytes,"
		       "table_pages\n");
	else
		printf("%-12s %-10s %10s %10s %10s %14s %12s\n", "scenario", "backend", "ns/pair",
		       "min ns", "work/pair", "bookkeeping B", "table pages");
	for (unsigned s = 0; s < ARRAY_SIZE(scenarios); s++) {
		uint64_t first_addr = 0;
		for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
			const char *name = vmm_backend_kind_name(backends[b]);
			if (only_pattern || filtered_out(only_scenario, scenarios[s].name) ||
			    filtered_out(only_backend, name))
				continue;
			struct result r = run(backends[b], &scenarios[s]);
			if (first_addr && r.addr != first_addr) {
				fprintf(stderr, "bench_vmm: %s: backends placed the pairs at %llx and %llx\n",
					scenarios[s].name, (unsigned long long)first_addr,
					(unsigned long long)r.addr);
				return 1;
			}
			first_addr = r.addr;
			printf(csv ? "%s,%s,%.1f,%.1f,%.1f,%llu,%llu\n" :
				     "%-12s %-10s %10.1f %10.1f %10.1f %14llu %12llu\n",
			       scenarios[s].name, name, r.ns_per_pair, r.min_ns_per_pair, r.work_per_pair,
			       (unsigned long long)r.bookkeeping_bytes, (unsigned long long)r.table_pages);
			fflush(stdout);
		}
	}
	if (only_scenario)
		;
	else if (csv)
		printf("pattern,backend,mapped_pages,ops,worst_work_per_op,stated_bound,"
		       "worst_request_work,request_bound\n");
	else
		printf("\n%-19s %-10s %9s %7s %11s %11s %11s %11s\n", "pattern", "backend", "mapped",
		       "ops", "worst op", "its bound", "worst req", "its bound");
	for (unsigned p = 0; p < vmm_pattern_count && !only_scenario; p++) {
		for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
			const char *name = vmm_backend_kind_name(backends[b]);
			if (filtered_out(only_pattern, vmm_patterns[p].name) || filtered_out(only_backend, name))
				continue;
			struct vmm_pattern_stats st = run_pattern(backends[b], &vmm_patterns[p]);
			printf(csv ? "%s,%s,%llu,%llu,%llu,%llu,%llu,%llu\n" :
				     "%-19s %-10s %9llu %7llu %11llu %11llu %11llu %11llu\n",
			       vmm_patterns[p].name, name, (unsigned long long)st.mapped_pages,
			       (unsigned long long)st.ops, (unsigned long long)st.worst_work,
			       (unsigned long long)st.worst_bound, (unsigned long long)st.worst_request,
			       (unsigned long long)st.request_bound);
			fflush(stdout);
		}
	}
	host_phys_arena_destroy(arena, ARENA_PAGES * PAGE_SIZE);
	return 0;
}
