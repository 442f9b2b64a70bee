/*
 * The page-table backend's usual reserve and release, written out lean (encoding in vmm_pt.h):
 * nearly every request of a space filled from the bottom lies inside one leaf table, either at
 * the frontier or inside the leaf's inner runs. These routes decide from one path and a few
 * entries whether the request is one of those, and then write only what moves: the leaf's
 * entries (no used-entry count: leaf_empty), at most four free-run tags, its hint (not at the frontier's mark,
 * which leaves it behind: vmm_pt.h), at most its INNER and
 * INNER2 and its pointer's maxrun code and HST, and on release the root's release-mapped bit. They
 * are called by vmm_pt_reserve.c (reserve_lowest, release); anything else returns false before
 * writing, and the general routes there take the request (the differential, model and self-check
 * tests run both, test_vmm_pt_paths.c over whole root entries, where these run).
 *
 * The frontier: the start of the free suffix of the leaf table that ends the chain of LASTs (each
 * table's last entry not wholly free) under the root entry the request lands in. A change inside
 * that suffix, with a reserved page before it (so PREFIX and every inner run stay) and the leaf
 * its table's LAST entry, and so on up (so its suffix is part of each table's suffix, which is
 * derived from LAST: vmm_pt.h), moves no stored value and no pointer bit above the leaf: kinds
 * stay mixed, PFX stays, SFX stays set (a mark leaves a page free at the end, a release adds
 * some), maxrun codes code INNER, which stays, and HST stays (a mark requires it set; a release
 * requires another start in the leaf before the range: leaf_start_before). (The general upkeep
 * finds the same from the change: vmm_pt_summary.c's leaf_suffix_edge and suffix_shift.)
 *
 * Reserve at the frontier: the answer is the one the search (vmm_pt_search.c) gives: at the root,
 * the region's first entry at or after the root's hint (entries below it are full) is a whole
 * mixed subtree whose maxrun code says no inner run holds n pages (search_narrow's first test),
 * so the lowest fit is its free suffix, which starts in the leaf at the end of its LAST chain;
 * that leaf's own suffix is taken to hold n + 1 pages (the reservation ends short of its end).
 * Reads: two LASTs and the entries there, the leaf's last entry (9; the root's hint and entry are
 * read by the caller), as suffix_derived reads the SUFFIX the search would.
 *
 * Reserve by the descent (the root's entry proves an inner fit instead): the search's point
 * descent (search_narrow) written out for the way it usually goes. In each table below the root
 * the entry at its hint (every entry before it full, so no run is carried into it) is a mixed
 * pointer whose maxrun code alone proves an inner run of n pages (code >= maxrun_fit_code(n)),
 * so the lowest fit lies wholly inside its subtree, and the descent goes on there, as
 * search_narrow's does; in the leaf table the run that starts at its hint is taken when its tag
 * holds n (search_leaf_table's first test), else the run at the fit hint of n's class when one
 * starts there (fit_hint_lowest_fit, the search's own next test), else the leaf is scanned from
 * the higher hint by the search's scan (vmm_pt_leaf_lowest_fit). So the answer is
 * vmm_pt_find_lowest's, found on one path of mixed tables, and it is marked by the inner route
 * (the run it starts is an inner run: inner_reserve_run, untested again) or, at entry 0,
 * path_mark along that path, as vmm_pt_reserve_searched would. An entry whose code does not prove
 * a fit (or a root entry not wholly in the region) sends the request to the search. Host test
 * builds check every answer against vmm_pt_find_free_run's. Reads: two per table (its hint, the
 * entry), then the class hint and the two entries at it, and the leaf's scan.
 *
 * Which leaf a release is in: the tables the last walk kept (the fault lookup's or the descent's,
 * vmm_pt_lookup.c) when addr is in the kept leaf's 2 MiB and no table was freed since, else a
 * point walk. The kept ones serve the inner route only (the frontier route reads the whole path):
 * a release they decline, nothing changed, is walked.
 *
 * Inside the inner runs: a mark at the start of a free run of a mixed leaf, with a reserved page
 * before it and after the run; a release whose joined free run keeps a reserved page on either
 * side (one run out of the leaf's INNER top two, one or two in: top2_remove and top2_add; PREFIX
 * and SUFFIX stay, beyond reserved pages). Then the table above
 * keeps its values when the leaf's top two stayed, or the runs that changed were all shorter than
 * that table's INNER2 (inner_top2_settled, vmm_pt_leaf_runs.h's proof); else vmm_pt_spine.c's upkeep of
 * the tables above runs from there (vmm_pt_inner_mark_above). The usual case is cheaper still:
 * every run that changes is shorter than the leaf's INNER2 (or, not known, its INNER), so its
 * top two stay without being worked out, and nothing but the entries, tags and hint is written
 * (runs_below_top2). A leaf that would become full, or
 * whose longest run goes with its second not known, is left to the general route.
 *
 * Bounds: a reserve's lean routes read at most 2 + 9 (frontier) and 2 + 2 E(0) (inner) entries
 * before they decline, which the search and the mark then read again: vmm_pt_check.c's
 * LEAN_DECLINED_READS adds them to the work bound. The descent, which runs instead of the frontier
 * (a root entry's code is below maxrun_code(n) for one, at or above maxrun_fit_code(n) >= it for
 * the other), reads at most 1 + 2 + 2 before it declines, fewer than the frontier's 9; taken, it
 * reads 2 per table where search_narrow reads at least 2, and the leaf's scan is the search's.
 * Taken, the routes read less than the search and the mark they replace. A release's read the
 * path (3; on the inner route 1, the leaf's pointer, when the tables the last walk kept are
 * addr's), the entries around the range (3), two LASTs (6), at most 511 entries for another
 * start, and the range, checked as it is cleared (leaf_entries_clear_checked: one unmapped
 * reservation, else put back: false), or the leaf's two values; one the kept tables' inner route
 * declines is walked and read again. A release does no search: these reads, tried twice more when
 * vmm_pt_reserve.c's general release unmaps a mapped range and gives it back here, with its two
 * checks (leaf_reservation, a path_clear), are a few thousand entries, far inside the search's
 * slot of the bound.
 *
 * The value cache (vmm_pt.h) is kept true: at the frontier the leaf's PREFIX and SUFFIX leave it
 * (its edge tags may move) and a cached SUFFIX of the tables above moves by the pages marked or
 * cleared; inside, the leaf's INNER and INNER2 are written to it with the stripe.
 */
