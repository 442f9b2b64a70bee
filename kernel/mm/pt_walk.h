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
 * entry that points to a table (pte_is_table) when `entry` returns; at most PT_LEVELS tables are
 * open at once (the walk keeps no other state and allocates nothing).
 *
 * Cost: one loop iteration per entry visited plus one per table entered; the walk is inlined into
 * each walker with its visitor (ALWAYS_INLINE, the hooks are compile-time constants), so it adds
 * no call per entry. Work counting is the visitor's: it knows what it reads.
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
	return pt_canonical(table_base + ((uint64_t)index << PT_LEVEL_SHIFT(level)));
}

/* The addresses of a half: root entries [0, 256) or [256, 512). */
static inline void pt_half_range(enum pt_half half, uint64_t *first, uint64_t *last)
{
	unsigned index = half == PT_HALF_USER ? 0 : PT_KERNEL_HALF_FIRST_INDEX;
	*first = pt_canonical((uint64_t)index << PT_LEVEL_SHIFT(PT_TOP_LEVEL));
	*last = *first + PT_KERNEL_HALF_FIRST_INDEX * PT_SPAN_BYTES(PT_TOP_LEVEL) - 1;
}

/* Walks [first, last] from `table` at `level` (first address table_base). True if a hook stopped. */
static ALWAYS_INLINE bool pt_walk_range(uint64_t *table, unsigned level, uint64_t table_base,
					uint64_t first, uint64_t last,
					const struct pt_walk_visitor *v, void *cookie)
{
	/* Per open table: where it is, its part of the range, the next entry and how many remain. */
	struct {
		uint64_t *table;
		uint64_t base, first, last;
		unsigned next, remaining;
	} open[PT_LEVELS];
	struct pt_walk_entry through[PT_LEVELS]; /* the entry each open table was entered through */
	const bool backward = v->direction == PT_WALK_BACKWARD;
	const unsigned top = level;
	open[level].table = table;
	open[level].base = table_base;
	open[level].first = first;
	open[level].last = last;
	for (;;) {
		/* Entering the table open at `level`. */
		unsigned lo = PT_INDEX(level, open[level].first), hi = PT_INDEX(level, open[level].last);
		if (v->enter && !backward &&
		    v->enter(cookie, open[level].table, level, open[level].base, &lo, hi) == PT_STEP_STOP)
			return true;
		open[level].remaining = lo > hi ? 0 : hi - lo + 1;
		open[level].next = backward ? hi : lo;
		if (open[level].remaining && level == 0 && v->leaves) {
			if (v->leaves(cookie, open[level].table, open[level].base, lo, hi) == PT_STEP_STOP)
				return true;
			open[level].remaining = 0;
		}
		for (;;) {
			/* The entries left in the table open at `level`, in a loop that keeps them local. */
			uint64_t *t = open[level].table;
			uint64_t base = open[level].base, lo_addr = open[level].first, hi_addr = open[level].last;
			unsigned i = open[level].next, remaining = open[level].remaining;
			bool descend = false;
			/* Bases advance by the span; canonical form only changes across the root's halves. */
			const uint64_t span = PT_SPAN_BYTES(level);
			uint64_t ebase = pt_walk_entry_base(level, base, i);
			while (remaining) {
				struct pt_walk_entry at = { t, level, i, ebase, MAX(lo_addr, ebase),
							    MIN(hi_addr, ebase + (span - 1)), false };
				at.whole = at.first == ebase && at.last == ebase + (span - 1);
				enum pt_step step = v->entry(cookie, &at);
				if (step == PT_STEP_STOP)
					return true;
				remaining--;
				i = backward ? i - 1 : i + 1;
				ebase = pt_canonical(backward ? ebase - span : ebase + span);
				if (step == PT_STEP_DESCEND) {
					through[level] = at;
					descend = true;
					break;
				}
			}
			if (descend) {
				open[level].next = i;
				open[level].remaining = remaining;
				const struct pt_walk_entry *at = &through[level];
				level--;
				open[level].table = pt_table(pte_address(at->table[at->index]));
				open[level].base = at->base;
				open[level].first = at->first;
				open[level].last = at->last;
				break; /* enter it */
			}
			/* The table open at `level` is finished: back up to the entry it was entered through. */
			if (level == top)
				return false;
			level++;
			if (v->ascend && v->ascend(cookie, &through[level]) == PT_STEP_STOP)
				return true;
		}
	}
}

#endif
