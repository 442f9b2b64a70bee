/*
 * The page-table backend's point routes: a reserve or release inside one existing leaf table,
 * from one point walk to it (spine_of, vmm_pt_write.h) instead of the range walk. vmm_pt_lean.c's
 * routes take the usual requests first; vmm_pt_reserve.c sends here what they decline.
 * At the frontier only the leaf table's SUFFIX moves (frontier_mark, frontier_release);
 * inside the leaf's inner runs a mark takes the lean inner route (vmm_pt_inner_reserve), a clear
 * inner_clear: the free-run tags (vmm_pt_leaf_tags.h) give the run's ends and the leaf's new
 * values follow without a look, and so do the tables above, which lose and gain the same runs
 * (runs_above, for both); elsewhere the range walk's own visitors (vmm_pt_range.c) run along
 * that path (path_mark, path_clear).
 *
 * Invariants kept: those of vmm_pt_range.c (a reservation's pages, every summary and exact value
 * describing the entries below, the first-free hints); a route that does not apply returns false
 * before it writes anything.
 *
 * Bound: the point-walk routes read no more than the range walk they replace: 3 path entries, the
 * leaf run and the page after it (at most 513, in place of the tally), the leaf's SUFFIX and two
 * LASTs (7) and at most 512 entries looking for another start, then at most what the range walk's
 * clear would read; a release that the clear checking as it goes refuses has read and written its
 * run twice (at most 2 x 511 entries each), and pays again for the checks above before
 * leaf_reservation and the tally (a refused release runs no search, whose share of
 * vmm_pt_work_bound is far larger); the inner clear reads the entries on either side (2) and the
 * leaf's values (4 E(0)), the inner mark the leaf's hint (1) and what vmm_pt_lean.c states for
 * its inner route (2 + 2 E(0) before it declines); above the leaf, each table whose values change
 * has its INNER and INNER2 read and rewritten, its pointer rewritten and the table above's INNER
 * and INNER2 read (runs_above: at most 4 V(t) + 1 + 2 V(t + 1), less than its U(t); V counts a
 * read of INNER or INNER2 with PEND, vmm_pt_summary.c), until one keeps its values, or takes the
 * range walk's upkeep from there; the lean release's way up reads the 2 path entries above the
 * leaf again. Values found in the value cache (vmm_pt.h) are not read again, and not counted.
 */
#include "vmm_pt_write.h"
#include "vmm_pt_leaf_runs.h"

/* --- the frontier -------------------------------------------------------------------------- */

/*
 * Where reservations are usually placed and released: at the start of the free suffix of a leaf
 * table that is the last table with anything reserved on its path (every table on the path is its
 * parent's last entry not wholly free). A reservation marked there, or released there from a
 * reserved page on, changes no run but the free suffix, so every table on the path keeps its
 * pointer and all its values but SUFFIX, which moves by the pages marked or cleared. This is
 * decided from one point walk (3 entries), the LAST of each table above the leaf table (vmm_pt.h:
 * the path is the last one when each LAST is the path's entry), its SUFFIX and the leaf run, before
 * anything is written; otherwise the range walk's visitors do the general upkeep. It reads less than
 * they would, so the bound of vmm_pt_summary.c holds for it.
 */

/* Each table above the leaf table is its parent's last entry not wholly free: its LAST is the path's. */
static bool spine_is_last(struct vmm_context *ctx, struct spine *p)
{
#pragma GCC unroll 2
	for (unsigned level = 1; level < PT_TOP_LEVEL; level++) {
		ctx->backend_work += LAST_ENTRIES;
		if (last_read(p->table[level], level) != p->index[level])
			return false;
	}
	return true;
}

/*
 * Every SUFFIX on the path moves by `grown` pages (negative: shrinks); nothing else changes. The
 * leaf table's is its last tag, written with its entries; above, no LAST moves (the leaf table
 * stays the last entry not wholly free of its table, and so on up), so only the value cache's
 * copies move.
 */
static void spine_shift(struct vmm_context *ctx, const struct spine *p, int64_t grown)
{
	suffix_move(ctx, p->table[0], 0, p->suffix[0], p->suffix[0] + (uint64_t)grown);
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
#pragma GCC unroll 2
	for (unsigned level = 1; level < PT_TOP_LEVEL; level++)
		if (c->table[level] == p->table[level] && (c->known[level] & (1u << EXACT_SUFFIX)))
			c->value[level][EXACT_SUFFIX] += (uint64_t)grown;
}

