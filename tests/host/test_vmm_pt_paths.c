/*
 * The page-table backend's point paths (vmm_pt_spine.c, vmm_pt_chunk.c: a range inside one leaf
 * table, one whole 2 MiB chunk, the frontier of each), checked where they run: a seeded stream of reserves and
 * releases that keeps returning to the frontier (lowest first fit fills the space from the
 * bottom) with 512-page reservations at 2 MiB alignment (now and then a whole 1 GiB entry) among
 * small ones, some pages mapped.
 * After every operation the page-table backend's self-check recounts every summary, exact value
 * and hint from the RES/STA bits (and, in this host build, every value the value cache returns is
 * checked against its stripe), and the list backend, fed the same stream, must give the same
 * answers and addresses. A second stream works inside three leaf tables, where a leaf's inner
 * runs are its level-1 table's longest too, so a change inside a leaf moves the tables above.
 * Then the free-run tags of a leaf table, checked against a layout, and a corrupted one caught by
 * the self-check, a refused release that changed no entry, and a leaf table freed exactly when
 * its last reservation goes (leaf_empty: these leaves keep no used-entry count). Last, the floor
 * of a pointer's maxrun code, on which the search enters a subtree unread, the lowest code that
 * holds n pages (the search's one compare), and an inner reserve that ties a leaf's INNER2. A third stream runs the benchmark's
 * layouts in a region of whole root entries, the only place where the lean routes (vmm_pt_lean.c,
 * reserve_chunk_frontier) run: a mark there that leaves a leaf's INNER or a run's tag unwritten,
 * or a chunk placed one entry late, fails it and no other test. Two more there pin what the chunk
 * frontier route writes besides the values: the level-1 hint when no free page lies before the
 * chunk, and HST when the chunk held its level-1 table's last start; and one that the gap before
 * a frontier chunk, kept apart from the stored values, is still where a request fitting only
 * there is placed. Two more follow an inner
 * change up (vmm_pt_spine.c's runs_above): one that moves the level-1 and level-2 tables' INNER
 * and back, and one the level-2 table's top two cannot take, which goes to the general upkeep
 * there; a step that stops one level early fails them.
 */
#include "kernel/lib/testing.h"
#include <machine/pte.h>
#include "tests/host/vmm_test_support.h"
#include "kernel/mm/vmm_pt.h"
#include "kernel/mm/vmm_pt_leaf_tags.h"

#define STEPS 20000
#define MAX_LIVE 96

/* 4 GiB from 1 GiB on: chunks cross level-1 tables, and the region crosses a level-2 entry. */
static const struct vmm_region path_regions[] = {
	{ "paths", 0x40000000ull, 1ull << 20, MM_OWNER_USER },
};

struct live {
	uint64_t addr, pages;
};

/* The same stream goes to a page-table context and a list context (each with its kernel). */
static const enum vmm_backend_kind kinds[2] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };
struct both {
	struct test_source ts;
	struct vmm_context kernel[2], user[2];
};

/* Sets up both contexts over `regions`; a failure is the running test's (testing_current_failed). */
static void both_open(struct both *b, uint64_t source_pages, const struct vmm_region *regions,
		      unsigned region_count)
{
	test_source_init(&b->ts, source_pages);
	for (unsigned k = 0; k < 2; k++) {
		ASSERT_EQ(test_kernel_context(&b->kernel[k], &b->ts, kinds[k]), VM_OK);
		ASSERT_EQ(test_user_context(&b->user[k], &b->kernel[k], &b->ts, kinds[k], regions,
					    region_count),
			  VM_OK);
	}
}

/* Tears both down; every page they took must be back. */
static void both_close(struct both *b, uint64_t seed)
{
	for (unsigned k = 0; k < 2; k++) {
		vmm_context_destroy(&b->user[k]);
		vmm_context_destroy(&b->kernel[k]);
	}
	EXPECT_EQ(b->ts.pages_out, 0);
	test_source_fini(&b->ts);
	if (testing_current_failed())
		testing_note("seed %llu (set VMM_SEED to reproduce)", (unsigned long long)seed);
}

/* One request size and alignment: mostly chunks, and runs that land inside leaf tables. */
static void pick(uint64_t *rng, uint64_t *pages, uint64_t *align)
{
	uint64_t r = test_random(rng) % 10;
	*align = 1;
	if (r < 4) {
		*pages = PT_SPAN_PAGES(1);
		*align = PT_SPAN_PAGES(1);
	} else if (r < 5) {
		/* Now and then a whole 1 GiB chunk (a level-2 entry), else a few 2 MiB ones. */
		bool giant = test_random(rng) % 16 == 0;
		*pages = giant ? PT_SPAN_PAGES(2) : PT_SPAN_PAGES(1) * (1 + test_random(rng) % 3);
		*align = giant ? PT_SPAN_PAGES(2) : PT_SPAN_PAGES(1);
	} else if (r < 8) {
		*pages = 1 + test_random(rng) % 16;
	} else {
		*pages = 1 + test_random(rng) % 700;
	}
}

