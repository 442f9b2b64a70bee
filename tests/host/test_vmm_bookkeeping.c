/*
 * Host tests of the state the bookkeeping backends derive to be fast (pagetable: summaries in
 * pointer entries, per-table first-free hints; list: subtree maxima, heights, parent links): it
 * equals a recount (backend self_check) under the patterns that take the incremental paths, and
 * the work of a reserve+release pair stays within each backend's bound as mappings grow.
 */
#include "kernel/lib/testing.h"
#include "tests/host/vmm_test_support.h"

/* 24 leaf tables crossing a 1 GiB boundary, and a window crossing a 512 GiB one. */
static const struct vmm_region book_regions[] = {
	{ "tables", 0x3FE00000, 24 * 512, MM_OWNER_USER },
	{ "cross-512g", 0x7FFFE00000, 1ull << 16, MM_OWNER_USER },
};

#define DATA_PA 0x100000000ull /* borrowed, never touched */
#define LIVE_MAX 512

struct book {
	struct test_source ts;
	struct vmm_context kernel, user;
	uint64_t addr[LIVE_MAX], pages[LIVE_MAX];
	unsigned live;
};

static bool book_init(struct book *b, enum vmm_backend_kind backend,
		      const struct vmm_region *regions, unsigned count)
{
	b->live = 0;
	test_source_init(&b->ts, 1 << 14);
	return test_kernel_context(&b->kernel, &b->ts, backend) == VM_OK &&
	       test_user_context(&b->user, &b->kernel, &b->ts, backend, regions, count) == VM_OK;
}

static void book_fini(struct book *b)
{
	EXPECT_EQ(b->user.backend->self_check(&b->user), 0);
	EXPECT_EQ(vmm_audit(&b->user), 0);
	vmm_context_destroy(&b->user);
	vmm_context_destroy(&b->kernel);
	EXPECT_EQ(b->ts.pages_out, 0);
	test_source_fini(&b->ts);
}

static bool book_reserve(struct book *b, unsigned region, uint64_t pages, uint64_t align)
{
	uint64_t addr;
	if (b->live == LIVE_MAX || vmm_reserve(&b->user, region, pages, align, &addr) != VM_OK)
		return false;
	b->addr[b->live] = addr;
	b->pages[b->live++] = pages;
	return true;
}

static void book_release(struct book *b, unsigned i)
{
	EXPECT_EQ(vmm_release(&b->user, b->addr[i], b->pages[i]), VM_OK);
	b->addr[i] = b->addr[--b->live];
	b->pages[i] = b->pages[b->live];
}

/* Mostly small requests (leaf-table edits), some spanning tables, a few whole 2 MiB chunks. */
static uint64_t churn_pages(uint64_t *rng)
{
	uint64_t r = test_random(rng) % 100;
	if (r < 70)
		return 1 + test_random(rng) % 8;
	if (r < 95)
		return 1 + test_random(rng) % 700;
	return 512 * (1 + test_random(rng) % 3);
}

static void churn_body(enum vmm_backend_kind backend, uint64_t *rng)
{
	struct book b;
	ASSERT_TRUE(book_init(&b, backend, book_regions, ARRAY_SIZE(book_regions)));
	for (unsigned step = 1; step <= 20000; step++) {
		uint64_t op = test_random(rng) % 100;
		unsigned region = (unsigned)(test_random(rng) % 2);
		if (op < 55 || b.live == 0) {
			book_reserve(&b, region, churn_pages(rng), 1ull << (test_random(rng) % 7));
		} else if (op < 95) {
			book_release(&b, (unsigned)(test_random(rng) % b.live));
		} else {
			uint64_t brk;
			uint64_t target = book_regions[0].base + test_random(rng) % (700 * PAGE_SIZE);
			vmm_brk(&b.user, target, &brk);
		}
		if (step % 500 == 0 && b.user.backend->self_check(&b.user) != 0) {
			testing_fail(__FILE__, __LINE__, "%s: derived state wrong after step %u",
				     vmm_backend_kind_name(backend), step);
			break;
		}
	}
	while (b.live > 0 && !testing_current_failed())
		book_release(&b, b.live - 1);
	book_fini(&b);
}

/* 20 000 random reserves, releases and brk moves: summaries, hints, maxima always equal a recount. */
#define POOL_RESERVATIONS 3000

/*
 * The list backend's record pool keeps a freed record cached and an emptied record page (only
 * while half a page's worth of records or more is in use: vmm_list_pool.c), and its release and
 * reserve take the cached record on their common paths: a context that grows to thousands of
 * records, churns (one-page and aligned 512-page reserve+release pairs, the cases written out in
 * vmm_backend_list.c) and empties again holds exactly the bookkeeping it held when new.
 */