/*
 * A reservation of [addr, addr + pages) (it starts at addr) at the frontier: from the suffix's first
 * page, short of its end, in a table whose pointer already says it holds a start. True when done.
 */
bool frontier_mark(struct vmm_context *ctx, struct spine *sp, uint64_t addr, uint64_t pages,
		   unsigned first, unsigned last, unsigned access)
{
	struct spine p = *sp;
	uint64_t *leaves = p.table[0];
	if (!p.mixed || first != PT_ENTRIES - p.suffix[0] || last == PT_ENTRIES - 1 ||
	    !(summary_field(p.table[1][p.index[1]]) & SUM_HAS_START) || !spine_is_last(ctx, &p))
		return false;
	/* The suffix run's pages are free (its tags say where it ends): written blind. */
	leaf_entries_set(leaves, first, last, RES_RESERVED | access_bits(access));
	leaves[first] |= RES_START;
	leaf_tags_mark(leaves, first, PT_ENTRIES - 1, first, last); /* the suffix run loses its start */
	ctx->backend_work += pages;
	hint_after_mark(ctx, leaves, 0, addr, addr + pages * PAGE_SIZE - 1);
	spine_shift(ctx, &p, -(int64_t)pages);
	return true;
}

/*
 * The release of [addr, addr + pages) (a reservation, leaf_reservation said or `how` checks) at the frontier: it
 * ends where the suffix begins, with a reserved page before it and another start in its table (so
 * HST stays). True when released.
 */
bool frontier_release(struct vmm_context *ctx, struct spine *p, unsigned first,
		      unsigned last, enum leaf_clear how)
{
	uint64_t *leaves = p->table[0];
	ctx->backend_work++; /* the page before */
	if (!p->mixed)
		return false;
	p->suffix[0] = leaf_edge_run(leaves, PT_ENTRIES - 1); /* (spine_of was not asked for it) */
	if (last + 1 != PT_ENTRIES - p->suffix[0] || first == 0 || !(leaves[first - 1] & RES_RESERVED) ||
	    !spine_is_last(ctx, p) || !start_elsewhere(ctx, leaves, 0, first, last))
		return false;
	if (!leaf_clear(leaves, first, last, how))
		return false;
	leaf_tags_clear(ctx, leaves, first, last);
	hint_lower(leaves, first);
	fit_hints_lower(leaves, first, PT_ENTRIES - first); /* the suffix run from first (first - 1 reserved) */
	spine_shift(ctx, p, (int64_t)(last - first + 1));
	return true;
}

/*
 * A range inside one existing leaf table, away from the frontier: the general upkeep (the range
 * walk's own visitors, mark_leaves and mark_ascend) run along the point walk's path, bottom-up,
 * as the range walk would run them for a range that touches one entry per level.
 */
/*
 * The tables a mark or clear along a path opens: only what a change note reads before it writes
 * (the direction and the count), not the whole of each table_change.
 */
static void path_changes_open(struct table_change *ch, enum change_direction direction)
{
	for (unsigned level = 0; level < PT_LEVELS; level++) {
		ch[level].direction = direction;
		ch[level].count = 0;
	}
}

/* --- inside a leaf table's inner runs, from the free-run tags ------------------------------ */

/*
 * A release away from the frontier usually changes one run inside a mixed leaf table, between
 * reserved pages: it clears a reservation whose joined free run still has a reserved page on
 * either side. The free-run tags (vmm_pt_leaf_tags.h) give the run's ends in one load each, so the
 * change is known before anything is written: the runs on either side leave the leaf's inner
 * runs and their join enters them (top2_remove, top2_add), PREFIX and SUFFIX lie beyond reserved
 * pages and stay, HST stays set: the joined run is followed by a reserved page, and a reserved
 * page after a free one is a reservation's start (the invariant above), so the leaf still holds
 * one. At most 3 tags are written. Reads: the entries before and after (2), the leaf's values (4 E(0) unless cached):
 * within the U(0) of the range walk it replaces. (A mark there is vmm_pt_lean.c's inner route.)
 */

/*
 * The clear of leaf entries [first, last] (one unmapped reservation, last < 511) whose joined free
 * run keeps a reserved page on either side, in a mixed leaf table on an all-mixed path. True when
 * done (entries, tags, hints written), with the leaf's values before and after in *was, *now;
 * false, nothing written, otherwise.
 */