/* Reserves and releases (and a few maps) on both backends agree, and every summary recounts. */
TEST(vmm_pagetable_point_paths_keep_every_summary_exact)
{
	uint64_t seed = test_seed(0xC4A9C0FFEEull), rng = seed;
	static struct both b;
	both_open(&b, 1 << 16, path_regions, ARRAY_SIZE(path_regions));
	if (testing_current_failed())
		return;
	struct vmm_context *user = b.user;
	static struct live live[MAX_LIVE];
	unsigned count = 0, chunk_reserves = 0, giant_reserves = 0, releases = 0;
	for (unsigned step = 0; step < STEPS && !testing_current_failed(); step++) {
		uint64_t op = test_random(&rng) % 100;
		if (count < MAX_LIVE && (op < 55 || count == 0)) {
			uint64_t pages, align, addr[2] = { 0, 0 };
			pick(&rng, &pages, &align);
			enum vm_status st[2];
			for (unsigned k = 0; k < 2; k++)
				st[k] = vmm_reserve(&user[k], 0, pages, align, &addr[k]);
			ASSERT_EQ(st[0], st[1]);
			ASSERT_EQ(addr[0], addr[1]);
			if (st[0] != VM_OK)
				continue;
			chunk_reserves += pages == PT_SPAN_PAGES(1) && align == PT_SPAN_PAGES(1);
			giant_reserves += pages == PT_SPAN_PAGES(2);
			live[count++] = (struct live){ addr[0], pages };
			if (test_random(&rng) % 8 == 0) /* a mapped page: a release must unmap it */
				for (unsigned k = 0; k < 2; k++)
					ASSERT_EQ(vmm_map_anonymous(&user[k], addr[0], 1, PT_READ | PT_USER), VM_OK);
		} else {
			/* Mostly the newest reservation (the frontier), else any. */
			unsigned i = test_random(&rng) % 3 ? count - 1 : (unsigned)(test_random(&rng) % count);
			uint64_t pages = live[i].pages + (test_random(&rng) % 16 == 0); /* sometimes wrong */
			enum vm_status st[2];
			for (unsigned k = 0; k < 2; k++)
				st[k] = vmm_release(&user[k], live[i].addr, pages);
			ASSERT_EQ(st[0], st[1]);
			if (st[0] == VM_OK) {
				live[i] = live[--count];
				releases++;
			}
		}
		for (unsigned k = 0; k < 2; k++)
			ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
	}
	/* The stream did reach the paths it is about. */
	EXPECT_TRUE(chunk_reserves > STEPS / 10);
	EXPECT_TRUE(giant_reserves > 0);
	EXPECT_TRUE(releases > STEPS / 4);
	both_close(&b, seed);
}

/* Three leaf tables alone in their level-1 table: small reserves and releases, random placement. */
static const struct vmm_region dense_regions[] = {
	{ "dense", 0x80000000ull, 3 * PT_ENTRIES, MM_OWNER_USER },
};

/* Changes inside leaf tables that move their level-1 table's longest runs keep every summary exact. */
TEST(vmm_pagetable_leaf_changes_that_move_the_tables_above_stay_exact)
{
	uint64_t seed = test_seed(0xDE5E1EAFull), rng = seed;
	static struct both b;
	both_open(&b, 1 << 14, dense_regions, ARRAY_SIZE(dense_regions));
	if (testing_current_failed())
		return;
	struct vmm_context *user = b.user;
	static struct live live[MAX_LIVE * 4];
	unsigned count = 0, reserves = 0, releases = 0;
	for (unsigned step = 0; step < STEPS && !testing_current_failed(); step++) {
		bool reserve = count == 0 || (count < ARRAY_SIZE(live) && test_random(&rng) % 100 < 52);
		if (reserve) {
			uint64_t pages = 1 + test_random(&rng) % 24, addr[2] = { 0, 0 };
			enum vm_status st[2];
			for (unsigned k = 0; k < 2; k++)
				st[k] = vmm_reserve(&user[k], 0, pages, 1, &addr[k]);
			ASSERT_EQ(st[0], st[1]);
			ASSERT_EQ(addr[0], addr[1]);
			if (st[0] == VM_OK) {
				live[count++] = (struct live){ addr[0], pages };
				reserves++;
			}
		} else {
			unsigned i = (unsigned)(test_random(&rng) % count);
			for (unsigned k = 0; k < 2; k++)
				ASSERT_EQ(vmm_release(&user[k], live[i].addr, live[i].pages), VM_OK);
			live[i] = live[--count];
			releases++;
		}
		for (unsigned k = 0; k < 2; k++)
			ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
	}
	EXPECT_TRUE(reserves > STEPS / 4);
	EXPECT_TRUE(releases > STEPS / 4);
	both_close(&b, seed);
}

/*
 * A region of whole root entries, as the user mmap region is (512 GiB from 512 GiB on): there the
 * placement takes the lean routes (vmm_pt_lean.c: the frontier, inside a leaf's inner runs;
 * vmm_pt_chunk.c's reserve_chunk_frontier), which decide from the root's first entry with a free
 * page, and which the regions above (inside one root entry) never reach.
 */
static const struct vmm_region wide_regions[] = {
	{ "wide", 1ull << 39, 1ull << 27, MM_OWNER_USER },
};

/*
 * The benchmark's layouts in small: reservations of 1..32 pages with a hole after each (half of
 * them 15 pages, half 1..32), the holes released; then a stream of reserves (1, 16 or 1..32 pages,
 * now and then 512 at 2 MiB) and releases (mostly the newest: the frontier), a few pages mapped.
 * Both backends place every request alike, and every summary, value, tag and hint recounts.
 */
