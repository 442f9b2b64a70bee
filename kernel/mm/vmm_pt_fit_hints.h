/*
 * First-fit hints by run size, per leaf table (a table of 4 KiB entries) of the page-table backend
 * (the rest of the encoding is vmm_pt.h's).
 *
 * Where holes just short of a request lie before the first that holds it, the first-free hint
 * starts every search of the leaf at the same short holes, and a release gives the fit back, so the
 * next search passes them again. These hints remember, per size class, how far a search has proved
 * that no fit lies:
 *
 *   H_k, k = 0 .. FIT_HINTS - 1, threshold T_k = 2^(k+1) pages (2, 4, ..., 256), 9 bits each:
 *   "no maximal free run of the leaf of T_k pages or more STARTS at an entry below H_k"
 *
 * A run is one of the leaf's own (maximal free entries of this table; what continues into the
 * table before or after does not count). Stored in bits 9..11 (the stripe bits, which the CPU
 * ignores) of entries FIT_HINT_FIRST .. FIT_HINT_FIRST + 3 FIT_HINTS - 1, after the first-free
 * hint and INNER/INNER2 (vmm_pt.h's stripe diagram), 3 entries each, low bits first:
 *
 *   entry:  15 16 17 | 18 19 20 | ... | 36 37 38
 *          +---------+----------+-----+---------+
 *          | H_0 (2) | H_1 (4)  | ... | H_7(256)|
 *          +---------+----------+-----+---------+
 *
 * Invariants (vmm_pt_check.c recounts both from the RES bits; a test raises a hint past a fit and
 * sees the check fail):
 *   1. H_k <= the first start of a maximal free run of >= T_k pages (any value when there is none);
 *   2. H_0 <= H_1 <= ... <= H_7 (a run >= T_{k+1} is one >= T_k, so 1 allows it), which lets every
 *      upkeep stop at the first hint that needs no change.
 * A new table is zeroed: every hint 0, always true.
 *
 * Upkeep:
 *   - a search that scanned a leaf from max(first-free hint, H_j), T_j the largest threshold <= n
 *     (no run of n or more starts below: 1), and found its first fit of n pages at entry p, raises
 *     H_k to p for every T_k >= n (fit_hints_raise);
 *   - every write that frees leaf entries lowers H_k to the start a of the joined free run for every
 *     T_k <= its length L (fit_hints_lower), or every hint to 0 where the run is not known;
 *   - a mark only shortens or removes runs: 1 stays true, nothing to do.
 * A writer that frees entries and skips the lowering breaks 1 where the joined run is long enough:
 * the self-check and the differential tests see it.
 *
 * Cost: a search reads one hint more (H_j, 1 entry in its work count, as the first-free hint) and
 * the raise at most FIT_HINTS (usually one, already at p); a clear tests the highest hint in place
 * (all three digits 0: three loads), then, when it is not, whether it is at or below a (the same
 * three), and reads H_k, for the largest T_k <= L, only when it is above. The
 * range walk's leaf scans (a run carried in) read none; vmm_pt_search.c's bound counts these.
 */
#ifndef PAGESCOPE_MM_VMM_PT_FIT_HINTS_H
#define PAGESCOPE_MM_VMM_PT_FIT_HINTS_H

#include "vmm_pt.h"

#define FIT_HINTS 8u
#define FIT_HINT_ENTRIES 3u
#define FIT_HINT_FIRST(k) (LEAF_FIT_HINT_FIRST + (k) * FIT_HINT_ENTRIES)
STATIC_ASSERT(FIT_HINT_FIRST(FIT_HINTS) == LEAF_FIT_HINT_END, "vmm_pt.h reserves the entries the hints take");
STATIC_ASSERT(FIT_HINT_ENTRIES * 3 >= PT_INDEX_BITS, "a hint holds any entry index");

/* The class whose threshold is the largest <= n, for n >= 2 (n = 1 has none: the first-free hint
 * serves it). */
static ALWAYS_INLINE unsigned fit_class_floor(uint64_t n)
{
	return ilog2_u64(MIN(n, (uint64_t)2 << (FIT_HINTS - 1))) - 1;
}

/*
 * The class whose threshold is the smallest >= n, for 2 <= n < 512 (a run inside one leaf table):
 * the floor's, or the next when n is not a power of two (FIT_HINTS when 256 < n: none).
 */
