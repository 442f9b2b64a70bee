/*
 * Free-run tags: the page-table backend's stored format for the free pages of a table of 4 KiB
 * entries (a leaf table; the rest of the encoding is vmm_pt.h's).
 *
 * A free page's leaf entry is never present (only reserved pages are mapped, and a reservation's
 * pages are unmapped before it is cleared: vmm_pt_release, vmm_pt_resize), and the CPU ignores
 * every bit of a non-present entry but P. So free entries carry their run's length:
 *
 *   free leaf entry:  63 ............ 22  21 ........ 12  11..9  8 ..... 1  0
 *                    +------------------+---------------+------+----------+---+
 *                    |        0         |  TAG (length) |stripe|    0     | 0 |
 *                    +------------------+---------------+------+----------+---+
 *
 * Invariants (vmm_pt_check.c recounts them; a test corrupts one tag and sees the check fail):
 *   - in a leaf table whose pointer says mixed, the first and the last entry of every maximal run
 *     of free entries hold the run's length (1..511) in TAG (a run of one: its one entry);
 *   - every other entry of every leaf table holds 0 in TAG: a free entry inside a run, a reserved
 *     entry, any entry of an all-free table (a new table is zeroed: no tag) or of a full one.
 * A leaf table is freed when it is all free, which its entry 0 says (leaf_empty): these leaves keep
 * no used-entry count (pagetable.c asks pt_chunk_ops.leaf_empty instead).
 *
 * What it replaces: the free pages next to a change were counted entry by entry (up to 512);
 * now they are one load on each side: after a mark the entry before the change ends a run and
 * the entry after it starts one; before a clear the same two entries do. A mark finds the run it
 * splits from the tag of the run's first entry.
 *
 * Bounds per operation: a mark of [first, last] in the run [a, b] reads the entry before first
 * (first is a start: the search's fits begin at a run's start) or at most `first` entries back to
 * a (an aligned request or a reserve_at inside a run), then writes at most 4 tags (a, first - 1,
 * last + 1, b). A clear of reserved [first, last] reads the 2 entries around it and writes at most
 * 4 tags (the old inner ends to 0, the joined run's ends). A clear of entries not all reserved
 * (undoing a mark that failed half-way) re-tags the table: 512 reads, at most 512 writes. These
 * fit the U(0) of vmm_pt_summary.c's bound: the backward look (at most 512) or the re-tag takes
 * the place of the neighbour counts (2 x 512) that the tags made one load each.
 *
 * Cost, measured (not a bound): a reserve + release of 16 pages amid mixed holes at 1,000,000
 * reserved pages took 2,174 instructions with vmm.c at commit 5e5f275, 2,654 before the tags
 * (callgrind, `benchmarks/run_bench.py --vmm-only`); what remains is the stripes (the hint,
 * INNER and INNER2, 3 bits an entry; the used-entry count was dropped later), the point walks and
 * the search.
 */
#ifndef PAGESCOPE_MM_VMM_PT_LEAF_TAGS_H
#define PAGESCOPE_MM_VMM_PT_LEAF_TAGS_H

#include "vmm_pt.h"

static ALWAYS_INLINE unsigned leaf_tag(pte_t e)
{
	return (unsigned)((e & PTE_FREE_TAG_MASK) >> PTE_FREE_TAG_SHIFT);
}

/* Sets the tag of free entry i (which only ever holds its tag and the stripe). */
static ALWAYS_INLINE void leaf_tag_write(uint64_t *table, unsigned i, unsigned length)
{
	MM_ASSERT(!(table[i] & ~(PTE_COUNT_STRIPE_MASK | PTE_FREE_TAG_MASK)),
		  "leaf_tag_write: entry %u (%llx) is not a free entry", i, (unsigned long long)table[i]);
	table[i] = (table[i] & ~PTE_FREE_TAG_MASK) | ((pte_t)length << PTE_FREE_TAG_SHIFT);
}

/* The tag the ends of free run [a, b] hold: its length; a run of the whole table is an all-free
 * table, which has no tag. */
static ALWAYS_INLINE unsigned leaf_run_tag_value(unsigned a, unsigned b)
{
	return b - a + 1 == PT_ENTRIES ? 0 : b - a + 1;
}

/* Tags the free run [a, b]. */
static ALWAYS_INLINE void leaf_run_tag(uint64_t *table, unsigned a, unsigned b)
{
	unsigned length = leaf_run_tag_value(a, b);
	leaf_tag_write(table, a, length);
	leaf_tag_write(table, b, length);
}

/* The last entry of the maximal free run that starts at free entry i, read entry by entry (the
 * full-table passes: retag and self-check). */
static inline unsigned leaf_run_end_scan(const uint64_t *table, unsigned i)
{
	unsigned b = i;
	while (b + 1 < PT_ENTRIES && !(table[b + 1] & RES_RESERVED))
		b++;
	return b;
}