TEST(vmm_pagetable_lean_routes_keep_every_summary_exact_over_whole_root_entries)
{
	uint64_t seed = test_seed(0x1EA7C0DEull), rng = seed;
	static struct both b;
	both_open(&b, 1 << 16, wide_regions, ARRAY_SIZE(wide_regions));
	if (testing_current_failed())
		return;
	struct vmm_context *user = b.user;
	static struct live live[MAX_LIVE * 8], holes[512];
	unsigned count = 0, hole_count = 0, chunk_reserves = 0, releases = 0;
	for (unsigned h = 0; h < ARRAY_SIZE(holes) && !testing_current_failed(); h++) {
		uint64_t keep = 1 + test_random(&rng) % 32, addr[2];
		uint64_t hole = test_random(&rng) % 2 ? 15 : 1 + test_random(&rng) % 32;
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_reserve(&user[k], 0, keep, 1, &addr[k]), VM_OK);
			ASSERT_EQ(vmm_reserve(&user[k], 0, hole, 1, &addr[k]), VM_OK);
		}
		ASSERT_EQ(addr[0], addr[1]);
		holes[hole_count++] = (struct live){ addr[0], hole };
	}
	for (unsigned h = 0; h < hole_count && !testing_current_failed(); h++)
		for (unsigned k = 0; k < 2; k++)
			ASSERT_EQ(vmm_release(&user[k], holes[h].addr, holes[h].pages), VM_OK);
	for (unsigned step = 0; step < STEPS / 2 && !testing_current_failed(); step++) {
		if (count == 0 || (count < ARRAY_SIZE(live) && test_random(&rng) % 100 < 52)) {
			uint64_t r = test_random(&rng) % 16, pages = r < 5 ? 1 : r < 10 ? 16 : 1 + test_random(&rng) % 32;
			uint64_t align = 1, addr[2] = { 0, 0 };
			if (r == 15) {
				pages = align = PT_SPAN_PAGES(1);
				chunk_reserves++;
			}
			enum vm_status st[2];
			for (unsigned k = 0; k < 2; k++)
				st[k] = vmm_reserve(&user[k], 0, pages, align, &addr[k]);
			ASSERT_EQ(st[0], st[1]);
			ASSERT_EQ(addr[0], addr[1]);
			ASSERT_EQ(st[0], VM_OK);
			live[count++] = (struct live){ addr[0], pages };
			if (test_random(&rng) % 32 == 0) /* a mapped page: its release takes the general route */
				for (unsigned k = 0; k < 2; k++)
					ASSERT_EQ(vmm_map_anonymous(&user[k], addr[0], 1, PT_READ | PT_USER), VM_OK);
		} else {
			unsigned i = test_random(&rng) % 4 ? count - 1 : (unsigned)(test_random(&rng) % count);
			for (unsigned k = 0; k < 2; k++)
				ASSERT_EQ(vmm_release(&user[k], live[i].addr, live[i].pages), VM_OK);
			live[i] = live[--count];
			releases++;
		}
		for (unsigned k = 0; k < 2; k++)
			ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
	}
	EXPECT_TRUE(chunk_reserves > STEPS / 80);
	EXPECT_TRUE(releases > STEPS / 8);
	both_close(&b, seed);
}

/* The level-1 table under `addr` in a page-table context (its tables exist). */
static const uint64_t *level1_table(const struct vmm_context *ctx, uint64_t addr)
{
	const uint64_t *root = pt_table(ctx->pt.root);
	const uint64_t *t2 = child_table(root[PT_INDEX(3, addr)]);
	return child_table(t2[PT_INDEX(2, addr)]);
}

/* The INNER of a table at `level` from its stripe, and the maxrun code of its pointer `e` (bits 57..62). */
static uint64_t inner_of(const uint64_t *t, unsigned level)
{
	return pte_stripe_field_read(t, EXACT_FIELD_FIRST(level, EXACT_INNER), EXACT_VALUE_ENTRIES(level));
}

static unsigned code_of(uint64_t e)
{
	return (unsigned)((e >> 57) & 0x3F);
}

/*
 * Two holes in the first leaf table of a region of whole root entries, pages 5..24 and 28..45 (20
 * and 18 pages; nothing is reserved after page 47): they are the longest runs not reaching the end
 * of the leaf, of its level-1 table and of its level-2 table alike, so a change to the first moves
 * all three. A reserve of n pages (16, then 1) takes the lowest fit, pages 5.. (the lean route
 * inside the leaf's inner runs), leaving its longest inner run max(18, 20 - n) at every level; its
 * release joins the 20 pages again. After each step each level's INNER and its pointer's maxrun
 * code (exact below 32: the length) are read by hand, and the self-check recounts every value.
 */
TEST(vmm_pagetable_inner_change_moves_the_level1_and_level2_tables_and_back)
{
	static struct both b;
	both_open(&b, 1 << 14, wide_regions, ARRAY_SIZE(wide_regions));
	if (testing_current_failed())
		return;
	uint64_t base = wide_regions[0].base;
	static const uint64_t layout[] = { 5, 20, 3, 18, 2 }; /* reserved, hole, reserved, hole, reserved */
	for (unsigned k = 0; k < 2; k++) {
		uint64_t addr[ARRAY_SIZE(layout)];
		for (unsigned r = 0; r < ARRAY_SIZE(layout); r++)
			ASSERT_EQ(vmm_reserve(&b.user[k], 0, layout[r], 1, &addr[r]), VM_OK);
		ASSERT_EQ(vmm_release(&b.user[k], addr[1], layout[1]), VM_OK);
		ASSERT_EQ(vmm_release(&b.user[k], addr[3], layout[3]), VM_OK);
	}
	struct vmm_context *pt = &b.user[0];
	const uint64_t *root = pt_table(pt->pt.root);
	const uint64_t *t2 = child_table(root[PT_INDEX(3, base)]);
	const uint64_t *t1 = child_table(t2[PT_INDEX(2, base)]);
	const uint64_t *pointer[2] = { &t2[PT_INDEX(2, base)], &root[PT_INDEX(3, base)] };
	const uint64_t *tables[2] = { t1, t2 };
	static const uint64_t sizes[] = { 16, 1, 16 };
	for (unsigned s = 0; s < ARRAY_SIZE(sizes) && !testing_current_failed(); s++) {
		uint64_t addr[2];
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_reserve(&b.user[k], 0, sizes[s], 1, &addr[k]), VM_OK);
			ASSERT_EQ(b.user[k].backend->self_check(&b.user[k]), 0);
		}
		ASSERT_EQ(addr[0], base + 5 * PAGE_SIZE);
		ASSERT_EQ(addr[1], addr[0]);
		uint64_t longest = 20 - sizes[s] > 18 ? 20 - sizes[s] : 18;
		for (unsigned level = 1; level <= 2; level++) {
			EXPECT_EQ(inner_of(tables[level - 1], level), longest);
			EXPECT_EQ(code_of(*pointer[level - 1]), longest);
		}
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_release(&b.user[k], addr[k], sizes[s]), VM_OK);
			ASSERT_EQ(b.user[k].backend->self_check(&b.user[k]), 0);
		}
		for (unsigned level = 1; level <= 2; level++) {
			EXPECT_EQ(inner_of(tables[level - 1], level), 20);
			EXPECT_EQ(code_of(*pointer[level - 1]), 20);
		}
	}
	both_close(&b, 0);
}

