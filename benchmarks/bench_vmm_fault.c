/*
 * Host harness of the fault-time lookup (vmm_backend_ops.lookup, called by vmm_fault): the first
 * touches of a program-like address space, on one backend, so that callgrind can count the
 * instructions of the backend's lookup per fault. It is a harness for callgrind, not a timed
 * benchmark: it prints the faults it made and the backend work they read, and the instructions
 * come from callgrind's inclusive cost of the lookup function divided by the faults, e.g.
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out build/bench/bench_vmm_fault --backend pagetable
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'vmm_pt_lookup|list_lookup'
 *
 * Patterns (each a fresh context, every fault a first touch, so every one is a ZERO_FILL):
 *   sequential    64 reservations of 64 pages, each filled in address order (a heap, a file
 *                 read into a buffer)
 *   interleaved   two 4 MiB reservations filled in step, page i of one then page i of the other
 *                 (a compressor's input and output)
 *   scattered     one 64 MiB reservation touched at 4 096 pseudo-random pages (a hash table)
 * Usage: bench_vmm_fault [--backend pagetable|list] [--pattern NAME]; exits 1 if a fault is not
 * the ZERO_FILL the pattern expects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/mm/vmm.h"
#include "tests/host/host_env.h"
#include "tests/host/host_regions.h"
#include "benchmarks/page_stack.h"
#include "benchmarks/vmm_contexts.h"

#define ARENA_PHYS 0x40000000ull
#define ARENA_PAGES (32ull * 1024) /* 128 MiB: tables, records and the faulted data pages */

struct totals {
	uint64_t faults, work;
};

static void check(enum vm_status st, const char *what)
{
	if (st != VM_OK) {
		fprintf(stderr, "bench_vmm_fault: %s: %s\n", what, vm_status_name(st));
		exit(1);
	}
}

static void touch(struct vmm_context *ctx, uint64_t addr, struct totals *t)
{
	struct vmm_fault_result r;
	vmm_fault(ctx, addr, VMM_FAULT_WRITE, NULL, &r);
	if (r.outcome != VMM_FAULT_ZERO_FILL) {
		fprintf(stderr, "bench_vmm_fault: fault at %llx: outcome %u, not a zero fill\n",
			(unsigned long long)addr, (unsigned)r.outcome);
		exit(1);
	}
	t->faults++;
	t->work += r.lookup_work;
}

static uint64_t reserve(struct vmm_context *ctx, uint64_t pages)
{
	uint64_t addr;
	check(vmm_reserve_access(ctx, VMM_UREGION_MMAP, pages, 1, PT_READ | PT_WRITE, &addr), "reserve");
	return addr;
}

static void sequential(struct vmm_context *ctx, struct totals *t)
{
	for (unsigned m = 0; m < 64; m++) {
		uint64_t base = reserve(ctx, 64);
		for (unsigned i = 0; i < 64; i++)
			touch(ctx, base + i * PAGE_SIZE, t);
	}
}

static void interleaved(struct vmm_context *ctx, struct totals *t)
{
	uint64_t in = reserve(ctx, 1024), out = reserve(ctx, 1024);
	for (unsigned i = 0; i < 1024; i++) {
		touch(ctx, in + i * PAGE_SIZE, t);
		touch(ctx, out + i * PAGE_SIZE, t);
	}
}

static void scattered(struct vmm_context *ctx, struct totals *t)
{
	uint64_t pages = 16384, base = reserve(ctx, pages);
	/* A full-period LCG over 2^14 pages: every touch is a different page. */
	uint64_t x = 1;
	for (unsigned i = 0; i < 4096; i++) {
		x = (x * 5 + 12345) % pages;
		touch(ctx, base + x * PAGE_SIZE, t);
	}
}

static const struct {
	const char *name;
	void (*run)(struct vmm_context *ctx, struct totals *t);
} patterns[] = {
	{ "sequential", sequential },
	{ "interleaved", interleaved },
	{ "scattered", scattered },
};

static struct totals run(enum vmm_backend_kind backend, unsigned p)
{
	struct page_stack stack;
	page_stack_init(&stack, ARENA_PHYS, ARENA_PAGES);
	struct vmm_contexts c;
	vmm_contexts_open(&c, backend, &stack.source, true, "bench_vmm_fault");
	struct totals t = { 0 };
	patterns[p].run(&c.user, &t);
	vmm_contexts_close(&c);
	if (page_stack_missing(&stack)) {
		fprintf(stderr, "bench_vmm_fault: %llu pages leaked\n",
			(unsigned long long)page_stack_missing(&stack));
		exit(1);
	}
	page_stack_fini(&stack);
	return t;
}

int main(int argc, char **argv)
{
	const char *only_backend = NULL, *only_pattern = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
			only_backend = argv[++i];
		} else if (strcmp(argv[i], "--pattern") == 0 && i + 1 < argc) {
			only_pattern = argv[++i];
		} else {
			fprintf(stderr, "usage: bench_vmm_fault [--backend pagetable|list] [--pattern NAME]\n");
			return 2;
		}
	}
	void *arena = host_phys_arena_create(ARENA_PHYS, ARENA_PAGES * PAGE_SIZE);
	static const enum vmm_backend_kind backends[] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };
	unsigned ran = 0;
	for (unsigned b = 0; b < 2; b++) {
		if (only_backend && strcmp(only_backend, vmm_backend_kind_name(backends[b])) != 0)
			continue;
		for (unsigned p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
			if (only_pattern && strcmp(only_pattern, patterns[p].name) != 0)
				continue;
			struct totals t = run(backends[b], p);
			printf("%-9s %-11s faults %6llu  lookup work %.2f entries or records per fault\n",
			       vmm_backend_kind_name(backends[b]), patterns[p].name,
			       (unsigned long long)t.faults, (double)t.work / (double)t.faults);
			ran++;
		}
	}
	host_phys_arena_destroy(arena, ARENA_PAGES * PAGE_SIZE);
	if (ran == 0) {
		fprintf(stderr, "bench_vmm_fault: no backend or pattern matched\n");
		return 2;
	}
	return 0;
}