/*
 * The free run [*a, *b] holding free entry `first`, before a mark; all_free: the table is all free
 * (its pointer says so, or it is new), and has no tags.
 */
static ALWAYS_INLINE void leaf_run_around(struct vmm_context *ctx, const uint64_t *table, unsigned first,
					  bool all_free, unsigned *a, unsigned *b)
{
	if (all_free) {
		*a = 0;
		*b = PT_ENTRIES - 1;
		return;
	}
	unsigned k = first;
	while (k > 0 && !(table[k - 1] & RES_RESERVED))
		k--;
	unsigned length = leaf_tag(table[k]);
	ctx->backend_work += first - k + (k > 0) + 1; /* the entries back to the start, and its tag */
	MM_ASSERT(length > 0 && k + length > first, "leaf_run_around: run at entry %u of %p has tag %u", k,
		  (const void *)table, length);
	*a = k;
	*b = k + length - 1;
}

/* After a mark of [first, last] inside the free run [a, b]: tags what is left on either side. */
static ALWAYS_INLINE struct neighbours leaf_tags_mark(uint64_t *table, unsigned a, unsigned b,
						      unsigned first, unsigned last)
{
	if (first > a)
		leaf_run_tag(table, a, first - 1);
	if (last < b)
		leaf_run_tag(table, last + 1, b);
	return (struct neighbours){ first - a, b - last, a == 0, b == PT_ENTRIES - 1 };
}

/*
 * After a clear of [first, last], every page of which was reserved (the entries now hold no tag):
 * joins the runs on either side into one and tags it.
 */
static ALWAYS_INLINE struct neighbours leaf_tags_clear(struct vmm_context *ctx, uint64_t *table,
						       unsigned first, unsigned last)
{
	unsigned a = first, b = last;
	if (first > 0 && !(table[first - 1] & RES_RESERVED)) {
		unsigned before = leaf_tag(table[first - 1]);
		MM_ASSERT(before > 0 && before <= first, "leaf_tags_clear: entry %u ends a run of %u", first - 1,
			  before);
		a = first - before;
		leaf_tag_write(table, first - 1, 0);
	}
	if (last < PT_ENTRIES - 1 && !(table[last + 1] & RES_RESERVED)) {
		unsigned after = leaf_tag(table[last + 1]);
		MM_ASSERT(after > 0 && last + after < PT_ENTRIES, "leaf_tags_clear: entry %u starts a run of %u",
			  last + 1, after);
		b = last + after;
		leaf_tag_write(table, last + 1, 0);
	}
	ctx->backend_work += (first > 0) + (last < PT_ENTRIES - 1);
	leaf_run_tag(table, a, b);
	return (struct neighbours){ first - a, b - last, a == 0, b == PT_ENTRIES - 1 };
}

/* Rewrites every tag of a leaf table from its RES bits (512 reads). */
static inline void leaf_retag(struct vmm_context *ctx, uint64_t *table)
{
	ctx->backend_work += PT_ENTRIES;
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		if (table[i] & RES_RESERVED)
			continue;
		unsigned b = leaf_run_end_scan(table, i);
		for (unsigned k = i; k <= b; k++)
			leaf_tag_write(table, k, 0);
		leaf_run_tag(table, i, b);
		i = b;
	}
}

/* Two adjacent entries as one value (GCC's vector extension): 8-byte aligned, may alias a pte_t. */
typedef pte_t entry_pair __attribute__((vector_size(16), aligned(8), may_alias));

/*
 * Leaf entries [first, last] become `set` (plus the stripe they hold). They are known uniform
 * beforehand (free, by their run's tags; or one unmapped reservation, leaf_reservation), so none is
 * read but for its stripe, and a range past the stripes (from LEAF_STRIPE_END on) is written blind.
 */
#define LEAF_STRIPE_END LEAF_FIT_HINT_END
STATIC_ASSERT(EXACT_FIELD_FIRST(0, EXACT_FIELDS) > PTE_HINT_STRIPE_FIRST + PTE_HINT_STRIPE_ENTRIES - 1,
	      "a leaf table's stripes (count, hint, exact values, fit hints) end before LEAF_STRIPE_END");