/*
 * The same two holes (20 and 18 pages, from page 5) at the start of the first and of the second 1
 * GiB of a region of whole root entries, everything else of the first GiB reserved: the level-2
 * table's longest inner runs are the two 20-page holes, each level-1 table's its own 20 and 18.
 * Three 16-page reserves take the lowest fits: the first GiB's 20 (the level-2 table's second
 * longest is then not known: one of two 20s went), its 18, then the second GiB's 20, a change the
 * level-2 table's top two cannot take without a look (its longest went, the second not known):
 * the level-1 table above the leaf takes the lean upkeep and the level-2 table the general one,
 * and its longest drops to 18. Then each is released, newest first. Each level's INNER, worked
 * out from the layout, is read by hand after each step, and the self-check recounts every value.
 */
TEST(vmm_pagetable_inner_change_the_level2_table_cannot_take_goes_to_the_general_upkeep)
{
	static struct both b;
	both_open(&b, 1 << 15, wide_regions, ARRAY_SIZE(wide_regions));
	if (testing_current_failed())
		return;
	uint64_t base = wide_regions[0].base, gib = PT_SPAN_PAGES(2);
	/* reserved, hole, reserved, hole, the rest of the first GiB; the same at the second GiB's start */
	const uint64_t layout[] = { 5, 20, 3, 18, gib - 46, 5, 20, 3, 18, 2 };
	const bool hole[] = { false, true, false, true, false, false, true, false, true, false };
	for (unsigned k = 0; k < 2; k++) {
		uint64_t addr[ARRAY_SIZE(layout)];
		for (unsigned r = 0; r < ARRAY_SIZE(layout); r++)
			ASSERT_EQ(vmm_reserve(&b.user[k], 0, layout[r], 1, &addr[r]), VM_OK);
		ASSERT_EQ(addr[5], base + gib * PAGE_SIZE);
		for (unsigned r = 0; r < ARRAY_SIZE(layout); r++)
			if (hole[r])
				ASSERT_EQ(vmm_release(&b.user[k], addr[r], layout[r]), VM_OK);
		ASSERT_EQ(b.user[k].backend->self_check(&b.user[k]), 0);
	}
	struct vmm_context *pt = &b.user[0];
	const uint64_t *root = pt_table(pt->pt.root);
	const uint64_t *t2 = child_table(root[PT_INDEX(3, base)]);
	const uint64_t *first = child_table(t2[0]), *second = child_table(t2[1]);
	/* Each reserve's page, and the INNER of the first GiB's, the second GiB's and the level-2 table after it. */
	static const struct {
		uint64_t page, inner[3];
	} steps[] = { { 5, { 18, 20, 20 } }, { 28, { 4, 20, 20 } }, { (1u << 18) + 5, { 4, 18, 18 } } };
	const uint64_t *tables[3] = { first, second, t2 };
	const unsigned levels[3] = { 1, 1, 2 };
	uint64_t addr[ARRAY_SIZE(steps)][2];
	for (unsigned s = 0; s < ARRAY_SIZE(steps) && !testing_current_failed(); s++) {
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_reserve(&b.user[k], 0, 16, 1, &addr[s][k]), VM_OK);
			ASSERT_EQ(b.user[k].backend->self_check(&b.user[k]), 0);
		}
		ASSERT_EQ(addr[s][0], base + steps[s].page * PAGE_SIZE);
		ASSERT_EQ(addr[s][1], addr[s][0]);
		for (unsigned t = 0; t < 3; t++)
			EXPECT_EQ(inner_of(tables[t], levels[t]), steps[s].inner[t]);
	}
	/* Released newest first: each table's INNER as after the reserve before (at first: 20, 20, 20). */
	for (unsigned s = ARRAY_SIZE(steps); s-- > 0 && !testing_current_failed();) {
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_release(&b.user[k], addr[s][k], 16), VM_OK);
			ASSERT_EQ(b.user[k].backend->self_check(&b.user[k]), 0);
		}
		for (unsigned t = 0; t < 3; t++)
			EXPECT_EQ(inner_of(tables[t], levels[t]), s > 0 ? steps[s - 1].inner[t] : 20);
	}
	both_close(&b, 0);
}

/*
 * Chunks back to back from the start of an empty region of whole root entries: the second on
 * each is a chunk at the frontier with no free page before it (vmm_pt_chunk.c's route that moves
 * the level-1 table's hint). After k of them entries 0..k-1 are full, so the first-free hint is k;
 * released newest first, each release lowers it to the chunk's entry. Both backends agree and
 * every summary recounts after each step.
 */
