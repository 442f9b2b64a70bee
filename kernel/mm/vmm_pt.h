/*
 * The page-table bookkeeping backend's private interface: what its entries mean, and the few
 * operations its files share. The backend keeps the VMM's bookkeeping in the page-table entries
 * themselves: no structure besides the tables the CPU needs anyway (plus tables created for
 * reservations nobody has mapped yet). Its files, one concept each:
 *   vmm_pt_summary.c   summaries: the exact values and rounded pointer fields, and their upkeep
 *   vmm_pt_leaf_runs.h the upkeep of a leaf table after one change, and the INNER top two
 *                      of the tables above it (inline in summary, lean and spine)
 *   vmm_pt_search.c    search and queries: the lowest free run, the extent around a page
 *   vmm_pt_lookup.c    the page a fault asks about: the one entry that decides it
 *   vmm_pt_write.h     what the writing files share (change notes, inline visitor parts)
 *   vmm_pt_range.c     the range walk's mark and clear: the general upkeep of every write
 *   vmm_pt_spine.c     a reserve or release inside one leaf table, from one point walk
 *   vmm_pt_chunk.c     a reserve or release of one aligned 2 MiB chunk at the frontier of chunks
 *   vmm_pt_reserve.c   reserve and release: which route takes a request, a release's checks
 *   vmm_pt_resize.c    resize, split, access change
 *   vmm_pt_lean.c      the usual reserve and release inside one leaf table, written out lean
 *   vmm_pt_check.c     self-check, the header bounds as numbers, bookkeeping bytes
 *   vmm_pt_caches.h    the two caches it keeps in the context (values, the fault hint)
 *   vmm_backend_pagetable.c  the ops table and set-up
 * Every walk over a range of entries is a visitor of pt_walk_range (pt_walk.h).
 *
 * Encoding (bit positions from <machine/pte.h>; "sw" = software field, bits 52..62):
 *
 * Level-0 entry (one 4 KiB page), present or not:
 *   63  62..60  59  58  57  56  55  54  53  52  51 ........... 12  11..9   8 ...... 0
 *  +--+-------+---+---+---+---+---+---+---+---+------------------+-------+----------+
 *  |NX|   0   |COW|SHR| X | W | R |OWN|STA|RES|  phys (present)  |stripe | hw flags |
 *  +--+-------+---+---+---+---+---+---+---+---+------------------+-------+----------+
 *   RES = page belongs to a reservation, STA = first page of that reservation, R/W/X/SHR = the
 *   access the reservation allows (vmm_access_pack; R = 0: no access, a PROT_NONE reservation;
 *   SHR: shared across fork). OWN and COW (VMM,
 *   present only): the data page is the context's; it is shared copy-on-write since a fork. A free
 *   page is never present and holds only its free-run tag in bits 12..21 (vmm_pt_leaf_tags.h: the
 *   length of its run in the run's first and last entry of a mixed leaf table, else 0). A page fault reads this one entry, the one the CPU's walk stopped at, to
 *   learn whether the address is reserved and what it may do: no other structure is consulted.
 *
 * Level-1/2/3 entry that is not a table pointer (a large page, or no table below):
 *   same RES/STA/R/W/X bits, meaning "the whole 2 MiB / 1 GiB / 512 GiB chunk is reserved"
 *   (STA: the reservation starts at the chunk's first page). A reservation covering aligned chunks
 *   marks them here and needs no table below; a map into such a chunk splits it
 *   (pt_chunk_ops.split), and the children inherit the chunk's access.
 *
 * Level-1/2/3 table pointer: a rounded summary of the subtree, read with the entry itself:
 *   63  62 .......... 57  56  55  54  53 52  51 ........... 12  11..9   8 ..... 0
 *  +--+-----------------+---+---+---+------+------------------+-------+---------+
 *  |0 |  maxrun code    |HST|SFX|PFX| kind |  phys of table   |stripe | P,W,(U) |
 *  +--+-----------------+---+---+---+------+------------------+-------+---------+
 *   kind: 0 = all pages free, 1 = no page free, 2 = mixed. PFX / SFX: first / last page free.
 *   HST: some reservation starts in the subtree. maxrun code (6 bits, maxrun_code()): the longest
 *   free run L not reaching the subtree's end (its INNER) itself when L < 32, else
 *   27 + ceil(log2(L)); it orders as L does, and a subtree whose code is below maxrun_code(n) and
 *   whose SFX is clear cannot hold n free pages. Short runs are exact, so holes just short of a
 *   request (15 pages for 16) are passed on the pointer's bits alone. The free suffix is left out
 *   so that a change inside it (a reservation placed at the frontier, or released there) leaves
 *   the pointer as it was while the suffix stays non-empty. An all-free pointer may
 *   carry just its kind (a new table is installed with a zero field): readers take PFX and SFX of
 *   kind 0 as set.
 * Bits 59..62 are protection keys only in leaves and only with CR4.PKE/PKS (never set here), and
 * leaves use only 52..54, so nothing here depends on protection keys.
 *
 * Stripes: bits 9..11 of a table's entries, which the CPU ignores at every level (pte.h):
 *
 *   entry:   0   1   2   3 | 4   5   6 | 7 ...... 7+E-1 | 7+E .... 7+2E-1 | 7+2E .. 7+3E-1 | 7+3E .. 7+4E-1 |
 *          +---------------+-----------+----------------+-----------------+----------------+----------------+
 *          | used count    | first-free| free PREFIX    | free SUFFIX     | INNER: longest | INNER2: second |
 *          | (pagetable.c) | hint      | (exact, pages) | (exact, pages)  | run not ending | or all ones:   |
 *          |               |           |                |                 | at the table end| not known     |
 *          +---------------+-----------+----------------+-----------------+----------------+----------------+
 *   3 bits per entry, low bits first. A table at level t spans 512^(t+1) pages, so each exact value
 *   takes 9(t+1)+1 bits: E = 4 entries in a table of 4 KiB entries, 7 at level 1, 10 at level 2
 *   (the root has no summary). A table of 4 KiB entries keeps no used count (entries 0..3 hold
 *   no meaning there: it is freed when its entry 0 says all free, leaf_empty in
 *   vmm_pt_leaf_tags.h) and only INNER and INNER2 of the exact values: its
 *   PREFIX and SUFFIX are the free-run tags of its entries 0 and 511 (the run there, 0 when the
 *   entry is reserved), read in one load each (leaf_edge_run), written with its entries; its INNER
 *   and INNER2 take entries 7..14 (EXACT_FIELD_SLOT) and its first-fit hints by run size entries
 *   15..38 (vmm_pt_fit_hints.h), so its entries from 39 on hold no stripe. A
 *   table at level 1 or 2 keeps LAST in its SUFFIX slot instead of the SUFFIX: the index of its
 *   last entry not wholly free (9 bits, the slot's first 3 entries; then PEND, a pending inner run,
 *   in 4 entries, and 0 in the rest; PEND's comment below); its SUFFIX is
 *   the free entries after LAST plus the SUFFIX of LAST's subtree, read down to a leaf's last tag
 *   (suffix_derived: 5 entries at level 1, 9 at level 2). So a change at the free suffix of the
 *   last leaf table writes nothing above it unless LAST moves. The longest free run of the table is max(INNER, SUFFIX). The exact
 *   values are valid while the pointer's kind is "mixed"; for the other kinds they are implied
 *   (all free: PREFIX = SUFFIX = the span, INNER = INNER2 = 0; full: 0) and never read.
 *   INNER2 is the second largest length among the runs INNER is the largest of (the free runs not
 *   reaching the table's end, a tie counted twice, 0 when there is no second), or INNER2_UNKNOWN:
 *   not known. It is exact whenever it is not unknown; it lets the upkeep replace INNER without a
 *   measure when the longest run ends (vmm_pt_summary.c). Stored plus one, unknown as 0
 *   (inner2_stored): a second that comes and goes (a run taken whole and given back) rewrites
 *   only the low entries its length needs, not the whole field.
 *
 * First-free hint, per table (hint stripe, 9 bits): no entry below it has a free page (it is a
 * lower bound on the first entry that is not full; 511 when all are). Every clear lowers it to the
 * first entry it touches; a mark that fills the entry at the hint moves it past the full entries
 * that follow, but for the lean frontier mark (vmm_pt_lean.c), which leaves a leaf's hint behind
 * (still a lower bound: the frontier is found by LASTs, and a search entering the leaf for an
 * inner run scans from the hint, at most 513 entries as before); a new table starts at 0, which
 * is always true.
 */