#include "vmm_pt_write.h"
#include "vmm_pt_leaf_runs.h"
#include "vmm_pt_fit_hints.h"

/*
 * The tag of entry i, which the route has just seen free (or cleared): leaf_tag_write without its
 * check, which the route's own tests make (the self-check recounts every tag).
 */
static ALWAYS_INLINE void free_tag_store(uint64_t *table, unsigned i, unsigned length)
{
	table[i] = (table[i] & ~PTE_FREE_TAG_MASK) | ((pte_t)length << PTE_FREE_TAG_SHIFT);
}

/* Tags the free run [a, b] (leaf_run_tag, its ends seen free by the route). */
static ALWAYS_INLINE void free_run_tag(uint64_t *table, unsigned a, unsigned b)
{
	unsigned length = leaf_run_tag_value(a, b);
	free_tag_store(table, a, length);
	free_tag_store(table, b, length);
}

/*
 * The free run [first, b] (its tags seen by the route) loses its first `pages` pages, up to entry
 * last < b: entry b's tag drops by `pages`, and entry last + 1, inside the run before (tag 0),
 * takes the new length; when it is entry b the or adds a tag it already holds. No tag is masked
 * out first.
 */
static ALWAYS_INLINE void free_run_cut_head(uint64_t *leaf, unsigned last, unsigned b, uint64_t pages)
{
	leaf[b] -= pages << PTE_FREE_TAG_SHIFT;
	leaf[last + 1] |= (pte_t)(b - last) << PTE_FREE_TAG_SHIFT;
}

/* The tables' SUFFIX moved by `grown` pages along the path: the value cache follows. */
static ALWAYS_INLINE void frontier_cache_shift(struct vmm_context *ctx, const uint64_t *leaf, const uint64_t *t1,
					       const uint64_t *t2, int64_t grown)
{
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (c->table[0] == leaf)
		c->known[0] &= (uint8_t)~((1u << EXACT_PREFIX) | (1u << EXACT_SUFFIX));
	if (c->table[1] == t1)
		c->value[1][EXACT_SUFFIX] += (uint64_t)grown;
	if (c->table[2] == t2)
		c->value[2][EXACT_SUFFIX] += (uint64_t)grown;
}

/*
 * A pointer (at a level above 0) to a mixed table with a free last page (and HST, when `start`
 * asks for it): pte_is_table's P and PS and the summary bits, tested with one mask.
 */
static ALWAYS_INLINE bool mixed_with_free_end(pte_t e, unsigned start)
{
	const pte_t bits = (pte_t)(SUM_KIND_MASK | SUM_FREE_SUFFIX | start) << PTE_SW_FIELD_SHIFT;
	const pte_t want = (pte_t)(SUMMARY_MIXED | SUM_FREE_SUFFIX | start) << PTE_SW_FIELD_SHIFT;
	return (e & (PTE_PRESENT | PTE_LARGE | bits)) == (PTE_PRESENT | want);
}