static ALWAYS_INLINE unsigned fit_class_ceil(uint64_t n)
{
	return fit_class_floor(n) + ((n & (n - 1)) != 0);
}

static ALWAYS_INLINE unsigned fit_hint_read(const uint64_t *leaf, unsigned k)
{
	return (unsigned)stripe_read_fixed(leaf, FIT_HINT_FIRST(k), FIT_HINT_ENTRIES);
}

static ALWAYS_INLINE void fit_hint_update(uint64_t *leaf, unsigned k, unsigned was, unsigned now)
{
	stripe_update_fixed(leaf, FIT_HINT_FIRST(k), FIT_HINT_ENTRIES, was, now);
}

/*
 * The search's first fit of n pages lies at entry p of the leaf (it scanned from a start the hints
 * allow): H_k rises to p for every T_k >= n, from the smallest such k up to the first already at or
 * above p (invariant 2). Returns the hints read.
 */
static ALWAYS_INLINE unsigned fit_hints_raise(uint64_t *leaf, uint64_t n, unsigned p)
{
	unsigned reads = 0;
	for (unsigned k = fit_class_ceil(n); k < FIT_HINTS; k++) {
		unsigned was = fit_hint_read(leaf, k);
		reads++;
		if (was >= p)
			break;
		fit_hint_update(leaf, k, was, p);
	}
	return reads;
}

/*
 * The lowest fit of n >= 2 pages in a leaf, when its class hint shows it at once: a maximal free
 * run of n or more pages starts at H_k (T_k the largest threshold <= n), above entry `from` (below
 * which no fit starts). No run of T_k or more starts below H_k (invariant 1), so it is the lowest
 * fit, and its entry is returned; the hints of n's class and above are at H_k or higher already
 * (invariant 2), so none rises. Else PT_ENTRIES, and *from rises to H_k when it is higher (the
 * scan starts there). Reads the hint and at most the two entries at it: added to *reads.
 */
static ALWAYS_INLINE unsigned fit_hint_lowest_fit(const uint64_t *leaf, uint64_t n, unsigned *from, uint64_t *reads)
{
	unsigned h = fit_hint_read(leaf, fit_class_floor(n));
	*reads += 1;
	if (h <= *from)
		return PT_ENTRIES;
	*from = h;
	*reads += 2;
	if (!(leaf[h - 1] & RES_RESERVED) || leaf_edge_run(leaf, h) < n)
		return PT_ENTRIES;
	return h;
}

/*
 * Leaf entries were freed and the joined free run starts at entry a, `length` pages long: H_k falls
 * to a for every T_k <= length, from the largest such k down to the first already at or below a
 * (invariant 2). Out of line: inlined, it took registers from every release route's common path
 * (3 to 11 instructions a release more, measured), for a path most releases do not take.
 */
static NOINLINE void fit_hints_lower_read(uint64_t *leaf, unsigned a, uint64_t length)
{
	/* The highest hint at or below a holds every hint there (invariant 2): no class to work out. */
	if (length < 2 || fit_hint_read(leaf, FIT_HINTS - 1) <= a) /* a run of 1 page: no class */
		return;
	for (unsigned k = fit_class_floor(length);; k--) {
		unsigned was = fit_hint_read(leaf, k);
		if (was <= a)
			return;
		fit_hint_update(leaf, k, was, a);
		if (k == 0)
			return;
	}
}

/*
 * fit_hints_lower_read, after one test of the highest hint's entries, which decides the usual case
 * without a class or an assembled hint: all its digits 0 (never raised; three loads, or-ed), so
 * every hint is 0 (invariant 2). (A test of its top digit against a's first cost more than it
 * saved, measured: a release's a is mostly below 64, where it cannot settle.)
 */
static ALWAYS_INLINE void fit_hints_lower(uint64_t *leaf, unsigned a, uint64_t length)
{
	STATIC_ASSERT(FIT_HINT_ENTRIES == 3, "a hint is three entries' digits");
	const uint64_t *h = leaf + FIT_HINT_FIRST(FIT_HINTS - 1);
	if (!((h[0] | h[1] | h[2]) & PTE_COUNT_STRIPE_MASK))
		return;
	fit_hints_lower_read(leaf, a, length);
}

/* Entries were freed where the joined run is not known (a re-tagged leaf): every hint falls to 0. */
static inline void fit_hints_reset(uint64_t *leaf)
{
	fit_hints_lower(leaf, 0, PT_ENTRIES);
}

#endif
