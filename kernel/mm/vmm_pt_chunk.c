/*
 * The page-table backend's chunk routes: a reservation that is exactly one aligned 2 MiB chunk (as
 * a large-page mapping's) at the frontier of 2 MiB chunks takes one point walk to its entry
 * (chunk_spine_walk) instead of the range walk: there only T1's LAST, T1's and T2's inner top two
 * and their pointers' HST and maxrun code move (chunk_frontier_mark, chunk_frontier_release:
 * frontier_values_move writes each from the value it replaces). Any other chunk (elsewhere, or
 * 1 GiB) is the range walk's (vmm_pt_range.c: mark_entry's chunk branch), as any range. The free
 * run a frontier mark leaves before its chunk (the gap up to the 2 MiB boundary) goes into T1's
 * and T2's inner top two as their pending run (vmm_pt.h's PEND): the mark turns PEND on and the
 * release off, one entry each (and the run's length when it differs from the one left there),
 * where storing it in INNER and INNER2 rewrote up to four values of 7 and 10 entries each way.
 * reserve_lowest of one 2 MiB chunk at 2 MiB alignment finds the frontier chunk from T2's SUFFIX
 * (its chain of LASTs), without the search (reserve_chunk_frontier).
 *
 * Invariants kept: those of vmm_pt_range.c; a route that does not apply returns false before it
 * writes anything, and its request takes the range walk.
 *
 * Bound: the chunk routes read the path (3), T1's and T2's values (at most 4 x 11 + 4 x 14, PEND
 * with them), the entry before the chunk and its SUFFIX (1 + 4), at most 2 x 512 entries looking
 * for other starts: less than one U(1) + U(2) of the range walk's upkeep, which they replace (or,
 * declined, precede). Values found in the value cache (vmm_pt.h) are not read again, and not counted.
 */
#include "vmm_pt_write.h"

/*
 * A range that is exactly one aligned chunk of an entry at `at` >= 1 whose tables above exist: the
 * path to that entry (p->table and p->index from PT_TOP_LEVEL down to `at`), from one point walk.
 */
static ALWAYS_INLINE bool chunk_spine_walk_at(struct vmm_context *ctx, uint64_t addr, unsigned at,
					       struct spine *p)
{
	uint64_t *t = pt_table(ctx->pt.root);
	for (unsigned l = PT_TOP_LEVEL; l > at; l--) {
		unsigned i = PT_INDEX(l, addr);
		pte_t e = t[i];
		ctx->backend_work++;
		if (!pte_is_table(e, l))
			return false;
		p->table[l] = t;
		p->index[l] = i;
		t = child_table(e);
	}
	p->table[at] = t;
	p->index[at] = PT_INDEX(at, addr);
	return true;
}

/* chunk_spine_walk_at level 1 when [addr, addr + pages) is one aligned 2 MiB chunk. */
static ALWAYS_INLINE bool chunk_spine_walk(struct vmm_context *ctx, uint64_t addr, uint64_t pages, struct spine *p)
{
	return pages == PT_SPAN_PAGES(1) && IS_ALIGNED(addr, PT_SPAN_BYTES(1)) && chunk_spine_walk_at(ctx, addr, 1, p);
}

/*
 * The frontier of 2 MiB chunks: a chunk mark at entry j of a level-1 table T1 whose free suffix
 * covers entries j.. (not its last), T1 being the last entry of its level-2 table T2 that is not
 * wholly free; or, for a release, the chunk being T1's last entry not free, the entry before it a
 * table or chunk mark that is not free. Then the free pages just before the chunk (`before`: the
 * rest of T1's suffix, or the suffix of the entry before) lie between a reserved page and the
 * chunk in both T1 and T2: a mark turns them from part of both tables' suffixes into one inner
 * run of each (top2_add), a release back (top2_remove; when the longest goes and the second is
 * not known, the general path measures). PREFIX stays (a reserved page lies before the chunk),
 * both tables stay mixed with a free last page (j is not T1's last entry), HST is set by a mark
 * and after a release kept where another start is (start_elsewhere). So what moves is known
 * before anything is written: T1's LAST (j after a mark, j - 1 after a release: the entry before
 * is not free), the INNER top two of both, and their pointers' HST and maxrun code; each is
 * written from the value it replaces (frontier_values_move), nothing else is read. T1's hint moves
 * only when no free page lies before the chunk: else the hint is already below it.
 */