static bool inner_clear(struct vmm_context *ctx, const struct spine *p, unsigned first, unsigned last,
			enum leaf_clear how, struct exact *was, struct exact *now, struct run_delta *d)
{
	uint64_t *leaves = p->table[0];
	ctx->backend_work += 2; /* the entries before and after */
	if (!p->mixed || first == 0)
		return false;
	unsigned before = (unsigned)leaf_edge_run(leaves, first - 1);
	unsigned after = (unsigned)leaf_edge_run(leaves, last + 1);
	unsigned a = first - before, b = last + after;
	if (a == 0 || b == PT_ENTRIES - 1)
		return false;
	*was = entry_exact(ctx, p->table[1][p->index[1]], 1);
	struct exact x = *was;
	if (!top2_remove(&x.inner, &x.inner2, before) || !top2_remove(&x.inner, &x.inner2, after))
		return false;
	top2_add(&x.inner, &x.inner2, b - a + 1);
	*d = (struct run_delta){ { before, after }, b - a + 1 };
	x.has_start = true; /* entry b + 1, reserved after a free page, starts a reservation */
	*now = x;
	unsigned pages = last - first + 1;
	if (!leaf_clear(leaves, first, last, how))
		return false;
	if (before)
		leaf_tag_write(leaves, first - 1, 0);
	if (after)
		leaf_tag_write(leaves, last + 1, 0);
	leaf_run_tag(leaves, a, b);
	ctx->backend_work += pages;
	hint_lower(leaves, first);
	fit_hints_lower(leaves, a, b - a + 1);
	return true;
}

/*
 * Stores the new values of the path's table at `level` (below the root) and its pointer; true when
 * the table above keeps its values, and so everything above (inner_change_below; the root has none).
 */
static ALWAYS_INLINE bool table_store(struct vmm_context *ctx, const struct spine *p, unsigned level,
				      const struct exact *was, const struct exact *now)
{
	uint64_t *up = p->table[level + 1];
	unsigned i = p->index[level + 1];
	if (now->kind == SUMMARY_MIXED)
		exact_write(ctx, p->table[level], level, now, was);
	pte_t old = up[i] & ~PTE_COUNT_STRIPE_MASK;
	pte_t updated = (old & ~PTE_SW_FIELD_MASK) | summary_bits(now);
	if (updated != old)
		pt_slot_write(up, i, updated);
	return level + 1 == PT_TOP_LEVEL || inner_change_below(ctx, up, level + 1, was, now);
}

/*
 * After an inner change whose leaf kept its kind (mixed), PREFIX, SUFFIX and HST but changed the
 * table above (table_store said so): that table's runs not reaching its end lost and gained the
 * very runs the leaf did (they lie between reserved pages), and nothing else of it changed, so
 * its INNER top two take the same delta and its other values stay; and so on up, each table
 * keeping its kind (it holds the leaf's free and reserved pages), PREFIX, SUFFIX and HST. Per
 * table: its INNER and INNER2 read (2 V(t), or the value cache) and the ones that change written
 * (at most 2 V(t), PEND turned off with them), its pointer's maxrun code rewritten if it moves; it
 * stops at the first table above that keeps its values (inner_top2_settled: that table's INNER
 * and INNER2, 2 V(t + 1) read once, for the test and for its own step), within the U(t) of the
 * general upkeep it replaces. A table whose top two were its child's before takes the child's new
 * top two as they are: the same delta to the same values gives the same result. Hints stay: no
 * entry became full, and a cleared entry was not full before. Returns the level whose table must
 * take the general upkeep (PT_LEVELS: none), with out[0], out[1] what its path entry covered
 * before and after: the leaf's change was not that (level 1), or the delta failed there (the
 * longest went and the second is not known). Inline in its two callers, the lean routes' way up.
 */
