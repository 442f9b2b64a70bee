/*
 * The page-table backend's upkeep of a table of 4 KiB entries after one change (a run of pages
 * marked or cleared; encoding in vmm_pt.h, the upkeep's argument and bound in vmm_pt_summary.c):
 * with the free pages next to the change (read from the free-run tags by the write that made it,
 * vmm_pt_leaf_tags.h, and carried in table_change.n), when the change lies inside
 * the table's inner runs, its new INNER top two from one run out and one or two in; and whether
 * such a change leaves the table above as it was (inner_change_below, inner_top2_settled); and the
 * reads and writes of a table's INNER top two alone, for the tables above such a change, which
 * lose and gain the same runs (vmm_pt_spine.c's runs_above). Forced inline in its users,
 * vmm_pt_summary.c's refresh and vmm_pt_spine.c's leaf paths.
 */
#ifndef PAGESCOPE_MM_VMM_PT_LEAF_RUNS_H
#define PAGESCOPE_MM_VMM_PT_LEAF_RUNS_H

#include "vmm_pt.h"

/*
 * The one change to table `t` (at `level` >= 1) is an entry whose subtree stayed mixed with the same
 * PREFIX, SUFFIX and starts, and either kept its INNER and a known INNER2, or has a longest inner
 * run, before and after, shorter than the table's INNER2 (or, INNER2 not known, than its INNER):
 * then only runs below the table's top two changed, so none of its values and not its pointer.
 * True when so (no value read in the first case, two in the second).
 *
 * The first case: let x1 >= x2 be the entry's INNER and INNER2, the top two of its runs not
 * reaching its end, P its prefix run among them. The table's runs include the entry's runs but
 * P, and the run through P (at least P long, unchanged: PREFIX and the entries before stay). If
 * P < x2, the entry's other runs have the top two x1, x2; else the other of x1, x2 and the run
 * through P are two runs of at least x2. Either way the table holds two unchanged runs of at
 * least x2, and every run of the entry that changed is at most x2 (the top two stayed), so the
 * table's top two values, hence INNER and INNER2, stay.
 */
static ALWAYS_INLINE bool inner_top2_settled(struct vmm_context *ctx, const uint64_t *t, unsigned level,
					      uint64_t b1, uint64_t b2, uint64_t a1, uint64_t a2)
{
	if (b1 == a1 && b2 == a2 && a2 != INNER2_UNKNOWN)
		return true;
	uint64_t longest = MAX(b1, a1);
	uint64_t inner2 = exact_read(ctx, t, level, EXACT_INNER2);
	if (inner2 != INNER2_UNKNOWN)
		return longest < inner2;
	return longest < exact_read(ctx, t, level, EXACT_INNER);
}

/* The second case with the table's top two (t1, t2) in hand: every changed run is below them. */
static ALWAYS_INLINE bool runs_below_top2(uint64_t longest, uint64_t t1, uint64_t t2)
{
	return longest < (t2 != INNER2_UNKNOWN ? t2 : t1);
}

/*
 * The INNER and INNER2 of a mixed table at `level` (1 or 2): from the value cache with one test
 * when it holds both (host test builds still check each against the stripe), else as exact_read
 * reads them (2 E(level)), which leaves the cache holding this table.
 */
static ALWAYS_INLINE void inner_top2_read(struct vmm_context *ctx, const uint64_t *t, unsigned level,
					  uint64_t *first, uint64_t *second)
{
	const struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	const unsigned both = (1u << EXACT_INNER) | (1u << EXACT_INNER2);
	if (c->table[level] == t && (c->known[level] & both) == both) {
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
		(void)exact_read(ctx, t, level, EXACT_INNER);
		(void)exact_read(ctx, t, level, EXACT_INNER2);
#endif
		*first = c->value[level][EXACT_INNER];
		*second = c->value[level][EXACT_INNER2];
		return;
	}
	*first = exact_read(ctx, t, level, EXACT_INNER);
	*second = exact_read(ctx, t, level, EXACT_INNER2);
}

/* The same for an entry's values before (b) and after (a): false unless only its top two moved. */
static ALWAYS_INLINE bool inner_change_below(struct vmm_context *ctx, const uint64_t *t,
					      unsigned level, const struct exact *b,
					      const struct exact *a)
{
	if (b->kind != SUMMARY_MIXED || a->kind != SUMMARY_MIXED || b->prefix != a->prefix ||
	    b->suffix != a->suffix || b->has_start != a->has_start)
		return false;
	return inner_top2_settled(ctx, t, level, b->inner, b->inner2, a->inner, a->inner2);
}

/*
 * A mixed table at `level` (1 or 2) whose INNER top two move from (was1, was2), what its stripe
 * holds, to (now1, now2), nothing else of it changing: each value whose digits change is rewritten
 * up to its highest changed entry (costs its E(level) entries), and the value cache's copy moves
 * with it: the read of was1 and was2 (inner_top2_read) left the cache holding both. While a run
 * is pending (vmm_pt.h's PEND: the stripe holds the rest and INNER2 unknown, not was1 and was2),
 * new values are stored whole and PEND turns off, as exact_write does.
 */