struct chunk_frontier {
	uint64_t *t1, *t2, *root;
	unsigned j, i2, i3;
	unsigned last1;   /* T1's LAST */
	uint64_t suffix1; /* T1's SUFFIX */
};

/*
 * T1 and T2 (on the path p) mixed, T1 the last entry of T2 that is not wholly free, j not T1's
 * last entry: f filled. T1's SUFFIX is the part of T2's that lies in it (T2's LAST is T1).
 */
static ALWAYS_INLINE bool chunk_frontier_of(struct vmm_context *ctx, const struct spine *p,
					     struct chunk_frontier *f)
{
	f->t1 = p->table[1];
	f->t2 = p->table[2];
	f->root = p->table[3];
	f->j = p->index[1];
	f->i2 = p->index[2];
	f->i3 = p->index[3];
	pte_t e1 = f->t2[f->i2], e2 = f->root[f->i3];
	if ((summary_field(e1) & SUM_KIND_MASK) != SUMMARY_MIXED ||
	    (summary_field(e2) & SUM_KIND_MASK) != SUMMARY_MIXED || f->j == PT_ENTRIES - 1)
		return false;
	uint64_t suffix2 = exact_read(ctx, f->t2, 2, EXACT_SUFFIX);
	if (f->i2 != last_of_suffix(suffix2, 2))
		return false;
	f->suffix1 = suffix2 - (uint64_t)(PT_ENTRIES - 1 - f->i2) * PT_SPAN_PAGES(2);
	f->last1 = last_of_suffix(f->suffix1, 1);
	return true;
}

/*
 * INNER, INNER2 and PEND of a mixed table at `level` (1 or 2), through the value cache (all three
 * there: one test); PEND in top2[2].
 */
static ALWAYS_INLINE void frontier_inner_read(struct vmm_context *ctx, const uint64_t *table, unsigned level,
					  uint64_t top2[3])
{
	const struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	unsigned all = (1u << EXACT_INNER) | (1u << EXACT_INNER2) | PEND_KNOWN;
	if (c->table[level] == table && (c->known[level] & all) == all) {
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG) /* host test builds check each against the stripe */
		(void)exact_read(ctx, table, level, EXACT_INNER);
		(void)exact_read(ctx, table, level, EXACT_INNER2);
		(void)pend_get(ctx, table, level);
#endif
		top2[0] = c->value[level][EXACT_INNER];
		top2[1] = c->value[level][EXACT_INNER2];
		top2[2] = c->pend[level];
		return;
	}
	top2[0] = exact_read(ctx, table, level, EXACT_INNER);
	top2[1] = exact_read(ctx, table, level, EXACT_INNER2);
	top2[2] = pend_get(ctx, table, level);
}

/*
 * The values of the frontier's table at `level` (T1: 1, T2: 2) move: its INNER top two read `now`
 * after, stored as INNER from inner_was to inner_now and INNER2 from inner2_was to inner2_now
 * (values; each written only where it differs), its PEND from pend_was to pend_now, its SUFFIX to
 * `suffix` with its LAST from last_was to last_now; in its stripe and the value cache together
 * (as exact_write would write them; PREFIX stays; the copy then holds PEND too). Its pointer up[ui] takes HST `has_start` and
 * the maxrun code of the new INNER (kind, PFX and SFX stay). The callers pass constants for what
 * their route never moves, so each write not needed folds away.
 */