static ALWAYS_INLINE unsigned runs_above(struct vmm_context *ctx, const struct spine *p, const struct run_delta *d,
					 const struct exact *was, const struct exact *now, struct exact out[2])
{
	if (now->kind != SUMMARY_MIXED || was->kind != SUMMARY_MIXED || was->prefix != now->prefix ||
	    was->suffix != now->suffix || was->has_start != now->has_start) {
		out[0] = *was;
		out[1] = *now;
		return 1;
	}
	uint64_t b1 = was->inner, b2 = was->inner2; /* the child's top two before */
	uint64_t x1, x2; /* the table's */
	uint64_t n1 = 0, n2 = 0; /* its top two after */
	bool same = false; /* the table's top two before are its child's (n1, n2 are its after, then) */
	inner_top2_read(ctx, p->table[1], 1, &x1, &x2);
#pragma GCC unroll 2
	for (unsigned level = 1; level < PT_TOP_LEVEL; level++) {
		uint64_t *t = p->table[level];
		/* A table whose top two were its child's takes the same delta to the same top two. */
		if (!same) {
			n1 = x1, n2 = x2;
			if (!top2_remove(&n1, &n2, d->out[0]) || !top2_remove(&n1, &n2, d->out[1])) {
				if (level == 1) {
					out[0] = *was;
					out[1] = *now;
				} else { /* the child's other values stayed: read them once, here */
					out[1] = entry_exact(ctx, t[p->index[level]], level);
					out[0] = out[1];
					out[0].inner = b1;
					out[0].inner2 = b2;
				}
				return level;
			}
			top2_add(&n1, &n2, d->in);
		}
		inner_top2_store(ctx, t, level, x1, x2, n1, n2);
		pointer_code_store(p->table[level + 1], p->index[level + 1], n1, 0);
		/* The table above keeps its values (inner_top2_settled, its top two read once for both). */
		if (level + 1 == PT_TOP_LEVEL || (x1 == n1 && x2 == n2 && n2 != INNER2_UNKNOWN))
			return PT_LEVELS;
		uint64_t y1, y2;
		inner_top2_read(ctx, p->table[level + 1], level + 1, &y1, &y2);
		same = y1 == x1 && y2 == x2;
		if (!same && runs_below_top2(MAX(x1, n1), y1, y2))
			return PT_LEVELS;
		b1 = x1, b2 = x2, x1 = y1, x2 = y2;
	}
	return PT_LEVELS;
}

/*
 * The general upkeep of a mark along the path (the range walk's visitors, mark_ascend), from the
 * leaf up (level 0: mark_leaves marks the entries; refresh takes the leaf's inner case), or from
 * the table at `level` whose entry on the path covered *was before and *now after (an inner mark
 * that runs_above left there). Out of line, so that the usual mark does not set up its frame.
 */
static NOINLINE void path_mark_upkeep(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
				      uint64_t last, unsigned access, unsigned level, const struct exact *was,
				      const struct exact *now)
{
	struct mark m;
	m.ctx = ctx;
	m.start = addr;
	m.access = access_bits(access);
	m.status = VM_OK;
	for (unsigned l = 0; l < PT_LEVELS; l++)
		m.installed[l] = false;
	m.leaf_all_free = entry_summary(p->table[1][p->index[1]], 1).kind == SUMMARY_ALL_FREE;
	path_changes_open(m.ch, CHANGE_MARKED);
	if (level > 0)
		change_note(&m.ch[level], level, p->index[level], was, now, false);
	else
		mark_leaves(&m, p->table[0], ALIGN_DOWN(addr, PT_SPAN_BYTES(1)), PT_INDEX(0, addr),
			    PT_INDEX(0, last));
	for (unsigned l = level + 1; l < PT_LEVELS; l++) { /* mark_ascend moves the hints below */
		struct pt_walk_entry at = { p->table[l], l, p->index[l], ALIGN_DOWN(addr, PT_SPAN_BYTES(l)),
					    addr, last, false };
		mark_ascend(&m, &at);
	}
	hint_after_mark(ctx, p->table[PT_TOP_LEVEL], PT_TOP_LEVEL, addr, last);
}

void vmm_pt_inner_mark_above(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last,
			     unsigned access, const struct exact *was, const struct exact *now,
			     const struct run_delta *d)
{
	struct exact out[2];
	unsigned level = runs_above(ctx, p, d, was, now, out);
	if (level != PT_LEVELS)
		path_mark_upkeep(ctx, p, addr, last, access, level, &out[0], &out[1]);
}

/*
 * path_mark and path_clear stay out of line: inlined with their leaf upkeep, they would widen the
 * frame that vmm_pt_mark_reserved and vmm_pt_release set up on every call, the frontier's too.
 * A mark inside the leaf's inner runs is the lean route's (vmm_pt_inner_reserve, which keeps the
 * leaf's hint as read here; after the search or the descent it has declined already and declines
 * again: nothing is written), anything else the general upkeep.
 */