TEST(vmm_pagetable_chunk_frontier_moves_the_hint_when_no_page_lies_before_the_chunk)
{
	enum { CHUNKS = 8 };
	static struct both b;
	both_open(&b, 1 << 14, wide_regions, ARRAY_SIZE(wide_regions));
	if (testing_current_failed())
		return;
	struct vmm_context *user = b.user;
	uint64_t base = wide_regions[0].base, chunk_bytes = PT_SPAN_PAGES(1) * PAGE_SIZE;
	for (unsigned c = 0; c < CHUNKS && !testing_current_failed(); c++) {
		uint64_t addr[2];
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_reserve(&user[k], 0, PT_SPAN_PAGES(1), PT_SPAN_PAGES(1), &addr[k]), VM_OK);
			ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
		}
		ASSERT_EQ(addr[0], base + c * chunk_bytes);
		ASSERT_EQ(addr[1], addr[0]);
		EXPECT_EQ(pte_hint_read(level1_table(&user[0], base)), c + 1);
	}
	for (unsigned c = CHUNKS; c-- > 1 && !testing_current_failed();) {
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_release(&user[k], base + c * chunk_bytes, PT_SPAN_PAGES(1)), VM_OK);
			ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
		}
		EXPECT_EQ(pte_hint_read(level1_table(&user[0], base)), c);
	}
	for (unsigned k = 0; k < 2; k++)
		ASSERT_EQ(vmm_release(&user[k], base, PT_SPAN_PAGES(1)), VM_OK);
	both_close(&b, 0);
}

/*
 * A chunk at the frontier whose level-1 table holds no other reservation start (the reservation
 * before it starts in the level-1 table before): its release leaves that table without a start,
 * so the table's pointer loses HST, while the level-2 table above keeps it (the first table's
 * start). Checked by hand on the pointers and by the self-check's recount.
 */
TEST(vmm_pagetable_chunk_frontier_release_clears_the_start_bit_with_the_last_start)
{
	static struct both b;
	both_open(&b, 1 << 14, wide_regions, ARRAY_SIZE(wide_regions));
	if (testing_current_failed())
		return;
	struct vmm_context *user = b.user;
	uint64_t base = wide_regions[0].base, chunk_bytes = PT_SPAN_PAGES(1) * PAGE_SIZE;
	uint64_t long_pages = 600 * PT_SPAN_PAGES(1), addr[2];
	for (unsigned k = 0; k < 2; k++) {
		ASSERT_EQ(vmm_reserve(&user[k], 0, long_pages, PT_SPAN_PAGES(1), &addr[k]), VM_OK);
		ASSERT_EQ(vmm_reserve(&user[k], 0, PT_SPAN_PAGES(1), PT_SPAN_PAGES(1), &addr[k]), VM_OK);
		ASSERT_EQ(addr[k], base + 600 * chunk_bytes);
	}
	const uint64_t *root = pt_table(user[0].pt.root);
	const uint64_t *t2 = child_table(root[PT_INDEX(3, base)]);
	unsigned i2 = PT_INDEX(2, addr[0]);
	ASSERT_EQ(i2, 1u);
	EXPECT_TRUE(summary_field(t2[i2]) & SUM_HAS_START);
	for (unsigned k = 0; k < 2; k++) {
		ASSERT_EQ(vmm_release(&user[k], addr[k], PT_SPAN_PAGES(1)), VM_OK);
		ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
	}
	EXPECT_FALSE(summary_field(t2[i2]) & SUM_HAS_START);
	EXPECT_TRUE(summary_field(root[PT_INDEX(3, base)]) & SUM_HAS_START);
	for (unsigned k = 0; k < 2; k++)
		ASSERT_EQ(vmm_release(&user[k], base, long_pages), VM_OK);
	both_close(&b, 0);
}

/*
 * The gap a frontier chunk leaves (pages 64..511 before the chunk at page 512, kept as the level-1
 * and level-2 tables' pending run, vmm_pt.h's PEND) is found by the search: a request that fits
 * only there (300 pages, then exactly 448) lands at page 64, one a page longer past the chunk (at
 * page 1024); each released again, then the chunk. Both backends agree at every step and every
 * summary recounts; the pointer above the level-1 table gives the gap's maxrun code, and its
 * stripe a pending run of 448.
 */
TEST(vmm_pagetable_request_that_fits_only_in_the_chunk_gap_lands_there)
{
	static struct both b;
	both_open(&b, 1 << 14, wide_regions, ARRAY_SIZE(wide_regions));
	if (testing_current_failed())
		return;
	struct vmm_context *user = b.user;
	uint64_t base = wide_regions[0].base, addr[2];
	for (unsigned k = 0; k < 2; k++) {
		ASSERT_EQ(vmm_reserve(&user[k], 0, 64, 1, &addr[k]), VM_OK);
		ASSERT_EQ(addr[k], base);
		ASSERT_EQ(vmm_reserve(&user[k], 0, PT_SPAN_PAGES(1), PT_SPAN_PAGES(1), &addr[k]), VM_OK);
		ASSERT_EQ(addr[k], base + PT_SPAN_PAGES(1) * PAGE_SIZE);
		ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
	}
	const uint64_t *root = pt_table(user[0].pt.root);
	const uint64_t *t2 = child_table(root[PT_INDEX(3, base)]);
	const uint64_t *t1 = level1_table(&user[0], base);
	/* 448 = 256 < L <= 512: code 27 + 9; PEND's length 448 (octal 700) and on digit 1 above it. */
	EXPECT_EQ((summary_field(t2[PT_INDEX(2, base)]) >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK, 36u);
	EXPECT_EQ(pte_stripe_field_read(t1, PEND_FIRST(1), 4), 0700u | (1u << 9));
	const struct { uint64_t pages, at; } requests[] = { { 300, 64 }, { 448, 64 }, { 449, 1024 } };
	for (unsigned r = 0; r < ARRAY_SIZE(requests) && !testing_current_failed(); r++) {
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_reserve(&user[k], 0, requests[r].pages, 1, &addr[k]), VM_OK);
			EXPECT_EQ(addr[k], base + requests[r].at * PAGE_SIZE);
			ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
			ASSERT_EQ(vmm_release(&user[k], addr[k], requests[r].pages), VM_OK);
			ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
		}
	}
	for (unsigned k = 0; k < 2; k++) {
		ASSERT_EQ(vmm_release(&user[k], base + PT_SPAN_PAGES(1) * PAGE_SIZE, PT_SPAN_PAGES(1)), VM_OK);
		ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
		ASSERT_EQ(vmm_release(&user[k], base, 64), VM_OK);
	}
	both_close(&b, 0);
}