#ifndef PAGESCOPE_MM_VMM_PT_H
#define PAGESCOPE_MM_VMM_PT_H

#include "vmm.h"
#include "pt_walk.h"
#include "pt_slots.h"
#include <machine/pte.h>

#define RES_RESERVED PTE_SW_BIT(0)
#define RES_START PTE_SW_BIT(1)
/* The reservation's access (vmm_access_pack: 4 bits, PT_READ at bit 55) in leaves and chunk marks. */
#define RES_ACCESS_SHIFT (PTE_SW_FIELD_SHIFT + 3)
#define RES_ACCESS_MASK ((pte_t)0xF << RES_ACCESS_SHIFT)
#define RES_BITS (RES_RESERVED | RES_START | RES_ACCESS_MASK)

static inline pte_t access_bits(unsigned access)
{
	return (pte_t)vmm_access_pack(access) << RES_ACCESS_SHIFT;
}

static inline unsigned access_of(pte_t e)
{
	return vmm_access_unpack((unsigned)((e & RES_ACCESS_MASK) >> RES_ACCESS_SHIFT));
}

enum summary_kind { SUMMARY_ALL_FREE = 0, SUMMARY_FULL = 1, SUMMARY_MIXED = 2 };

#define SUM_KIND_MASK 3u
#define SUM_FREE_PREFIX (1u << 2)
#define SUM_FREE_SUFFIX (1u << 3)
#define SUM_HAS_START (1u << 4)
#define SUM_MAXRUN_SHIFT 5
#define SUM_MAXRUN_MASK 0x3Fu
#define MAXRUN_EXACT_BELOW 32u /* runs shorter than this are coded exactly */

/* The rounded summary a pointer carries (decoded). */
struct summary {
	enum summary_kind kind;
	bool free_prefix, free_suffix, has_start;
};

/*
 * What a subtree holds, exactly: free pages at its start and at its end, and the longest free run
 * that does not reach its end (its longest run is the larger of that and the suffix). Keeping the
 * inner runs apart from the suffix lets a change inside the free suffix, where reservations are
 * usually placed, be accounted for without looking at the rest of the table.
 */
struct exact {
	enum summary_kind kind;
	bool has_start;
	uint64_t prefix, suffix, inner;
	uint64_t inner2; /* the second longest run INNER is the longest of; INNER2_UNKNOWN: not known */
};

/* Stored as 0, a known INNER2 as itself plus one (inner2_stored), read back as this. */
#define INNER2_UNKNOWN UINT64_MAX

/* The stripe value of INNER2 x: x + 1, or 0 when it is not known (all ones plus one wraps to 0). */
static ALWAYS_INLINE uint64_t inner2_stored(uint64_t x)
{
	STATIC_ASSERT(INNER2_UNKNOWN + 1 == 0, "unknown is stored as 0");
	return x + 1;
}

enum exact_field { EXACT_PREFIX, EXACT_SUFFIX, EXACT_INNER, EXACT_INNER2, EXACT_FIELDS };
/* The values a search reads from a child's stripe (never INNER2). */
#define SEARCH_EXACT_FIELDS 3u

/*
 * Top two of a multiset of run lengths, the second possibly INNER2_UNKNOWN: adds run x (exact). A
 * run longer than the first makes the old first the second, exactly: every other run is shorter.
 */
static ALWAYS_INLINE void top2_add(uint64_t *first, uint64_t *second, uint64_t x)
{
	if (x > *first) {
		*second = *first;
		*first = x;
	} else if (*second != INNER2_UNKNOWN && x > *second) {
		*second = x;
	}
}

/*
 * Takes run x (exact, one of the multiset) out of the top two: true with the new top two, false
 * when they cannot be known (the longest went and the second was not known). A second lost to a
 * tie with the removed run becomes unknown; no run left leaves both 0.
 */
static ALWAYS_INLINE bool top2_remove(uint64_t *first, uint64_t *second, uint64_t x)
{
	MM_ASSERT(x <= *first, "top2_remove: run %llu longer than the longest %llu", (unsigned long long)x,
		  (unsigned long long)*first);
	if (x == 0)
		return true;
	if (x == *first) {
		if (*second == INNER2_UNKNOWN)
			return false;
		*first = *second;
		*second = INNER2_UNKNOWN;
	} else if (*second != INNER2_UNKNOWN && x == *second) {
		*second = INNER2_UNKNOWN;
	}
	if (*first == 0)
		*second = 0;
	return true;
}

/* Adds a run known only to be at most `bound` (<= *first): the second is lost if it could change. */
static inline void top2_add_bounded(uint64_t *first, uint64_t *second, uint64_t bound)
{
	(void)first;
	if (*second != INNER2_UNKNOWN && bound > *second)
		*second = INNER2_UNKNOWN;
}

static inline uint64_t *child_table(pte_t e)
{
	return pt_table(pte_address(e));
}

static inline uint64_t span_pages_clipped(uint64_t first, uint64_t last)
{
	return (last - first) / PAGE_SIZE + 1;
}

static inline unsigned summary_field(pte_t e)
{
	return (unsigned)(pte_software(e) >> PTE_SW_FIELD_SHIFT);
}

static ALWAYS_INLINE struct summary entry_summary(pte_t e, unsigned level)
{
	if (pte_is_table(e, level)) {
		unsigned bits = summary_field(e);
		enum summary_kind kind = (enum summary_kind)(bits & SUM_KIND_MASK);
		if (kind == SUMMARY_ALL_FREE)
			return (struct summary){ SUMMARY_ALL_FREE, true, true, false };
		return (struct summary){ kind, (bits & SUM_FREE_PREFIX) != 0, (bits & SUM_FREE_SUFFIX) != 0,
					 (bits & SUM_HAS_START) != 0 };
	}
	if (e & RES_RESERVED)
		return (struct summary){ .kind = SUMMARY_FULL, .has_start = (e & RES_START) != 0 };
	return (struct summary){ SUMMARY_ALL_FREE, true, true, false };
}

static inline unsigned ceil_log2(uint64_t x)
{
	return x <= 1 ? 0 : ilog2_u64(x - 1) + 1;
}

/* The maxrun code of a longest free run (diagram above); at most 27 + 27 = 54 < 64. */
static inline unsigned maxrun_code(uint64_t longest)
{
	return longest < MAXRUN_EXACT_BELOW ? (unsigned)longest : 27 + ceil_log2(longest);
}