TEST(vmm_bookkeeping_list_context_emptied_holds_what_it_held_when_new)
{
	static uint64_t addr[POOL_RESERVATIONS];
	struct book b;
	ASSERT_TRUE(book_init(&b, VMM_BACKEND_LIST, book_regions, ARRAY_SIZE(book_regions)));
	uint64_t fresh = vmm_bookkeeping_bytes(&b.user), at;
	for (unsigned i = 0; i < POOL_RESERVATIONS; i++)
		ASSERT_EQ(vmm_reserve(&b.user, 1, 1, 1, &addr[i]), VM_OK);
	EXPECT_TRUE(vmm_bookkeeping_bytes(&b.user) > fresh);
	for (unsigned i = 0; i < POOL_RESERVATIONS; i += 2) /* one-page holes */
		EXPECT_EQ(vmm_release(&b.user, addr[i], 1), VM_OK);
	for (unsigned round = 0; round < 100; round++) {
		ASSERT_EQ(vmm_reserve(&b.user, 1, 1, 1, &at), VM_OK);
		EXPECT_EQ(at, addr[0]); /* the lowest hole */
		EXPECT_EQ(vmm_release(&b.user, at, 1), VM_OK);
		ASSERT_EQ(vmm_reserve(&b.user, 1, 512, 512, &at), VM_OK);
		EXPECT_EQ(at % (512 * PAGE_SIZE), 0);
		EXPECT_EQ(vmm_release(&b.user, at, 512), VM_OK);
	}
	EXPECT_EQ(b.user.backend->self_check(&b.user), 0);
	for (unsigned i = POOL_RESERVATIONS; i-- > 0;)
		if (i % 2)
			EXPECT_EQ(vmm_release(&b.user, addr[i], 1), VM_OK);
	EXPECT_EQ(vmm_bookkeeping_bytes(&b.user), fresh);
	book_fini(&b);
}

TEST(vmm_bookkeeping_derived_state_equals_recount_under_churn)
{
	uint64_t seed = test_seed(0xB00C4EE9ull);
	uint64_t rng = seed;
	churn_body(VMM_BACKEND_PAGETABLE, &rng);
	rng = seed;
	churn_body(VMM_BACKEND_LIST, &rng);
	if (testing_current_failed())
		testing_note("seed %llu (set VMM_SEED to reproduce)", (unsigned long long)seed);
}

/* The benchmark's shapes at test size: packed reservations, one-page holes, then 4-page pairs. */
static void pattern_body(enum vmm_backend_kind backend)
{
	struct book b;
	ASSERT_TRUE(book_init(&b, backend, book_regions, ARRAY_SIZE(book_regions)));
	for (unsigned i = 0; i < 300; i++)
		EXPECT_TRUE(book_reserve(&b, 0, 16, 1));
	EXPECT_EQ(b.user.backend->self_check(&b.user), 0);
	for (unsigned i = 0; i < 300; i += 2)
		EXPECT_EQ(vmm_release(&b.user, book_regions[0].base + i * 16 * PAGE_SIZE, 16), VM_OK);
	EXPECT_EQ(b.user.backend->self_check(&b.user), 0);
	for (unsigned i = 0; i < 1000 && !testing_current_failed(); i++) {
		uint64_t addr = 0;
		EXPECT_EQ(vmm_reserve(&b.user, 0, 4, 1, &addr), VM_OK);
		EXPECT_EQ(vmm_release(&b.user, addr, 4), VM_OK);
	}
	EXPECT_EQ(b.user.backend->self_check(&b.user), 0);
	for (unsigned i = 1; i < 300; i += 2)
		EXPECT_EQ(vmm_release(&b.user, book_regions[0].base + i * 16 * PAGE_SIZE, 16), VM_OK);
	b.live = 0;
	book_fini(&b);
}

/* Packing, punching holes and reserve+release at the edge keep the derived state exact. */
TEST(vmm_bookkeeping_benchmark_patterns_keep_derived_state_exact)
{
	pattern_body(VMM_BACKEND_PAGETABLE);
	pattern_body(VMM_BACKEND_LIST);
}

/* Every allocation the backends make fails in turn; rollbacks leave the derived state exact. */
static void failure_body(enum vmm_backend_kind backend)
{
	struct book b;
	ASSERT_TRUE(book_init(&b, backend, book_regions, ARRAY_SIZE(book_regions)));
	for (uint64_t allowed = 0; allowed < 24; allowed++) {
		b.ts.fail_after = b.ts.allocations + allowed;
		for (unsigned i = 0; i < 8; i++) {
			book_reserve(&b, i % 2, 3 + 300 * i, 1);
			if (b.live > 2)
				book_release(&b, 1);
		}
		b.ts.fail_after = 0;
		EXPECT_EQ(b.user.backend->self_check(&b.user), 0);
	}
	while (b.live > 0)
		book_release(&b, b.live - 1);
	book_fini(&b);
}

