/*
 * Host tests of demand paging (vmm_fault.c), copy-on-write fork (vmm_fork.c), Linux-style range
 * operations (vmm_ranges.c) and page sharing (page_share.c), rule by rule on both backends, and a
 * differential test: the same seeded stream of reserves, munmaps, mprotects, faults, forks and
 * exits must give the identical fault outcomes, mappings and page contents under both backends.
 */
#include <stdlib.h>

#include "kernel/lib/testing.h"
#include "tests/host/vmm_test_support.h"

static const struct vmm_region demand_regions[] = {
	{ "heap", 0x400000, 4096, MM_OWNER_USER },
	{ "mmap", 0x10000000000, 1ull << 24, MM_OWNER_USER },
	{ "stack", 0x7F0000000000, 1ull << 20, MM_OWNER_USER },
};
enum { R_HEAP, R_MMAP, R_STACK };

#define RW (PT_READ | PT_WRITE)
#define RO PT_READ
#define RX (PT_READ | PT_EXECUTE)

struct demand_fixture {
	struct test_source ts;
	struct vmm_context kernel, user;
	uint64_t pages_out_before;
};

static enum vm_status demand_context(struct vmm_context *ctx, struct vmm_context *kernel,
				     struct test_source *ts, enum vmm_backend_kind backend)
{
	struct vmm_config config = {
		.kind = VMM_CONTEXT_USER,
		.backend = backend,
		.source = &ts->source,
		.regions = demand_regions,
		.region_count = ARRAY_SIZE(demand_regions),
		.brk_region = R_HEAP,
		.shm_region = VMM_NO_REGION,
		.kernel = kernel,
		.demand_paged = true,
	};
	return vmm_context_create(ctx, &config);
}

static bool fixture_init(struct demand_fixture *f, enum vmm_backend_kind backend, uint64_t ram_pages)
{
	test_source_init(&f->ts, ram_pages);
	if (test_kernel_context(&f->kernel, &f->ts, backend) != VM_OK)
		return false;
	f->pages_out_before = f->ts.pages_out;
	return demand_context(&f->user, &f->kernel, &f->ts, backend) == VM_OK;
}

static void fixture_fini(struct demand_fixture *f)
{
	EXPECT_EQ(vmm_audit(&f->user), 0);
	EXPECT_EQ(f->user.backend->self_check(&f->user), 0);
	vmm_context_destroy(&f->user);
	EXPECT_EQ(f->ts.pages_out, f->pages_out_before); /* every page and share came back */
	vmm_context_destroy(&f->kernel);
	EXPECT_EQ(f->ts.pages_out, 0);
	test_source_fini(&f->ts);
}

static enum vmm_fault_outcome fault(struct vmm_context *ctx, uint64_t addr, enum vmm_fault_kind kind)
{
	struct vmm_fault_result r;
	vmm_fault(ctx, addr, kind, NULL, &r);
	return r.outcome;
}

/* The byte at va through the context's own tables (what the program would read), or -1. */
static int peek(struct vmm_context *ctx, uint64_t va)
{
	struct pt_translation t;
	if (pt_translate(&ctx->pt, va, &t) != VM_OK)
		return -1;
	return *(unsigned char *)phys_to_virt(t.pa);
}

/* A store the program makes once the fault (if any) is resolved. */
static void poke(struct vmm_context *ctx, uint64_t va, unsigned char value)
{
	struct pt_translation t;
	ASSERT_EQ(pt_translate(&ctx->pt, va, &t), VM_OK);
	ASSERT_TRUE(t.prot & PT_WRITE);
	*(unsigned char *)phys_to_virt(t.pa) = value;
}

static const enum vmm_backend_kind backends[] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };

TEST(vmm_fault_rules_classify_every_address)
{
	for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
		struct demand_fixture f;
		ASSERT_TRUE(fixture_init(&f, backends[b], 8192));
		uint64_t rw, ro, none, rx;
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 16, 1, RW, &rw), VM_OK);
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 4, 1, RO, &ro), VM_OK);
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 4, 1, 0, &none), VM_OK);
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 4, 1, RX, &rx), VM_OK);
		uint64_t resident = f.user.pt.mapped_pages;
		EXPECT_EQ(resident, 0); /* reserving maps nothing */
		EXPECT_EQ(fault(&f.user, 0x1000, VMM_FAULT_READ), VMM_FAULT_REFUSED_OUTSIDE);
		EXPECT_EQ(fault(&f.user, rx + 4 * PAGE_SIZE + 123, VMM_FAULT_READ), VMM_FAULT_REFUSED_FREE);
		EXPECT_EQ(fault(&f.user, rw + 5 * PAGE_SIZE + 7, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
		EXPECT_EQ(f.user.pt.mapped_pages, 1);
		EXPECT_EQ(peek(&f.user, rw + 5 * PAGE_SIZE + 7), 0);
		EXPECT_EQ(fault(&f.user, rw + 5 * PAGE_SIZE, VMM_FAULT_WRITE), VMM_FAULT_SPURIOUS);
		EXPECT_EQ(fault(&f.user, ro, VMM_FAULT_WRITE), VMM_FAULT_REFUSED_PROTECTION);
		EXPECT_EQ(fault(&f.user, ro, VMM_FAULT_READ), VMM_FAULT_ZERO_FILL);
		EXPECT_EQ(fault(&f.user, ro, VMM_FAULT_EXECUTE), VMM_FAULT_REFUSED_PROTECTION);
		EXPECT_EQ(fault(&f.user, none, VMM_FAULT_READ), VMM_FAULT_REFUSED_PROTECTION);
		EXPECT_EQ(fault(&f.user, rx, VMM_FAULT_EXECUTE), VMM_FAULT_ZERO_FILL);
		struct pt_translation t;
		ASSERT_EQ(pt_translate(&f.user.pt, rx, &t), VM_OK);
		EXPECT_EQ(t.prot, PT_READ | PT_EXECUTE | PT_USER);
		EXPECT_EQ(f.user.pt.mapped_pages, 3);
		EXPECT_EQ(f.user.reserved_pages, 28);
		fixture_fini(&f);
	}
}

/*
 * lookup_work is what a fault read to classify its page: never 0 for an address in a region, and
 * exactly one record or entry when the fault falls where the previous one did (the list's recent
 * record, the page-table backend's leaf table of its last walk).
 */
TEST(vmm_fault_lookup_reports_the_records_or_entries_it_read)
{
	for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
		struct demand_fixture f;
		ASSERT_TRUE(fixture_init(&f, backends[b], 8192));
		uint64_t rw, other;
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 16, 1, RW, &rw), VM_OK);
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 16, 1, RW, &other), VM_OK);
		struct vmm_fault_result r;
		vmm_fault(&f.user, other, VMM_FAULT_WRITE, NULL, &r);
		EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
		EXPECT_TRUE(r.lookup_work >= 1);
		vmm_fault(&f.user, rw, VMM_FAULT_WRITE, NULL, &r);
		EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
		EXPECT_TRUE(r.lookup_work >= 1);
		vmm_fault(&f.user, rw + 3 * PAGE_SIZE, VMM_FAULT_WRITE, NULL, &r);
		EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
		EXPECT_EQ(r.lookup_work, 1);
		fixture_fini(&f);
	}
}

TEST(vmm_brk_of_a_demand_paged_context_only_reserves)
{
	for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
		struct demand_fixture f;
		ASSERT_TRUE(fixture_init(&f, backends[b], 8192));
		uint64_t brk;
		ASSERT_EQ(vmm_brk(&f.user, 0x400000 + 100 * PAGE_SIZE, &brk), VM_OK);
		EXPECT_EQ(f.user.pt.mapped_pages, 0);
		EXPECT_EQ(f.user.reserved_pages, 100);
		EXPECT_EQ(fault(&f.user, 0x400000 + 99 * PAGE_SIZE, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
		EXPECT_EQ(fault(&f.user, 0x400000 + 100 * PAGE_SIZE, VMM_FAULT_WRITE), VMM_FAULT_REFUSED_FREE);
		ASSERT_EQ(vmm_brk(&f.user, 0x400000 + 10 * PAGE_SIZE, &brk), VM_OK);
		EXPECT_EQ(f.user.pt.mapped_pages, 0); /* the touched page went with the shrink */
		EXPECT_EQ(f.user.reserved_pages, 10);
		fixture_fini(&f);
	}
}

TEST(vmm_fault_grows_a_stack_down_within_its_limit)
{
	for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
		struct demand_fixture f;
		ASSERT_TRUE(fixture_init(&f, backends[b], 8192));
		uint64_t top = demand_regions[R_STACK].base + demand_regions[R_STACK].pages * PAGE_SIZE;
		ASSERT_EQ(vmm_reserve_at_access(&f.user, top - 32 * PAGE_SIZE, 32, RW), VM_OK);
		struct vmm_stack stack = { top - 32 * PAGE_SIZE, top - 256 * PAGE_SIZE, RW };
		struct vmm_fault_result r;
		vmm_fault(&f.user, top - 40 * PAGE_SIZE + 8, VMM_FAULT_WRITE, &stack, &r);
		EXPECT_EQ(r.outcome, VMM_FAULT_STACK_GROW);
		EXPECT_EQ(stack.bottom, top - 40 * PAGE_SIZE);
		EXPECT_EQ(f.user.reserved_pages, 40);
		vmm_fault(&f.user, top - 257 * PAGE_SIZE, VMM_FAULT_WRITE, &stack, &r);
		EXPECT_EQ(r.outcome, VMM_FAULT_REFUSED_FREE); /* below the limit */
		/* Something reserved in the way stops the growth. */
		ASSERT_EQ(vmm_reserve_at_access(&f.user, top - 100 * PAGE_SIZE, 1, RW), VM_OK);
		vmm_fault(&f.user, top - 120 * PAGE_SIZE, VMM_FAULT_WRITE, &stack, &r);
		EXPECT_EQ(r.outcome, VMM_FAULT_REFUSED_FREE);
		EXPECT_EQ(stack.bottom, top - 40 * PAGE_SIZE);
		fixture_fini(&f);
	}
}

