/*
 * The one range walk over four-level page tables: every walker of pagetable.c and of the
 * page-table bookkeeping backend is a visitor of pt_walk_range.
 *
 * A walk of [first, last] (inclusive, page-aligned first) through a table at `level` whose first
 * address is `base` visits, in address order (or backward), the entries from PT_INDEX(level,
 * first) to PT_INDEX(level, last), each with its part of the range (pt_walk_entry: where the
 * entry starts, which of its pages the range holds, whether all of them). The visitor decides per
 * entry: go on (NEXT), go into the table the entry points to (DESCEND: the walk clips the range to
 * the entry and walks the child one level down), or end the walk (STOP). On the way back up from a
 * child the walk calls `ascend` with the parent entry, so bottom-up upkeep (freeing a table that
 * became empty, re-summarising it) happens where the walk returns.
 *
 * Optional hooks: `enter` sees each table before its first entry and may start later in it or
 * stop; `leaves` takes a whole run of level-0 entries in one call (the hot loop of a walker that
 * writes many small entries), instead of `entry` once per entry.
 *
 * Invariants: the range never leaves the table it starts in; a DESCEND is only returned for an
 * entry that points to a table (pte_is_table) when `entry` returns, never at level 0; at most
 * PT_LEVELS tables are open at once (the walk keeps no other state and allocates nothing).
 *
 * Cost: one loop iteration per entry visited plus one per table entered; the walk is inlined into
 * each walker with its visitor (ALWAYS_INLINE, the hooks are compile-time constants, one loop per
 * level with the level's constants), so it adds no call per entry. Work counting is the
 * visitor's: it knows what it reads.
 */
#ifndef PAGESCOPE_MM_PT_WALK_H
#define PAGESCOPE_MM_PT_WALK_H

#include "pagetable.h"
#include <machine/pte.h>

/* One entry of a walk: where it is, and its part of the walk's range. */
struct pt_walk_entry {
	uint64_t *table; /* the table holding the entry */
	unsigned level, index;
	uint64_t base;        /* the entry's first address (canonical) */
	uint64_t first, last; /* the walk's range, clipped to the entry */
	bool whole;           /* the range covers the entry entirely */
};

enum pt_step { PT_STEP_NEXT, PT_STEP_DESCEND, PT_STEP_STOP };
enum pt_walk_direction { PT_WALK_FORWARD, PT_WALK_BACKWARD };

struct pt_walk_visitor {
	/* Every entry of the range in each table the walk is in (level 0 too unless `leaves` is set). */
	enum pt_step (*entry)(void *cookie, const struct pt_walk_entry *at);
	/* Optional: back from the table under `at` (its entry as it is now). NEXT or STOP. */
	enum pt_step (*ascend)(void *cookie, const struct pt_walk_entry *at);
	/*
	 * Optional: a table at `level` is entered for entries [*first, last] (forward walks); may raise
	 * *first (past `last`: visit none). NEXT or STOP.
	 */
	enum pt_step (*enter)(void *cookie, uint64_t *table, unsigned level, uint64_t base,
			      unsigned *first, unsigned last);
	/* Optional: entries [first, last] of a level-0 table whose first address is base. NEXT or STOP. */
	enum pt_step (*leaves)(void *cookie, uint64_t *table, uint64_t base, unsigned first,
			       unsigned last);
	enum pt_walk_direction direction;
};

/* First address of entry `index` of a table at `level` starting at table_base (canonical). */
static ALWAYS_INLINE uint64_t pt_walk_entry_base(unsigned level, uint64_t table_base, unsigned index)
{
	uint64_t base = table_base + ((uint64_t)index << PT_LEVEL_SHIFT(level));
	return level == PT_TOP_LEVEL ? pt_canonical(base) : base;
}

/* The addresses of a half: root entries [0, 256) or [256, 512). */
static inline void pt_half_range(enum pt_half half, uint64_t *first, uint64_t *last)
{
	unsigned index = half == PT_HALF_USER ? 0 : PT_KERNEL_HALF_FIRST_INDEX;
	*first = pt_canonical((uint64_t)index << PT_LEVEL_SHIFT(PT_TOP_LEVEL));
	*last = *first + PT_KERNEL_HALF_FIRST_INDEX * PT_SPAN_BYTES(PT_TOP_LEVEL) - 1;
}