TEST(vmm_bookkeeping_failed_allocations_leave_derived_state_exact)
{
	failure_body(VMM_BACKEND_PAGETABLE);
	failure_body(VMM_BACKEND_LIST);
}

/* Work of one reserve(4)+release pair with `mapped` pages mapped in 16-page reservations. */
static uint64_t pair_work(enum vmm_backend_kind backend, uint64_t mapped)
{
	static const struct vmm_region big[] = { { "big", 0x100000000000ull, 1ull << 24, MM_OWNER_USER } };
	struct book b;
	uint64_t addr = 0, work = UINT64_MAX;
	EXPECT_TRUE(book_init(&b, backend, big, ARRAY_SIZE(big)));
	for (uint64_t done = 0; done < mapped && !testing_current_failed(); done += 16) {
		EXPECT_EQ(vmm_reserve(&b.user, 0, 16, 1, &addr), VM_OK);
		EXPECT_EQ(vmm_map(&b.user, addr, DATA_PA, 16, PT_PAGE_4K, PT_READ | PT_USER), VM_OK);
	}
	for (unsigned i = 0; i < 3 && !testing_current_failed(); i++) {
		EXPECT_EQ(vmm_reserve(&b.user, 0, 4, 1, &addr), VM_OK);
		work = b.user.last_work;
		EXPECT_EQ(vmm_release(&b.user, addr, 4), VM_OK);
		work += b.user.last_work;
	}
	book_fini(&b);
	return work;
}

/*
 * Flat as mappings grow 64x: the pagetable pair costs the same (a fresh leaf table each time, each
 * table on the path re-measured) whatever is mapped; the list pair grows by at most a few node
 * visits per doubling of the records (log r). The stated bounds are held in test_vmm_bounds.c.
 */
TEST(vmm_bookkeeping_pair_work_stays_flat_as_mappings_grow)
{
	uint64_t pt_small = pair_work(VMM_BACKEND_PAGETABLE, 1024);
	uint64_t pt_large = pair_work(VMM_BACKEND_PAGETABLE, 65536);
	EXPECT_TRUE(pt_large <= pt_small);
	uint64_t list_small = pair_work(VMM_BACKEND_LIST, 1024);
	uint64_t list_large = pair_work(VMM_BACKEND_LIST, 65536);
	EXPECT_TRUE(list_large <= list_small + 6 * 6); /* 64x the records: 6 doublings */
	testing_note("work per pair: pagetable %llu -> %llu, list %llu -> %llu",
		     (unsigned long long)pt_small, (unsigned long long)pt_large,
		     (unsigned long long)list_small, (unsigned long long)list_large);
}

/* The pagetable backend's bookkeeping bytes are the table pages that map nothing: a reservation
 * alone costs the tables it created, and mapping a page inside it makes them the CPU's again. */
TEST(vmm_bookkeeping_pagetable_counts_tables_that_only_hold_reservations)
{
	struct book b;
	ASSERT_TRUE(book_init(&b, VMM_BACKEND_PAGETABLE, book_regions, ARRAY_SIZE(book_regions)));
	uint64_t before = vmm_bookkeeping_bytes(&b.user), tables_before = b.user.pt.table_pages;
	ASSERT_TRUE(book_reserve(&b, 0, 3, 1));
	uint64_t new_tables = b.user.pt.table_pages - tables_before;
	EXPECT_TRUE(new_tables > 0);
	EXPECT_EQ(vmm_bookkeeping_bytes(&b.user), before + new_tables * PAGE_SIZE);
	EXPECT_EQ(vmm_map(&b.user, b.addr[0], DATA_PA, 1, PT_PAGE_4K, PT_READ | PT_USER), VM_OK);
	EXPECT_EQ(b.user.pt.table_pages, tables_before + new_tables);
	EXPECT_EQ(vmm_bookkeeping_bytes(&b.user), before);
	book_fini(&b);
}

/* A reservation mapped with large pages leaves no table that maps nothing: 0 bytes more. */
TEST(vmm_bookkeeping_pagetable_large_page_mapping_costs_nothing_extra)
{
	struct book b;
	ASSERT_TRUE(book_init(&b, VMM_BACKEND_PAGETABLE, book_regions, ARRAY_SIZE(book_regions)));
	uint64_t before = vmm_bookkeeping_bytes(&b.user);
	ASSERT_TRUE(book_reserve(&b, 0, 1024, 512));
	EXPECT_EQ(vmm_map(&b.user, b.addr[0], DATA_PA, 2, PT_PAGE_2M, PT_READ | PT_USER), VM_OK);
	testing_note("tables %llu, bookkeeping %llu -> %llu", (unsigned long long)b.user.pt.table_pages,
		     (unsigned long long)before, (unsigned long long)vmm_bookkeeping_bytes(&b.user));
	EXPECT_EQ(vmm_bookkeeping_bytes(&b.user), before);
	book_fini(&b);
}

