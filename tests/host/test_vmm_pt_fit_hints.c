/*
 * The page-table backend's first-fit hints by run size (kernel/mm/vmm_pt_fit_hints.h), checked on
 * one leaf table laid out by hand in a region of whole root entries: a search past holes one page
 * short raises the hint of its class to the fit it found; each kind of release that joins a run
 * long enough below that hint lowers it (inside the leaf's inner runs and at its frontier, by the
 * lean routes, vmm_pt_lean.c, and with mapped pages by the general ones, vmm_pt_spine.c and the
 * range walk's clear), so the next request of that size lands where the list backend, fed the
 * same calls, places it, and the self-check recounts clean after every call; and a hint raised by
 * hand past a fit makes the self-check fail. Addresses expected come from the layout. A writer
 * left without its lowering fails one of these (each was tried).
 */
#include "kernel/lib/testing.h"
#include <machine/pte.h>
#include "tests/host/vmm_test_support.h"
#include "kernel/mm/vmm_pt.h"
#include "kernel/mm/vmm_pt_fit_hints.h"

/*
 * A region of whole root entries (512 GiB from 512 GiB on, as test_vmm_pt_paths.c's wide region):
 * only there does the search descend to one leaf table and scan it from the hints (a region inside
 * a root entry is searched by the range walk, which reads no fit hint).
 */
static const struct vmm_region regions[1] = {
	{ "wide", 1ull << 39, 1ull << 27, MM_OWNER_USER },
};
static const enum vmm_backend_kind kinds[2] = { VMM_BACKEND_PAGETABLE, VMM_BACKEND_LIST };
struct both {
	struct test_source ts;
	struct vmm_context kernel[2], user[2];
};

/* The class hint of runs >= 16 pages (vmm_pt_fit_hints.h's diagram: H_3 in bits 9..11 of entries
 * 24..26 of the leaf), read by hand. */
static unsigned hint16(const uint64_t *leaf)
{
	unsigned h = 0;
	for (unsigned k = 0; k < 3; k++)
		h |= (unsigned)((leaf[24 + k] >> 9) & 7) << (3 * k);
	return h;
}

static uint64_t *leaf_of(struct vmm_context *pt, uint64_t addr)
{
	struct page_state s = page_state(pt, addr);
	return s.level == 0 ? s.table : NULL;
}

/* Both contexts do the same; the page-table one must recount clean after it. */
static void reserve_both(struct both *b, uint64_t pages, uint64_t expect)
{
	for (unsigned k = 0; k < 2; k++) {
		uint64_t addr = 0;
		ASSERT_EQ(vmm_reserve(&b->user[k], 0, pages, 1, &addr), VM_OK);
		EXPECT_EQ(addr, expect);
	}
	EXPECT_EQ(b->user[0].backend->self_check(&b->user[0]), 0);
}

static void release_both(struct both *b, uint64_t addr, uint64_t pages)
{
	for (unsigned k = 0; k < 2; k++)
		ASSERT_EQ(vmm_release(&b->user[k], addr, pages), VM_OK);
	EXPECT_EQ(b->user[0].backend->self_check(&b->user[0]), 0);
}

/*
 * The layout, in pages of the region's first leaf table: a 1-page reservation at each of 0, 16,
 * 32, 48 (so 15-page holes 1..15, 17..31, 33..47), a 1-page one at 49 and 50 (so [48, 50]
 * reserved), then a 20-page hole 51..70 and a reservation 71..80, then the free suffix. Built by
 * reserving everything up to 80 and releasing the holes.
 */
enum { HOLE_20 = 51, TAIL = 71, TAIL_PAGES = 10 };