static ALWAYS_INLINE void frontier_values_move(struct vmm_context *ctx, uint64_t *table, unsigned level,
					       const uint64_t now[2], uint64_t inner_was, uint64_t inner_now,
					       uint64_t inner2_was, uint64_t inner2_now, uint64_t pend_was,
					       uint64_t pend_now, unsigned last_was, unsigned last_now, uint64_t suffix,
					       uint64_t *up, unsigned ui, bool has_start)
{
	uint64_t *work = &ctx->backend_work;
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	/* frontier_inner_read left the table in its level's copy (nothing read since displaces it). */
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	MM_ASSERT(c->table[level] == table, "frontier_values_move: table %p is not level %u's copy", (void *)table,
		  level);
#endif
	c->value[level][EXACT_SUFFIX] = suffix;
	c->value[level][EXACT_INNER] = now[0];
	c->value[level][EXACT_INNER2] = now[1];
	c->pend[level] = pend_now;
	c->known[level] |= (1u << EXACT_SUFFIX) | (1u << EXACT_INNER) | (1u << EXACT_INNER2) | PEND_KNOWN;
	if (last_was != last_now) {
		*work += LAST_ENTRIES;
		stripe_update_fixed(table, EXACT_FIELD_FIRST(level, EXACT_SUFFIX), LAST_ENTRIES, last_was, last_now);
	}
	if ((pend_was ^ pend_now) & (PEND_LIMIT - 1)) { /* PEND's length */
		*work += PEND_ENTRIES;
		stripe_update_fixed(table, PEND_FIRST(level), PEND_ENTRIES, pend_was & (PEND_LIMIT - 1),
				    pend_now & (PEND_LIMIT - 1));
	}
	if ((pend_was ^ pend_now) & PEND_ON) { /* PEND's on digit */
		*work += 1;
		table[PEND_ON_ENTRY(level)] ^= (pte_t)1 << PTE_COUNT_STRIPE_SHIFT;
	}
	if (inner_was != inner_now) {
		*work += EXACT_VALUE_ENTRIES(level);
		stripe_update_fixed(table, EXACT_FIELD_FIRST(level, EXACT_INNER), EXACT_VALUE_ENTRIES(level),
				    inner_was, inner_now);
	}
	if (inner2_was != inner2_now) {
		*work += EXACT_VALUE_ENTRIES(level);
		stripe_update_fixed(table, EXACT_FIELD_FIRST(level, EXACT_INNER2), EXACT_VALUE_ENTRIES(level),
				    inner2_stored(inner2_was), inner2_stored(inner2_now));
	}
	pte_t moved = (pte_t)(SUM_HAS_START | SUM_MAXRUN_MASK << SUM_MAXRUN_SHIFT) << PTE_SW_FIELD_SHIFT;
	pte_t bits = (pte_t)((has_start ? SUM_HAS_START : 0) | maxrun_code(now[0]) << SUM_MAXRUN_SHIFT)
		     << PTE_SW_FIELD_SHIFT;
	up[ui] ^= (up[ui] & moved) ^ bits; /* a pointer stays used: no count to keep (pt_slot_write) */
}

/*
 * How a frontier mark or release moves one table's INNER runs (the run `before` between the last
 * reserved page and the chunk goes in or out), decided from what it reads (frontier_inner_read).
 */
enum inner_route {
	INNER_STAYS,   /* before is 0: nothing moves (a pending run stays: the values read the same) */
	INNER_STORED,  /* no run pending: INNER and INNER2 stored (top2_add, top2_remove) */
	INNER_PENDING, /* the run turns PEND on (mark), or was PEND and turns it off (release) */
	INNER_GENERAL, /* none of these: the general path stores the values whole (exact_write) */
};

/*
 * A mark: the run `before` joins the INNER runs of a table that reads v (INNER, INNER2, PEND's
 * word). With none pending and before shorter than PEND_LIMIT it turns PEND on: INNER stays
 * stored and INNER2 is stored unknown, both reading as PEND's rule says (vmm_pt.h); a longer one
 * is stored (top2_add). now: what they read after.
 */
static ALWAYS_INLINE enum inner_route inner_mark_route(const uint64_t v[3], uint64_t before, uint64_t now[2])
{
	now[0] = v[0];
	now[1] = v[1];
	if (before == 0)
		return INNER_STAYS;
	if (v[2] & PEND_ON)
		return INNER_GENERAL;
	if (before >= PEND_LIMIT) {
		top2_add(&now[0], &now[1], before);
		return INNER_STORED;
	}
	now[0] = MAX(v[0], before);
	now[1] = before > v[0] ? v[0] : INNER2_UNKNOWN;
	return INNER_PENDING;
}

/*
 * A release: the run `before` leaves the INNER runs of a table that reads v. When it is the
 * pending run, PEND turns off and the stored INNER r reads alone: v[0] = max(r, before), so r =
 * v[0] when before is shorter, else the exact INNER2 (r < before); INNER2 stays stored unknown.
 * With none pending, both are stored (top2_remove). now: what they read after.
 */