/* The longest run a maxrun code allows (an upper bound; exact below 32). */
static inline uint64_t maxrun_bound(unsigned code)
{
	return code < MAXRUN_EXACT_BELOW ? code : (uint64_t)1 << (code - 27);
}

/*
 * The shortest run a maxrun code allows (a lower bound; exact up to 32): a code c above 32 is
 * 27 + ceil(log2(L)), so L lies in (2^(c-28), 2^(c-27)].
 */
static inline uint64_t maxrun_floor(unsigned code)
{
	return code <= MAXRUN_EXACT_BELOW ? code : ((uint64_t)1 << (code - 28)) + 1;
}

/*
 * The lowest maxrun code whose floor is at least n pages: a pointer whose code is this or more
 * holds an inner run of n (maxrun_floor orders as its code does). Computed once per search, so a
 * search tests a pointer's code against it with one compare instead of its floor. Up to 32 the
 * floor is the code; above, maxrun_floor(c) >= n is 2^(c-28) >= n - 1, so c = 28 + ceil(log2(n - 1)).
 */
static inline unsigned maxrun_fit_code(uint64_t n)
{
	return n <= MAXRUN_EXACT_BELOW ? (unsigned)n : 28 + ceil_log2(n - 1);
}

/* Stripe entries per exact value of a table at `table_level` (values go up to its whole span). */
#define EXACT_VALUE_ENTRIES(table_level) ((PT_INDEX_BITS * ((table_level) + 1) + 1 + 2) / 3)

static inline unsigned exact_value_entries(unsigned table_level)
{
	return EXACT_VALUE_ENTRIES(table_level);
}

/*
 * The slot of a field in a table's summary stripe: a leaf table keeps only INNER and INNER2 there
 * (its PREFIX and SUFFIX are its edge tags, never stored: slot 0 stands in, unused), in entries
 * 7..14 (its first-fit hints follow: LEAF_FIT_HINT_FIRST).
 */
#define EXACT_FIELD_SLOT(table_level, field)                                                       \
	((table_level) == 0 ? ((field) >= EXACT_INNER ? (unsigned)(field) - EXACT_INNER : 0u) :      \
			      (unsigned)(field))
#define EXACT_FIELD_FIRST(table_level, field) \
	(PTE_SUMMARY_STRIPE_FIRST + EXACT_FIELD_SLOT(table_level, field) * EXACT_VALUE_ENTRIES(table_level))

/* A leaf table's first-fit hints by run size take the stripe of its entries from FIRST to before
 * END (vmm_pt_fit_hints.h: 8 hints of 3 entries); its entries from END on hold no stripe. */
#define LEAF_FIT_HINT_FIRST EXACT_FIELD_FIRST(0, EXACT_FIELDS)
#define LEAF_FIT_HINT_END (LEAF_FIT_HINT_FIRST + 8u * 3u)

static inline unsigned exact_field_first(unsigned table_level, enum exact_field field)
{
	return EXACT_FIELD_FIRST(table_level, field);
}

/*
 * A stripe value of `entries` entries from entry `first` on; with both constant (the callers below
 * pass the level's E) it compiles to `entries` loads, shifts and ors, no loop.
 */
static ALWAYS_INLINE uint64_t stripe_read_fixed(const uint64_t *table, unsigned first, unsigned entries)
{
	uint64_t value = 0;
#pragma GCC unroll 16
	for (unsigned k = 0; k < entries; k++)
		value |= ((table[first + k] & PTE_COUNT_STRIPE_MASK) >> PTE_COUNT_STRIPE_SHIFT) << (3 * k);
	return value;
}

/* Writes a stripe value. Unrolled as stripe_read_fixed. */
static ALWAYS_INLINE void stripe_write_fixed(uint64_t *table, unsigned first, unsigned entries,
					     uint64_t value)
{
#pragma GCC unroll 16
	for (unsigned k = 0; k < entries; k++)
		table[first + k] = (table[first + k] & ~PTE_COUNT_STRIPE_MASK) |
				   (((value >> (3 * k)) & 7) << PTE_COUNT_STRIPE_SHIFT);
}

/*
 * Rewrites a stripe value that holds `was` to `now`, up to the highest entry whose 3-bit digit
 * changes (pte.h's pte_stripe_field_update, the one definition, forced inline here so the field
 * sizes stay constants; values are cut to the field's width, as stripe_write_fixed cuts them).
 */
static ALWAYS_INLINE void stripe_update_fixed(uint64_t *table, unsigned first, unsigned entries,
					      uint64_t was, uint64_t now)
{
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	/* The update xors digits (pte.h): it is right only when the stripe holds `was`. */
	uint64_t width = ((uint64_t)1 << (3 * entries)) - 1;
	MM_ASSERT(stripe_read_fixed(table, first, entries) == (was & width),
		  "stripe_update_fixed: table %p's field at %u holds %llu, not %llu", (void *)table, first,
		  (unsigned long long)stripe_read_fixed(table, first, entries), (unsigned long long)(was & width));
#endif
	pte_stripe_field_update(table, first, entries, was, now);
}

/*
 * The free run that starts or ends at leaf entry `edge`, read from its free-run tag
 * (vmm_pt_leaf_tags.h) in one load; 0 when that entry is reserved. At entry 0 and 511 of a mixed
 * leaf table: its PREFIX and SUFFIX; beside a range: the free pages next to it.
 */
static ALWAYS_INLINE uint64_t leaf_edge_run(const uint64_t *table, unsigned edge)
{
	pte_t e = table[edge];
	return (e & RES_RESERVED) ? 0 : (e & PTE_FREE_TAG_MASK) >> PTE_FREE_TAG_SHIFT;
}

/* Whether a table at `level` stores `field` in its stripe: a leaf's PREFIX and SUFFIX are its tags. */
static ALWAYS_INLINE bool exact_field_striped(unsigned table_level, enum exact_field field)
{
	return table_level > 0 || (field != EXACT_PREFIX && field != EXACT_SUFFIX);
}

/*
 * LAST, what a mixed table at level 1 or 2 keeps in place of its SUFFIX: the index of its last entry
 * that is not wholly free (9 bits, the first LAST_ENTRIES entries of the SUFFIX slot; PEND
 * follows, the slot's other entries hold 0). Its SUFFIX is then (511 - LAST) spans plus the SUFFIX of that entry's
 * subtree (0 for a full subtree or a chunk mark), which is derived the same way down to a leaf's
 * last free-run tag (suffix_derived). A reserve or release at the frontier moves the leaf's suffix
 * and no LAST above it, so it writes nothing in the tables above (suffix_move).
 */
#define LAST_ENTRIES 3u

static ALWAYS_INLINE unsigned last_read(const uint64_t *table, unsigned table_level)
{
	return table_level == 1 ? (unsigned)stripe_read_fixed(table, EXACT_FIELD_FIRST(1, EXACT_SUFFIX), LAST_ENTRIES) :
				  (unsigned)stripe_read_fixed(table, EXACT_FIELD_FIRST(2, EXACT_SUFFIX), LAST_ENTRIES);
}

/* The LAST a mixed table at `table_level` >= 1 whose SUFFIX is `suffix` has. */
static ALWAYS_INLINE unsigned last_of_suffix(uint64_t suffix, unsigned table_level)
{
	return PT_ENTRIES - 1 - (unsigned)(suffix / PT_SPAN_PAGES(table_level));
}