/* The writes of a frontier reserve. */
static ALWAYS_INLINE void frontier_reserve_write(struct vmm_context *ctx, uint64_t *leaf, const uint64_t *t1,
					    const uint64_t *t2, unsigned first, uint64_t pages, unsigned access)
{
	unsigned last = first + (unsigned)pages - 1;
	/* The suffix's pages are free (its tags say where it ends): written blind. */
	leaf_entries_set(leaf, first, last, RES_RESERVED | access_bits(access));
	leaf[first] |= RES_START;
	/* The suffix run [first, 511] becomes [last + 1, 511] (last < 511: it held pages + 1). */
	free_run_cut_head(leaf, last, PT_ENTRIES - 1, pages);
	/*
	 * The hint is left where it is: it was at or below `first` (the first non-full entry is), so
	 * it stays a lower bound of the first non-full entry (vmm_pt.h); only a search that enters
	 * this leaf for an inner run reads it, and the frontier is found by its LASTs, not by hints.
	 */
	frontier_cache_shift(ctx, leaf, t1, t2, -(int64_t)pages);
}

enum vm_status vmm_pt_frontier_reserve(struct vmm_context *ctx, const struct vmm_region *region, unsigned i3,
				       uint64_t pages, unsigned access, uint64_t *addr)
{
	/* Entries read are counted in `work` and added once (a table store may alias the counter). */
	uint64_t from = region->base, end_last = region->base + region->pages * PAGE_SIZE - 1, work = 0;
	uint64_t base3 = pt_walk_entry_base(PT_TOP_LEVEL, 0, i3);
	pte_t e3 = pt_table(ctx->pt.root)[i3]; /* read again, not passed: a seventh argument takes the stack */
	/* (The caller saw e3's maxrun code below maxrun_code(pages): no inner run of it fits.) */
	if (!mixed_with_free_end(e3, 0) || base3 < from || base3 + (PT_SPAN_BYTES(3) - 1) > end_last)
		goto declined;
	uint64_t *t2 = child_table(e3);
	unsigned i2 = last_read(t2, 2);
	pte_t e2 = t2[i2];
	work += LAST_ENTRIES + 1;
	if (!mixed_with_free_end(e2, 0))
		goto declined;
	uint64_t *t1 = child_table(e2);
	unsigned i1 = last_read(t1, 1);
	pte_t e1 = t1[i1];
	work += LAST_ENTRIES + 1;
	if (!mixed_with_free_end(e1, SUM_HAS_START))
		goto declined;
	uint64_t *leaf = child_table(e1);
	unsigned suffix = leaf_tag(leaf[PT_ENTRIES - 1]);
	work++;
	if (suffix <= pages)
		goto declined;
	unsigned first = PT_ENTRIES - suffix;
	*addr = base3 + ((uint64_t)i2 << PT_LEVEL_SHIFT(2)) + ((uint64_t)i1 << PT_LEVEL_SHIFT(1)) +
		(uint64_t)first * PAGE_SIZE;
	ctx->backend_work += work + pages + 1; /* and the pages written, the tag after them */
	frontier_reserve_write(ctx, leaf, t1, t2, first, pages, access);
	return VM_OK;
declined:
	ctx->backend_work += work;
	return vmm_pt_reserve_searched(ctx, region, i3, pages, access, addr);
}

/*
 * Another reservation starts in the leaf before entry `first` (after a frontier release's range
 * every page is free, so none starts there): the leaf keeps HST. Reads up to `first` entries.
 */
static ALWAYS_INLINE bool leaf_start_before(uint64_t *work, const uint64_t *leaf, unsigned first)
{
	for (unsigned k = 0; k < first; k++) {
		if (leaf[k] & RES_START) {
			*work += k + 1;
			return true;
		}
	}
	*work += first;
	return false;
}

/*
 * hint_lower(leaf, first), decided from the hint's top digit alone (its bits 6..8, the digit of its
 * last stripe entry) when that digit is below first's: then the hint is below `first` and stays.
 * The frontier reserve leaves the hint behind, so in a leaf filled at its frontier that is the
 * usual case: one load instead of three.
 */
static ALWAYS_INLINE void hint_lower_by_top_digit(uint64_t *leaf, unsigned first)
{
	STATIC_ASSERT(PTE_HINT_STRIPE_ENTRIES == 3, "the hint's digits 0, 1, 2 are its three entries'");
	pte_t top_entry = leaf[PTE_HINT_STRIPE_FIRST + 2];
	if ((unsigned)((top_entry & PTE_COUNT_STRIPE_MASK) >> PTE_COUNT_STRIPE_SHIFT) < first >> 6)
		return;
	hint_lower(leaf, first);
}

/* The writes of a frontier release: false, nothing changed, when the range is not one unmapped
 * reservation (leaf_entries_clear_checked). */