static ALWAYS_INLINE void leaf_entries_set(uint64_t *t, unsigned first, unsigned last, pte_t set)
{
	if (first == last) { /* one page: no loop */
		t[first] = (t[first] & PTE_COUNT_STRIPE_MASK) | set;
		return;
	}
	uint64_t *slot = t + first, *end = t + last + 1;
	const entry_pair set2 = { set, set };
	if (first < LEAF_STRIPE_END) {
		/*
		 * A range that starts among the stripes: every entry keeps its stripe, in pairs, four
		 * entries a step, to its end (an entry past the stripes holds none: the same store is
		 * right there, so no second loop).
		 */
		const entry_pair keep = { PTE_COUNT_STRIPE_MASK, PTE_COUNT_STRIPE_MASK };
		for (; end - slot >= 4; slot += 4) {
			*(entry_pair *)slot = (*(entry_pair *)slot & keep) | set2;
			*(entry_pair *)(slot + 2) = (*(entry_pair *)(slot + 2) & keep) | set2;
		}
		for (; slot != end; slot++)
			*slot = (*slot & PTE_COUNT_STRIPE_MASK) | set;
		return;
	}
	/* Past the stripes: blind stores of entry pairs, eight entries a step, then what is left. */
	for (; end - slot >= 8; slot += 8) {
		*(entry_pair *)slot = set2;
		*(entry_pair *)(slot + 2) = set2;
		*(entry_pair *)(slot + 4) = set2;
		*(entry_pair *)(slot + 6) = set2;
	}
	if (end - slot >= 4) {
		*(entry_pair *)slot = set2;
		*(entry_pair *)(slot + 2) = set2;
		slot += 4;
	}
	if (end - slot >= 2) {
		*(entry_pair *)slot = set2;
		slot += 2;
	}
	if (slot != end)
		*slot = set;
}

/*
 * Clears leaf entries [first, last] (keeping their stripe) when they are one unmapped reservation
 * with one set of bits. Entry `first` holds RES and STA and is not present (the caller saw to it:
 * the lean release routes, vmm_pt_lean.c); every other entry must hold exactly its bits less STA, `body` (so:
 * reserved, no other start, none present). The usual
 * release so reads each entry once: an entry e becomes e ^ body, which is its stripe when e was
 * body plus a stripe, and the differences are or-ed on the way; if any bit outside the stripe
 * differed, every entry is xor-ed with body again, which gives back exactly what it held: false,
 * nothing changed. (Entries past the stripes hold none, so there it is 0: the same rule.)
 */
static ALWAYS_INLINE bool leaf_entries_clear_checked(uint64_t *t, unsigned first, unsigned last)
{
	pte_t head = t[first] & ~PTE_COUNT_STRIPE_MASK, body = head & ~RES_START;
	t[first] &= PTE_COUNT_STRIPE_MASK; /* put back below if another entry differs */
	if (first == last) /* one page: no loop */
		return true;
	uint64_t *slot = t + first + 1, *end = t + last + 1;
	/*
	 * Four a step as two pairs, the differences or-ed into a pair too and folded once after the
	 * loop: on the host a pair is one 128-bit register (a folded difference per step cost 8
	 * instructions more); the kernel, built without vector registers, gets two scalars.
	 */
	const entry_pair body2 = { body, body };
	entry_pair differ2 = { 0, 0 };
	unsigned left = last - first; /* counted down: no end pointer to keep */
	for (; left >= 4; left -= 4, slot += 4) {
		entry_pair d0 = *(entry_pair *)slot ^ body2, d1 = *(entry_pair *)(slot + 2) ^ body2;
		differ2 |= d0 | d1;
		*(entry_pair *)slot = d0;
		*(entry_pair *)(slot + 2) = d1;
	}
	if (left >= 2) { /* then at most three are left: a pair and one */
		entry_pair d = *(entry_pair *)slot ^ body2;
		differ2 |= d;
		*(entry_pair *)slot = d;
		slot += 2;
		left -= 2;
	}
	pte_t differ = differ2[0] | differ2[1];
	if (left) {
		pte_t d = *slot ^ body;
		differ |= d;
		*slot = d;
	}
	if (differ & ~PTE_COUNT_STRIPE_MASK) {
		for (slot = t + first + 1; slot != end; slot++)
			*slot ^= body;
		t[first] |= head;
		return false;
	}
	return true;
}

/*
 * pt_chunk_ops.leaf_empty: true when every entry of the leaf table is free, from its entry 0 alone,
 * so this backend's leaves keep no used-entry count (pagetable.c) and its marks and clears move
 * none. Entry 0 holding nothing but its stripe is free (a reserved or mapped entry has RES) with
 * tag 0; a free entry 0 starts a maximal free run, whose tag is its length, 0 only for a run of
 * the whole table (leaf_run_tag_value, the invariants above; the tags are written with the
 * entries, so they hold wherever a table can be freed). Conversely an all-free table has no tag.
 */
static inline bool leaf_empty(const uint64_t *table)
{
	return !(table[0] & ~PTE_COUNT_STRIPE_MASK);
}

/* Entries of a leaf table whose TAG is not what the invariants above say (the self-check's). */
static inline unsigned leaf_tags_wrong(const uint64_t *table)
{
	unsigned wrong = 0;
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		if (table[i] & RES_RESERVED) {
			wrong += (table[i] & PTE_FREE_TAG_MASK) && !pte_is_present(table[i]);
			continue;
		}
		unsigned b = leaf_run_end_scan(table, i), length = leaf_run_tag_value(i, b);
		for (unsigned k = i; k <= b; k++)
			wrong += leaf_tag(table[k]) != (k == i || k == b ? length : 0);
		i = b;
	}
	return wrong;
}

#endif