static ALWAYS_INLINE void inner_top2_store(struct vmm_context *ctx, uint64_t *t, unsigned level, uint64_t was1,
					   uint64_t was2, uint64_t now1, uint64_t now2)
{
	MM_ASSERT(level == 1 || level == 2, "inner_top2_store: level %u is not 1 or 2", level);
	unsigned entries = level == 1 ? EXACT_VALUE_ENTRIES(1) : EXACT_VALUE_ENTRIES(2);
	uint64_t pend = now1 != was1 || now2 != was2 ? pend_get_on(ctx, t, level) : 0;
	if (pend) {
		ctx->backend_work += 2 * entries;
		if (level == 1) {
			stripe_write_fixed(t, EXACT_FIELD_FIRST(1, EXACT_INNER), EXACT_VALUE_ENTRIES(1), now1);
			stripe_write_fixed(t, EXACT_FIELD_FIRST(1, EXACT_INNER2), EXACT_VALUE_ENTRIES(1),
					   inner2_stored(now2));
		} else {
			stripe_write_fixed(t, EXACT_FIELD_FIRST(2, EXACT_INNER), EXACT_VALUE_ENTRIES(2), now1);
			stripe_write_fixed(t, EXACT_FIELD_FIRST(2, EXACT_INNER2), EXACT_VALUE_ENTRIES(2),
					   inner2_stored(now2));
		}
		pend_move(ctx, t, level, pend, pend & ~PEND_ON);
	} else if (now1 != was1) {
		ctx->backend_work += entries;
		if (level == 1)
			stripe_update_fixed(t, EXACT_FIELD_FIRST(1, EXACT_INNER), EXACT_VALUE_ENTRIES(1), was1, now1);
		else
			stripe_update_fixed(t, EXACT_FIELD_FIRST(2, EXACT_INNER), EXACT_VALUE_ENTRIES(2), was1, now1);
	}
	if (!pend && now2 != was2) {
		ctx->backend_work += entries;
		if (level == 1)
			stripe_update_fixed(t, EXACT_FIELD_FIRST(1, EXACT_INNER2), EXACT_VALUE_ENTRIES(1),
					    inner2_stored(was2), inner2_stored(now2));
		else
			stripe_update_fixed(t, EXACT_FIELD_FIRST(2, EXACT_INNER2), EXACT_VALUE_ENTRIES(2),
					    inner2_stored(was2), inner2_stored(now2));
	}
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	MM_ASSERT(c->table[level] == t && (~c->known[level] & ((1u << EXACT_INNER) | (1u << EXACT_INNER2))) == 0,
		  "inner_top2_store: the value cache does not hold table %p's INNER and INNER2", (void *)t);
#endif
	c->value[level][EXACT_INNER] = now1;
	c->value[level][EXACT_INNER2] = now2;
}

/*
 * A pointer to a mixed table whose INNER moved to `inner`: its maxrun code, and the summary bits
 * `set` (SUM_*: an inner mark in a leaf sets HST), written if anything moves.
 */
static ALWAYS_INLINE void pointer_code_store(uint64_t *up, unsigned i, uint64_t inner, unsigned set)
{
	const pte_t code_mask = (pte_t)SUM_MAXRUN_MASK << (PTE_SW_FIELD_SHIFT + SUM_MAXRUN_SHIFT);
	pte_t e = up[i];
	pte_t now = (e & ~code_mask) | ((pte_t)maxrun_code(inner) << (PTE_SW_FIELD_SHIFT + SUM_MAXRUN_SHIFT)) |
		    ((pte_t)set << PTE_SW_FIELD_SHIFT);
	if (now != e)
		up[i] = now; /* a pointer stays a pointer: the used-entry count stays */
}

/*
 * A table of 4 KiB entries (mixed, its pointer `pointer`) whose one change is a run of pages with a
 * reserved page before and after the free run through it: a mark splits one inner run (free
 * pages before, the run, free pages after) into the two around it, a clear (of reserved pages)
 * joins the two into one. Only INNER and INNER2 (a run out, one or two in: top2_remove,
 * top2_add) and HST can change; PREFIX and SUFFIX lie beyond the reserved pages. The free
 * neighbours come with the change (ch->n); after a clear HST stays set without a look: the entry
 * after the joined run is reserved and follows a free page, so it is a reservation's start (a
 * reservation is a run of RES pages from its STA page). False when the run reaches
 * the table's start or end, or the longest inner run went and the second is not known: then
 * derive() decides (it measures). *was and *now receive the values before and after.
 */
static ALWAYS_INLINE bool leaf_inner_runs(struct vmm_context *ctx, pte_t pointer,
			    const struct table_change *ch, struct exact *was, struct exact *now)
{
	if ((summary_field(pointer) & SUM_KIND_MASK) != SUMMARY_MIXED)
		return false;
	struct neighbours n = ch->n; /* from the free-run tags, by the write */
	if (n.to_start || n.to_end)
		return false;
	*was = entry_exact(ctx, pointer, 1);
	struct exact x = *was;
	uint64_t joined = n.before + (ch->last - ch->first + 1) + n.after;
	if (ch->direction == CHANGE_MARKED) {
		if (!top2_remove(&x.inner, &x.inner2, joined))
			return false;
		top2_add(&x.inner, &x.inner2, n.before);
		top2_add(&x.inner, &x.inner2, n.after);
		x.has_start |= ch->after.has_start;
	} else {
		if (!top2_remove(&x.inner, &x.inner2, n.before) || !top2_remove(&x.inner, &x.inner2, n.after))
			return false;
		top2_add(&x.inner, &x.inner2, joined);
		x.has_start = true; /* the entry after the joined run starts a reservation */
	}
	/* A reserved page lies on either side, so the table cannot be all free; no free page: full. */
	if (x.inner == 0 && x.suffix == 0)
		x = (struct exact){ SUMMARY_FULL, x.has_start, 0, 0, 0, 0 };
	*now = x;
	return true;
}

#endif