static ALWAYS_INLINE enum inner_route inner_release_route(const uint64_t v[3], uint64_t before, uint64_t now[2])
{
	now[0] = v[0];
	now[1] = v[1];
	if (before == 0)
		return INNER_STAYS;
	uint64_t pending = pend_run(v[2]);
	if (pending == 0)
		return top2_remove(&now[0], &now[1], before) ? INNER_STORED : INNER_GENERAL;
	if (pending != before)
		return INNER_GENERAL;
	if (before < v[0])
		now[0] = v[0];
	else if (v[1] != INNER2_UNKNOWN && v[1] < before)
		now[0] = v[1];
	else
		return INNER_GENERAL;
	now[1] = INNER2_UNKNOWN;
	return INNER_PENDING;
}

/*
 * The moves of one table for its route (frontier_values_move); a mark when `mark`. A mark turning
 * PEND on writes its length only when the one left there differs, and INNER2 unknown only when it
 * was known (after the first such mark in a table, neither).
 */
static ALWAYS_INLINE void frontier_table_move(struct vmm_context *ctx, uint64_t *table, unsigned level,
					      enum inner_route route, bool mark, const uint64_t v[3],
					      const uint64_t now[2], uint64_t before, unsigned last_was,
					      unsigned last_now, uint64_t suffix, uint64_t *up, unsigned ui,
					      bool has_start)
{
	if (route == INNER_STORED)
		frontier_values_move(ctx, table, level, now, v[0], now[0], v[1], now[1], v[2], v[2], last_was,
				     last_now, suffix, up, ui, has_start);
	else if (route == INNER_STAYS)
		frontier_values_move(ctx, table, level, now, 0, 0, 0, 0, v[2], v[2], last_was, last_now, suffix, up,
				     ui, has_start);
	else if (mark)
		frontier_values_move(ctx, table, level, now, 0, 0, v[1], INNER2_UNKNOWN, v[2], before | PEND_ON,
				     last_was, last_now, suffix, up, ui, has_start);
	else
		frontier_values_move(ctx, table, level, now, 0, 0, 0, 0, v[2], v[2] & ~PEND_ON, last_was, last_now,
				     suffix, up, ui, has_start);
}

/*
 * A mark of the free chunk at the frontier (the caller checked the entry is free). True when done.
 * Inline in both callers: reserve_chunk_frontier's path is the usual one.
 */
static ALWAYS_INLINE bool chunk_frontier_mark(struct vmm_context *ctx, const struct chunk_frontier *f, uint64_t addr,
				uint64_t last, pte_t now)
{
	uint64_t after = (uint64_t)(PT_ENTRIES - f->j) * PT_SPAN_PAGES(1); /* the chunk and what follows */
	if (f->j == PT_ENTRIES - 1 || f->suffix1 < after)
		return false;
	uint64_t before = f->suffix1 - after;
	uint64_t v1[3], v2[3], now1[2], now2[2];
	frontier_inner_read(ctx, f->t1, 1, v1);
	frontier_inner_read(ctx, f->t2, 2, v2);
	enum inner_route r1 = inner_mark_route(v1, before, now1), r2 = inner_mark_route(v2, before, now2);
	if (r1 == INNER_GENERAL || r2 == INNER_GENERAL)
		return false;
	pt_slot_write(f->t1, f->j, now);
	ctx->backend_work += PT_LEVELS - 1; /* the path's entries */
	uint64_t suffix1 = after - PT_SPAN_PAGES(1);
	frontier_table_move(ctx, f->t1, 1, r1, true, v1, now1, before, f->last1, f->j, suffix1, f->t2, f->i2, true);
	frontier_table_move(ctx, f->t2, 2, r2, true, v2, now2, before, f->i2, f->i2,
			    (uint64_t)(PT_ENTRIES - 1 - f->i2) * PT_SPAN_PAGES(2) + suffix1, f->root, f->i3, true);
	if (before == 0) /* else a free page before the chunk keeps T1's hint below it */
		hint_after_mark(ctx, f->t1, 1, addr, last);
	return true;
}

/*
 * Any reservation start in entries [0, end) of a table at `level` (at most 512 read), from the
 * nearest: the frontier routes ask about the entries before T1's chunk and before T2's T1, all
 * after them being free (the suffix), and the starts nearest the frontier are the newest.
 */
static ALWAYS_INLINE bool start_before(struct vmm_context *ctx, const uint64_t *table, unsigned level, unsigned end)
{
	for (unsigned k = end; k-- > 0;) {
		ctx->backend_work++;
		if (entry_summary(table[k], level).has_start)
			return true;
	}
	return false;
}

