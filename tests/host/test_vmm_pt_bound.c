/*
 * The page-table backend's stated bound (vmm_pt_search.c, vmm_pt_summary.c), held at a scale where
 * a scan of the entries would break it: thousands of leaf tables, each holding a hole too short
 * for the request, so every reserve must pass them all to land past the layout. The bound is
 * computed here from the header's formulas and the table layout (PT_ENTRIES entries, 9 index bits
 * per level, four exact values of E(t) 3-bit stripe entries per table, of which a search or a
 * measure reads three, and at levels 1 and 2 a pending run of 4 entries read with INNER), not
 * read from the backend.
 */
#include "kernel/lib/testing.h"
#include <machine/pte.h>
#include "tests/host/vmm_patterns.h"
#include "tests/host/vmm_test_support.h"

#define LEAF_TABLES 4096u /* 2 MiB chunks of the layout, each with its own leaf table */
#define HOLE_AT 100u      /* page of each chunk where its hole starts */
#define LONGEST_HOLE 15u  /* holes of 1..15 pages: none holds the 16-page request */

/* Stripe entries per exact value of a table at level t: (9 (t + 1) + 1) bits, 3 per entry. */
static uint64_t exact_entries(int t)
{
	return t < 0 ? 0 : (PT_INDEX_BITS * (uint64_t)(t + 1) + 1 + 2) / 3;
}

/*
 * A table at level 1 or 2 keeps a pending run (PEND: a 9-bit length and an on digit, 3 + 1
 * entries) that a read of its INNER or INNER2 reads too.
 */
static uint64_t pend_entries(int t)
{
	return t >= 1 ? 3 + 1 : 0;
}

/* A read of one of the INNER values of a table at level t. */
static uint64_t value_entries(int t)
{
	return exact_entries(t) + pend_entries(t);
}

/* A scan of one table at level t: its hint, then each entry with up to three exact values below. */
static uint64_t table_scan(int t)
{
	return 1 + PT_ENTRIES * (1 + 3 * exact_entries(t - 1) + pend_entries(t - 1));
}

/* One search: the root, and at most three tables per level below it (the header's proof). */
static uint64_t search_bound(void)
{
	return table_scan(3) + 3 * (table_scan(2) + table_scan(1) + table_scan(0));
}

/*
 * U(t): one table at level t changed by a mark or clear (range, hint, the changed entry's four
 * values before and after, derive from the table's four old values, measure reading up to three
 * values per entry, write the four).
 */
static uint64_t update_bound(int t)
{
	uint64_t values = 4 * value_entries(t), below = t < 1 ? 0 : value_entries(t - 1);
	return PT_ENTRIES + PT_ENTRIES + 8 * below + values + 2 * PT_ENTRIES + 2 * below +
	       PT_ENTRIES * (1 + 3 * below) + values;
}

/*
 * One search plus two marks or clears of `pages` pages (a release tallies, then clears), a
 * resize's path (8), and what a reserve's lean routes read before they decline: the root's hint
 * and entry, two 3-entry LASTs with the entry each names, a leaf's last entry, then two leaf
 * entries and a leaf's two exact values.
 */
static uint64_t operation_bound(uint64_t pages)
{
	uint64_t update = 2 * PT_ENTRIES;
	for (int t = 0; t < 3; t++)
		update += (2 + pages / PT_SPAN_PAGES(t + 1)) * update_bound(t);
	uint64_t declined = 2 + 2 * (3 + 1) + 1 + 2 + 2 * exact_entries(0);
	return search_bound() + 2 * update + 8 + declined;
}

static uint64_t layout_base(void)
{
	return ALIGN_UP(vmm_pattern_region.base, PT_SPAN_BYTES(2));
}

/* Chunk k: reserved [0, HOLE_AT) and [HOLE_AT + hole, 512), hole = 1 + k % LONGEST_HOLE pages. */
static void lay_out(struct vmm_context *user)
{
	for (uint64_t k = 0; k < LEAF_TABLES && !testing_current_failed(); k++) {
		uint64_t chunk = layout_base() + k * PT_SPAN_BYTES(1);
		uint64_t hole = 1 + k % LONGEST_HOLE;
		ASSERT_EQ(vmm_reserve_at(user, chunk, HOLE_AT), VM_OK);
		ASSERT_EQ(vmm_reserve_at(user, chunk + (HOLE_AT + hole) * PAGE_SIZE,
					 PT_ENTRIES - HOLE_AT - hole),
			  VM_OK);
	}
}

