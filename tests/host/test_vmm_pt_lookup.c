/*
 * Host tests of the page-table backend's fault lookup (kernel/mm/vmm_pt_lookup.c): what it reads
 * (one entry in the leaf table of the last walk, two from its level-1 table, else one per level
 * from the root), and that its hint never outlives a table: a freed leaf table whose page comes
 * back as another 2 MiB's leaf table must not answer for its old addresses, for a fault nor for a
 * release (vmm_pt_release_in_leaf takes the kept tables too).
 */
#include "kernel/lib/testing.h"
#include "tests/host/vmm_test_support.h"
#include <machine/pte.h>

#define TWO_MIB (512 * PAGE_SIZE)

static const struct vmm_region lookup_regions[] = {
	{ "heap", 0x400000, 4096, MM_OWNER_USER },
	{ "mmap", 0x10000000000, 1ull << 24, MM_OWNER_USER },
};
enum { R_HEAP, R_MMAP };

struct lookup_fixture {
	struct test_source ts;
	struct vmm_context kernel, user;
};

static bool fixture_init(struct lookup_fixture *f)
{
	test_source_init(&f->ts, 4096);
	if (test_kernel_context(&f->kernel, &f->ts, VMM_BACKEND_PAGETABLE) != VM_OK)
		return false;
	struct vmm_config config = {
		.kind = VMM_CONTEXT_USER,
		.backend = VMM_BACKEND_PAGETABLE,
		.source = &f->ts.source,
		.regions = lookup_regions,
		.region_count = ARRAY_SIZE(lookup_regions),
		.brk_region = R_HEAP,
		.shm_region = VMM_NO_REGION,
		.kernel = &f->kernel,
		.demand_paged = true,
	};
	return vmm_context_create(&f->user, &config) == VM_OK;
}

static void fixture_fini(struct lookup_fixture *f)
{
	EXPECT_EQ(f->user.backend->self_check(&f->user), 0);
	vmm_context_destroy(&f->user);
	vmm_context_destroy(&f->kernel);
	EXPECT_EQ(f->ts.pages_out, 0);
	test_source_fini(&f->ts);
}

static struct vmm_fault_result fault(struct vmm_context *ctx, uint64_t addr)
{
	struct vmm_fault_result r;
	vmm_fault(ctx, addr, VMM_FAULT_WRITE, NULL, &r);
	return r;
}

/* The leaf table (level 0) covering va, walked here from the root; NULL when there is none. */
static const uint64_t *leaf_table_of(const struct vmm_context *ctx, uint64_t va)
{
	const uint64_t *table = pt_table(ctx->pt.root);
	for (unsigned level = PT_TOP_LEVEL; level > 0; level--) {
		pte_t e = table[PT_INDEX(level, va)];
		if (!pte_is_table(e, level))
			return NULL;
		table = pt_table(pte_address(e));
	}
	return table;
}

TEST(vmm_pagetable_fault_lookup_reads_from_the_tables_of_its_last_walk)
{
	struct lookup_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	/* a and b: 16 pages each, 8 MiB apart (two leaf tables under one level-1 table); c: 1 GiB
	 * further (a level-1 table of its own). */
	uint64_t a = 0x10000000000, b = a + 4 * TWO_MIB, c = a + (1ull << 30);
	ASSERT_EQ(vmm_reserve_at_access(&f.user, a, 16, PT_READ | PT_WRITE), VM_OK);
	ASSERT_EQ(vmm_reserve_at_access(&f.user, b, 16, PT_READ | PT_WRITE), VM_OK);
	ASSERT_EQ(vmm_reserve_at_access(&f.user, c, 16, PT_READ | PT_WRITE), VM_OK);
	/* The first fault walks the four levels; the next in the same 2 MiB reads its entry only. */
	struct vmm_fault_result r = fault(&f.user, a);
	EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
	EXPECT_EQ(r.lookup_work, PT_LEVELS);
	r = fault(&f.user, a + 5 * PAGE_SIZE);
	EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
	EXPECT_EQ(r.lookup_work, 1);
	/* A free page in the same 2 MiB is answered from the same table, and is free. */
	r = fault(&f.user, a + 100 * PAGE_SIZE);
	EXPECT_EQ(r.outcome, VMM_FAULT_REFUSED_FREE);
	EXPECT_EQ(r.lookup_work, 1);
	/* Another 2 MiB of the same 1 GiB: the level-1 entry and the leaf entry. */
	r = fault(&f.user, b + PAGE_SIZE);
	EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
	EXPECT_EQ(r.lookup_work, 2);
	r = fault(&f.user, b + 2 * PAGE_SIZE);
	EXPECT_EQ(r.lookup_work, 1);
	r = fault(&f.user, a + 6 * PAGE_SIZE);
	EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
	EXPECT_EQ(r.lookup_work, 2);
	/* Another 1 GiB: from the root again; back in the first 1 GiB, from the root too. */
	r = fault(&f.user, c + 3 * PAGE_SIZE);
	EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
	EXPECT_EQ(r.lookup_work, PT_LEVELS);
	r = fault(&f.user, b + 3 * PAGE_SIZE);
	EXPECT_EQ(r.outcome, VMM_FAULT_ZERO_FILL);
	EXPECT_EQ(r.lookup_work, PT_LEVELS);
	/* Where no leaf table exists, the walk stops at the level-1 entry: 1 entry read. */
	r = fault(&f.user, a + 64 * TWO_MIB);
	EXPECT_EQ(r.outcome, VMM_FAULT_REFUSED_FREE);
	EXPECT_EQ(r.lookup_work, 1);
	ASSERT_EQ(vmm_release(&f.user, a, 16), VM_OK);
	ASSERT_EQ(vmm_release(&f.user, b, 16), VM_OK);
	ASSERT_EQ(vmm_release(&f.user, c, 16), VM_OK);
	fixture_fini(&f);
}