/*
 * A release of the chunk mark e (a reservation start) at the frontier: the page after it is free
 * (T1's suffix starts there), so the chunk is exactly one reservation. True when done.
 */
static bool chunk_frontier_release(struct vmm_context *ctx, const struct spine *p, pte_t e)
{
	struct chunk_frontier f;
	if (!chunk_frontier_of(ctx, p, &f) || f.j == 0 ||
	    f.suffix1 != (uint64_t)(PT_ENTRIES - 1 - f.j) * PT_SPAN_PAGES(1))
		return false;
	pte_t prev = f.t1[f.j - 1];
	ctx->backend_work++;
	struct summary ps = entry_summary(prev, 1);
	if (ps.kind == SUMMARY_ALL_FREE)
		return false;
	uint64_t before = ps.kind == SUMMARY_MIXED && ps.free_suffix ?
				  exact_read(ctx, child_table(prev), 0, EXACT_SUFFIX) : 0;
	uint64_t v1[3], v2[3], now1[2], now2[2];
	frontier_inner_read(ctx, f.t1, 1, v1);
	frontier_inner_read(ctx, f.t2, 2, v2);
	enum inner_route r1 = inner_release_route(v1, before, now1), r2 = inner_release_route(v2, before, now2);
	if (r1 == INNER_GENERAL || r2 == INNER_GENERAL)
		return false;
	bool start1 = ps.has_start || start_before(ctx, f.t1, 1, f.j - 1); /* the entry before first */
	bool start2 = start1 || start_before(ctx, f.t2, 2, f.i2);
	pt_slot_write(f.t1, f.j, (e & ~PTE_COUNT_STRIPE_MASK) & ~RES_BITS);
	ctx->backend_work += PT_LEVELS - 1;
	uint64_t suffix1 = f.suffix1 + PT_SPAN_PAGES(1) + before;
	frontier_table_move(ctx, f.t1, 1, r1, false, v1, now1, before, f.j, f.j - 1, suffix1, f.t2, f.i2, start1);
	frontier_table_move(ctx, f.t2, 2, r2, false, v2, now2, before, f.i2, f.i2,
			    (uint64_t)(PT_ENTRIES - 1 - f.i2) * PT_SPAN_PAGES(2) + suffix1, f.root, f.i3, start2);
	if (before == 0) /* else the free page before the chunk keeps T1's hint below it */
		hint_lower(f.t1, f.j);
	pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, pte_is_present(e));
	return true;
}

/* Marks a free chunk (chunk_spine_walk) at the frontier; false, nothing written, otherwise. */
static ALWAYS_INLINE bool chunk_mark(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last,
				     unsigned access)
{
	pte_t e = p->table[1][p->index[1]] & ~PTE_COUNT_STRIPE_MASK;
	if (pte_is_used(e))
		return false;
	struct chunk_frontier f;
	return chunk_frontier_of(ctx, p, &f) &&
	       chunk_frontier_mark(ctx, &f, addr, last, e | RES_RESERVED | access_bits(access) | RES_START);
}

/*
 * Releases a chunk (chunk_spine_walk) at the frontier when its entry is a chunk mark with a start
 * (chunk_frontier_release: the page after it is free, so it is exactly one reservation). False,
 * nothing changed, otherwise.
 */
static ALWAYS_INLINE bool chunk_release(struct vmm_context *ctx, const struct spine *p)
{
	pte_t e = p->table[1][p->index[1]] & ~PTE_COUNT_STRIPE_MASK;
	ctx->backend_work++;
	if (pte_is_table(e, 1) || !(e & RES_RESERVED) || !(e & RES_START))
		return false;
	return chunk_frontier_release(ctx, p, e);
}

bool chunk_reserve(struct vmm_context *ctx, uint64_t addr, uint64_t pages, unsigned access)
{
	struct spine p;
	return chunk_spine_walk(ctx, addr, pages, &p) && chunk_mark(ctx, &p, addr, addr + pages * PAGE_SIZE - 1, access);
}

enum vm_status vmm_pt_release_chunk(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
				    uint64_t pages)
{
	struct spine p;
	if (chunk_spine_walk(ctx, addr, pages, &p) && chunk_release(ctx, &p))
		return VM_OK;
	return release_tallied(ctx, region, addr, pages);
}