/* Thousands of leaf tables whose holes are all too short: each reserve passes them within the bound. */
TEST(vmm_pagetable_search_passes_thousands_of_leaf_tables_within_the_stated_bound)
{
	struct test_source ts;
	struct vmm_context kernel, user;
	test_source_init(&ts, 1 << 14);
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_PAGETABLE), VM_OK);
	ASSERT_EQ(test_user_context(&user, &kernel, &ts, VMM_BACKEND_PAGETABLE, &vmm_pattern_region, 1),
		  VM_OK);
	lay_out(&user);
	/* The layout's entries: what a search reading them one by one would read at least. */
	uint64_t scanned = (uint64_t)LEAF_TABLES * PT_ENTRIES;
	EXPECT_TRUE(scanned > operation_bound(PT_ENTRIES));
	EXPECT_TRUE(user.pt.table_pages >= LEAF_TABLES);
	uint64_t past_layout = layout_base() + LEAF_TABLES * PT_SPAN_BYTES(1);
	static const uint64_t requests[] = { LONGEST_HOLE + 1, 64, 511, 512, 1000 };
	uint64_t worst = 0, addr_aligned;
	for (unsigned r = 0; r < ARRAY_SIZE(requests); r++) {
		uint64_t pages = requests[r], addr;
		ASSERT_EQ(vmm_reserve(&user, 0, pages, 1, &addr), VM_OK);
		EXPECT_EQ(addr, past_layout); /* lowest first fit: nothing in the layout holds it */
		EXPECT_LE(user.last_work, operation_bound(pages));
		worst = MAX(worst, user.last_work);
		ASSERT_EQ(vmm_release(&user, addr, pages), VM_OK);
		EXPECT_LE(user.last_work, operation_bound(pages));
	}
	/* Aligned: 512 pages at 2 MiB, a padded search of 1 023 pages, past the layout. */
	ASSERT_EQ(vmm_reserve(&user, 0, PT_ENTRIES, PT_ENTRIES, &addr_aligned), VM_OK);
	EXPECT_EQ(addr_aligned, past_layout);
	EXPECT_LE(user.last_work, operation_bound(PT_ENTRIES));
	worst = MAX(worst, user.last_work);
	ASSERT_EQ(vmm_release(&user, addr_aligned, PT_ENTRIES), VM_OK);
	EXPECT_LE(user.last_work, operation_bound(PT_ENTRIES));
	/* A hole that holds the request, in the last leaf table: found there, within the bound. */
	uint64_t last_chunk = layout_base() + (LEAF_TABLES - 1) * PT_SPAN_BYTES(1);
	uint64_t hole = 1 + (LEAF_TABLES - 1) % LONGEST_HOLE, addr;
	ASSERT_EQ(vmm_release(&user, last_chunk + (HOLE_AT + hole) * PAGE_SIZE,
			      PT_ENTRIES - HOLE_AT - hole),
		  VM_OK);
	ASSERT_EQ(vmm_reserve(&user, 0, LONGEST_HOLE + 1, 1, &addr), VM_OK);
	EXPECT_EQ(addr, last_chunk + HOLE_AT * PAGE_SIZE);
	EXPECT_LE(user.last_work, operation_bound(LONGEST_HOLE + 1));
	worst = MAX(worst, user.last_work);
	EXPECT_EQ(user.backend->self_check(&user), 0);
	testing_note("%u leaf tables (%llu entries), worst reserve work %llu, bound %llu", LEAF_TABLES,
		     (unsigned long long)scanned, (unsigned long long)worst,
		     (unsigned long long)operation_bound(LONGEST_HOLE + 1));
	vmm_context_destroy(&user);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}

/* The bound the backend states is the one its header proves (computed here from the layout). */
TEST(vmm_pagetable_states_the_bound_its_header_proves)
{
	static const uint64_t sizes[] = { 1, 16, 511, 512, 513, 262144, 1u << 20 };
	EXPECT_EQ(search_bound(), 79370);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++)
		EXPECT_EQ(vmm_backend_pagetable.work_bound(NULL, sizes[i]), operation_bound(sizes[i]));
}