/* Stores LAST `now` (reads the stored one: LAST_ENTRIES; writes it when it differs: as many). */
static ALWAYS_INLINE void last_store(uint64_t *work, uint64_t *table, unsigned table_level, unsigned now)
{
	unsigned was = last_read(table, table_level);
	*work += LAST_ENTRIES;
	if (was == now)
		return;
	*work += LAST_ENTRIES;
	if (table_level == 1)
		stripe_update_fixed(table, EXACT_FIELD_FIRST(1, EXACT_SUFFIX), LAST_ENTRIES, was, now);
	else
		stripe_update_fixed(table, EXACT_FIELD_FIRST(2, EXACT_SUFFIX), LAST_ENTRIES, was, now);
}

/*
 * PEND, a pending inner run of a mixed table at level 1 or 2, in the SUFFIX slot after LAST: a
 * 9-bit length in PEND_ENTRIES entries, then one entry whose digit says whether it is on (1) or
 * off (0; the length is then left as it was, and means nothing). It holds the free run a frontier
 * chunk mark leaves before the chunk (vmm_pt_chunk.c, fewer than 512 pages), kept out of the
 * stored INNER and INNER2 so that the mark and its release turn PEND on and off and write
 * nothing else of them (the length only when the run's differs from the one left there). While
 * PEND is on with length p the stored INNER is r, the longest of the other runs INNER counts, and
 * the stored INNER2 is unknown (0); what is read (exact_read_stripe) is INNER = max(r, p) and
 * INNER2 = r when p > r (exact: p is the longest, r the next), else unknown. INNER and INNER2 are
 * read through it: 1 entry more (E(t) + 1), E(t) + 4 = E(t) + P(t) while on. A write of new INNER or INNER2
 * values (exact_write) stores them whole and turns PEND off; a change that leaves both as they
 * read leaves PEND and r, which still read as the true values.
 */
#define PEND_ENTRIES 3u
#define PEND_LIMIT ((uint64_t)1 << (3 * PEND_ENTRIES)) /* a pending run is shorter */
#define PEND_FIRST(table_level) (EXACT_FIELD_FIRST(table_level, EXACT_SUFFIX) + LAST_ENTRIES)
#define PEND_ON_ENTRY(table_level) (PEND_FIRST(table_level) + PEND_ENTRIES)
/*
 * P(t): what PEND adds to a read of INNER or INNER2 of a table at level t (its on digit, and its
 * length while on): at most its whole word, PEND_ENTRIES + 1 entries, at levels 1 and 2; 0 at 0.
 */
#define PEND_READ_ENTRIES(table_level) ((table_level) > 0 ? PEND_ENTRIES + 1 : 0)
/* PEND as one word: its length, and its on digit above (the stripe's 4 entries read as one value). */
#define PEND_ON ((uint64_t)1 << (3 * PEND_ENTRIES))

/* The pending run a PEND word says: its length when on, else 0. */
static ALWAYS_INLINE uint64_t pend_run(uint64_t word)
{
	return (word & PEND_ON) ? word & (PEND_LIMIT - 1) : 0;
}

/* PEND's on digit (costs 1 entry). */
static ALWAYS_INLINE bool pend_on_read(uint64_t *work, const uint64_t *table, unsigned table_level)
{
	*work += 1;
	pte_t e = table_level == 1 ? table[PEND_ON_ENTRY(1)] : table[PEND_ON_ENTRY(2)];
	return (e & PTE_COUNT_STRIPE_MASK) != 0;
}

/* PEND as a word (costs its PEND_ENTRIES + 1 entries). */
static ALWAYS_INLINE uint64_t pend_word_read(uint64_t *work, const uint64_t *table, unsigned table_level)
{
	*work += PEND_ENTRIES + 1;
	return table_level == 1 ? stripe_read_fixed(table, PEND_FIRST(1), PEND_ENTRIES + 1) :
				  stripe_read_fixed(table, PEND_FIRST(2), PEND_ENTRIES + 1);
}

/*
 * The SUFFIX of a mixed table at `table_level` >= 1, from its LAST and the subtree there (costs
 * LAST_ENTRIES + 1 per level, + 1 for the leaf's tag: 5 at level 1, 9 at level 2, fewer than the
 * E(t) entries a stored value took).
 */
static inline uint64_t suffix_derived(uint64_t *work, const uint64_t *table, unsigned table_level)
{
	uint64_t suffix = 0;
	for (unsigned level = table_level;; level--) {
		unsigned last = last_read(table, level);
		pte_t e = table[last];
		*work += LAST_ENTRIES + 1;
		suffix += (uint64_t)(PT_ENTRIES - 1 - last) * PT_SPAN_PAGES(level);
		unsigned bits = summary_field(e);
		if (!pte_is_table(e, level) || (bits & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) != (SUMMARY_MIXED | SUM_FREE_SUFFIX))
			return suffix; /* a full subtree or a chunk mark: nothing free at its end */
		table = child_table(e);
		if (level == 1) {
			*work += 1;
			return suffix + leaf_edge_run(table, PT_ENTRIES - 1);
		}
	}
}

/*
 * One exact value of a mixed table, read from its summary stripe (costs its entries; a level-1/2
 * table's INNER and INNER2 with its PEND, at most P(t) more), or for a leaf's PREFIX and SUFFIX
 * from its edge entries (costs 1), or for a level-1/2 table's SUFFIX from its LAST (suffix_derived).
 */
static inline uint64_t exact_read_stripe(uint64_t *work, const uint64_t *table, unsigned table_level,
					 enum exact_field field)
{
	if (!exact_field_striped(table_level, field)) {
		*work += 1;
		return leaf_edge_run(table, field == EXACT_PREFIX ? 0 : PT_ENTRIES - 1);
	}
	if (field == EXACT_SUFFIX)
		return suffix_derived(work, table, table_level);
	if (table_level > 0 && field >= EXACT_INNER && pend_on_read(work, table, table_level)) {
		/* a pending run joins what is stored (PEND) */
		*work += PEND_ENTRIES + exact_value_entries(table_level);
		uint64_t pend, rest;
		if (table_level == 1) {
			pend = stripe_read_fixed(table, PEND_FIRST(1), PEND_ENTRIES);
			rest = stripe_read_fixed(table, EXACT_FIELD_FIRST(1, EXACT_INNER), EXACT_VALUE_ENTRIES(1));
		} else {
			pend = stripe_read_fixed(table, PEND_FIRST(2), PEND_ENTRIES);
			rest = stripe_read_fixed(table, EXACT_FIELD_FIRST(2, EXACT_INNER), EXACT_VALUE_ENTRIES(2));
		}
		if (field == EXACT_INNER)
			return MAX(rest, pend);
		return pend > rest ? rest : INNER2_UNKNOWN;
	}
	*work += exact_value_entries(table_level);
	uint64_t value;
	switch (table_level) {
	case 0:
		value = stripe_read_fixed(table, EXACT_FIELD_FIRST(0, field), EXACT_VALUE_ENTRIES(0));
		break;
	case 1:
		value = stripe_read_fixed(table, EXACT_FIELD_FIRST(1, field), EXACT_VALUE_ENTRIES(1));
		break;
	default:
		MM_ASSERT(table_level == 2, "exact_read: the root (level %u) has no summary", table_level);
		value = stripe_read_fixed(table, EXACT_FIELD_FIRST(2, field), EXACT_VALUE_ENTRIES(2));
		break;
	}
	if (field == EXACT_INNER2) /* stored plus one, unknown as 0 */
		return value == 0 ? INNER2_UNKNOWN : value - 1;
	return value;
}