/*
 * A reservation of one 2 MiB chunk at 2 MiB alignment placed at the frontier of 2 MiB chunks, when
 * the root's first entry with a free page has no inner run of `padded` pages (its maxrun code
 * says so: search_narrow's first test) and its free suffix holds them: the lowest fit is that
 * suffix, which starts in the level-1 table T1 that ends its chain of LASTs (T2's LAST, then
 * T1's LAST and the leaf there: T2's SUFFIX, suffix_derived); the chunk is its first whole free
 * entry j, marked by chunk_frontier_mark from this path (else declined), without the
 * search's walk. Reads: the root's hint and entry (4), T2's SUFFIX (in the value cache, else two
 * LASTs and their entries (8) and a leaf's last entry (1)), as the search reads on the same path.
 * False, nothing written, when it is not that.
 */
static ALWAYS_INLINE bool reserve_chunk_frontier(struct vmm_context *ctx, const struct vmm_region *region,
						  uint64_t padded, unsigned access, uint64_t *addr)
{
	uint64_t from = region->base, end_last = region->base + region->pages * PAGE_SIZE - 1;
	uint64_t *root = pt_table(ctx->pt.root);
	unsigned i3 = MAX(PT_INDEX(PT_TOP_LEVEL, from), pte_hint_read(root));
	pte_t e3 = root[i3];
	uint64_t base3 = pt_walk_entry_base(PT_TOP_LEVEL, 0, i3);
	unsigned mixed_end = SUMMARY_MIXED | SUM_FREE_SUFFIX;
	ctx->backend_work += 2;
	if (!pte_is_table(e3, 3) || (summary_field(e3) & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) != mixed_end ||
	    base3 < from || base3 + (PT_SPAN_BYTES(3) - 1) > end_last ||
	    ((summary_field(e3) >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK) >= maxrun_code(padded))
		return false;
	/* T2's SUFFIX (from the value cache, or its chain of LASTs down to a leaf's last tag) ends it. */
	uint64_t *t2 = child_table(e3);
	uint64_t suffix = exact_read(ctx, t2, 2, EXACT_SUFFIX);
	unsigned i2 = last_of_suffix(suffix, 2);
	pte_t e2 = t2[i2];
	if (!pte_is_table(e2, 2) || (summary_field(e2) & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) != mixed_end ||
	    suffix < padded)
		return false;
	uint64_t *t1 = child_table(e2);
	uint64_t t1_suffix = suffix - (uint64_t)(PT_ENTRIES - 1 - i2) * PT_SPAN_PAGES(2);
	unsigned l1 = last_of_suffix(t1_suffix, 1);
	/* The suffix starts in T1 (T2's LAST) at page 512^2 - t1_suffix; the chunk at the next 2 MiB. */
	uint64_t start_page = PT_SPAN_PAGES(2) - t1_suffix;
	unsigned j = (unsigned)((start_page + PT_SPAN_PAGES(1) - 1) / PT_SPAN_PAGES(1));
	if (j >= PT_ENTRIES)
		return false;
	pte_t e = t1[j] & ~PTE_COUNT_STRIPE_MASK;
	if (pte_is_used(e))
		return false;
	pte_t now = e | RES_RESERVED | access_bits(access) | RES_START;
	uint64_t chunk = base3 + ((uint64_t)i2 << PT_LEVEL_SHIFT(2)) + ((uint64_t)j << PT_LEVEL_SHIFT(1));
	uint64_t chunk_last = chunk + PT_SPAN_BYTES(1) - 1;
	*addr = chunk;
	/* The path's reads above are chunk_frontier_of's: T2's LAST is T1, whose SUFFIX is t1_suffix. */
	struct chunk_frontier f = { t1, t2, root, j, i2, i3, l1, t1_suffix };
	return chunk_frontier_mark(ctx, &f, chunk, chunk_last, now);
}

enum vm_status vmm_pt_reserve_chunk(struct vmm_context *ctx, const struct vmm_region *region, unsigned access,
				    uint64_t *addr)
{
	if (reserve_chunk_frontier(ctx, region, 2 * PT_SPAN_PAGES(1) - 1, access, addr))
		return VM_OK;
	return reserve_placed(ctx, region, PT_SPAN_PAGES(1), PT_SPAN_PAGES(1), access, addr);
}