static void open_layout(struct both *b, uint64_t base)
{
	test_source_init(&b->ts, 1 << 14);
	for (unsigned k = 0; k < 2; k++) {
		ASSERT_EQ(test_kernel_context(&b->kernel[k], &b->ts, kinds[k]), VM_OK);
		ASSERT_EQ(test_user_context(&b->user[k], &b->kernel[k], &b->ts, kinds[k], regions, 1),
			  VM_OK);
	}
	static const uint64_t pieces[][2] = { { 0, 1 },  { 1, 15 },  { 16, 1 }, { 17, 15 }, { 32, 1 },
					      { 33, 15 }, { 48, 1 },  { 49, 1 },  { 50, 1 },  { HOLE_20, 20 },
					      { TAIL, TAIL_PAGES } };
	for (unsigned i = 0; i < ARRAY_SIZE(pieces); i++)
		reserve_both(b, pieces[i][1], base + pieces[i][0] * PAGE_SIZE);
	for (unsigned i = 0; i < ARRAY_SIZE(pieces); i++)
		if (pieces[i][1] > 1 && pieces[i][0] != TAIL)
			release_both(b, base + pieces[i][0] * PAGE_SIZE, pieces[i][1]);
}

static void close_layout(struct both *b)
{
	for (unsigned k = 0; k < 2; k++) {
		vmm_context_destroy(&b->user[k]);
		vmm_context_destroy(&b->kernel[k]);
	}
	EXPECT_EQ(b->ts.pages_out, 0);
	test_source_fini(&b->ts);
}

/* 16 pages past three 15-page holes: found in the 20-page hole, and the class hint rises there. */
static void raise_to_hole_20(struct both *b, uint64_t base, uint64_t **leaf)
{
	*leaf = leaf_of(&b->user[0], base);
	ASSERT_TRUE(*leaf != NULL);
	EXPECT_EQ(hint16(*leaf), 0);
	reserve_both(b, 16, base + HOLE_20 * PAGE_SIZE);
	EXPECT_EQ(hint16(*leaf), HOLE_20);
	release_both(b, base + HOLE_20 * PAGE_SIZE, 16);
	EXPECT_EQ(hint16(*leaf), HOLE_20); /* the release gave back the run it starts: nothing moves */
	reserve_both(b, 16, base + HOLE_20 * PAGE_SIZE); /* found again, from the hint */
	release_both(b, base + HOLE_20 * PAGE_SIZE, 16);
}

/* Opens the layout, raises the hint, runs the rest of one scenario and closes. */
#define SCENARIO(rest)                                                                            \
	do {                                                                                      \
		static struct both b;                                                             \
		uint64_t base = regions[0].base, *leaf = NULL;                                    \
		open_layout(&b, base);                                                            \
		if (!testing_current_failed())                                                    \
			raise_to_hole_20(&b, base, &leaf);                                        \
		if (!testing_current_failed())                                                    \
			rest(&b, base, leaf);                                                     \
		close_layout(&b);                                                                 \
	} while (0)

static void nothing_more(struct both *b, uint64_t base, uint64_t *leaf)
{
	(void)b, (void)base, (void)leaf;
}

/* A search for 16 pages passes the short holes once, and the leaf remembers where the fit was. */
TEST(vmm_pagetable_fit_hint_rises_to_the_first_fit_of_its_class)
{
	SCENARIO(nothing_more);
}

/*
 * Releasing page 32 (unmapped: the inner routes) joins the 15-page holes 17..31 and 33..47 into a
 * run of 31 from 17, below the hint (51) and past the first-free hint (1, a 15-page hole): the
 * hint falls to 17 and the next 16 pages land there.
 */
static void inner_release(struct both *b, uint64_t base, uint64_t *leaf)
{
	release_both(b, base + 32 * PAGE_SIZE, 1);
	EXPECT_TRUE(hint16(leaf) <= 17);
	reserve_both(b, 16, base + 17 * PAGE_SIZE);
}

TEST(vmm_pagetable_fit_hint_falls_when_an_inner_release_joins_a_fit_below_it)
{
	SCENARIO(inner_release);
}

/* The same page, mapped: its release takes the general route (the range walk's clear). */
static void general_release(struct both *b, uint64_t base, uint64_t *leaf)
{
	for (unsigned k = 0; k < 2; k++)
		ASSERT_EQ(vmm_map_anonymous(&b->user[k], base + 32 * PAGE_SIZE, 1, PT_READ | PT_USER), VM_OK);
	inner_release(b, base, leaf);
}

TEST(vmm_pagetable_fit_hint_falls_when_the_general_release_joins_a_fit_below_it)
{
	SCENARIO(general_release);
}

