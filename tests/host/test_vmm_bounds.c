/*
 * The bound each bookkeeping backend states in its header, held on the layouts that are hardest
 * for it (tests/host/vmm_patterns.c): every reserve, reserve_at and release of every pattern does
 * at most the backend work its work_bound() states, and every request lands where lowest-address
 * first fit says, on both backends. And the list backend's bound computed here from a layout of
 * 100 000 records, where a linear scan would break it.
 */
#include "kernel/lib/testing.h"
#include "tests/host/vmm_patterns.h"
#include "tests/host/vmm_test_support.h"
#include "kernel/mm/avl_tree.h"

#define PACKED_PAGES 4096 /* mapped before each layout */
#define SCALE 64          /* leaves, chunks, or holes of each layout */

static void pattern_body(const struct vmm_pattern *pattern, enum vmm_backend_kind backend)
{
	struct test_source ts;
	struct vmm_context kernel, user;
	test_source_init(&ts, 1 << 14);
	ASSERT_EQ(test_kernel_context(&kernel, &ts, backend), VM_OK);
	ASSERT_EQ(test_user_context(&user, &kernel, &ts, backend, &vmm_pattern_region, 1), VM_OK);
	struct vmm_pattern_stats stats;
	pattern->run(&user, PACKED_PAGES, SCALE, &stats);
	EXPECT_TRUE(stats.ops > 0);
	EXPECT_EQ(stats.over_bound, 0);
	EXPECT_EQ(stats.wrong_answers, 0);
	EXPECT_TRUE(stats.mapped_pages >= PACKED_PAGES);
	EXPECT_EQ(user.backend->self_check(&user), 0);
	testing_note("%s %s: %llu ops, worst work %llu (bound %llu)", pattern->name,
		     vmm_backend_kind_name(backend), (unsigned long long)stats.ops,
		     (unsigned long long)stats.worst_work, (unsigned long long)stats.worst_bound);
	vmm_context_destroy(&user);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}

/* Near-fit runs at every level, one-page holes, far-end holes, a size sweep, aligned requests. */
TEST(vmm_bounds_hold_on_every_adversarial_pattern_for_both_backends)
{
	for (unsigned p = 0; p < vmm_pattern_count && !testing_current_failed(); p++) {
		pattern_body(&vmm_patterns[p], VMM_BACKEND_PAGETABLE);
		pattern_body(&vmm_patterns[p], VMM_BACKEND_LIST);
	}
}

#define SCAN_HOLES 50000 /* 15-page holes between 1-page reservations, ahead of every fit */

/*
 * The list backend's stated bound (vmm_backend_list.c: any reserve or release visits at most
 * 15 (H + 1) tree nodes, H = avl_height_bound(records + 2), 5 K + 1 entries of the pending set of
 * K = 2 records and 13 hash entries), computed here from the layout this test
 * builds, at a scale where a scan of the records would break it: 50 000 holes of 15 pages lie
 * ahead of the only run that holds 16 pages, so a scan visits 100 000 records while the bound is a
 * few hundred. Every reserve, aligned reserve, reserve_at and release stays within it and lands
 * where lowest first fit says.
 */
TEST(list_backend_bound_holds_at_100000_records_where_a_scan_would_not)
{
	static const struct vmm_region region = { "scan", 0x10000000000ull, 1ull << 24, MM_OWNER_USER };
	struct test_source ts;
	struct vmm_context kernel, user;
	test_source_init(&ts, 1 << 13);
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_LIST), VM_OK);
	ASSERT_EQ(test_user_context(&user, &kernel, &ts, VMM_BACKEND_LIST, &region, 1), VM_OK);
	uint64_t addr, hole_addr = 0;
	for (unsigned i = 0; i < SCAN_HOLES && !testing_current_failed(); i++) {
		ASSERT_EQ(vmm_reserve(&user, 0, 15, 1, &addr), VM_OK);
		ASSERT_EQ(vmm_reserve(&user, 0, 1, 1, &hole_addr), VM_OK);
	}
	for (unsigned i = 0; i < SCAN_HOLES; i++)
		ASSERT_EQ(vmm_release(&user, region.base + i * 16 * PAGE_SIZE, 15), VM_OK);
	/* Records: the holes, the separators and the free tail; an operation adds at most two. */
	uint64_t records = 2 * (uint64_t)SCAN_HOLES + 1;
	/* 15 tree paths; a release's scans of the pending set of K = 2 records (for its reservation,
	 * then taking out up to two: 3 K) and a lookup's walk past at most K pending and K + 1 free
	 * records; the hash's steps: 4 probes in each of two tables, an insertion, its drain. */
	uint64_t pending = 2;
	uint64_t bound = 15 * (avl_height_bound(records + 2) + 1) + (3 * pending + 2 * pending + 1) +
			 2 * 4 + 1 + 4;
	uint64_t scanned = 2 * (uint64_t)SCAN_HOLES; /* records ahead of the 16-page fit */
	ASSERT_TRUE(bound * 100 < scanned);
	uint64_t tail = region.base + (uint64_t)SCAN_HOLES * 16 * PAGE_SIZE, worst = 0;
	struct { uint64_t pages, align, expect; } asks[] = {
		{ 16, 1, tail },                       /* past every hole */
		{ 15, 1, region.base },                /* the first hole, exactly */
		{ 3, 1, region.base },                 /* carved from the first hole */
		{ 512, 512, ALIGN_UP(tail, 512 * PAGE_SIZE) },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(asks); i++) {
		ASSERT_EQ(vmm_reserve(&user, 0, asks[i].pages, asks[i].align, &addr), VM_OK);
		EXPECT_EQ(addr, asks[i].expect);
		EXPECT_LE(user.last_work, bound);
		worst = MAX(worst, user.last_work);
		ASSERT_EQ(vmm_release(&user, addr, asks[i].pages), VM_OK);
		EXPECT_LE(user.last_work, bound);
		worst = MAX(worst, user.last_work);
	}
	/* A separator in the middle: its release merges two holes, reserve_at splits them again. */
	uint64_t separator = region.base + (SCAN_HOLES / 2 * 16 + 15) * PAGE_SIZE;
	ASSERT_EQ(vmm_release(&user, separator, 1), VM_OK);
	EXPECT_LE(user.last_work, bound);
	worst = MAX(worst, user.last_work);
	ASSERT_EQ(vmm_reserve_at(&user, separator, 1), VM_OK);
	EXPECT_LE(user.last_work, bound);
	worst = MAX(worst, user.last_work);
	EXPECT_TRUE(worst > 0);
	EXPECT_EQ(user.backend->self_check(&user), 0);
	testing_note("%llu records: worst work %llu, bound %llu, a scan %llu",
		     (unsigned long long)records, (unsigned long long)worst, (unsigned long long)bound,
		     (unsigned long long)scanned);
	vmm_context_destroy(&user);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}