/*
 * Takes free pages from the fixture's page source until the next one would be `wanted`, which is
 * left free (so that the next table allocated takes it): the count held in held[], or HOLD_FAILED
 * when `wanted` did not come within `room` pages.
 */
#define HOLD_FAILED (~0u)
static unsigned hold_pages_before(struct lookup_fixture *f, paddr_t wanted, paddr_t *held, unsigned room)
{
	for (unsigned count = 0; count < room; count++) {
		paddr_t pa = page_source_alloc(&f->ts.source, 1, 1, MM_OWNER_USER);
		if (pa == PAGE_SOURCE_FAILED)
			break;
		if (pa == wanted) {
			page_source_free(&f->ts.source, pa, 1);
			return count;
		}
		held[count] = pa;
	}
	return HOLD_FAILED;
}

TEST(vmm_pagetable_fault_lookup_forgets_a_freed_leaf_table_reused_elsewhere)
{
	struct lookup_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	uint64_t a = 0x10000000000, b = a + 4 * TWO_MIB; /* same index in their leaf tables */
	/* A reservation between them keeps the tables above the leaves (same 1 GiB) alive. */
	uint64_t keep = a + 2 * TWO_MIB;
	ASSERT_EQ(vmm_reserve_at_access(&f.user, keep, 1, PT_READ | PT_WRITE), VM_OK);
	ASSERT_EQ(vmm_reserve_at_access(&f.user, a, 1, PT_READ | PT_WRITE), VM_OK);
	EXPECT_EQ(fault(&f.user, a).outcome, VMM_FAULT_ZERO_FILL);
	const uint64_t *old_table = leaf_table_of(&f.user, a);
	ASSERT_TRUE(old_table != NULL);
	/* The release frees a's data page and its now empty leaf table (only that table). */
	ASSERT_EQ(vmm_release(&f.user, a, 1), VM_OK);
	ASSERT_TRUE(leaf_table_of(&f.user, a) == NULL);
	/* Hold every free page below the old table's, so that the next table takes its page. */
	paddr_t held[64];
	unsigned count = hold_pages_before(&f, virt_to_phys(old_table), held, ARRAY_SIZE(held));
	ASSERT_TRUE(count != HOLD_FAILED);
	/* b's reservation needs a leaf table: it gets the old table's page, now covering b. */
	ASSERT_EQ(vmm_reserve_at_access(&f.user, b, 1, PT_READ | PT_WRITE), VM_OK);
	ASSERT_TRUE(leaf_table_of(&f.user, b) == old_table); /* the case this test is about */
	/* a is free: its entry in that page (now b's, reserved) must not answer for it. */
	struct vmm_fault_result r = fault(&f.user, a);
	EXPECT_EQ(r.outcome, VMM_FAULT_REFUSED_FREE);
	EXPECT_EQ(r.state, VMM_PAGE_FREE);
	EXPECT_EQ(fault(&f.user, b).outcome, VMM_FAULT_ZERO_FILL);
	ASSERT_EQ(vmm_release(&f.user, b, 1), VM_OK);
	ASSERT_EQ(vmm_release(&f.user, keep, 1), VM_OK);
	for (unsigned i = 0; i < count; i++)
		page_source_free(&f.ts.source, held[i], 1);
	fixture_fini(&f);
}