static ALWAYS_INLINE bool frontier_release_write(struct vmm_context *ctx, const struct spine *p, unsigned first,
					    unsigned last, pte_t after, uint64_t work)
{
	uint64_t *leaf = p->table[0];
	unsigned pages = last - first + 1;
	ctx->backend_work += work + pages;
	if (!leaf_entries_clear_checked(leaf, first, last))
		return false;
	/*
	 * The suffix run [last + 1, 511] becomes [first, 511]: entry 511's tag grows by `pages` (read
	 * before entry last + 1 is cleared, which may be entry 511), the old start's tag goes to 0
	 * (`after`, as read: the clear wrote below it), and entry first, cleared to its stripe, takes
	 * the new length. No tag is masked out first.
	 */
	leaf[PT_ENTRIES - 1] += (pte_t)pages << PTE_FREE_TAG_SHIFT;
	if (last + 1 < PT_ENTRIES - 1)
		leaf[last + 1] = after & ~PTE_FREE_TAG_MASK;
	leaf[first] |= (pte_t)(PT_ENTRIES - first) << PTE_FREE_TAG_SHIFT;
	hint_lower_by_top_digit(leaf, first);
	fit_hints_lower(leaf, first, PT_ENTRIES - first); /* the suffix run from first (first - 1 reserved) */
	frontier_cache_shift(ctx, leaf, p->table[1], p->table[2], (int64_t)pages);
	pte_stripe_field_write(p->table[PT_TOP_LEVEL], ROOT_RELEASE_MAPPED_ENTRY, 1, 0);
	return true;
}

/* The release of leaf entries [first, last] of the path p at the frontier: true when done. */
static ALWAYS_INLINE bool lean_frontier_release(struct vmm_context *ctx, const struct spine *p, unsigned first,
					   unsigned last)
{
	const uint64_t *leaf = p->table[0];
	uint64_t work = 0; /* added once: a table store may alias the counter */
	if (!p->mixed || first == 0) /* (last < 511: the caller's) */
		return false;
	/*
	 * The page after the range starts the leaf's free suffix (its tag is the run's length, which
	 * reaches the end), the page before is reserved, the range starts a reservation (that the rest
	 * is the same reservation, every entry reserved, leaf_entries_clear_checked sees), and the
	 * leaf is the LAST of its tables.
	 */
	pte_t after = leaf[last + 1], head = leaf[first];
	work += 3;
	if ((after & RES_RESERVED) || leaf_tag(after) != PT_ENTRIES - 1 - last || !(leaf[first - 1] & RES_RESERVED) ||
	    (head & (RES_START | RES_RESERVED | PTE_PRESENT)) != (RES_START | RES_RESERVED)) {
		ctx->backend_work += work;
		return false;
	}
	work += 2 * LAST_ENTRIES;
	if (last_read(p->table[1], 1) != p->index[1] || last_read(p->table[2], 2) != p->index[2] ||
	    !leaf_start_before(&work, leaf, first)) {
		ctx->backend_work += work;
		return false;
	}
	return frontier_release_write(ctx, p, first, last, after, work);
}

/* --- inside a leaf table's inner runs -------------------------------------------------------- */

/* A leaf's INNER and INNER2 move from (was1, was2) to (now1, now2): the stripe digits that change
 * are rewritten, and the value cache's copy follows. */
static ALWAYS_INLINE void leaf_inner_store(struct vmm_context *ctx, uint64_t *leaf, uint64_t was1, uint64_t was2,
					   uint64_t now1, uint64_t now2)
{
	if (now1 != was1) {
		stripe_update_fixed(leaf, EXACT_FIELD_FIRST(0, EXACT_INNER), EXACT_VALUE_ENTRIES(0), was1, now1);
		ctx->backend_work += EXACT_VALUE_ENTRIES(0);
	}
	if (now2 != was2) {
		stripe_update_fixed(leaf, EXACT_FIELD_FIRST(0, EXACT_INNER2), EXACT_VALUE_ENTRIES(0),
				    inner2_stored(was2), inner2_stored(now2));
		ctx->backend_work += EXACT_VALUE_ENTRIES(0);
	}
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (c->table[0] == leaf) {
		c->value[0][EXACT_INNER] = now1;
		c->value[0][EXACT_INNER2] = now2;
		c->known[0] |= (1u << EXACT_INNER) | (1u << EXACT_INNER2);
	}
}

/*
 * Whether the leaf's INNER top two stay when its inner runs change by runs all shorter than
 * `longest` (taken out and put in): true when longest is below INNER2 (strictly: a tie with the
 * second would lose it), or, INNER2 not known, below INNER. Each such run is then below the
 * second, or below the first with no second kept, so top2_remove and top2_add leave both as they
 * are, and only the leaf's entries, tags and hint move. The tables above stay too when INNER2 is
 * known (inner_top2_settled's first case, vmm_pt_leaf_runs.h's proof) or when `longest` is below the
 * level-1 table's INNER2 (or its INNER, INNER2 not known): every run that changed is then a run of
 * that table below its top two (settled_above). (vmm_pt_leaf_runs.h's runs_below_top2 is the test.)
 */
