/*
 * The page-table backend's point routes: a reserve or release inside one existing leaf table that
 * vmm_pt_lean.c's routes declined (vmm_pt_reserve.c sends it here), from one point walk to it
 * (spine_of, vmm_pt_write.h) instead of the range walk. A mark first tries the lean inner route
 * (vmm_pt_inner_reserve); then the range walk's own visitors (vmm_pt_range.c) run along that path
 * (path_mark, path_clear), whose upkeep takes the frontier's and the inner runs' changes by its
 * own shortcuts (vmm_pt_summary.c's refresh). Above a lean inner change, the tables lose and gain
 * the same runs (runs_above: vmm_pt_inner_mark_above, vmm_pt_inner_clear_above).
 *
 * Invariants kept: those of vmm_pt_range.c (a reservation's pages, every summary and exact value
 * describing the entries below, the first-free hints).
 *
 * Bound: the point-walk routes read no more than the range walk they replace: 3 path entries,
 * then what the range walk's upkeep reads for a range that touches one entry per level; a mark
 * reads the leaf's hint (1) and what vmm_pt_lean.c states for its inner route (2 + 2 E(0) before
 * it declines). Above a lean inner change, each table whose values change has its INNER and
 * INNER2 read and rewritten, its pointer rewritten and the table above's INNER and INNER2 read
 * (runs_above: at most 4 V(t) + 1 + 2 V(t + 1), less than its U(t); V counts a read of INNER or
 * INNER2 with PEND, vmm_pt_summary.c), until one keeps its values, or takes the range walk's
 * upkeep from there; the lean release's way up reads the 2 path entries above the leaf again.
 * Values found in the value cache (vmm_pt.h) are not read again, and not counted.
 */
#include "vmm_pt_write.h"
#include "vmm_pt_leaf_runs.h"

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

/* --- above a change inside a leaf table's inner runs ---------------------------------------- */

/*
 * After an inner change whose leaf kept its kind (mixed), PREFIX, SUFFIX and HST but changed the
 * table above (the lean route found so): that table's runs not reaching its end lost and gained the
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
 * leaf's hint as read here), anything else the general upkeep (path_mark_general: what a caller
 * whose inner route declined calls, so that the route is not tried twice).
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

NOINLINE void path_mark_general(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
				uint64_t last, unsigned access)
{
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

/* The clear of such a range, as the range walk clears it (the caller checked it is one reservation). */
NOINLINE void path_clear(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last)
{
	path_clear_upkeep(ctx, p, addr, last, 0, NULL, NULL);
}