NOINLINE void path_mark(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
			uint64_t last, unsigned access)
{
	struct spine q = *p;
	q.leaf_hint = pte_hint_read(p->table[0]);
	ctx->backend_work++; /* the leaf's hint, which the inner route keeps */
	if (!vmm_pt_inner_reserve(ctx, &q, addr, (last - addr) / PAGE_SIZE + 1, access))
		path_mark_upkeep(ctx, p, addr, last, access, 0, NULL, NULL);
}

/* The clear's general upkeep the same way (clear_enter, clear_leaves, clear_ascend). */
static NOINLINE void path_clear_upkeep(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
				       uint64_t last, unsigned level, const struct exact *was,
				       const struct exact *now)
{
	struct clear c;
	c.ctx = ctx;
	c.met_mapped = false;
	path_changes_open(c.ch, CHANGE_CLEARED);
	if (level > 0) {
		change_note(&c.ch[level], level, p->index[level], was, now, false);
	} else {
		/*
		 * clear_enter's hints. Above the leaf table a hint is already at or below an entry that
		 * was not full (no entry below the hint has a free page), so only a full entry's table is
		 * read.
		 */
		hint_lower(p->table[0], PT_INDEX(0, addr));
		for (unsigned l = 1; l < PT_LEVELS; l++)
			if (entry_summary(p->table[l][p->index[l]], l).kind == SUMMARY_FULL)
				hint_lower(p->table[l], p->index[l]);
		clear_leaves(&c, p->table[0], ALIGN_DOWN(addr, PT_SPAN_BYTES(1)), PT_INDEX(0, addr),
			     PT_INDEX(0, last));
	}
	for (unsigned l = level + 1; l < PT_LEVELS; l++) {
		struct pt_walk_entry at = { p->table[l], l, p->index[l], ALIGN_DOWN(addr, PT_SPAN_BYTES(l)),
					    addr, last, false };
		clear_ascend(&c, &at);
	}
}

/* The tables above a clear inside a leaf's inner runs, on the path p: vmm_pt_inner_clear_above. */
static ALWAYS_INLINE void inner_clear_above(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
					    uint64_t last, const struct exact *was, const struct exact *now,
					    const struct run_delta *d)
{
	struct exact out[2];
	unsigned level = runs_above(ctx, p, d, was, now, out);
	if (level != PT_LEVELS)
		path_clear_upkeep(ctx, p, addr, last, level, &out[0], &out[1]);
}

/*
 * The path above the leaf is walked here, inline (2 entries: the root's and the level-2 table's),
 * so that the lean release passes it in no structure. Only the tables above the leaf are set:
 * the upkeep above reads no other (path_clear_upkeep from a level above 0).
 */
void vmm_pt_inner_clear_above(struct vmm_context *ctx, uint64_t addr, uint64_t last, const struct exact *was,
			      const struct exact *now, const struct run_delta *d)
{
	struct spine p;
	uint64_t *t = pt_table(ctx->pt.root);
#pragma GCC unroll 2
	for (unsigned level = PT_TOP_LEVEL; level > 1; level--) {
		p.table[level] = t;
		p.index[level] = PT_INDEX(level, addr);
		t = child_table(t[p.index[level]]);
	}
	p.table[1] = t;
	p.index[1] = PT_INDEX(1, addr);
	p.table[0] = NULL;
	ctx->backend_work += PT_TOP_LEVEL - 1; /* the path's entries above level 1, read again */
	inner_clear_above(ctx, &p, addr, last, was, now, d);
}

/*
 * The clear of such a range: in the leaf's inner runs, else as the range walk clears it. Checking
 * while it clears (LEAF_CLEAR_CHECKING), it takes only the inner route: false, nothing changed,
 * when that route does not apply or the entries are not one unmapped reservation.
 */
NOINLINE bool path_clear(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
			 uint64_t last, enum leaf_clear how)
{
	struct exact was, now;
	struct run_delta d;
	bool inner = inner_clear(ctx, p, PT_INDEX(0, addr), PT_INDEX(0, last), how, &was, &now, &d);
	if (inner && table_store(ctx, p, 0, &was, &now))
		return true; /* the path is all mixed: no hint above moves */
	if (!inner && how == LEAF_CLEAR_CHECKING)
		return false;
	if (inner)
		inner_clear_above(ctx, p, addr, last, &was, &now, &d);
	else
		path_clear_upkeep(ctx, p, addr, last, 0, NULL, NULL);
	return true;
}