/* One brk call of `pages` pages (negative: shrink): its work, held to the stated bound. */
static uint64_t brk_step(struct book *b, int64_t pages, uint64_t *brk)
{
	uint64_t abs_pages = (uint64_t)(pages < 0 ? -pages : pages);
	uint64_t bound = b->user.backend->work_bound(&b->user, abs_pages);
	EXPECT_EQ(vmm_brk(&b->user, *brk + (uint64_t)(pages * (int64_t)PAGE_SIZE), brk), VM_OK);
	EXPECT_TRUE(b->user.last_work <= bound);
	return b->user.last_work;
}

/* Average work of `calls` brk calls of `pages` pages each. */
static uint64_t brk_average(struct book *b, int64_t pages, unsigned calls, uint64_t *brk)
{
	uint64_t work = 0;
	for (unsigned i = 0; i < calls && !testing_current_failed(); i++)
		work += brk_step(b, pages, brk);
	return work / calls;
}

static void brk_body(enum vmm_backend_kind backend, uint64_t out[4])
{
	/* The test source has 16 Ki pages: the heap stays below 12 Ki of them (24 leaf tables). */
	static const struct vmm_region heap[] = { { "heap", 0x400000, 12288, MM_OWNER_USER } };
	struct book b;
	uint64_t brk;
	ASSERT_TRUE(book_init(&b, backend, heap, ARRAY_SIZE(heap)));
	vmm_brk(&b.user, 0, &brk);
	out[0] = brk_average(&b, 8, 256, &brk);          /* growing a small heap */
	brk_average(&b, 8, 1280 - 256, &brk);             /* 10 Ki pages: 20 leaf tables */
	out[1] = brk_average(&b, 8, 256, &brk);          /* the same steps on a large heap */
	out[2] = brk_average(&b, -8, 256, &brk);         /* shrinking the large heap */
	EXPECT_EQ(b.user.backend->self_check(&b.user), 0);
	uint64_t rng = 0x5EEDB4C;
	for (unsigned i = 0; i < 2000 && !testing_current_failed(); i++) { /* across tables both ways */
		int64_t pages = (int64_t)(1 + test_random(&rng) % 1500);
		uint64_t heap_pages = (brk - heap[0].base) / PAGE_SIZE;
		if (test_random(&rng) % 2 && (uint64_t)pages <= heap_pages)
			pages = -pages;
		if (heap_pages + (uint64_t)pages > heap[0].pages && pages > 0)
			pages = -(int64_t)MIN((uint64_t)pages, heap_pages);
		if (pages != 0)
			brk_step(&b, pages, &brk);
		if (i % 250 == 0)
			EXPECT_EQ(b.user.backend->self_check(&b.user), 0);
	}
	/* Shrinking a small heap, the same 8-page steps: from 2 Ki + 128 pages down to 128. */
	EXPECT_EQ(vmm_brk(&b.user, heap[0].base + (2048 + 128) * PAGE_SIZE, &brk), VM_OK);
	out[3] = brk_average(&b, -8, 256, &brk);
	EXPECT_EQ(vmm_brk(&b.user, heap[0].base, &brk), VM_OK);
	EXPECT_EQ(b.user.pt.mapped_pages, 0);
	book_fini(&b);
}

/*
 * brk moving by 8 pages, up or down, costs the same on a heap of 10 Ki pages as on a small one,
 * on both backends (grow: out[1] against out[0]; shrink: out[2] against out[3]), every call
 * within the stated bound, and the derived state stays exact through random
 * moves across tables. (The pagetable backend asks only about the pages it changes: a growth's
 * "are these free?" looks at them alone, and each side of a change that the hint or the old free
 * suffix already describes is not counted again.)
 */
TEST(vmm_bookkeeping_brk_work_stays_flat_as_the_heap_grows)
{
	uint64_t pt[4], list[4];
	brk_body(VMM_BACKEND_PAGETABLE, pt);
	brk_body(VMM_BACKEND_LIST, list);
	EXPECT_TRUE(pt[1] <= pt[0] + 16);
	EXPECT_TRUE(list[1] <= list[0] + 16);
	EXPECT_TRUE(pt[2] <= pt[3] + 16);
	EXPECT_TRUE(list[2] <= list[3] + 16);
	testing_note("work per 8-page brk grow, small -> large heap: pagetable %llu -> %llu, list %llu -> %llu; "
		     "shrink, small -> large heap: pagetable %llu -> %llu, list %llu -> %llu",
		     (unsigned long long)pt[0], (unsigned long long)pt[1], (unsigned long long)list[0],
		     (unsigned long long)list[1], (unsigned long long)pt[3], (unsigned long long)pt[2],
		     (unsigned long long)list[3], (unsigned long long)list[2]);
}