/* Every run that changed below the level-1 table t1 is shorter than `longest` (runs_below_top2). */
static ALWAYS_INLINE bool settled_above(struct vmm_context *ctx, const uint64_t *t1, uint64_t inner2, uint64_t longest)
{
	if (inner2 != INNER2_UNKNOWN)
		return true;
	uint64_t second = exact_read(ctx, t1, 1, EXACT_INNER2);
	return second != INNER2_UNKNOWN ? longest < second : longest < exact_read(ctx, t1, 1, EXACT_INNER);
}

/*
 * The mark of `pages` pages from addr, at entry first > 0 of the mixed leaf p->table[0], where an
 * inner run of `length` >= pages pages starts (the entry before reserved, the run ending before
 * entry 511): the caller has seen to all that.
 */
static ALWAYS_INLINE bool inner_reserve_run(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
					    uint64_t pages, unsigned access, unsigned length)
{
	uint64_t *leaf = p->table[0], *t1 = p->table[1];
	unsigned i1 = p->index[1], first = PT_INDEX(0, addr), last = first + (unsigned)pages - 1;
	unsigned b = first + length - 1;
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	MM_ASSERT(p->mixed && first > 0 && (leaf[first - 1] & RES_RESERVED) && !(leaf[first] & RES_RESERVED) &&
			  leaf_tag(leaf[first]) == length && last <= b && b < PT_ENTRIES - 1,
		  "vmm_pt_inner_reserve: entry %u of leaf %p starts no inner run of %llu pages", first, (void *)leaf,
		  (unsigned long long)pages);
#endif
	uint64_t was1 = exact_read(ctx, leaf, 0, EXACT_INNER), was2 = exact_read(ctx, leaf, 0, EXACT_INNER2);
	uint64_t now1 = was1, now2 = was2;
	/*
	 * HST is set already: entry b + 1 (b < 511), reserved after a free page, starts a
	 * reservation in this leaf; so a stay writes no pointer bit.
	 */
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	MM_ASSERT(summary_field(t1[i1]) & SUM_HAS_START, "vmm_pt_inner_reserve: leaf %p has an inner run but no HST",
		  (void *)leaf);
#endif
	bool stay = runs_below_top2(length, was1, was2);
	if (!stay) {
		if (!top2_remove(&now1, &now2, length))
			return false;
		top2_add(&now1, &now2, b - last);
		if (now1 == 0 && leaf_edge_run(leaf, PT_ENTRIES - 1) == 0)
			return false; /* the leaf becomes full: its kind changes */
	}
	leaf_entries_set(leaf, first, last, RES_RESERVED | access_bits(access));
	leaf[first] |= RES_START;
	if (last < b) /* [first, b] becomes [last + 1, b] */
		free_run_cut_head(leaf, last, b, pages);
	unsigned hint = p->leaf_hint; /* as the search read it: nothing moved it since */
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	MM_ASSERT(hint == pte_hint_read(leaf), "vmm_pt_inner_reserve: leaf %p's hint is %u, the search read %u",
		  (void *)leaf, pte_hint_read(leaf), hint);
#endif
	if (hint == first) { /* the hint is at or below the first free entry */
		if (last < b)
			pte_hint_update(leaf, hint, last + 1);
		else
			hint_advance(ctx, leaf, 0, last + 1);
	}
	ctx->backend_work += pages;
	if (stay && settled_above(ctx, t1, was2, length))
		return true;
	leaf_inner_store(ctx, leaf, was1, was2, now1, now2);
	bool had_start = (summary_field(t1[i1]) & SUM_HAS_START) != 0;
	pointer_code_store(t1, i1, now1, SUM_HAS_START);
	if (had_start && inner_top2_settled(ctx, t1, 1, was1, was2, now1, now2))
		return true;
	uint64_t prefix = leaf_edge_run(leaf, 0), suffix = leaf_edge_run(leaf, PT_ENTRIES - 1);
	struct exact was = { SUMMARY_MIXED, had_start, prefix, suffix, was1, was2 };
	struct exact now = { SUMMARY_MIXED, true, prefix, suffix, now1, now2 };
	struct run_delta d = { { length, 0 }, b - last };
	vmm_pt_inner_mark_above(ctx, p, addr, addr + pages * PAGE_SIZE - 1, access, &was, &now, &d);
	return true;
}

bool vmm_pt_inner_reserve(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t pages,
			  unsigned access)
{
	const uint64_t *leaf = p->table[0];
	unsigned first = PT_INDEX(0, addr), last = first + (unsigned)pages - 1;
	ctx->backend_work += 2; /* the entry before, the run's first */
	if (!p->mixed || first == 0 || !(leaf[first - 1] & RES_RESERVED) || (leaf[first] & RES_RESERVED))
		return false;
	unsigned length = leaf_tag(leaf[first]), b = first + length - 1;
	if (length == 0 || b >= PT_ENTRIES - 1 || last > b)
		return false;
	return inner_reserve_run(ctx, p, addr, pages, access, length);
}