/*
 * Value cache (ctx->pt_caches.values, vmm_pt_caches.h): for each level below the root, the exact
 * values of one table as the backend last read or wrote them, so that an operation and the next one
 * (a reserve and its release, a search and its mark) decode the tables on their path once. It is a
 * copy, never the truth: every value stays in its table's stripe, every write goes to the stripe
 * and the copy together (the only writers of exact values: exact_write, suffix_move, pend_move; the
 * routes' narrower stores of INNER and INNER2, vmm_pt_leaf_runs.h's inner_top2_store and
 * vmm_pt_lean.c's leaf_inner_store; the frontier routes' SUFFIX moves in vmm_pt_lean.c and
 * vmm_pt_spine.c; vmm_pt_chunk.c's frontier_values_move), and dropping the copy changes nothing but cost. A leaf's PREFIX and SUFFIX are its edge tags, which move with
 * its entries: a write of leaf entries that may move them drops them from the copy
 * (leaf_edges_forget) unless it moves the copy itself (suffix_move). It cannot go stale: values are read only from a mixed table, a
 * table turns mixed only through exact_write of all four values (summarize_table: a table whose old
 * summary was not mixed is written whole), and that write replaces the level's copy; so a table
 * page freed and reused has its copy rewritten before it is read. Tables are written only through
 * their own context (the kernel half by the kernel's), and a forked context starts with no copy.
 * The copy holds a level-1/2 table's PEND word too (pend_get, pend_move; PEND_KNOWN), dropped
 * with the rest. Host test builds check every value taken from the copy against the stripe.
 */
static NOINLINE uint64_t exact_read_miss(struct vmm_context *ctx, const uint64_t *table, unsigned table_level,
					 enum exact_field field);
/* (A hit, the usual case, is inline in the caller; a miss reads the stripe out of line.) */
static ALWAYS_INLINE uint64_t exact_read(struct vmm_context *ctx, const uint64_t *table, unsigned table_level,
					 enum exact_field field)
{
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (c->table[table_level] == table && (c->known[table_level] & (1u << field))) {
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
		uint64_t work = 0;
		MM_ASSERT(c->value[table_level][field] == exact_read_stripe(&work, table, table_level, field),
			  "exact_read: the value cache disagrees with the stripe (level %u, field %u)",
			  table_level, (unsigned)field);
#endif
		return c->value[table_level][field];
	}
	return exact_read_miss(ctx, table, table_level, field);
}

static NOINLINE uint64_t exact_read_miss(struct vmm_context *ctx, const uint64_t *table, unsigned table_level,
					 enum exact_field field)
{
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	uint64_t value = exact_read_stripe(&ctx->backend_work, table, table_level, field);
	if (c->table[table_level] != table) {
		c->table[table_level] = table;
		c->known[table_level] = 0;
	}
	c->value[table_level][field] = value;
	c->known[table_level] |= (uint8_t)(1u << field);
	return value;
}

/*
 * exact_read for a reader that visits many tables once (the search): a value in the cache is
 * taken from it, any other is read from the stripe without displacing the cached tables.
 */
static inline uint64_t exact_peek(struct vmm_context *ctx, const uint64_t *table, unsigned table_level,
				  enum exact_field field)
{
	const struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (c->table[table_level] == table && (c->known[table_level] & (1u << field)))
		return exact_read(ctx, table, table_level, field); /* a hit: checked in host builds */
	return exact_read_stripe(&ctx->backend_work, table, table_level, field);
}

/* The value cache's bit for PEND (vmm_pt_caches.h), beside the four values' bits. */
#define PEND_KNOWN (1u << EXACT_FIELDS)

/* PEND of a mixed table at level 1 or 2 as a word, from the value cache when it holds it. */
static ALWAYS_INLINE uint64_t pend_get(struct vmm_context *ctx, const uint64_t *table, unsigned table_level)
{
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (c->table[table_level] == table && (c->known[table_level] & PEND_KNOWN)) {
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
		uint64_t work = 0;
		MM_ASSERT(c->pend[table_level] == pend_word_read(&work, table, table_level),
			  "pend_get: the value cache disagrees with the stripe (level %u)", table_level);
#endif
		return c->pend[table_level];
	}
	uint64_t word = pend_word_read(&ctx->backend_work, table, table_level);
	if (c->table[table_level] == table) {
		c->pend[table_level] = word;
		c->known[table_level] |= PEND_KNOWN;
	}
	return word;
}

/* PEND as a word when it is on (from the value cache, else its on digit first), else 0. */
static ALWAYS_INLINE uint64_t pend_get_on(struct vmm_context *ctx, const uint64_t *table, unsigned table_level)
{
	const struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (c->table[table_level] == table && (c->known[table_level] & PEND_KNOWN))
		return pend_get(ctx, table, table_level) & PEND_ON ? c->pend[table_level] : 0;
	return pend_on_read(&ctx->backend_work, table, table_level) ? pend_get(ctx, table, table_level) : 0;
}

/*
 * PEND moves from word `was` (what the stripe holds) to `now`, in the stripe (its length where it
 * changes, its on digit in one entry) and the value cache.
 */
static ALWAYS_INLINE void pend_move(struct vmm_context *ctx, uint64_t *table, unsigned table_level, uint64_t was,
				    uint64_t now)
{
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (was == now) /* `was` may stand for "nothing moves" without being read: the copy is left */
		return;
	if (c->table[table_level] == table) {
		c->pend[table_level] = now;
		c->known[table_level] |= PEND_KNOWN;
	}
	uint64_t length_was = was & (PEND_LIMIT - 1), length_now = now & (PEND_LIMIT - 1);
	if (length_was != length_now) {
		ctx->backend_work += PEND_ENTRIES;
		if (table_level == 1)
			stripe_update_fixed(table, PEND_FIRST(1), PEND_ENTRIES, length_was, length_now);
		else
			stripe_update_fixed(table, PEND_FIRST(2), PEND_ENTRIES, length_was, length_now);
	}
	if ((was ^ now) & PEND_ON) {
		ctx->backend_work += 1;
		if (table_level == 1)
			table[PEND_ON_ENTRY(1)] ^= (pte_t)1 << PTE_COUNT_STRIPE_SHIFT;
		else
			table[PEND_ON_ENTRY(2)] ^= (pte_t)1 << PTE_COUNT_STRIPE_SHIFT;
	}
}

/* A leaf's edge tags may have moved: its PREFIX and SUFFIX leave the value cache. */
static inline void leaf_edges_forget(struct vmm_context *ctx, const uint64_t *table)
{
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (c->table[0] == table)
		c->known[0] &= (uint8_t)~((1u << EXACT_PREFIX) | (1u << EXACT_SUFFIX));
}

/* The write of a table's values (all four now known) replaces its level's copy. */
static inline void exact_cache_fill(struct vmm_context *ctx, const uint64_t *table, unsigned table_level,
				    const struct exact *t)
{
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	c->table[table_level] = table;
	c->value[table_level][EXACT_PREFIX] = t->prefix;
	c->value[table_level][EXACT_SUFFIX] = t->suffix;
	c->value[table_level][EXACT_INNER] = t->inner;
	c->value[table_level][EXACT_INNER2] = t->inner2;
	c->known[table_level] = (1u << EXACT_FIELDS) - 1;
}

/*
 * Stores a mixed table's exact values (costs their entries) that differ from `old` (all of them
 * when old is NULL: not known); true when any changed. The value cache then holds all four.
 */