/* Below level 0 there is nothing to walk: a DESCEND there is a visitor's bug. */
static ALWAYS_INLINE bool pt_walk_level_none(uint64_t *table, uint64_t base, uint64_t first,
					     uint64_t last, const struct pt_walk_visitor *v, void *cookie)
{
	(void)table, (void)base, (void)first, (void)last, (void)v, (void)cookie;
	MM_ASSERT(false, "pt_walk_range: a visitor descended below a level-0 entry");
	return true;
}

/*
 * The walk of one table, at a level known when it is compiled: this body is the walk, written once
 * and instantiated for levels 0..3 (pt_walk_level_0 .. _3), each descending into the next one
 * down, so that every span and shift is a constant and the walk's state stays in registers. True
 * if a hook stopped the walk.
 */
#define PT_WALK_LEVEL(L, CHILD)                                                                     \
	static ALWAYS_INLINE bool pt_walk_level_##L(uint64_t *table, uint64_t base, uint64_t first,  \
						    uint64_t last, const struct pt_walk_visitor *v,   \
						    void *cookie)                                     \
	{                                                                                            \
		const unsigned level = (L);                                                          \
		const bool backward = v->direction == PT_WALK_BACKWARD;                              \
		const uint64_t span = PT_SPAN_BYTES(level);                                          \
		unsigned lo = PT_INDEX(level, first), hi = PT_INDEX(level, last);                     \
		if (v->enter && !backward &&                                                         \
		    v->enter(cookie, table, level, base, &lo, hi) == PT_STEP_STOP)                   \
			return true;                                                                 \
		if (lo > hi)                                                                         \
			return false;                                                                \
		if (level == 0 && v->leaves)                                                         \
			return v->leaves(cookie, table, base, lo, hi) == PT_STEP_STOP;              \
		unsigned i = backward ? hi : lo;                                                     \
		for (unsigned remaining = hi - lo + 1; remaining > 0; remaining--) {                 \
			uint64_t ebase = pt_walk_entry_base(level, base, i);                          \
			struct pt_walk_entry at = { table, level, i, ebase, MAX(first, ebase),        \
						    MIN(last, ebase + (span - 1)), false };           \
			at.whole = at.first == ebase && at.last == ebase + (span - 1);                \
			enum pt_step step = v->entry(cookie, &at);                                    \
			if (step == PT_STEP_STOP)                                                     \
				return true;                                                          \
			if (step == PT_STEP_DESCEND) {                                                \
				if (CHILD(pt_table(pte_address(table[i])), ebase, at.first, at.last, v, \
					  cookie))                                                    \
					return true;                                                  \
				if (v->ascend && v->ascend(cookie, &at) == PT_STEP_STOP)              \
					return true;                                                  \
			}                                                                             \
			i = backward ? i - 1 : i + 1;                                                 \
		}                                                                                    \
		return false;                                                                        \
	}

PT_WALK_LEVEL(0, pt_walk_level_none)
PT_WALK_LEVEL(1, pt_walk_level_0)
PT_WALK_LEVEL(2, pt_walk_level_1)
PT_WALK_LEVEL(3, pt_walk_level_2)
STATIC_ASSERT(PT_TOP_LEVEL == 3, "pt_walk.h instantiates the walk for four levels");

/* Walks [first, last] from `table` at `level` (first address table_base). True if a hook stopped. */
static ALWAYS_INLINE bool pt_walk_range(uint64_t *table, unsigned level, uint64_t table_base,
					uint64_t first, uint64_t last,
					const struct pt_walk_visitor *v, void *cookie)
{
	switch (level) {
	case 0:
		return pt_walk_level_0(table, table_base, first, last, v, cookie);
	case 1:
		return pt_walk_level_1(table, table_base, first, last, v, cookie);
	case 2:
		return pt_walk_level_2(table, table_base, first, last, v, cookie);
	default:
		return pt_walk_level_3(table, table_base, first, last, v, cookie);
	}
}

#endif