/* Whether the page at va is reserved, as the backend's lookup answers (it keeps the tables it walks). */
static bool page_reserved(struct vmm_context *ctx, uint64_t va)
{
	unsigned access;
	return ctx->backend->lookup(ctx, &ctx->regions[R_MMAP], va, &access) == VMM_RANGE_RESERVED;
}

/*
 * One-page reservations at pages 1, 3, 5, 20 and 40 of the 2 MiB at base: the leaf's two longest
 * inner runs are 19 and 14 pages, so the release of page 3, which joins the free pages on either
 * side into a run of 3, changes nothing above the leaf (vmm_pt_release_in_leaf's inner route).
 */
static const unsigned layout[] = { 1, 3, 5, 20, 40 };

static bool reserve_layout(struct vmm_context *ctx, uint64_t base)
{
	for (unsigned k = 0; k < ARRAY_SIZE(layout); k++)
		if (vmm_reserve_at_access(ctx, base + layout[k] * PAGE_SIZE, 1, PT_READ | PT_WRITE) != VM_OK)
			return false;
	return true;
}

/*
 * The release takes the tables the last walk kept instead of walking again: only for an address
 * in the kept leaf table's 2 MiB, and only while that table was not freed. Here the kept leaf of
 * a is freed, its page comes back as b's leaf with the same layout, and a is reserved again in a
 * new table; a release in a must clear a's page, not b's. Then, a's new leaf kept, a release in b
 * must clear b's page, not a's.
 */
TEST(vmm_pagetable_release_forgets_a_kept_leaf_table_freed_and_reused_elsewhere)
{
	struct lookup_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	uint64_t a = 0x10000000000, b = a + 4 * TWO_MIB, keep = a + 2 * TWO_MIB;
	ASSERT_EQ(vmm_reserve_at_access(&f.user, keep, 1, PT_READ | PT_WRITE), VM_OK);
	ASSERT_TRUE(reserve_layout(&f.user, a));
	EXPECT_EQ(fault(&f.user, a + 100 * PAGE_SIZE).outcome, VMM_FAULT_REFUSED_FREE); /* keeps a's leaf */
	const uint64_t *old_table = leaf_table_of(&f.user, a);
	ASSERT_TRUE(old_table != NULL);
	for (unsigned k = 0; k < ARRAY_SIZE(layout); k++)
		ASSERT_EQ(vmm_release(&f.user, a + layout[k] * PAGE_SIZE, 1), VM_OK);
	ASSERT_TRUE(leaf_table_of(&f.user, a) == NULL);
	/* Hold every free page below the old table's, so that the next table takes its page. */
	paddr_t held[64];
	unsigned count = hold_pages_before(&f, virt_to_phys(old_table), held, ARRAY_SIZE(held));
	ASSERT_TRUE(count != HOLD_FAILED);
	ASSERT_TRUE(reserve_layout(&f.user, b));
	ASSERT_TRUE(leaf_table_of(&f.user, b) == old_table); /* the kept table is b's now */
	ASSERT_TRUE(reserve_layout(&f.user, a));
	ASSERT_EQ(vmm_release(&f.user, a + 3 * PAGE_SIZE, 1), VM_OK);
	EXPECT_FALSE(page_reserved(&f.user, a + 3 * PAGE_SIZE));
	EXPECT_TRUE(page_reserved(&f.user, b + 3 * PAGE_SIZE));
	EXPECT_EQ(f.user.backend->self_check(&f.user), 0);
	/* a reserved as b is again, a's new leaf kept (the lookup walks to it): a release in b is b's. */
	ASSERT_EQ(vmm_reserve_at_access(&f.user, a + 3 * PAGE_SIZE, 1, PT_READ | PT_WRITE), VM_OK);
	EXPECT_TRUE(page_reserved(&f.user, a + 5 * PAGE_SIZE));
	ASSERT_EQ(vmm_release(&f.user, b + 3 * PAGE_SIZE, 1), VM_OK);
	EXPECT_FALSE(page_reserved(&f.user, b + 3 * PAGE_SIZE));
	EXPECT_TRUE(page_reserved(&f.user, a + 3 * PAGE_SIZE));
	EXPECT_EQ(f.user.backend->self_check(&f.user), 0);
	for (unsigned k = 0; k < ARRAY_SIZE(layout); k++) {
		ASSERT_EQ(vmm_release(&f.user, a + layout[k] * PAGE_SIZE, 1), VM_OK);
		if (layout[k] != 3)
			ASSERT_EQ(vmm_release(&f.user, b + layout[k] * PAGE_SIZE, 1), VM_OK);
	}
	ASSERT_EQ(vmm_release(&f.user, keep, 1), VM_OK);
	for (unsigned i = 0; i < count; i++)
		page_source_free(&f.ts.source, held[i], 1);
	fixture_fini(&f);
}