/* The TAG bits of a leaf entry (vmm_pt_leaf_tags.h's diagram: bits 12..21), read here by hand. */
static unsigned tag_bits(uint64_t e)
{
	return (unsigned)((e >> 12) & 0x3FF);
}

/*
 * Opens both backends on the dense regions and reserves `first` pages, then `second`, in the
 * page-table context: the lowest fit puts them at the region's base and right after the first.
 * False (the test has failed) when any of it does not hold.
 */
static bool open_with_two_reservations(struct both *b, uint64_t first, uint64_t second,
				       uint64_t *a, uint64_t *c)
{
	both_open(b, 1 << 14, dense_regions, ARRAY_SIZE(dense_regions));
	if (testing_current_failed())
		return false;
	struct vmm_context *pt = &b->user[0];
	uint64_t base = dense_regions[0].base;
	EXPECT_EQ(vmm_reserve(pt, 0, first, 1, a), VM_OK);
	EXPECT_EQ(vmm_reserve(pt, 0, second, 1, c), VM_OK);
	EXPECT_EQ(*a, base);
	EXPECT_EQ(*c, base + first * PAGE_SIZE);
	return !testing_current_failed();
}

/*
 * Free-run tags as the layout says they must be: pages 0..4 free, 5..7 reserved, 8..511 free in
 * the first leaf table gives tags 5 at entries 0 and 4, 504 at entries 8 and 511, and no tag
 * inside a run or on a reserved page. A corrupted tag (a wrong length, or one inside a run) makes
 * the self-check fail; restored, it passes again.
 */
TEST(vmm_pagetable_self_check_finds_a_wrong_free_run_tag)
{
	static struct both b;
	uint64_t a = 0, c = 0;
	if (!open_with_two_reservations(&b, 5, 3, &a, &c))
		return;
	struct vmm_context *pt = &b.user[0];
	uint64_t base = dense_regions[0].base;
	ASSERT_EQ(vmm_release(pt, a, 5), VM_OK);
	ASSERT_EQ(pt->backend->self_check(pt), 0);
	struct page_state free_page = page_state(pt, base);
	ASSERT_FALSE(free_page.reserved);
	ASSERT_EQ(free_page.level, 0);
	uint64_t *leaf = free_page.table;
	const unsigned expect[][2] = { { 0, 5 }, { 2, 0 }, { 4, 5 }, { 5, 0 }, { 7, 0 },
				       { 8, 504 }, { 300, 0 }, { 511, 504 } };
	for (unsigned k = 0; k < ARRAY_SIZE(expect); k++)
		EXPECT_EQ(tag_bits(leaf[expect[k][0]]), expect[k][1]);
	const unsigned corrupt[][2] = { { 8, 503 }, { 0, 4 }, { 2, 1 }, { 511, 0 } };
	for (unsigned k = 0; k < ARRAY_SIZE(corrupt); k++) {
		uint64_t kept = leaf[corrupt[k][0]];
		leaf[corrupt[k][0]] = (kept & ~((uint64_t)0x3FF << 12)) | ((uint64_t)corrupt[k][1] << 12);
		EXPECT_TRUE(pt->backend->self_check(pt) > 0);
		leaf[corrupt[k][0]] = kept;
		EXPECT_EQ(pt->backend->self_check(pt), 0);
	}
	ASSERT_EQ(vmm_release(pt, c, 3), VM_OK);
	ASSERT_EQ(pt->backend->self_check(pt), 0);
	both_close(&b, 0);
}

/*
 * A release inside one leaf table is checked while it is cleared (vmm_pt_leaf_tags.h's
 * leaf_entries_clear_checked). Two reservations side by side, pages 10..19 and 20..29, released as
 * one (20 pages from page 10): the pass meets the second start half-way and must put back what it
 * cleared. The release is refused as the list backend refuses it, and every entry of the leaf
 * table is as it was; then each reservation releases. Once away from the frontier (a reserved page
 * at 2 and another at 40: the inner route), once at it (a reserved page at 9, nothing after 29).
 */
TEST(vmm_pagetable_refused_leaf_release_changes_no_entry)
{
	static const uint64_t others[2][2] = { { 2, 40 }, { 9, 0 } }; /* 0: none */
	static uint64_t before[PT_ENTRIES];
	for (unsigned layout = 0; layout < 2 && !testing_current_failed(); layout++) {
		static struct both b;
		both_open(&b, 1 << 14, dense_regions, ARRAY_SIZE(dense_regions));
		if (testing_current_failed())
			return;
		uint64_t base = dense_regions[0].base;
		for (unsigned k = 0; k < 2; k++) {
			struct vmm_context *ctx = &b.user[k];
			for (unsigned o = 0; o < 2; o++)
				if (others[layout][o])
					ASSERT_EQ(vmm_reserve_at(ctx, base + others[layout][o] * PAGE_SIZE, 1), VM_OK);
			ASSERT_EQ(vmm_reserve_at(ctx, base + 10 * PAGE_SIZE, 10), VM_OK);
			ASSERT_EQ(vmm_reserve_at(ctx, base + 20 * PAGE_SIZE, 10), VM_OK);
		}
		struct vmm_context *pt = &b.user[0];
		uint64_t *leaf = page_state(pt, base).table;
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			before[i] = leaf[i];
		ASSERT_EQ(vmm_release(&b.user[1], base + 10 * PAGE_SIZE, 20), VM_ERR_WRONG_LENGTH);
		ASSERT_EQ(vmm_release(pt, base + 10 * PAGE_SIZE, 20), VM_ERR_WRONG_LENGTH);
		for (unsigned i = 0; i < PT_ENTRIES; i++)
			EXPECT_EQ(leaf[i], before[i]);
		EXPECT_EQ(pt->backend->self_check(pt), 0);
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_release(&b.user[k], base + 20 * PAGE_SIZE, 10), VM_OK);
			ASSERT_EQ(vmm_release(&b.user[k], base + 10 * PAGE_SIZE, 10), VM_OK);
			ASSERT_EQ(b.user[k].backend->self_check(&b.user[k]), 0);
		}
		both_close(&b, 0);
	}
}

