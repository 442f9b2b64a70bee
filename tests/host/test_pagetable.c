/* Host tests of kernel/mm/pagetable.c: mapping rules, invalidation, table lifetime, rollback. */
#include <machine/pte.h>
#include "kernel/lib/testing.h"
#include "tests/host/host_env.h"
#include "tests/host/vmm_test_support.h"
#include "kernel/mm/pt_slots.h"

#define USER_VA 0x0000000040000000ull /* 1 GiB: aligned for every page size */
#define DATA_PA 0x80000000ull         /* borrowed physical addresses are never touched */

struct pt_fixture {
	struct test_source ts;
	struct pagetable kernel, user;
};

static bool fixture_init(struct pt_fixture *f)
{
	test_source_init(&f->ts, 4096);
	return pt_create_kernel(&f->kernel, &f->ts.source) == VM_OK &&
	       pt_create_user(&f->user, &f->ts.source, &f->kernel) == VM_OK;
}

/* Destroys both tables and checks every page came back. */
static void fixture_fini(struct pt_fixture *f)
{
	pt_destroy(&f->user);
	pt_destroy(&f->kernel);
	EXPECT_EQ(f->ts.pages_out, 0);
	test_source_fini(&f->ts);
}

/* Each page size maps, translates with the same neutral flags, and unmaps. */
TEST(pagetable_maps_and_translates_every_page_size)
{
	struct pt_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	static const enum pt_page_size sizes[] = { PT_PAGE_4K, PT_PAGE_2M, PT_PAGE_1G };
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint64_t span = PT_SPAN_BYTES(sizes[i]);
		EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 2, sizes[i], PT_READ | PT_WRITE | PT_USER,
				 PT_DATA_BORROWED), VM_OK);
		struct pt_translation t;
		ASSERT_EQ(pt_translate(&f.user, USER_VA + span + 0x123, &t), VM_OK);
		EXPECT_EQ(t.pa, DATA_PA + span + 0x123);
		EXPECT_EQ(t.size, sizes[i]);
		EXPECT_EQ(t.prot, PT_READ | PT_WRITE | PT_USER);
		EXPECT_EQ(f.user.mapped_pages, 2 * PT_SPAN_PAGES(sizes[i]));
		EXPECT_EQ(pt_unmap(&f.user, USER_VA, 2 * PT_SPAN_PAGES(sizes[i]), NULL), VM_OK);
		EXPECT_EQ(pt_translate(&f.user, USER_VA, &t), VM_ERR_NOT_MAPPED);
	}
	EXPECT_EQ(f.user.table_pages, 1);
	fixture_fini(&f);
}

/* A mapping asking for WRITE|EXECUTE is refused; everything not executable gets NX. */
TEST(pagetable_refuses_write_execute_and_sets_nx)
{
	struct pt_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 1, PT_PAGE_4K, PT_WRITE | PT_EXECUTE, PT_DATA_BORROWED),
		  VM_ERR_WRITE_EXECUTE);
	EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 1, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED), VM_OK);
	EXPECT_EQ(pt_protect(&f.user, USER_VA, 1, PT_WRITE | PT_EXECUTE), VM_ERR_WRITE_EXECUTE);
	EXPECT_TRUE(pte_make_leaf(DATA_PA, 0, PT_READ) & PTE_NO_EXECUTE);
	EXPECT_FALSE(pte_make_leaf(DATA_PA, 0, PT_EXECUTE) & PTE_NO_EXECUTE);
	struct pt_translation t;
	ASSERT_EQ(pt_translate(&f.user, USER_VA, &t), VM_OK);
	EXPECT_EQ(t.prot, PT_READ);
	fixture_fini(&f);
}

/* Unmap invalidates each page and frees the three tables that became empty. */
TEST(pagetable_unmap_invalidates_and_frees_empty_tables)
{
	struct pt_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 3, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED), VM_OK);
	EXPECT_EQ(f.user.table_pages, 4);
	uint64_t before = host_invalidations, unmapped = 0;
	EXPECT_EQ(pt_unmap(&f.user, USER_VA, 8, &unmapped), VM_OK);
	EXPECT_EQ(unmapped, 3);
	EXPECT_EQ(host_invalidations - before, 3);
	EXPECT_EQ(f.user.table_pages, 1);
	fixture_fini(&f);
}

/* The used-entry count striped into bits 9..11 follows maps and unmaps. */
TEST(pagetable_counts_used_entries_in_the_stripe)
{
	struct pt_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 512, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED), VM_OK);
	struct pt_translation t;
	EXPECT_EQ(pt_translate(&f.user, USER_VA + 5 * PAGE_SIZE, &t), VM_OK);
	EXPECT_EQ(t.pa, DATA_PA + 5 * PAGE_SIZE); /* the stripe bits do not leak into addresses */
	EXPECT_EQ(pt_unmap(&f.user, USER_VA, 200, NULL), VM_OK);
	EXPECT_EQ(f.user.table_pages, 4);
	EXPECT_EQ(pt_unmap(&f.user, USER_VA + 200 * PAGE_SIZE, 312, NULL), VM_OK);
	EXPECT_EQ(f.user.table_pages, 1);
	fixture_fini(&f);
}

/* Entries of a table with a bit outside the count stripe, counted here entry by entry. */
static unsigned used_entries_counted(const uint64_t *table)
{
	unsigned used = 0;
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		used += (table[i] & ~PTE_COUNT_STRIPE_MASK) != 0;
	return used;
}

/*
 * pt_slots_update keeps the count over runs of 1, 3 and 13 entries: a mark of free entries, a
 * clear that leaves every other one used (present), and a clear that leaves none.
 */