static ALWAYS_INLINE bool exact_write(struct vmm_context *ctx, uint64_t *table, unsigned table_level,
				      const struct exact *t, const struct exact *old)
{
	uint64_t *work = &ctx->backend_work;
	bool prefix = !old || old->prefix != t->prefix, suffix = !old || old->suffix != t->suffix;
	bool inner = !old || old->inner != t->inner, inner2 = !old || old->inner2 != t->inner2;
	bool changed = prefix || suffix || inner || inner2;
	/* New INNER or INNER2 values turn PEND off (read first: the cache may hold it). */
	bool pend_cleared = table_level > 0 && (inner || inner2);
	uint64_t pend = pend_cleared && old ? pend_get_on(ctx, table, table_level) : 0;
	exact_cache_fill(ctx, table, table_level, t);
	if (table_level == 0) { /* a leaf's PREFIX and SUFFIX are its edge tags, written with its entries */
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
		MM_ASSERT(leaf_edge_run(table, 0) == t->prefix && leaf_edge_run(table, PT_ENTRIES - 1) == t->suffix,
			  "exact_write: leaf %p's edge tags say %llu, %llu; its values %llu, %llu", (void *)table,
			  (unsigned long long)leaf_edge_run(table, 0),
			  (unsigned long long)leaf_edge_run(table, PT_ENTRIES - 1),
			  (unsigned long long)t->prefix, (unsigned long long)t->suffix);
#endif
		prefix = suffix = false;
	} else if (suffix && old) { /* a level-1/2 table's SUFFIX is its LAST, known from old's */
		unsigned was = last_of_suffix(old->suffix, table_level), now = last_of_suffix(t->suffix, table_level);
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
		MM_ASSERT(last_read(table, table_level) == was, "exact_write: table %p stores LAST %u, its old suffix says %u",
			  (void *)table, last_read(table, table_level), was);
#endif
		if (was != now) {
			*work += LAST_ENTRIES;
			if (table_level == 1)
				stripe_update_fixed(table, EXACT_FIELD_FIRST(1, EXACT_SUFFIX), LAST_ENTRIES, was, now);
			else
				stripe_update_fixed(table, EXACT_FIELD_FIRST(2, EXACT_SUFFIX), LAST_ENTRIES, was, now);
		}
		suffix = false;
	} else if (suffix) { /* not known: LAST is read, and written if it moves */
		last_store(work, table, table_level, last_of_suffix(t->suffix, table_level));
		suffix = false;
	}
	/*
	 * A pending run turned off: INNER and INNER2 are stored whole over the rest and from unknown
	 * (what it leaves stored). A table turning mixed (old NULL) has PEND written off.
	 */
	bool inner_whole = !old;
	uint64_t inner2_was = old ? old->inner2 : 0;
	if (pend_cleared) {
		if (!old) {
			*work += 1;
			if (table_level == 1)
				stripe_write_fixed(table, PEND_ON_ENTRY(1), 1, 0);
			else
				stripe_write_fixed(table, PEND_ON_ENTRY(2), 1, 0);
		} else if (pend) {
			inner = inner2 = true;
			inner_whole = true;
			inner2_was = INNER2_UNKNOWN;
			pend_move(ctx, table, table_level, pend, pend & ~PEND_ON);
		}
	}
	*work += (prefix + suffix + inner + inner2) * exact_value_entries(table_level);
/* A field known to hold `was` (old != NULL, not whole) is rewritten up to its highest changed entry only. */
#define EXACT_FIELD_WRITE(level, field, value, was, whole)                                          \
	do {                                                                                        \
		if (!(whole))                                                                       \
			stripe_update_fixed(table, EXACT_FIELD_FIRST(level, field),                   \
					    EXACT_VALUE_ENTRIES(level), (was), (value));             \
		else                                                                                \
			stripe_write_fixed(table, EXACT_FIELD_FIRST(level, field),                    \
					   EXACT_VALUE_ENTRIES(level), (value));                    \
	} while (0)
#define EXACT_WRITE(level)                                                                          \
	do {                                                                                        \
		if (prefix)                                                                         \
			EXACT_FIELD_WRITE(level, EXACT_PREFIX, t->prefix, old->prefix, !old);       \
		if (suffix)                                                                         \
			EXACT_FIELD_WRITE(level, EXACT_SUFFIX, t->suffix, old->suffix, !old);       \
		if (inner)                                                                          \
			EXACT_FIELD_WRITE(level, EXACT_INNER, t->inner, old->inner, inner_whole);   \
		if (inner2)                                                                         \
			EXACT_FIELD_WRITE(level, EXACT_INNER2, inner2_stored(t->inner2),              \
					  inner2_stored(inner2_was), !old);                             \
	} while (0)
	switch (table_level) {
	case 0:
		EXACT_WRITE(0);
		break;
	case 1:
		EXACT_WRITE(1);
		break;
	default:
		MM_ASSERT(table_level == 2, "exact_write: the root (level %u) has no summary", table_level);
		EXACT_WRITE(2);
		break;
	}
#undef EXACT_WRITE
#undef EXACT_FIELD_WRITE
	return changed;
}

/* The summary bits for a pointer to a table whose exact summary is t. */
static inline pte_t summary_bits(const struct exact *t)
{
	unsigned bits = (unsigned)t->kind | (t->prefix ? SUM_FREE_PREFIX : 0) |
			(t->suffix ? SUM_FREE_SUFFIX : 0) | (t->has_start ? SUM_HAS_START : 0);
	if (t->kind == SUMMARY_MIXED)
		bits |= maxrun_code(t->inner) << SUM_MAXRUN_SHIFT;
	return (pte_t)bits << PTE_SW_FIELD_SHIFT;
}

/*
 * What changed among one table's entries during a mark or a clear, for the re-summary of that
 * table: when a single entry changed (the usual case: a small range touches one entry per level),
 * what it covered before and after, so the table's new summary can be derived instead of measured.
 */
enum change_direction { CHANGE_MARKED, CHANGE_CLEARED };

/* The free pages next to entries [first, last]: before and after them, within the table. */
struct neighbours {
	uint64_t before, after;
	bool to_start, to_end; /* every entry before / after the change is all free */
};

struct table_change {
	enum change_direction direction;
	unsigned count;       /* changes: entries above level 0, runs of entries at level 0 */
	unsigned first, last; /* the entries of the first change */
	struct exact before, after; /* what they covered */
	/*
	 * The first change altered only the entry's SUFFIX (the entry points to a table whose kind,
	 * PREFIX, INNER, INNER2 and starts stayed): before and after hold only the suffix; the rest
	 * is read from the child's stripe if needed (refresh()).
	 */
	bool suffix_only;
	/*
	 * At level 0, with count 1: the free pages next to the change after it, read from the free-run
	 * tags by the write itself (vmm_pt_leaf_tags.h).
	 */
	struct neighbours n;
	/*
	 * At level 0: the leaf's PREFIX and SUFFIX before the change (its edge tags, read by the write
	 * before it wrote: they move with the entries, unlike the values kept in stripes).
	 */
	uint64_t old_prefix, old_suffix;
};

/*
 * The root has no summary, so the stripe of its entry PTE_SUMMARY_STRIPE_FIRST is free: it holds
 * one bit, set when the last release's clear met a present entry (a mapped page) in its range.
 * vmm_release reads it (released_unmapped) to skip the unmap walk of a range nothing maps.
 */
#define ROOT_RELEASE_MAPPED_ENTRY PTE_SUMMARY_STRIPE_FIRST

/*
 * The path from the root to one leaf table, from one point walk (vmm_pt_spine.c's point routes) or
 * from the search that found a fit there (vmm_pt_find_lowest).
 */