/* Extent at addr as (state, start, pages, access). */
static void expect_extent(struct vmm_context *ctx, uint64_t addr, enum vmm_page_state state,
			  uint64_t start, uint64_t pages, unsigned access)
{
	struct vmm_query_result q;
	vmm_query(ctx, addr, &q);
	EXPECT_EQ(q.state == VMM_PAGE_MAPPED ? VMM_PAGE_RESERVED : q.state, state);
	EXPECT_EQ(q.start, start);
	EXPECT_EQ(q.pages, pages);
	EXPECT_EQ(q.access, access);
}

TEST(vmm_range_operations_split_reservations_as_linux_splits_mappings)
{
	for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
		struct demand_fixture f;
		ASSERT_TRUE(fixture_init(&f, backends[b], 8192));
		uint64_t a;
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 20, 1, RW, &a), VM_OK);
		for (unsigned p = 0; p < 20; p++)
			ASSERT_EQ(fault(&f.user, a + p * PAGE_SIZE, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
		poke(&f.user, a + 12 * PAGE_SIZE, 0x5A);
		/* munmap pages 4..7: three pieces remain, the middle is free. */
		ASSERT_EQ(vmm_release_range(&f.user, a + 4 * PAGE_SIZE, 4), VM_OK);
		expect_extent(&f.user, a, VMM_PAGE_RESERVED, a, 4, RW);
		expect_extent(&f.user, a + 5 * PAGE_SIZE, VMM_PAGE_FREE, a + 4 * PAGE_SIZE, 4, 0);
		expect_extent(&f.user, a + 8 * PAGE_SIZE, VMM_PAGE_RESERVED, a + 8 * PAGE_SIZE, 12, RW);
		EXPECT_EQ(f.user.pt.mapped_pages, 16);
		EXPECT_EQ(f.user.reserved_pages, 16);
		/* mprotect pages 10..13 read-only: the tail splits in three; contents stay. */
		ASSERT_EQ(vmm_protect_range(&f.user, a + 10 * PAGE_SIZE, 4, RO), VM_OK);
		expect_extent(&f.user, a + 9 * PAGE_SIZE, VMM_PAGE_RESERVED, a + 8 * PAGE_SIZE, 2, RW);
		expect_extent(&f.user, a + 11 * PAGE_SIZE, VMM_PAGE_RESERVED, a + 10 * PAGE_SIZE, 4, RO);
		expect_extent(&f.user, a + 14 * PAGE_SIZE, VMM_PAGE_RESERVED, a + 14 * PAGE_SIZE, 6, RW);
		EXPECT_EQ(peek(&f.user, a + 12 * PAGE_SIZE), 0x5A);
		EXPECT_EQ(fault(&f.user, a + 12 * PAGE_SIZE, VMM_FAULT_WRITE), VMM_FAULT_REFUSED_PROTECTION);
		/* mprotect over the hole is refused and changes nothing. */
		EXPECT_EQ(vmm_protect_range(&f.user, a, 10, RO), VM_ERR_NOT_RESERVED);
		expect_extent(&f.user, a, VMM_PAGE_RESERVED, a, 4, RW);
		/* PROT_NONE keeps the page but no user access; back to read: readable again. */
		ASSERT_EQ(vmm_protect_range(&f.user, a + 10 * PAGE_SIZE, 4, 0), VM_OK);
		EXPECT_EQ(fault(&f.user, a + 12 * PAGE_SIZE, VMM_FAULT_READ), VMM_FAULT_REFUSED_PROTECTION);
		ASSERT_EQ(vmm_protect_range(&f.user, a + 10 * PAGE_SIZE, 4, RO), VM_OK);
		EXPECT_EQ(peek(&f.user, a + 12 * PAGE_SIZE), 0x5A);
		EXPECT_EQ(vmm_protect_range(&f.user, a, 4, RW | PT_EXECUTE), VM_ERR_WRITE_EXECUTE);
		/* munmap across everything: all released. */
		ASSERT_EQ(vmm_release_range(&f.user, a - PAGE_SIZE, 22), VM_OK);
		EXPECT_EQ(f.user.pt.mapped_pages, 0);
		EXPECT_EQ(f.user.reserved_pages, 0);
		fixture_fini(&f);
	}
}