TEST(pagetable_slots_update_keeps_the_used_count_for_every_run)
{
	static uint64_t table[PT_ENTRIES] __attribute__((aligned(4096)));
	const uint64_t marked = PTE_SW_BIT(0), present = PTE_PRESENT;
	const unsigned firsts[] = { 7, 40, 300 }, lengths[] = { 1, 3, 13 };
	for (unsigned r = 0; r < 3; r++) {
		unsigned first = firsts[r], last = first + lengths[r] - 1;
		pt_slots_update(table, first, last, ~(uint64_t)0, marked);
		EXPECT_EQ(pt_table_used(table), used_entries_counted(table));
	}
	for (unsigned i = 40; i <= 42; i += 2) /* every other page of the second run is mapped */
		pt_slot_write(table, i, (table[i] & ~PTE_COUNT_STRIPE_MASK) | present);
	pt_slots_update(table, 40, 42, ~marked, 0);
	EXPECT_EQ(pt_table_used(table), used_entries_counted(table));
	EXPECT_EQ(pt_table_used(table), 1 + 2 + 13);
	pt_slots_update(table, 300, 312, ~marked, 0);
	pt_slots_update(table, 7, 7, ~marked, 0);
	EXPECT_EQ(pt_table_used(table), used_entries_counted(table));
	EXPECT_EQ(pt_table_used(table), 2);
}

/* A map that runs out of table pages half-way leaves nothing mapped and no table behind. */
TEST(pagetable_map_rolls_back_when_out_of_memory)
{
	struct pt_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	uint64_t out = f.ts.pages_out;
	f.ts.fail_after = f.ts.allocations + 3; /* PDPT, PD, PT; the second PT fails */
	EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 1024, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED),
		  VM_ERR_NO_MEMORY);
	EXPECT_EQ(f.user.mapped_pages, 0);
	EXPECT_EQ(f.ts.pages_out, out);
	struct pt_translation t;
	EXPECT_EQ(pt_translate(&f.user, USER_VA, &t), VM_ERR_NOT_MAPPED);
	f.ts.fail_after = 0;
	fixture_fini(&f);
}

/* protect is all or nothing: a hole in the range changes nothing. */
TEST(pagetable_protect_is_all_or_nothing)
{
	struct pt_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 2, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED), VM_OK);
	EXPECT_EQ(pt_protect(&f.user, USER_VA, 3, PT_READ | PT_WRITE), VM_ERR_NOT_MAPPED);
	struct pt_translation t;
	ASSERT_EQ(pt_translate(&f.user, USER_VA, &t), VM_OK);
	EXPECT_EQ(t.prot, PT_READ);
	uint64_t before = host_invalidations;
	EXPECT_EQ(pt_protect(&f.user, USER_VA, 2, PT_READ | PT_EXECUTE), VM_OK);
	EXPECT_EQ(host_invalidations - before, 2);
	ASSERT_EQ(pt_translate(&f.user, USER_VA + PAGE_SIZE, &t), VM_OK);
	EXPECT_EQ(t.prot, PT_READ | PT_EXECUTE);
	fixture_fini(&f);
}

/* Kernel-half mappings made after a user table exists are visible through it; users cannot change them. */
TEST(pagetable_kernel_half_is_shared_and_protected)
{
	struct pt_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	uint64_t kva = 0xFFFF800040000000ull;
	EXPECT_EQ(pt_map(&f.kernel, kva, DATA_PA, 1, PT_PAGE_4K, PT_READ | PT_WRITE, PT_DATA_BORROWED), VM_OK);
	struct pt_translation t;
	EXPECT_EQ(pt_translate(&f.user, kva, &t), VM_OK);
	EXPECT_EQ(pt_map(&f.user, kva + PAGE_SIZE, DATA_PA, 1, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED),
		  VM_ERR_INVALID);
	EXPECT_EQ(pt_map(&f.kernel, kva + PAGE_SIZE, DATA_PA, 1, PT_PAGE_4K, PT_READ | PT_USER,
			 PT_DATA_BORROWED), VM_ERR_INVALID);
	EXPECT_EQ(pt_unmap(&f.kernel, kva, 1, NULL), VM_OK);
	EXPECT_EQ(f.kernel.table_pages, 257 + 2 - 2); /* the pinned PDPT stays, PD and PT go */
	fixture_fini(&f);
}

/* Large and small pages do not overlap; a large page cannot be cut by unmap; no double map. */
TEST(pagetable_refuses_overlaps)
{
	struct pt_fixture f;
	ASSERT_TRUE(fixture_init(&f));
	EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 1, PT_PAGE_2M, PT_READ, PT_DATA_BORROWED), VM_OK);
	EXPECT_EQ(pt_map(&f.user, USER_VA + PAGE_SIZE, DATA_PA, 1, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED),
		  VM_ERR_BUSY);
	EXPECT_EQ(pt_unmap(&f.user, USER_VA, 1, NULL), VM_ERR_BUSY);
	EXPECT_EQ(pt_map(&f.user, USER_VA, DATA_PA, 1, PT_PAGE_2M, PT_READ, PT_DATA_BORROWED), VM_ERR_EXISTS);
	uint64_t small_va = USER_VA + PT_SPAN_BYTES(1);
	EXPECT_EQ(pt_map(&f.user, small_va, DATA_PA, 1, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED), VM_OK);
	EXPECT_EQ(pt_map(&f.user, small_va, DATA_PA, 1, PT_PAGE_2M, PT_READ, PT_DATA_BORROWED), VM_ERR_BUSY);
	EXPECT_EQ(pt_map(&f.user, small_va, DATA_PA, 1, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED), VM_ERR_EXISTS);
	EXPECT_EQ(pt_map(&f.user, USER_VA + 1, DATA_PA, 1, PT_PAGE_4K, PT_READ, PT_DATA_BORROWED), VM_ERR_INVALID);
	fixture_fini(&f);
}