struct spine {
	bool mixed;                 /* every table on the path is mixed */
	uint64_t *table[PT_LEVELS]; /* the table at each level on the path to the leaf table */
	unsigned index[PT_LEVELS];  /* the entry on the path in each table above level 0 */
	unsigned leaf_hint;         /* from the search that found a fit in the leaf: its hint as read */
};

/* --- vmm_pt_summary.c ------------------------------------------------------------------------ */

/*
 * The exact summary of what entry e (at `level`) covers: from its bits, or its child's stripe.
 * Inline here, as suffix_move below, because the point paths run them on every operation.
 */
static ALWAYS_INLINE struct exact entry_exact(struct vmm_context *ctx, pte_t e, unsigned level)
{
	uint64_t span = PT_SPAN_PAGES(level);
	struct summary c = entry_summary(e, level);
	if (c.kind == SUMMARY_ALL_FREE)
		return (struct exact){ SUMMARY_ALL_FREE, false, span, span, 0, 0 };
	if (c.kind == SUMMARY_FULL)
		return (struct exact){ SUMMARY_FULL, c.has_start, 0, 0, 0, 0 };
	const uint64_t *child = child_table(e);
	/*
	 * All four in the value cache and nothing else (PEND_KNOWN: then the four are read one by one,
	 * from the cache too): one test instead of four (host test builds still check each).
	 */
	const struct vmm_pt_value_cache *cache = &ctx->pt_caches.values;
	if (cache->table[level - 1] == child && cache->known[level - 1] == (1u << EXACT_FIELDS) - 1) {
		const uint64_t *v = cache->value[level - 1];
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
		for (unsigned f = 0; f < EXACT_FIELDS; f++)
			(void)exact_read(ctx, child, level - 1, (enum exact_field)f);
#endif
		return (struct exact){ SUMMARY_MIXED, c.has_start, v[EXACT_PREFIX], v[EXACT_SUFFIX],
				       v[EXACT_INNER], v[EXACT_INNER2] };
	}
	uint64_t prefix = exact_read(ctx, child, level - 1, EXACT_PREFIX);
	uint64_t suffix = exact_read(ctx, child, level - 1, EXACT_SUFFIX);
	uint64_t inner = exact_read(ctx, child, level - 1, EXACT_INNER);
	return (struct exact){ SUMMARY_MIXED, c.has_start, prefix, suffix, inner,
			       exact_read(ctx, child, level - 1, EXACT_INNER2) };
}
/* The exact summary of a table at `level`, from its entries and its mixed children's stripes. */
struct exact measure(struct vmm_context *ctx, const uint64_t *table, unsigned level);
/*
 * Stores the exact values of the table at `level` (derived from `old`, what it held before, when
 * `ch` says one change was made; else measured) in its summary stripe; *now receives them and the
 * software field for its pointer is returned. *stripe_changed when a stored value changed.
 */
pte_t summarize_table(struct vmm_context *ctx, uint64_t *table, unsigned level,
		      const struct exact *old, const struct table_change *ch, bool *stripe_changed,
		      struct exact *now);
/*
 * Re-summarises the table under entry i (at `level`), whose entries changed as `ch` says (NULL:
 * unknown); true if what the parent's own summary is computed from changed. *before and *after
 * (either may be NULL) receive what the entry covered before and after; *suffix_only (may be
 * NULL) whether only its SUFFIX changed, and then they hold only that (table_change.suffix_only).
 */
bool refresh(struct vmm_context *ctx, uint64_t *table, unsigned level, unsigned i,
	     const struct table_change *ch, struct exact *before, struct exact *after, bool *suffix_only);
/*
 * The SUFFIX of a mixed table at `level` moves from `was` to `now` (nothing else): a leaf's is its
 * last tag, moved with its entries; above, LAST is rewritten only if it changes.
 */
static ALWAYS_INLINE void suffix_move(struct vmm_context *ctx, uint64_t *table, unsigned level,
				       uint64_t was, uint64_t now)
{
	if (was == now)
		return;
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
	if (c->table[level] == table) {
		c->value[level][EXACT_SUFFIX] = now;
		c->known[level] |= 1u << EXACT_SUFFIX;
	}
	switch (level) { /* each level's field position and width as constants: straight-line stores */
	case 0: /* a leaf's SUFFIX is its last entry's tag, moved with its entries */
		MM_ASSERT(leaf_edge_run(table, PT_ENTRIES - 1) == now, "suffix_move: leaf %p's last tag is not %llu",
			  (void *)table, (unsigned long long)now);
		break;
	default: /* a level-1/2 table keeps LAST: written only when the suffix crosses an entry */
		MM_ASSERT(level == 1 || level == 2, "suffix_move: the root (level %u) has no summary", level);
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
		MM_ASSERT(last_read(table, level) == last_of_suffix(was, level),
			  "suffix_move: table %p stores LAST %u, its suffix %llu says %u", (void *)table,
			  last_read(table, level), (unsigned long long)was, last_of_suffix(was, level));
#endif
		if (last_of_suffix(now, level) != last_of_suffix(was, level))
			last_store(&ctx->backend_work, table, level, last_of_suffix(now, level));
		break;
	}
}
/*
 * What entry e (at `level` >= 1) covered before the changes `ch` describes were made below it (its
 * table's stored values not rewritten yet): its stored PREFIX, INNER, INNER2, and a SUFFIX that is
 * derived (from a LAST that may lead the stored values below it) worked out from the old LAST and
 * the one change (entry_before_suffix_known says when it can be).
 */
struct exact entry_before(struct vmm_context *ctx, pte_t e, unsigned level, const struct table_change *ch);
/* Whether entry_before knows the old SUFFIX: a leaf (its tags) or one change below; else the
 * parent must measure. */
static inline bool entry_before_suffix_known(unsigned level, const struct table_change *ch)
{
	return level == 1 || (ch && ch->count == 1);
}
/* Any reservation start in the table (at `level`) outside entries [first, last] (at most 512 read). */
bool start_elsewhere(struct vmm_context *ctx, const uint64_t *table, unsigned level, unsigned first,
		     unsigned last);
/* Entry i may now hold a free page: lowers the table's first-free hint to it. */
static inline void hint_lower(uint64_t *table, unsigned i)
{
	unsigned hint = pte_hint_read(table);
	if (i < hint)
		pte_hint_update(table, hint, i);
}
/*
 * Entries below `from` (>= the hint) are full, and the entry at the hint may have become full:
 * moves the hint to the first entry from `from` on that is not full.
 */
void hint_advance(struct vmm_context *ctx, uint64_t *table, unsigned level, unsigned from);

/* --- vmm_pt_search.c ------------------------------------------------------------------------- */

/* What decides one page: the entry the walk stops at (a leaf or chunk mark), and what it says. */
struct page_state {
	bool reserved;
	bool start;      /* the reservation starts at exactly this page */
	unsigned access; /* what the reservation allows */
	uint64_t *table; /* the table and index of the entry that decides the page */
	unsigned level, index;
};

struct page_state page_state(struct vmm_context *ctx, uint64_t addr);

bool vmm_pt_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			  uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out);
/*
 * vmm_pt_find_free_run from the region's base of `pages` pages (min_pages = enough_pages = pages:
 * *out is cut to `pages`), which also says (PT_FOUND_ON_PATH) whether the run found starts in one
 * leaf table it reached by one path of mixed tables, given in *path (not NULL): the mark needs no
 * point walk of its own then. i3: the region's first root entry at or after the root's hint, which
 * the caller has read (the search starts there without reading the hint again). Six arguments,
 * all in registers (a seventh, on the stack, was reloaded at each use).
 */