/*
 * A pointer (at a level above 0) to a mixed table whose maxrun code is `fit` or more (an inner run
 * of the request's length lies inside: maxrun_fit_code): P, PS, the kind and the code tested.
 */
static ALWAYS_INLINE bool mixed_with_fit(pte_t e, unsigned fit)
{
	const pte_t kind = (pte_t)SUM_KIND_MASK << PTE_SW_FIELD_SHIFT, mixed = (pte_t)SUMMARY_MIXED << PTE_SW_FIELD_SHIFT;
	return (e & (PTE_PRESENT | PTE_LARGE | kind)) == (PTE_PRESENT | mixed) &&
	       ((summary_field(e) >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK) >= fit;
}

enum vm_status vmm_pt_descent_reserve(struct vmm_context *ctx, const struct vmm_region *region, unsigned i3,
				      uint64_t pages, unsigned access, uint64_t *addr)
{
	/* Entries read are counted in `work` and added once (a table store may alias the counter). */
	uint64_t from = region->base, end_last = region->base + region->pages * PAGE_SIZE - 1, work = 1;
	uint64_t base3 = pt_walk_entry_base(PT_TOP_LEVEL, 0, i3);
	unsigned fit = maxrun_fit_code(pages);
	uint64_t *root = pt_table(ctx->pt.root);
	pte_t e3 = root[i3]; /* read again, not passed: a seventh argument takes the stack */
	if (!mixed_with_fit(e3, fit) || base3 < from || base3 + (PT_SPAN_BYTES(3) - 1) > end_last)
		goto declined;
	struct spine p; /* the path, built as it is walked (no SUFFIX: the inner route reads none) */
	p.mixed = true;
	p.table[PT_TOP_LEVEL] = root;
	p.index[PT_TOP_LEVEL] = i3;
	pte_t e = e3;
#pragma GCC unroll 2
	for (unsigned level = PT_TOP_LEVEL - 1; level > 0; level--) { /* the hint's entry, its code */
		uint64_t *t = child_table(e);
		unsigned index = pte_hint_read(t);
		p.table[level] = t;
		p.index[level] = index;
		e = t[index];
		work += 2;
		if (!mixed_with_fit(e, fit))
			goto declined;
	}
	unsigned i2 = p.index[2], i1 = p.index[1];
	uint64_t *leaf = child_table(e);
	unsigned i = pte_hint_read(leaf);
	e = leaf[i];
	work += 2;
	p.table[0] = leaf;
	p.leaf_hint = i;
	uint64_t start = base3 + ((uint64_t)i2 << PT_LEVEL_SHIFT(2)) + ((uint64_t)i1 << PT_LEVEL_SHIFT(1));
	ctx->backend_work += work;
	/*
	 * The entries below the hint are reserved (it is a lower bound of the first free one): a free
	 * entry there starts a run, whose tag is its length. Else the leaf is scanned from its hint.
	 */
	unsigned at = i, scan_from = i;
	if ((e & RES_RESERVED) || leaf_tag(e) < pages) {
		uint64_t reads = 0;
		at = pages >= 2 ? fit_hint_lowest_fit(leaf, pages, &scan_from, &reads) : PT_ENTRIES;
		ctx->backend_work += reads;
	}
	start = at < PT_ENTRIES ? start + (uint64_t)at * PAGE_SIZE : vmm_pt_leaf_lowest_fit(ctx, leaf, start, scan_from, pages);
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	{
		/*
		 * Host test builds: the answer must be the search's (its reads not counted). The search
		 * raises the leaf's fit hints; they are put back, so that host builds keep the hints the
		 * kernel would (a descent that failed to raise them must show in the tests).
		 */
		uint64_t counted = ctx->backend_work;
		unsigned hints[FIT_HINTS];
		for (unsigned k = 0; k < FIT_HINTS; k++)
			hints[k] = fit_hint_read(leaf, k);
		struct vmm_free_run run;
		bool found = vmm_pt_find_free_run(ctx, region, region->base, pages, pages, &run);
		for (unsigned k = 0; k < FIT_HINTS; k++)
			fit_hint_update(leaf, k, fit_hint_read(leaf, k), hints[k]);
		ctx->backend_work = counted;
		MM_ASSERT(found && run.start == start, "vmm_pt_descent_reserve: placed at %llx, the search says %llx",
			  (unsigned long long)start, (unsigned long long)(found ? run.start : 0));
	}
#endif
	*addr = start;
	leaf_hint_keep(ctx, start, leaf, p.table[1]);
	/*
	 * The fit starts a run after a reserved entry (the one before the hint is, or the fit test saw
	 * it) that ends before entry 511 (an inner run of `pages` lies in the leaf: its suffix, the
	 * last run, is not the lowest fit), so it is the inner route's but at entry 0 (a PREFIX).
	 */
	unsigned first = PT_INDEX(0, start);
	if (first == 0 || !inner_reserve_run(ctx, &p, start, pages, access, leaf_tag(leaf[first])))
		path_mark_general(ctx, &p, start, start + pages * PAGE_SIZE - 1, access);
	return VM_OK;
declined:
	ctx->backend_work += work;
	return vmm_pt_reserve_searched(ctx, region, i3, pages, access, addr);
}

/* What an inner release's checks found: the free runs beside the range, the joined run [a, b]. */
struct inner_run {
	unsigned before, after, a, b;
};

/*
 * The checked range cleared (false, nothing changed, when it is not one unmapped reservation:
 * leaf_entries_clear_checked), then its tags, the hints and the root's release-mapped bit.
 */
static ALWAYS_INLINE bool inner_release_clear(struct vmm_context *ctx, uint64_t *leaf, unsigned first,
					      unsigned last, const struct inner_run *r)
{
	ctx->backend_work += last - first + 1;
	if (!leaf_entries_clear_checked(leaf, first, last))
		return false;
	if (r->before)
		free_tag_store(leaf, first - 1, 0);
	if (r->after)
		free_tag_store(leaf, last + 1, 0);
	free_run_tag(leaf, r->a, r->b);
	hint_lower(leaf, first);
	fit_hints_lower(leaf, r->a, r->b - r->a + 1);
	pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, 0);
	return true;
}