/*
 * At the frontier: the tail 71..80 released joins the 20-page hole into the free suffix from 51
 * (the hint, 51, stays); then 50 and 49, each with a reserved page before it and the suffix after
 * (the frontier routes), move the suffix's start, and the hint with it, down to 49; then 48 joins
 * the 15-page hole 33..47: the suffix runs from 33, and so does the first run of 16 or more.
 */
static void frontier_release(struct both *b, uint64_t base, uint64_t *leaf)
{
	release_both(b, base + TAIL * PAGE_SIZE, TAIL_PAGES);
	EXPECT_EQ(hint16(leaf), HOLE_20);
	release_both(b, base + 50 * PAGE_SIZE, 1);
	EXPECT_EQ(hint16(leaf), 50);
	release_both(b, base + 49 * PAGE_SIZE, 1);
	EXPECT_EQ(hint16(leaf), 49);
	release_both(b, base + 48 * PAGE_SIZE, 1);
	EXPECT_TRUE(hint16(leaf) <= 33);
	reserve_both(b, 16, base + 33 * PAGE_SIZE);
}

TEST(vmm_pagetable_fit_hint_falls_when_a_frontier_release_joins_a_fit_below_it)
{
	SCENARIO(frontier_release);
}

/* The same with pages 48..50 mapped: their releases take the general routes (vmm_pt_spine.c's). */
static void frontier_release_mapped(struct both *b, uint64_t base, uint64_t *leaf)
{
	for (unsigned k = 0; k < 2; k++)
		for (uint64_t page = 48; page <= 50; page++)
			ASSERT_EQ(vmm_map_anonymous(&b->user[k], base + page * PAGE_SIZE, 1, PT_READ | PT_USER), VM_OK);
	frontier_release(b, base, leaf);
}

TEST(vmm_pagetable_fit_hint_falls_when_a_mapped_frontier_release_joins_a_fit_below_it)
{
	SCENARIO(frontier_release_mapped);
}

/* A hint raised past the first run of its class (by hand) is what the self-check exists to see. */
static void hint_past_a_fit(struct both *b, uint64_t base, uint64_t *leaf)
{
	(void)base;
	struct vmm_context *pt = &b->user[0];
	uint64_t kept[3] = { leaf[24], leaf[25], leaf[26] };
	/* 52 = 4 + 6 x 8: digits 4, 6, 0 in entries 24, 25, 26, one past the 20-page hole's start. */
	static const unsigned digits[3] = { 4, 6, 0 };
	for (unsigned k = 0; k < 3; k++)
		leaf[24 + k] = (leaf[24 + k] & ~((uint64_t)7 << 9)) | ((uint64_t)digits[k] << 9);
	EXPECT_EQ(hint16(leaf), 52);
	EXPECT_TRUE(pt->backend->self_check(pt) > 0);
	for (unsigned k = 0; k < 3; k++)
		leaf[24 + k] = kept[k];
	EXPECT_EQ(pt->backend->self_check(pt), 0);
}

TEST(vmm_pagetable_self_check_finds_a_fit_hint_past_a_fit)
{
	SCENARIO(hint_past_a_fit);
}

/*
 * The classes of n pages: the largest threshold 2^(k+1) at or below n (where a request's scan may
 * start, and the highest hint a joined run of n, up to a whole leaf's 512, lowers) and, for a
 * request (n < 512, inside one leaf table), the smallest at or above it (the first hint it may
 * raise; 8, none, above 256), found here by walking the thresholds.
 */
TEST(vmm_pagetable_fit_classes_are_the_thresholds_around_a_request)
{
	EXPECT_EQ(fit_class_floor(512), 7);
	for (uint64_t n = 2; n < 512; n++) {
		unsigned floor = 0, ceil = 8;
		for (unsigned k = 0; k < 8; k++)
			if ((2u << k) <= n)
				floor = k;
		for (unsigned k = 8; k-- > 0;)
			if ((2u << k) >= n)
				ceil = k;
		EXPECT_EQ(fit_class_floor(n), floor);
		EXPECT_EQ(fit_class_ceil(n), ceil);
	}
}