enum pt_found { PT_NOT_FOUND, PT_FOUND, PT_FOUND_ON_PATH };
enum pt_found vmm_pt_find_lowest(struct vmm_context *ctx, const struct vmm_region *region, unsigned i3,
				 uint64_t pages, struct vmm_free_run *out, struct spine *path);
/*
 * The lowest run of `pages` free pages of the mixed leaf table at `base`, from entry `from` on
 * (no fit starts before it: the higher of its first-free hint and the fit hint of the request's
 * class, fit_hint_lowest_fit having found no fit at the latter), which holds such a run not
 * reaching its end (its pointer's maxrun code says so): the search's scan of the leaf table its
 * descent ends in (at most 522 entries with the fit hints, within the search bound;
 * vmm_pt_fit_hints.h). Its first page is returned; the hints of its class and above rise to it.
 */
uint64_t vmm_pt_leaf_lowest_fit(struct vmm_context *ctx, uint64_t *leaf, uint64_t base, unsigned from, uint64_t pages);
void vmm_pt_query(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
		  uint64_t lo, uint64_t hi, struct vmm_extent *out);

/* --- vmm_pt_lookup.c ------------------------------------------------------------------------- */

enum vmm_range_state vmm_pt_lookup(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, unsigned *access);

/*
 * A walk reached addr's leaf table and its level-1 table t1: they become the kept tables
 * (ctx->pt_caches.leaf_hint; exact while pt.tables_freed stays, vmm_pt_lookup.c), for the next
 * fault or release in that 2 MiB. Kept already: nothing is written.
 */
static ALWAYS_INLINE void leaf_hint_keep(struct vmm_context *ctx, uint64_t addr, const uint64_t *leaf,
					 const uint64_t *t1)
{
	struct vmm_pt_leaf_hint *kept = &ctx->pt_caches.leaf_hint;
	uint64_t base = ALIGN_DOWN(addr, PT_SPAN_BYTES(1));
	if (kept->base == base && kept->tables_freed == ctx->pt.tables_freed)
		return;
	*kept = (struct vmm_pt_leaf_hint){ base, leaf, ctx->pt.tables_freed, ALIGN_DOWN(addr, PT_SPAN_BYTES(2)), t1 };
}

/* --- vmm_pt_reserve.c, vmm_pt_resize.c ------------------------------------------------------- */

enum vm_status vmm_pt_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
				    uint64_t addr, uint64_t pages, unsigned access);
enum vm_status vmm_pt_reserve_lowest(struct vmm_context *ctx, const struct vmm_region *region,
				     uint64_t pages, uint64_t align_pages, unsigned access, uint64_t *addr);
enum vm_status vmm_pt_release(struct vmm_context *ctx, const struct vmm_region *region,
			      uint64_t addr, uint64_t pages);
/* After a release: true when its clear met no present entry, so nothing in the range is mapped. */
bool vmm_pt_released_unmapped(const struct vmm_context *ctx);
enum vm_status vmm_pt_resize(struct vmm_context *ctx, const struct vmm_region *region,
			     uint64_t start, uint64_t old_pages, uint64_t new_pages);
enum vm_status vmm_pt_split(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr);
void vmm_pt_set_access(struct vmm_context *ctx, const struct vmm_region *region, uint64_t start,
		       uint64_t pages, unsigned access);
/* pt_chunk_ops.split: a child of a chunk mark says what the chunk said (its start on child 0). */
uint64_t vmm_pt_split_child(void *cookie, uint64_t chunk, unsigned child_level, unsigned index);

/* --- vmm_pt_spine.c --------------------------------------------------------------------------- */

/*
 * The free runs an inner change took out of a leaf table and put in (0: none). Each lies between
 * reserved pages of the leaf, so it is a run not reaching the end of every table above too
 * (vmm_pt_spine.c's runs_above).
 */
struct run_delta {
	uint64_t out[2], in;
};

/*
 * After an inner mark or clear of leaf entries (addr .. last, on the path p) whose leaf values
 * (*was before, *now after, the runs d) are stored but whose table above may change: the upkeep
 * of the tables above, as vmm_pt_spine.c's path routes do it. The clear walks the path itself
 * (its tables are all mixed pointers, as the release's walk found them).
 */
void vmm_pt_inner_mark_above(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last,
			     unsigned access, const struct exact *was, const struct exact *now,
			     const struct run_delta *d);
void vmm_pt_inner_clear_above(struct vmm_context *ctx, uint64_t addr, uint64_t last, const struct exact *was,
			      const struct exact *now, const struct run_delta *d);

/* --- vmm_pt_lean.c ---------------------------------------------------------------------------- */

/*
 * reserve_lowest of `pages` (< 512) pages, unaligned, placed at the frontier under root entry i3,
 * the region's first at or after the root's hint, whose maxrun code the caller saw below
 * maxrun_code(pages) (the answer vmm_pt_find_free_run would give) and marked; when the frontier
 * route does not apply, nothing is written there and vmm_pt_reserve_searched answers (a tail call:
 * no frame kept for it). Six arguments, all in registers, so the caller's call is a tail call too.
 */
enum vm_status vmm_pt_frontier_reserve(struct vmm_context *ctx, const struct vmm_region *region, unsigned i3,
				       uint64_t pages, unsigned access, uint64_t *addr);
/*
 * reserve_lowest of `pages` (< 512) pages, unaligned, under root entry i3 (as vmm_pt_frontier_reserve
 * takes it) when the search's point descent goes the usual way: at each table the entry at its
 * hint proves a fit inside by its maxrun code alone, and in the leaf table the run at its hint
 * fits. Then the answer is vmm_pt_find_lowest's, marked along that path; else nothing is written
 * there and vmm_pt_reserve_searched answers (a tail call).
 */
enum vm_status vmm_pt_descent_reserve(struct vmm_context *ctx, const struct vmm_region *region, unsigned i3,
				      uint64_t pages, unsigned access, uint64_t *addr);
/*
 * reserve_lowest of `pages` (< 512) pages, unaligned, by the search and a mark along its path; i3
 * as vmm_pt_find_lowest takes it.
 */
enum vm_status vmm_pt_reserve_searched(struct vmm_context *ctx, const struct vmm_region *region, unsigned i3,
				       uint64_t pages, unsigned access, uint64_t *addr);
/*
 * vmm_pt_release of 1 to 511 pages: inside one leaf table (not its last page), at the frontier
 * or inside its inner runs, from the tables the last walk kept or one point walk (vmm_pt_lean.c);
 * anything else (and any reservation these routes do not take: mapped, or not one) by
 * vmm_pt_release_general (a tail call).
 */
enum vm_status vmm_pt_release_in_leaf(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
				      uint64_t pages);
/* vmm_pt_release by the general routes (vmm_pt_reserve.c). */
enum vm_status vmm_pt_release_general(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
				      uint64_t pages);
/*
 * A reservation of `pages` pages at addr, the start of a free run of the leaf table on the path p
 * (from the search: every table on it mixed) with a reserved page before it and after the run:
 * marked, true; false, nothing written, when it is not that (or the leaf would become full).
 */
bool vmm_pt_inner_reserve(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t pages,
			  unsigned access);

/* --- vmm_pt_check.c -------------------------------------------------------------------------- */

unsigned vmm_pt_self_check(struct vmm_context *ctx);
uint64_t vmm_pt_work_bound(const struct vmm_context *ctx, uint64_t pages);
uint64_t vmm_pt_bookkeeping_bytes(const struct vmm_context *ctx);

#endif