/*
 * The checked inner release (r) of leaf entries [first, last] (addr its first page) under t1's
 * entry i1, on a path of mixed tables, with the leaf's top two (was1, was2) as read, when the
 * tables above may move: true when done. The top two are worked out unless `stay` (every run that
 * changes is below them: runs_below_top2).
 */
static ALWAYS_INLINE bool inner_release_above(struct vmm_context *ctx, uint64_t *t1, unsigned i1, uint64_t *leaf,
					      uint64_t addr, unsigned first, unsigned last, const struct inner_run *r,
					      uint64_t was1, uint64_t was2, bool stay)
{
	uint64_t now1 = was1, now2 = was2, joined = r->b - r->a + 1;
	/* (The runs before and after are shorter than the joined one: it leaves them as it is.) */
	if (!stay) {
		if (!top2_remove(&now1, &now2, r->before) || !top2_remove(&now1, &now2, r->after))
			return false;
		top2_add(&now1, &now2, joined);
	}
	if (!inner_release_clear(ctx, leaf, first, last, r))
		return false;
	leaf_inner_store(ctx, leaf, was1, was2, now1, now2);
	/* HST stays: entry b + 1, reserved after a free page, starts a reservation. */
	pointer_code_store(t1, i1, now1, SUM_HAS_START);
	if (inner_top2_settled(ctx, t1, 1, was1, was2, now1, now2))
		return true;
	uint64_t prefix = leaf_edge_run(leaf, 0), suffix = leaf_edge_run(leaf, PT_ENTRIES - 1);
	struct exact was = { SUMMARY_MIXED, true, prefix, suffix, was1, was2 };
	struct exact now = { SUMMARY_MIXED, true, prefix, suffix, now1, now2 };
	struct run_delta d = { { r->before, r->after }, joined };
	vmm_pt_inner_clear_above(ctx, addr, addr + (uint64_t)(last - first + 1) * PAGE_SIZE - 1, &was, &now, &d);
	return true;
}

/*
 * The release of leaf entries [first, last] (addr its first page) under t1's entry i1 inside the
 * leaf's inner runs: true when done. The usual case, every run that changes below the leaf's top
 * two (runs_below_top2) and below the level-1 table's too when the leaf's INNER2 is not known
 * (settled_above), moves nothing above the leaf and is written here; any other goes on in
 * inner_release_above.
 */
static ALWAYS_INLINE bool inner_release(struct vmm_context *ctx, uint64_t *t1, unsigned i1, uint64_t *leaf,
					bool mixed, uint64_t addr, unsigned first, unsigned last)
{
	ctx->backend_work += 2; /* the entries before and after */
	if (!mixed || first == 0)
		return false;
	pte_t after_e = leaf[last + 1], head = leaf[first];
	unsigned before = (unsigned)leaf_edge_run(leaf, first - 1), after = (unsigned)leaf_edge_run(leaf, last + 1);
	struct inner_run r = { before, after, first - before, last + after };
	/*
	 * The joined run keeps a reserved page on either side; the range starts a reservation, ends
	 * reserved (that it is one reservation, every entry reserved, leaf_entries_clear_checked sees
	 * as it clears), and the page after it is free or a start.
	 */
	STATIC_ASSERT(RES_START == RES_RESERVED << 1, "STA is the bit above RES");
	if (r.a == 0 || r.b == PT_ENTRIES - 1 || (head & (RES_START | RES_RESERVED | PTE_PRESENT)) != (RES_START | RES_RESERVED) ||
	    !(leaf[last] & RES_RESERVED) || (after_e & ~(after_e >> 1) & RES_RESERVED))
		return false;
	uint64_t was1 = exact_read(ctx, leaf, 0, EXACT_INNER), was2 = exact_read(ctx, leaf, 0, EXACT_INNER2);
	uint64_t joined = r.b - r.a + 1;
	bool stay = runs_below_top2(joined, was1, was2);
	if (stay && settled_above(ctx, t1, was2, joined))
		return inner_release_clear(ctx, leaf, first, last, &r);
	return inner_release_above(ctx, t1, i1, leaf, addr, first, last, &r, was1, was2, stay);
}