/*
 * The backend's leaf tables keep no used-entry count: a leaf is freed when its entry 0 says the
 * table is all free (leaf_empty). Two reservations in one leaf, [0, 2] and [10, 14], one page of
 * the first mapped: an unmap (pagetable.c's walk asks whether the leaf is empty) keeps it, a
 * release of [0, 2] (entry 0 free again, tagged with its run of 10) keeps it, the release of
 * [10, 14] frees it and the tables above, back to the count before. Then leaf_empty on entries
 * written here: zero or a stripe alone is empty, a tag or a reservation in entry 0 is not.
 */
TEST(vmm_pagetable_leaf_is_freed_when_its_last_reservation_goes)
{
	static struct both b;
	both_open(&b, 1 << 14, dense_regions, ARRAY_SIZE(dense_regions));
	if (testing_current_failed())
		return;
	struct vmm_context *pt = &b.user[0];
	uint64_t base = dense_regions[0].base, tables0 = pt->pt.table_pages;
	ASSERT_EQ(vmm_reserve_at(pt, base, 3), VM_OK);
	ASSERT_EQ(vmm_reserve_at(pt, base + 10 * PAGE_SIZE, 5), VM_OK);
	ASSERT_EQ(vmm_map_anonymous(pt, base + PAGE_SIZE, 1, PT_READ | PT_USER), VM_OK);
	uint64_t tables = pt->pt.table_pages;
	EXPECT_TRUE(tables > tables0);
	ASSERT_EQ(vmm_unmap(pt, base + PAGE_SIZE, 1), VM_OK);
	EXPECT_EQ(pt->pt.table_pages, tables);
	ASSERT_EQ(vmm_release(pt, base, 3), VM_OK);
	EXPECT_EQ(pt->pt.table_pages, tables);
	EXPECT_EQ(pt->backend->self_check(pt), 0);
	ASSERT_EQ(vmm_release(pt, base + 10 * PAGE_SIZE, 5), VM_OK);
	EXPECT_EQ(pt->pt.table_pages, tables0);
	EXPECT_EQ(pt->backend->self_check(pt), 0);
	both_close(&b, 0);

	static uint64_t leaf[PT_ENTRIES];
	EXPECT_TRUE(leaf_empty(leaf));
	leaf[0] = (pte_t)5 << PTE_COUNT_STRIPE_SHIFT;
	EXPECT_TRUE(leaf_empty(leaf));
	leaf[0] |= (pte_t)10 << PTE_FREE_TAG_SHIFT;
	EXPECT_FALSE(leaf_empty(leaf));
	leaf[0] = RES_RESERVED | RES_START;
	EXPECT_FALSE(leaf_empty(leaf));
}

/*
 * A level-1 or level-2 table keeps LAST, the index of its last entry not wholly free, where a
 * SUFFIX would be (vmm_pt.h). Reservations of pages 0..604 of the dense region (a leaf table and
 * most of the next, in one level-1 table) leave LAST = the entry holding page 604 at each level,
 * computed here from the address; a wrong LAST, or a stray bit in the rest of its slot, makes the
 * self-check fail; restored, it passes again.
 */
TEST(vmm_pagetable_self_check_finds_a_wrong_last_entry)
{
	static struct both b;
	uint64_t a = 0, c = 0;
	if (!open_with_two_reservations(&b, 5, 600, &a, &c))
		return;
	struct vmm_context *pt = &b.user[0];
	uint64_t base = dense_regions[0].base;
	ASSERT_EQ(pt->backend->self_check(pt), 0);
	uint64_t last_page = c + 599 * PAGE_SIZE;
	uint64_t *root = pt_table(pt->pt.root);
	uint64_t *t2 = pt_table(pte_address(root[PT_INDEX(3, base)]));
	uint64_t *t1 = pt_table(pte_address(t2[PT_INDEX(2, base)]));
	uint64_t *tables[2] = { t1, t2 };
	for (unsigned level = 1; level <= 2; level++) {
		uint64_t *t = tables[level - 1];
		unsigned first = EXACT_FIELD_FIRST(level, EXACT_SUFFIX), expect = PT_INDEX(level, last_page);
		EXPECT_EQ(pte_stripe_field_read(t, first, 3), expect);
		const unsigned wrong[] = { expect + 1, expect + 8, expect > 0 ? expect - 1 : 3 };
		for (unsigned k = 0; k < ARRAY_SIZE(wrong); k++) {
			pte_stripe_field_write(t, first, 3, wrong[k]);
			EXPECT_TRUE(pt->backend->self_check(pt) > 0);
			pte_stripe_field_write(t, first, 3, expect);
			EXPECT_EQ(pt->backend->self_check(pt), 0);
		}
		pte_stripe_field_write(t, first + 6, 1, 1); /* PEND on (its digit after LAST and the length) with no run */
		EXPECT_TRUE(pt->backend->self_check(pt) > 0);
		pte_stripe_field_write(t, first + 6, 1, 0);
		EXPECT_EQ(pt->backend->self_check(pt), 0);
	}
	ASSERT_EQ(vmm_release(pt, c, 600), VM_OK);
	ASSERT_EQ(vmm_release(pt, a, 5), VM_OK);
	ASSERT_EQ(pt->backend->self_check(pt), 0);
	both_close(&b, 0);
}