TEST(vmm_fork_shares_pages_copy_on_write_and_the_last_writer_reuses)
{
	for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
		struct demand_fixture f;
		ASSERT_TRUE(fixture_init(&f, backends[b], 8192));
		uint64_t priv, shared;
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 4, 1, RW, &priv), VM_OK);
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 2, 1, RW | VMM_ACCESS_SHARED, &shared), VM_OK);
		ASSERT_EQ(fault(&f.user, priv, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
		ASSERT_EQ(fault(&f.user, shared, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
		poke(&f.user, priv, 1);
		poke(&f.user, shared, 7);
		uint64_t out_before_fork = f.ts.pages_out;
		struct vmm_context child;
		ASSERT_EQ(vmm_context_fork(&child, &f.user, NULL), VM_OK);
		EXPECT_EQ(child.reserved_pages, 6);
		EXPECT_EQ(child.pt.mapped_pages, 2);
		EXPECT_EQ(page_share_mappings(f.user.pt.share, 0), 1);
		/* Private: read-only in both; the child's write copies, the parent keeps its byte. */
		EXPECT_EQ(peek(&child, priv), 1);
		EXPECT_EQ(fault(&child, priv, VMM_FAULT_WRITE), VMM_FAULT_COW_COPY);
		poke(&child, priv, 2);
		EXPECT_EQ(peek(&f.user, priv), 1);
		EXPECT_EQ(fault(&f.user, priv, VMM_FAULT_WRITE), VMM_FAULT_COW_REUSE); /* the last mapping */
		poke(&f.user, priv, 3);
		EXPECT_EQ(peek(&child, priv), 2);
		/* Shared: the same page, writable in both. */
		poke(&child, shared, 9);
		EXPECT_EQ(peek(&f.user, shared), 9);
		/* A page touched only after the fork is the toucher's own. */
		EXPECT_EQ(fault(&child, priv + PAGE_SIZE, VMM_FAULT_READ), VMM_FAULT_ZERO_FILL);
		EXPECT_EQ(peek(&f.user, priv + PAGE_SIZE), -1);
		EXPECT_EQ(vmm_audit(&child), 0);
		vmm_context_destroy(&child);
		/* The child's copy and table pages are back; the shared page is the parent's alone. */
		EXPECT_EQ(f.ts.pages_out, out_before_fork);
		EXPECT_EQ(peek(&f.user, shared), 9);
		fixture_fini(&f);
	}
}

TEST(vmm_fork_out_of_memory_leaves_the_parent_whole)
{
	for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
		for (uint64_t allow = 0; allow < 40; allow++) {
			struct demand_fixture f;
			ASSERT_TRUE(fixture_init(&f, backends[b], 8192));
			uint64_t a;
			ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 600, 1, RW, &a), VM_OK);
			for (unsigned p = 0; p < 600; p += 3)
				ASSERT_EQ(fault(&f.user, a + p * PAGE_SIZE, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
			poke(&f.user, a, 42);
			uint64_t out = f.ts.pages_out;
			f.ts.fail_after = f.ts.allocations + allow;
			struct vmm_context child;
			enum vm_status st = vmm_context_fork(&child, &f.user, NULL);
			f.ts.fail_after = 0;
			if (st == VM_OK) {
				vmm_context_destroy(&child);
			} else {
				EXPECT_EQ(st, VM_ERR_NO_MEMORY);
			}
			EXPECT_EQ(f.ts.pages_out, out);
			enum vmm_fault_outcome o = fault(&f.user, a, VMM_FAULT_WRITE);
			EXPECT_TRUE(o == VMM_FAULT_SPURIOUS || o == VMM_FAULT_COW_REUSE);
			EXPECT_EQ(peek(&f.user, a), 42);
			fixture_fini(&f);
		}
	}
}

/* --- differential: both backends, one seeded stream ------------------------------------------- */

#define DIFF_STEPS 40000
#define DIFF_PROCS 4

struct diff_world {
	struct test_source ts;
	struct vmm_context kernel;
	struct vmm_context procs[DIFF_PROCS];
	bool live[DIFF_PROCS];
	struct vmm_stack stacks[DIFF_PROCS];
};

static uint64_t diff_stack_top(void)
{
	return demand_regions[R_STACK].base + demand_regions[R_STACK].pages * PAGE_SIZE;
}

static void world_start(struct diff_world *w, enum vmm_backend_kind backend)
{
	test_source_init(&w->ts, 1 << 14);
	ASSERT_EQ(test_kernel_context(&w->kernel, &w->ts, backend), VM_OK);
	memset(w->live, 0, sizeof(w->live));
	ASSERT_EQ(demand_context(&w->procs[0], &w->kernel, &w->ts, backend), VM_OK);
	w->live[0] = true;
	ASSERT_EQ(vmm_reserve_at_access(&w->procs[0], diff_stack_top() - 16 * PAGE_SIZE, 16, RW), VM_OK);
	w->stacks[0] = (struct vmm_stack){ diff_stack_top() - 16 * PAGE_SIZE, diff_stack_top() - 2048 * PAGE_SIZE, RW };
}

/* What one step did, for comparison: an outcome code and a checksum of what it touched. */
static uint64_t world_step(struct diff_world *w, uint64_t *rng_in, int *outcome)
{
	*outcome = -1;
	uint64_t rng = *rng_in;
	unsigned p = (unsigned)(test_random(&rng) % DIFF_PROCS);
	unsigned op = (unsigned)(test_random(&rng) % 100);
	uint64_t arg = test_random(&rng), arg2 = test_random(&rng);
	*rng_in = rng;
	if (!w->live[p]) {
		if (op >= 3)
			return 0;
		unsigned parent = 0;
		while (parent < DIFF_PROCS && !w->live[parent])
			parent++;
		if (parent == DIFF_PROCS)
			return 1;
		enum vm_status st = vmm_context_fork(&w->procs[p], &w->procs[parent], NULL);
		if (st == VM_OK) {
			w->live[p] = true;
			w->stacks[p] = w->stacks[parent];
		}
		return 100 + st;
	}
	struct vmm_context *ctx = &w->procs[p];
	uint64_t mmap_base = demand_regions[R_MMAP].base;
	if (op < 2 && p != 0) { /* exit (the first process lives on, so forks always have a parent) */
		vmm_context_destroy(ctx);
		w->live[p] = false;
		return 200;
	}
	if (op < 20) { /* mmap */
		static const unsigned accesses[] = { RW, RW, RO, 0, RX, RW | VMM_ACCESS_SHARED };
		uint64_t addr;
		enum vm_status st = vmm_reserve_access(ctx, R_MMAP, 1 + arg % 64, 1,
						       accesses[arg2 % ARRAY_SIZE(accesses)], &addr);
		return 300 + st + (st == VM_OK ? addr : 0);
	}
	if (op < 28) { /* munmap of a random window */
		uint64_t addr = mmap_base + (arg % 2048) * PAGE_SIZE;
		return 400 + vmm_release_range(ctx, addr, 1 + arg2 % 48);
	}
	if (op < 34) { /* mprotect */
		static const unsigned accesses[] = { RW, RO, 0, RX };
		uint64_t addr = mmap_base + (arg % 2048) * PAGE_SIZE;
		return 500 + vmm_protect_range(ctx, addr, 1 + arg2 % 16, accesses[(arg2 >> 8) % 4]);
	}
	if (op < 38) { /* brk */
		uint64_t brk;
		return 600 + vmm_brk(ctx, 0x400000 + (arg % 512) * PAGE_SIZE + 1, &brk);
	}
	/* a touch: mmap region, heap, or just below the stack */
	uint64_t addr;
	unsigned where = (unsigned)(arg2 % 10);
	if (where < 6)
		addr = mmap_base + (arg % 96) * PAGE_SIZE + (arg >> 40) % PAGE_SIZE;
	else if (where < 8)
		addr = 0x400000 + (arg % 600) * PAGE_SIZE;
	else
		addr = diff_stack_top() - (1 + arg % 3000) * PAGE_SIZE;
	enum vmm_fault_kind kind = (enum vmm_fault_kind)((arg2 >> 8) % 3);
	struct vmm_fault_result r;
	vmm_fault(ctx, addr, kind, &w->stacks[p], &r);
	*outcome = (int)r.outcome;
	uint64_t code = 1000 + r.outcome * 10 + (uint64_t)r.state;
	if (r.state == VMM_PAGE_MAPPED || r.outcome == VMM_FAULT_ZERO_FILL ||
	    r.outcome == VMM_FAULT_COW_COPY || r.outcome == VMM_FAULT_COW_REUSE ||
	    r.outcome == VMM_FAULT_STACK_GROW) {
		struct pt_translation t;
		if (pt_translate(&ctx->pt, addr, &t) == VM_OK) {
			unsigned char *byte = phys_to_virt(t.pa);
			code += (uint64_t)*byte << 20;
			if (t.prot & PT_WRITE)
				*byte = (unsigned char)(*byte + 1 + p); /* the program writes */
		}
	}
	return code;
}

static void world_end(struct diff_world *w)
{
	for (unsigned p = DIFF_PROCS; p-- > 0;)
		if (w->live[p]) {
			EXPECT_EQ(vmm_audit(&w->procs[p]), 0);
			EXPECT_EQ(w->procs[p].backend->self_check(&w->procs[p]), 0);
			vmm_context_destroy(&w->procs[p]);
		}
	vmm_context_destroy(&w->kernel);
	EXPECT_EQ(w->ts.pages_out, 0);
	test_source_fini(&w->ts);
}

static struct diff_world worlds[2];

TEST(vmm_backends_resolve_the_identical_fault_sequence)
{
	uint64_t seed = test_seed(0x5eedfa17);
	uint64_t rng[2] = { seed, seed };
	unsigned outcomes[TRACE_VALUE_LIMIT(vmm_fault_outcome)] = { 0 };
	world_start(&worlds[0], VMM_BACKEND_PAGETABLE);
	uint64_t *codes = calloc(DIFF_STEPS, sizeof(uint64_t));
	for (unsigned s = 0; s < DIFF_STEPS; s++)
		codes[s] = world_step(&worlds[0], &rng[0], &(int){ 0 });
	world_end(&worlds[0]);
	world_start(&worlds[1], VMM_BACKEND_LIST);
	unsigned first_difference = DIFF_STEPS;
	for (unsigned s = 0; s < DIFF_STEPS; s++) {
		int outcome;
		uint64_t code = world_step(&worlds[1], &rng[1], &outcome);
		if (code != codes[s] && first_difference == DIFF_STEPS)
			first_difference = s;
		if (outcome >= 0)
			outcomes[outcome]++;
	}
	world_end(&worlds[1]);
	free(codes);
	EXPECT_EQ(first_difference, DIFF_STEPS);
	/* The stream exercised every rule (a stream that never copied proves nothing about copies). */
	for (unsigned o = 0; o < TRACE_VALUE_LIMIT(vmm_fault_outcome); o++) {
		testing_note("outcome %s: %u", vmm_fault_outcome_name(o), outcomes[o]);
		if (o != VMM_FAULT_OUT_OF_MEMORY && o != VMM_FAULT_REFUSED_OUTSIDE)
			EXPECT_GE(outcomes[o], 1);
	}
}

/* Whether the last release told vmm_release that the reservation never held a mapping. */
static bool released_unmapped(const struct vmm_context *ctx)
{
	return ctx->backend->released_unmapped && ctx->backend->released_unmapped(ctx);
}

/*
 * vmm_release skips the page-table walk only for a reservation whose range holds no mapping
 * (vmm_backend.h, released_unmapped): pages mapped by a fault, vmm_map, vmm_map_anonymous or a
 * fork, and those left in either half of a split, are all unmapped by the release (the audit
 * finds no mapping outside a reservation, mapped_pages drops, every page comes back). The list
 * backend leaves that unmap to vmm_release (released_unmapped false); the page-table backend
 * unmaps them itself before its clear writes free-run tags (vmm_pt_leaf_tags.h), so it answers
 * true with nothing left mapped.
 */
TEST(vmm_release_unmaps_what_faults_maps_forks_and_splits_put_in_a_reservation)
{
	for (unsigned b = 0; b < ARRAY_SIZE(backends); b++) {
		struct demand_fixture f;
		ASSERT_TRUE(fixture_init(&f, backends[b], 8192));
		uint64_t out_before = f.ts.pages_out, a;
		/* Never mapped: both backends say so (the list from its mark, the page tables from the
		 * release's clear), and nothing changes in the tables. */
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 4, 1, RW, &a), VM_OK);
		EXPECT_EQ(vmm_release(&f.user, a, 4), VM_OK);
		EXPECT_TRUE(released_unmapped(&f.user));
		EXPECT_EQ(f.user.pt.mapped_pages, 0);
		/* Faulted pages. */
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 4, 1, RW, &a), VM_OK);
		EXPECT_EQ(fault(&f.user, a + PAGE_SIZE, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
		EXPECT_EQ(fault(&f.user, a + 3 * PAGE_SIZE, VMM_FAULT_READ), VMM_FAULT_ZERO_FILL);
		EXPECT_EQ(f.user.pt.mapped_pages, 2);
		EXPECT_EQ(vmm_release(&f.user, a, 4), VM_OK);
		EXPECT_EQ(released_unmapped(&f.user), backends[b] == VMM_BACKEND_PAGETABLE);
		EXPECT_EQ(f.user.pt.mapped_pages, 0);
		EXPECT_EQ(vmm_audit(&f.user), 0);
		/* vmm_map_anonymous and vmm_map (a borrowed page). */
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 3, 1, RW, &a), VM_OK);
		EXPECT_EQ(vmm_map_anonymous(&f.user, a, 2, RW | PT_USER), VM_OK);
		EXPECT_EQ(vmm_map(&f.user, a + 2 * PAGE_SIZE, TEST_ARENA_PHYS_BASE, 1, PT_PAGE_4K, RO | PT_USER),
			  VM_OK);
		EXPECT_EQ(f.user.pt.mapped_pages, 3);
		EXPECT_EQ(vmm_release(&f.user, a, 3), VM_OK);
		EXPECT_EQ(f.user.pt.mapped_pages, 0);
		/* A split: the mark goes to both halves, whichever holds the mapped page. */
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 8, 1, RW, &a), VM_OK);
		EXPECT_EQ(fault(&f.user, a + 6 * PAGE_SIZE, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
		EXPECT_EQ(vmm_release_range(&f.user, a, 4), VM_OK);
		EXPECT_EQ(f.user.pt.mapped_pages, 1);
		EXPECT_EQ(vmm_release(&f.user, a + 4 * PAGE_SIZE, 4), VM_OK);
		EXPECT_EQ(released_unmapped(&f.user), backends[b] == VMM_BACKEND_PAGETABLE);
		EXPECT_EQ(f.user.pt.mapped_pages, 0);
		/* A fork: the child's reservation holds the shared page; its release unmaps it. */
		ASSERT_EQ(vmm_reserve_access(&f.user, R_MMAP, 2, 1, RW, &a), VM_OK);
		EXPECT_EQ(fault(&f.user, a, VMM_FAULT_WRITE), VMM_FAULT_ZERO_FILL);
		struct vmm_context child;
		ASSERT_EQ(vmm_context_fork(&child, &f.user, NULL), VM_OK);
		EXPECT_EQ(child.pt.mapped_pages, 1);
		EXPECT_EQ(vmm_release(&child, a, 2), VM_OK);
		EXPECT_EQ(released_unmapped(&child), backends[b] == VMM_BACKEND_PAGETABLE);
		EXPECT_EQ(child.pt.mapped_pages, 0);
		EXPECT_EQ(vmm_audit(&child), 0);
		vmm_context_destroy(&child);
		EXPECT_EQ(vmm_release(&f.user, a, 2), VM_OK);
		EXPECT_EQ(f.user.pt.mapped_pages, 0);
		EXPECT_EQ(f.ts.pages_out, out_before); /* every data page came back */
		fixture_fini(&f);
	}
}