/* --- release: the walk and the choice ----------------------------------------------------------- */

/*
 * The release of leaf entries [first, last] (addr its first page, last < 511) from a point walk to
 * their leaf: at the frontier or inside the inner runs, else the general route.
 */
static NOINLINE enum vm_status release_walked(struct vmm_context *ctx, const struct vmm_region *region,
					      uint64_t addr, uint64_t pages, unsigned first, unsigned last)
{
	struct spine p;
	uint64_t *t = pt_table(ctx->pt.root);
	pte_t path = ~(pte_t)0; /* the and of the path's entries: its kind "mixed" only if all are */
#pragma GCC unroll 3
	for (unsigned level = PT_TOP_LEVEL; level > 0; level--) {
		unsigned i = PT_INDEX(level, addr);
		pte_t e = t[i];
		if ((e & (PTE_PRESENT | PTE_LARGE)) != PTE_PRESENT) /* not pte_is_table (level > 0) */
			return vmm_pt_release_general(ctx, region, addr, pages);
		path &= e;
		p.table[level] = t;
		p.index[level] = i;
		t = child_table(e);
	}
	ctx->backend_work += PT_TOP_LEVEL; /* the path's entries */
	p.table[0] = t;
	p.mixed = (summary_field(path) & SUM_KIND_MASK) == SUMMARY_MIXED; /* kinds are 0, 1, 2: the and is 2 only if all are */
	pte_t after = t[last + 1];
	if (!(after & RES_RESERVED) && leaf_tag(after) == PT_ENTRIES - 1 - last) {
		if (lean_frontier_release(ctx, &p, first, last))
			return VM_OK;
	} else {
		if (inner_release(ctx, p.table[1], p.index[1], t, p.mixed, addr, first, last))
			return VM_OK;
	}
	return vmm_pt_release_general(ctx, region, addr, pages);
}

/*
 * The release of [addr, addr + pages) from the kept tables (leaf and t1, the level-1 table above
 * it) on the inner route; what it declines (nothing changed), the frontier's among it (its joined
 * run reaches the leaf's end), goes to the walk.
 */
static NOINLINE enum vm_status release_kept(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
					    uint64_t pages, uint64_t *leaf, uint64_t *t1)
{
	unsigned first = PT_INDEX(0, addr), last = first + (unsigned)pages - 1, i1 = PT_INDEX(1, addr);
	bool mixed = (summary_field(t1[i1]) & SUM_KIND_MASK) == SUMMARY_MIXED;
	ctx->backend_work += 1; /* the leaf's pointer (counted after it is read: no store between) */
	if (inner_release(ctx, t1, i1, leaf, mixed, addr, first, last))
		return VM_OK;
	return release_walked(ctx, region, addr, pages, first, last);
}

enum vm_status vmm_pt_release_in_leaf(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
				      uint64_t pages)
{
	unsigned first = PT_INDEX(0, addr);
	if (first + pages >= PT_ENTRIES) /* not inside one leaf table short of its last entry */
		return vmm_pt_release_general(ctx, region, addr, pages);
	unsigned last = first + (unsigned)pages - 1;
	/*
	 * The leaf and level-1 tables the last walk kept (the fault lookup's, or the descent's:
	 * leaf_hint_keep) are addr's while no table was freed since (vmm_pt_lookup.c's argument;
	 * a kept leaf's level-1 table is the one of its 1 GiB). They stand in for the walk on the
	 * inner route: the path is all mixed exactly when the leaf's pointer is (a table holding a
	 * mixed one holds free and reserved pages). What that route declines, nothing changed, is
	 * walked (the frontier route needs the whole path). Both are out of line and entered by a
	 * tail call, so that neither pays the other's frame (inlined, the walk cost 14 more per
	 * release from the kept tables, and the other way 18).
	 */
	const struct vmm_pt_leaf_hint *kept = &ctx->pt_caches.leaf_hint;
	if (ALIGN_DOWN(addr, PT_SPAN_BYTES(1)) == kept->base && kept->tables_freed == ctx->pt.tables_freed)
		return release_kept(ctx, region, addr, pages, (uint64_t *)kept->table, (uint64_t *)kept->upper_table);
	return release_walked(ctx, region, addr, pages, first, last);
}