/*
 * The list backend's pending set (vmm_list_pending.h, K = 2 records not yet in a tree): a lookup
 * descends to the last filed reservation and walks the address list past pending records and
 * free runs, at most 2 K + 1 of them, so it stays within one path of H + 1 nodes plus 2 K + 1;
 * a pending reservation released with no free neighbour becomes a free run (filed at once: a
 * hole), which the next search must find as the lowest fit; the oldest pending records are filed
 * when newer ones need the slots, and the self-check holds throughout.
 */
TEST(list_lookup_walks_past_pending_records_within_one_path_and_2k_plus_1)
{
	static const struct vmm_region region = { "pending", 0x20000000000ull, 1024, MM_OWNER_USER };
	struct test_source ts;
	struct vmm_context kernel, user;
	test_source_init(&ts, 1 << 10);
	ASSERT_EQ(test_kernel_context(&kernel, &ts, VMM_BACKEND_LIST), VM_OK);
	ASSERT_EQ(test_user_context(&user, &kernel, &ts, VMM_BACKEND_LIST, &region, 1), VM_OK);
	const uint64_t pending = 2, two_pages = 2 * PAGE_SIZE, count = pending + 5;
	uint64_t addr;
	/* 2-page reservations end to end: all but the last `pending` get filed. */
	for (unsigned i = 0; i < count; i++) {
		ASSERT_EQ(vmm_reserve(&user, 0, 2, 1, &addr), VM_OK);
		ASSERT_EQ(addr, region.base + i * two_pages);
	}
	EXPECT_EQ(user.backend->self_check(&user), 0);
	/* The last but one (pending, reserved on both sides) becomes a free run in place, filed. */
	uint64_t freed = region.base + (count - 2) * two_pages, last = region.base + (count - 1) * two_pages;
	ASSERT_EQ(vmm_release(&user, freed, 2), VM_OK);
	EXPECT_EQ(user.backend->self_check(&user), 0);
	/* The last: past the last filed reservation, through the pending records after it. */
	uint64_t records = count + 1; /* the reservations and free run, the free rest of the region */
	uint64_t bound = avl_height_bound(records + 2) + 1 + 2 * pending + 1;
	struct vmm_query_result q;
	uint64_t before = user.backend_work;
	vmm_query(&user, last + PAGE_SIZE, &q);
	uint64_t walked = user.backend_work - before;
	EXPECT_EQ(q.state, VMM_PAGE_RESERVED);
	EXPECT_EQ(q.start, last);
	EXPECT_EQ(q.pages, 2);
	EXPECT_TRUE(walked >= pending); /* the records after the last filed one were walked */
	EXPECT_LE(walked, bound);
	vmm_query(&user, freed, &q);
	EXPECT_EQ(q.state, VMM_PAGE_FREE);
	EXPECT_EQ(q.start, freed);
	EXPECT_EQ(q.pages, 2);
	/* The lowest fit of two pages is that pending free run, not the rest of the region. */
	ASSERT_EQ(vmm_reserve(&user, 0, 2, 1, &addr), VM_OK);
	EXPECT_EQ(addr, freed);
	/* Release everything, oldest first: filed and pending records alike merge into one run. */
	for (unsigned i = 0; i < count; i++)
		ASSERT_EQ(vmm_release(&user, region.base + i * two_pages, 2), VM_OK);
	EXPECT_EQ(user.backend->self_check(&user), 0);
	vmm_query(&user, region.base, &q);
	EXPECT_EQ(q.state, VMM_PAGE_FREE);
	EXPECT_EQ(q.pages, region.pages);
	testing_note("lookup past the pending set: %llu visited, bound %llu", (unsigned long long)walked,
		     (unsigned long long)bound);
	vmm_context_destroy(&user);
	vmm_context_destroy(&kernel);
	EXPECT_EQ(ts.pages_out, 0);
	test_source_fini(&ts);
}