/* The header's maxrun code, computed here from its definition: L below 32, else 27 + ceil(log2 L). */
static unsigned maxrun_code_by_definition(uint64_t longest)
{
	if (longest < 32)
		return (unsigned)longest;
	unsigned log = 0;
	while (((uint64_t)1 << log) < longest)
		log++;
	return 27 + log;
}

/*
 * The search enters a subtree without reading its INNER when the code's floor reaches the request:
 * the floor of every code is a run length that has that code, and no run with the code is shorter.
 */
TEST(vmm_pagetable_maxrun_floor_is_the_shortest_run_of_its_code)
{
	uint64_t shortest[64];
	for (unsigned c = 0; c < 64; c++)
		shortest[c] = UINT64_MAX;
	for (uint64_t run = 0; run <= ((uint64_t)1 << 22); run++) {
		unsigned c = maxrun_code_by_definition(run);
		if (shortest[c] == UINT64_MAX)
			shortest[c] = run;
	}
	unsigned codes_seen = 0;
	for (unsigned c = 0; c < 64; c++) {
		if (shortest[c] == UINT64_MAX)
			continue;
		codes_seen++;
		EXPECT_EQ(maxrun_floor(c), shortest[c]);
		EXPECT_EQ(maxrun_code(maxrun_floor(c)), c);
	}
	EXPECT_EQ(codes_seen, 32 + 18); /* 0..31 exactly, then 32 (L = 32) .. 49 (L up to 2^22) */
}

/*
 * The search tests a pointer's code against maxrun_fit_code(n) instead of its floor: it is the
 * lowest code whose shortest run (by the code's definition, not maxrun_floor) is n or more.
 */
TEST(vmm_pagetable_maxrun_fit_code_is_the_lowest_code_that_holds_n)
{
	uint64_t shortest[64];
	for (unsigned c = 0; c < 64; c++)
		shortest[c] = UINT64_MAX;
	for (uint64_t run = 0; run <= ((uint64_t)1 << 22); run++) {
		unsigned c = maxrun_code_by_definition(run);
		if (shortest[c] == UINT64_MAX)
			shortest[c] = run;
	}
	/* Every n up to 4096, then each power of two up to 2^20 and the lengths around it. */
	uint64_t lengths[4096 + 1 + 4 * 8];
	unsigned count = 0;
	for (uint64_t n = 0; n <= 4096; n++)
		lengths[count++] = n;
	for (unsigned k = 13; k <= 20; k++)
		for (uint64_t d = 0; d < 4; d++)
			lengths[count++] = ((uint64_t)1 << k) - 1 + d;
	for (unsigned i = 0; i < count; i++) {
		unsigned expect = 0;
		while (shortest[expect] == UINT64_MAX || shortest[expect] < lengths[i])
			expect++;
		EXPECT_EQ(maxrun_fit_code(lengths[i]), expect);
	}
}

/* The level-0 table under `addr` in a page-table context (its tables exist). */
static const uint64_t *leaf_table(const struct vmm_context *ctx, uint64_t addr)
{
	return child_table(level1_table(ctx, addr)[PT_INDEX(1, addr)]);
}

/* A leaf's stored INNER2 field: the value plus one, 0 when not known (inner2_stored). */
static uint64_t leaf_inner2_stored(const uint64_t *leaf)
{
	return stripe_read_fixed(leaf, EXACT_FIELD_FIRST(0, EXACT_INNER2), EXACT_VALUE_ENTRIES(0));
}

/*
 * The lean inner routes write no value when every run they change is shorter than the leaf's
 * INNER2 (top2_stays). Runs of 5, 10 and 3 pages between single reserved pages give INNER 10 and
 * INNER2 5; a 1-page reserve lands in the 5-page run (lowest first fit), which ties INNER2: the
 * second must not stay 5 (the runs are now 4, 10, 3). Both backends agree and the self-check
 * recounts after each step.
 */
TEST(vmm_pagetable_inner_reserve_of_the_second_longest_run_forgets_or_lowers_inner2)
{
	static const uint64_t layout[] = { 1, 5, 1, 10, 1, 3, 1 }; /* reserved, hole, reserved, ... */
	static struct both b;
	both_open(&b, 1 << 14, wide_regions, ARRAY_SIZE(wide_regions));
	if (testing_current_failed())
		return;
	struct vmm_context *user = b.user;
	uint64_t base = wide_regions[0].base, addr[2], at = base;
	for (unsigned i = 0; i < ARRAY_SIZE(layout); i++) {
		for (unsigned k = 0; k < 2; k++)
			ASSERT_EQ(vmm_reserve(&user[k], 0, layout[i], 1, &addr[k]), VM_OK);
		ASSERT_EQ(addr[0], at);
		ASSERT_EQ(addr[1], at);
		at += layout[i] * PAGE_SIZE;
	}
	for (unsigned i = 1; i < ARRAY_SIZE(layout); i += 2) { /* the holes, lowest first */
		uint64_t hole = base;
		for (unsigned j = 0; j < i; j++)
			hole += layout[j] * PAGE_SIZE;
		for (unsigned k = 0; k < 2; k++) {
			ASSERT_EQ(vmm_release(&user[k], hole, layout[i]), VM_OK);
			ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
		}
	}
	const uint64_t *leaf = leaf_table(&user[0], base);
	ASSERT_EQ(leaf_inner2_stored(leaf), 5 + 1);
	for (unsigned k = 0; k < 2; k++) {
		ASSERT_EQ(vmm_reserve(&user[k], 0, 1, 1, &addr[k]), VM_OK);
		ASSERT_EQ(user[k].backend->self_check(&user[k]), 0);
	}
	ASSERT_EQ(addr[0], base + PAGE_SIZE);
	ASSERT_EQ(addr[1], addr[0]);
	uint64_t stored = leaf_inner2_stored(leaf);
	EXPECT_TRUE(stored == 0 || stored == 4 + 1); /* not known, or the 4-page run */
	both_close(&b, 0);
}
