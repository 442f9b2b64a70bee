/*
 * Writes of page-table entries that keep each table's used-entry count (pte.h's count stripe,
 * bits 9..11 of entries 0..3): the count equals the number of used entries (pte_is_used), and
 * these writers keep it as they change entries, so it cannot drift (pagetable.c's invariants).
 * pt_slots_rewrite is the one writer that leaves it: for leaves whose count is not kept.
 * Inline, so that the bookkeeping backend's marks and clears of a few entries pay no call.
 */
#ifndef PAGESCOPE_MM_PT_SLOTS_H
#define PAGESCOPE_MM_PT_SLOTS_H

#include "pagetable.h"
#include <machine/pte.h>

/* The entries a pt_slots_update found: the or and the and of their old values. */
struct pt_slots_seen {
	uint64_t any, all;
};

/* Writes entry `index`, keeping the table's used-entry count (striped into bits 9..11). */
static ALWAYS_INLINE void pt_slot_write(uint64_t *table, unsigned index, uint64_t value)
{
	MM_ASSERT(!(value & PTE_COUNT_STRIPE_MASK), "pt_slot_write: value %llx touches the count stripe",
		  (unsigned long long)value);
	pte_t old = table[index];
	int delta = (int)pte_is_used(value) - (int)pte_is_used(old);
	table[index] = value | (old & PTE_COUNT_STRIPE_MASK);
	if (delta) {
		bool in_range = delta > 0 ? pte_stripe_add(table, 1, false) : pte_stripe_add(table, 1, true);
		MM_ASSERT(in_range, "pt_slot_write: used-entry count of table %p out of range", (void *)table);
	}
}

/* Entries of [first, last] with a bit outside the count stripe set (read after a write). */
static inline unsigned pt_count_used(const uint64_t *table, unsigned first, unsigned last)
{
	unsigned used = 0;
	for (unsigned i = first; i <= last; i++)
		used += pte_is_used(table[i]);
	return used;
}

/*
 * Rewrites entries [first, last] as (entry & keep) | set, keeping the used-entry count with one
 * update for the run (the bookkeeping backend's marks and clears of many 4 KiB entries), in one
 * pass that also says what the entries held. Neither keep nor set may touch the count stripe: it
 * is kept whatever `keep` says. The entries must be all used or all unused before (checked).
 *
 * The run's used entries before and after come from the or and the and of its entries, not from
 * a test per entry: when the and has a bit outside the stripe every entry is used, when the or has
 * none no entry is, and (entry & keep) | set distributes over both. So the run must start uniform
 * (the backend's marks find free entries, which are 0, its clears reserved ones); only a run left
 * mixed (a clear of pages some of which are mapped) is counted, once, after it is written.
 */
static ALWAYS_INLINE struct pt_slots_seen pt_slots_update_as(uint64_t *table, unsigned first,
							     unsigned last, uint64_t keep, uint64_t set,
							     bool counted)
{
	MM_ASSERT(!(set & PTE_COUNT_STRIPE_MASK), "pt_slots_update: %llx touches the count stripe",
		  (unsigned long long)set);
	if (first == last) { /* one entry: pt_slot_write's test of its use is cheaper */
		pte_t old = table[first];
		if (counted)
			pt_slot_write(table, first, (old & keep & ~PTE_COUNT_STRIPE_MASK) | set);
		else
			table[first] = (old & (keep | PTE_COUNT_STRIPE_MASK)) | set;
		return (struct pt_slots_seen){ old, old };
	}
	keep |= PTE_COUNT_STRIPE_MASK;
	pte_t any = 0, all = ~(pte_t)0;
	pte_t *slot = table + first, *end = table + last + 1;
	/* Four entries a step, then the rest one by one: a run of one costs one test more. */
	for (; end - slot >= 4; slot += 4) {
		pte_t a = slot[0], b = slot[1], c = slot[2], d = slot[3];
		any |= a | b | c | d;
		all &= a & b & c & d;
		slot[0] = (a & keep) | set;
		slot[1] = (b & keep) | set;
		slot[2] = (c & keep) | set;
		slot[3] = (d & keep) | set;
	}
	for (; slot != end; slot++) {
		pte_t old = *slot;
		any |= old;
		all &= old;
		*slot = (old & keep) | set;
	}
	if (!counted)
		return (struct pt_slots_seen){ any, all };
	unsigned pages = last - first + 1;
	bool all_used = pte_is_used(all), none_used = !pte_is_used(any);
	MM_ASSERT(all_used || none_used, "pt_slots_update: entries %u..%u mix used and unused ones", first,
		  last);
	unsigned before = all_used ? pages : 0;
	unsigned after = pte_is_used((all & keep) | set) ? pages :
			 !pte_is_used((any & keep) | set) ? 0 :
							   pt_count_used(table, first, last);
	if (after != before) {
		bool in_range = after > before ? pte_stripe_add(table, after - before, false) :
						 pte_stripe_add(table, before - after, true);
		MM_ASSERT(in_range, "pt_slots_update: used-entry count of table %p out of range", (void *)table);
	}
	return (struct pt_slots_seen){ any, all };
}

static ALWAYS_INLINE struct pt_slots_seen pt_slots_update(uint64_t *table, unsigned first,
							  unsigned last, uint64_t keep, uint64_t set)
{
	return pt_slots_update_as(table, first, last, keep, set, true);
}

/*
 * The same rewrite in a table whose count is not kept (a leaf of a backend that decides emptiness
 * itself: pt_chunk_ops.leaf_empty); the entries need not be uniform.
 */
static ALWAYS_INLINE struct pt_slots_seen pt_slots_rewrite(uint64_t *table, unsigned first,
							   unsigned last, uint64_t keep, uint64_t set)
{
	return pt_slots_update_as(table, first, last, keep, set, false);
}

#endif
