/*
 * VMM bookkeeping kept in the page-table entries themselves: no structure besides the tables the
 * CPU needs anyway (plus tables created for reservations nobody has mapped yet).
 *
 * Encoding (bit positions from <machine/pte.h>; "sw" = software field, bits 52..62):
 *
 * Level-0 entry (one 4 KiB page), present or not:
 *   63  62 .. 55  54  53  52  51 ........... 12  11..9   8 ...... 0
 *  +--+---------+---+---+---+------------------+-------+----------+
 *  |NX|    0    |OWN|STA|RES|  phys (present)  |stripe | hw flags |
 *  +--+---------+---+---+---+------------------+-------+----------+
 *   stripe (bits 9..11, any level): entries 0..3 hold the table's used-entry count
 *   (pagetable.c), entries 4..6 the table's first-free hint (below); the rest are 0.
 *   RES = page belongs to a reservation, STA = first page of that reservation,
 *   OWN = (VMM, present only) the data page is the context's. A free unmapped page is 0.
 *
 * Level-1/2/3 entry that is not a table pointer (a large page, or no table below):
 *   same RES/STA bits, meaning "the whole 2 MiB / 1 GiB / 512 GiB chunk is reserved" (STA: the
 *   reservation starts at the chunk's first page). A reservation covering aligned chunks marks them
 *   here and needs no table below; a map into such a chunk splits it (pt_chunk_ops.split).
 *
 * Level-1/2/3 table pointer: a summary of the subtree, for the search to skip it:
 *   63  62  61 ...... 57  56  55  54  53 52  51 ........... 12  11..9   8 ..... 0
 *  +--+---+-------------+---+---+---+------+------------------+-------+---------+
 *  |0 | 0 | maxrun log2 |HST|SFX|PFX| kind |  phys of table   |stripe | P,W,(U) |
 *  +--+---+-------------+---+---+---+------+------------------+-------+---------+
 *   kind: 0 = all pages free, 1 = no page free, 2 = mixed. PFX / SFX: first / last page free.
 *   HST: some reservation starts in the subtree. maxrun log2: r = ceil(log2(longest free run
 *   inside the subtree)), so 2^r bounds it from above and never hides a fit. An all-free pointer
 *   may carry just its kind (a new table is installed with a zero field): readers take PFX and
 *   SFX of kind 0 as set.
 * Bits 59..62 are protection keys only in leaves and only with CR4.PKE/PKS (never set here), and
 * leaves use only 52..54, so nothing here depends on protection keys.
 *
 * First-free hint, per table (hint stripe, 9 bits): no entry below it has a free page (it is a
 * lower bound on the first entry that is not full; 511 when all are). Every clear lowers it to the
 * first entry it touches; a mark that fills the entry at the hint moves it past the full entries
 * that follow; a new table starts at 0, which is always true.
 *
 * Search ("next maximal free run >= n pages at or after from", the placement policy is vmm.c's):
 * scan entries in address order, carrying the free run that reaches the current entry. Each table
 * is entered at its hint (the carried run ends there). With no run carried, entries that can
 * neither hold nor start a fit (full, or mixed with a short maxrun and no free suffix) are passed
 * in a tight loop on the raw bits. An all-free or full subtree costs one entry. A mixed subtree is
 * entered only if its longest inner run could be >= n, or the carried run plus its free prefix
 * could be; otherwise the run restarts from its exact free suffix, found down its right edge.
 * Bound: O(levels x 512) entries per search in the worst case, independent of how many pages are
 * mapped; a subtree is entered only when a fit may lie in it (false hits at most 2x the needed
 * length, from the log2 rounding).
 * Marking and clearing touch the entries of the range (one per aligned chunk inside it, 512 per
 * level at most at its edges) and keep the summaries: a leaf table's is derived from the old one
 * with short scans next to the range ("leaf summaries" below) and recounted (512 entries) only
 * when those scans cannot prove it; an upper table's is recounted only when a child's summary
 * changed. So O(levels x 512) entries per mark or clear, typically a few dozen.
 * backend_work counts entries read: by searches, marks, clears, queries and summary upkeep (a
 * recount is 512, a scan one per entry read).
 */
#include "vmm.h"
#include <machine/pte.h>

#define RES_RESERVED PTE_SW_BIT(0)
#define RES_START PTE_SW_BIT(1)

enum summary_kind { SUMMARY_ALL_FREE = 0, SUMMARY_FULL = 1, SUMMARY_MIXED = 2 };

#define SUM_KIND_MASK 3u
#define SUM_FREE_PREFIX (1u << 2)
#define SUM_FREE_SUFFIX (1u << 3)
#define SUM_HAS_START (1u << 4)
#define SUM_MAXRUN_SHIFT 5
#define SUM_MAXRUN_MASK 0x1Fu

struct summary {
	enum summary_kind kind;
	bool free_prefix, free_suffix, has_start;
	uint64_t maxrun; /* upper bound on the longest free run, in pages */
};

static uint64_t *child_table(pte_t e)
{
	return pt_table(pte_address(e));
}

static uint64_t span_pages_clipped(uint64_t first, uint64_t last)
{
	return (last - first) / PAGE_SIZE + 1;
}

static struct summary entry_summary(pte_t e, unsigned level)
{
	if (pte_is_table(e, level)) {
		unsigned bits = (unsigned)(pte_software(e) >> PTE_SW_FIELD_SHIFT);
		struct summary s = {
			.kind = (enum summary_kind)(bits & SUM_KIND_MASK),
			.free_prefix = (bits & SUM_FREE_PREFIX) != 0,
			.free_suffix = (bits & SUM_FREE_SUFFIX) != 0,
			.has_start = (bits & SUM_HAS_START) != 0,
		};
		if (s.kind == SUMMARY_ALL_FREE)
			return (struct summary){ SUMMARY_ALL_FREE, true, true, false, PT_SPAN_PAGES(level) };
		else if (s.kind == SUMMARY_MIXED)
			s.maxrun = (uint64_t)1 << ((bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK);
		return s;
	}
	if (e & RES_RESERVED)
		return (struct summary){ .kind = SUMMARY_FULL, .has_start = (e & RES_START) != 0 };
	return (struct summary){ SUMMARY_ALL_FREE, true, true, false, PT_SPAN_PAGES(level) };
}

static unsigned ceil_log2(uint64_t x)
{
	return x <= 1 ? 0 : ilog2_u64(x - 1) + 1;
}

#define WORD_BITS 64u
#define LEAF_WORDS (PT_ENTRIES / WORD_BITS)

/* Longest run of set bits in a bitmap of LEAF_WORDS words (bit j of word w is entry 64w + j). */
static uint64_t longest_run(const uint64_t *words)
{
	uint64_t best = 0, carry = 0; /* carry: the run reaching the start of the current word */
	for (unsigned w = 0; w < LEAF_WORDS; w++) {
		uint64_t x = words[w];
		if (x == ~0ull) {
			carry += WORD_BITS;
			continue;
		}
		unsigned low = (unsigned)__builtin_ctzll(~x), high = (unsigned)__builtin_clzll(~x);
		best = MAX(best, carry + low);
		carry = high;
		/* x has a clear bit, so low + high < 64: drop both end runs, measure the inner ones. */
		x &= (~0ull << low) & (~0ull >> high);
		while (x) {
			unsigned at = (unsigned)__builtin_ctzll(x);
			unsigned len = (unsigned)__builtin_ctzll(~(x >> at));
			best = MAX(best, len);
			x &= ~(((1ull << len) - 1) << at);
		}
	}
	return MAX(best, carry);
}

static pte_t summary_bits(enum summary_kind kind, bool free_prefix, bool free_suffix, bool has_start,
			  uint64_t best)
{
	unsigned bits = (unsigned)kind | (free_prefix ? SUM_FREE_PREFIX : 0) |
			(free_suffix ? SUM_FREE_SUFFIX : 0) | (has_start ? SUM_HAS_START : 0);
	if (kind == SUMMARY_MIXED)
		bits |= ceil_log2(best) << SUM_MAXRUN_SHIFT;
	return (pte_t)bits << PTE_SW_FIELD_SHIFT;
}

/*
 * summarize() for a table of 4 KiB entries: a bitmap of the free entries, built in one branch-free
 * pass, then the runs found word by word (one step per run, not per entry).
 */
static pte_t summarize_leaves(const uint64_t *table)
{
	uint64_t free[LEAF_WORDS];
	pte_t any = 0, all = ~(pte_t)0;
	for (unsigned w = 0; w < LEAF_WORDS; w++) {
		uint64_t bits = 0;
		for (unsigned j = 0; j < WORD_BITS; j++) {
			pte_t e = table[w * WORD_BITS + j];
			any |= e;
			all &= e;
			bits |= (uint64_t)((e & RES_RESERVED) == 0) << j;
		}
		free[w] = bits;
	}
	enum summary_kind kind = !(any & RES_RESERVED) ? SUMMARY_ALL_FREE :
				 (all & RES_RESERVED) ? SUMMARY_FULL : SUMMARY_MIXED;
	return summary_bits(kind, free[0] & 1, free[LEAF_WORDS - 1] >> 63, (any & RES_START) != 0,
			    kind == SUMMARY_MIXED ? longest_run(free) : 0);
}

/* Software field for a pointer to `table` (whose entries are at `level`). */
static pte_t summarize(const uint64_t *table, unsigned level)
{
	if (level == 0)
		return summarize_leaves(table);
	unsigned free_children = 0, full_children = 0;
	bool has_start = false;
	uint64_t run = 0, best = 0;
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		/* Most entries of a sparse table are unused: take them four at a time, undecoded. */
		if (i % 4 == 0 && !pte_is_used(table[i] | table[i + 1] | table[i + 2] | table[i + 3])) {
			free_children += 4;
			run += 4 * PT_SPAN_PAGES(level);
			i += 3;
			continue;
		}
		struct summary c = entry_summary(table[i], level);
		has_start |= c.has_start;
		if (c.kind == SUMMARY_ALL_FREE) {
			free_children++;
			run += c.maxrun;
			continue;
		}
		full_children += c.kind == SUMMARY_FULL;
		if (c.free_prefix)
			run += c.maxrun;
		best = MAX(best, MAX(run, c.maxrun));
		run = c.free_suffix ? c.maxrun : 0;
	}
	best = MAX(best, run);
	enum summary_kind kind = free_children == PT_ENTRIES ? SUMMARY_ALL_FREE :
				 full_children == PT_ENTRIES ? SUMMARY_FULL : SUMMARY_MIXED;
	return summary_bits(kind, entry_summary(table[0], level).free_prefix,
			    entry_summary(table[PT_ENTRIES - 1], level).free_suffix, has_start, best);
}

/* summarize(), counted as the work it is: every entry of the table is read. */
static pte_t recount(struct vmm_context *ctx, const uint64_t *table, unsigned level)
{
	ctx->backend_work += PT_ENTRIES;
	return summarize(table, level);
}

/* --- leaf summaries, kept incrementally ------------------------------------------------------ */

/*
 * A leaf table's summary changes with nearly every reservation but rarely by much, so after
 * entries [first, last] changed it is derived from the old one (exact by the invariant), proving
 * what the change can affect with scans next to the range, and recounted (512 entries) only when
 * that fails:
 *   mark  (free -> reserved): no run grows, so the longest keeps its log2 bucket B as long as a
 *         piece left next to the range still has more than 2^(B-1) pages (B = 0: one page).
 *   clear (-> free): only the run through the range grows, to L + len + R where L and R are the
 *         old free runs on either side (each at most 2^B, so the scans are short); a reserved
 *         entry next to the range proves the table is not all free; a start right after the
 *         range, or in the reserved run before it, proves the table still holds a start.
 * Scans count as work, one per entry read.
 */
struct leaf_change {
	bool marked; /* free -> reserved; otherwise -> free */
	unsigned first, last;
	bool start; /* marked: RES_START was set in the range */
};

/* Free entries from index i stepping by `step` (+1 or -1), at most `cap` (rounded up to 4). */
static unsigned free_entries_from(struct vmm_context *ctx, const uint64_t *table, int i, int step,
				  unsigned cap)
{
	unsigned n = 0;
	/* Four at a time while all four are free: the long scans are over long free runs. */
	for (; n < cap && i + 3 * step >= 0 && i + 3 * step < (int)PT_ENTRIES &&
	       !((table[i] | table[i + step] | table[i + 2 * step] | table[i + 3 * step]) & RES_RESERVED);
	     i += 4 * step)
		n += 4;
	for (; n < cap && i >= 0 && i < (int)PT_ENTRIES && !(table[i] & RES_RESERVED); i += step)
		n++;
	ctx->backend_work += n + 1;
	return n;
}

static bool leaf_reserved(const uint64_t *table, int i)
{
	return i >= 0 && i < (int)PT_ENTRIES && (table[i] & RES_RESERVED);
}

/* A reservation start outside [first, last]: right after it, or in the reserved run before it. */
static bool start_survives(struct vmm_context *ctx, const uint64_t *table, unsigned first,
			   unsigned last)
{
	if (last + 1 < PT_ENTRIES && (table[last + 1] & RES_START))
		return true;
	for (int i = (int)first - 1; leaf_reserved(table, i); i--) {
		ctx->backend_work++;
		if (table[i] & RES_START)
			return true;
	}
	return false;
}

/* The new summary after a mark, or 0 (never a valid field for a marked table) if unproven. */
static pte_t leaf_summary_after_mark(struct vmm_context *ctx, const uint64_t *table, unsigned bits,
				     const struct leaf_change *c)
{
	unsigned kind = bits & SUM_KIND_MASK, bucket = (bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK;
	if (kind == SUMMARY_ALL_FREE) {
		if (c->first == 0 && c->last == PT_ENTRIES - 1)
			return summary_bits(SUMMARY_FULL, false, false, c->start, 0);
		return summary_bits(SUMMARY_MIXED, c->first > 0, c->last < PT_ENTRIES - 1, c->start,
				    MAX(c->first, PT_ENTRIES - 1 - c->last));
	}
	if (kind != SUMMARY_MIXED)
		return 0;
	unsigned need = bucket == 0 ? 1 : (1u << (bucket - 1)) + 1;
	if (free_entries_from(ctx, table, (int)c->first - 1, -1, need) < need &&
	    free_entries_from(ctx, table, (int)c->last + 1, 1, need) < need)
		return 0;
	return summary_bits(SUMMARY_MIXED, (bits & SUM_FREE_PREFIX) && c->first > 0,
			    (bits & SUM_FREE_SUFFIX) && c->last < PT_ENTRIES - 1,
			    (bits & SUM_HAS_START) || c->start, (uint64_t)1 << bucket);
}

/* The new summary after a clear, or 0 (never a valid field for a table with a free page). */
static pte_t leaf_summary_after_clear(struct vmm_context *ctx, const uint64_t *table, unsigned bits,
				      const struct leaf_change *c)
{
	unsigned kind = bits & SUM_KIND_MASK, bucket = (bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK;
	unsigned first = c->first, last = c->last, len = last - first + 1;
	if (kind == SUMMARY_ALL_FREE ||
	    (!leaf_reserved(table, (int)first - 1) && !leaf_reserved(table, (int)last + 1)))
		return 0; /* may have become all free */
	bool has_start = (bits & SUM_HAS_START) && start_survives(ctx, table, first, last);
	if ((bits & SUM_HAS_START) && !has_start)
		return 0;
	uint64_t longest;
	if (kind == SUMMARY_FULL) {
		longest = len;
	} else if (((uint64_t)1 << bucket) >= PT_ENTRIES - 1) {
		longest = (uint64_t)1 << bucket; /* a reserved entry is left: no run can pass 2^bucket */
	} else {
		uint64_t through = free_entries_from(ctx, table, (int)first - 1, -1, PT_ENTRIES) + len +
				   free_entries_from(ctx, table, (int)last + 1, 1, PT_ENTRIES);
		longest = MAX(through, (uint64_t)1 << bucket);
	}
	return summary_bits(SUMMARY_MIXED, (bits & SUM_FREE_PREFIX) || first == 0,
			    (bits & SUM_FREE_SUFFIX) || last == PT_ENTRIES - 1, has_start, longest);
}

/*
 * Re-summarises the table under entry i (at `level`); true if the entry changed. `change` says
 * what happened to a leaf table (level 1) so its summary can be derived; NULL recounts.
 */
static bool refresh(struct vmm_context *ctx, uint64_t *table, unsigned level, unsigned i,
		    const struct leaf_change *change)
{
	pte_t old = table[i] & ~PTE_COUNT_STRIPE_MASK;
	const uint64_t *child = child_table(old);
	pte_t software = 0;
	if (level == 1 && change) {
		unsigned bits = (unsigned)(pte_software(old) >> PTE_SW_FIELD_SHIFT);
		software = change->marked ? leaf_summary_after_mark(ctx, child, bits, change) :
					    leaf_summary_after_clear(ctx, child, bits, change);
	}
	if (!software)
		software = recount(ctx, child, level - 1);
	pte_t now = (old & ~PTE_SW_FIELD_MASK) | software;
	if (now == old)
		return false;
	pt_slot_write(table, i, now);
	return true;
}

/* Canonical address of entry i of a table at `level` starting at base. */
static uint64_t entry_base(unsigned level, uint64_t base, unsigned i)
{
	if (level == PT_TOP_LEVEL)
		return pt_canonical((uint64_t)i << PT_LEVEL_SHIFT(level));
	return base + (uint64_t)i * PT_SPAN_BYTES(level);
}

static uint64_t entry_last(unsigned level, uint64_t ebase)
{
	return ebase + PT_SPAN_BYTES(level) - 1;
}

/* --- first-free hint ------------------------------------------------------------------------ */

/* Every page under entry e (at `level`) is reserved. */
static bool entry_full(pte_t e, unsigned level)
{
	if (pte_is_table(e, level))
		return ((pte_software(e) >> PTE_SW_FIELD_SHIFT) & SUM_KIND_MASK) == SUMMARY_FULL;
	return (e & RES_RESERVED) != 0;
}

/* Entry i may now hold a free page. */
static void hint_lower(uint64_t *table, unsigned i)
{
	if (i < pte_hint_read(table))
		pte_hint_write(table, i);
}

/* The entry at the hint became full: move the hint past the full entries that follow. */
static void hint_advance(struct vmm_context *ctx, uint64_t *table, unsigned level)
{
	unsigned hint = pte_hint_read(table);
	while (hint < PTE_HINT_MAX && entry_full(table[hint], level)) {
		ctx->backend_work++;
		hint++;
	}
	pte_hint_write(table, hint);
}

/* --- search --------------------------------------------------------------------------------- */

struct search {
	struct vmm_context *ctx;
	uint64_t min_pages;
	uint64_t enough_pages;         /* a run this long is returned without looking for its end */
	unsigned short_buckets;        /* maxrun log2 below this: runs too short (ceil_log2(min)) */
	uint64_t run_start, run_pages; /* the free run reaching the current entry */
	struct vmm_free_run found;
};

/* Extends the carried run; true once it is long enough to be the answer as it stands. */
static bool run_extend(struct search *s, uint64_t start, uint64_t pages)
{
	if (s->run_pages == 0)
		s->run_start = start;
	s->run_pages += pages;
	if (s->run_pages < s->enough_pages)
		return false;
	s->found = (struct vmm_free_run){ s->run_start, s->run_pages };
	return true;
}

/* The carried run ends here; true if it is the answer. */
static bool run_end(struct search *s)
{
	bool fits = s->run_pages >= s->min_pages;
	if (fits)
		s->found = (struct vmm_free_run){ s->run_start, s->run_pages };
	s->run_pages = 0;
	return fits;
}

/* Exact number of free pages at the end of a subtree. */
static uint64_t free_suffix_pages(struct vmm_context *ctx, const uint64_t *table, unsigned level)
{
	uint64_t pages = 0;
	for (unsigned i = PT_ENTRIES; i-- > 0;) {
		ctx->backend_work++;
		struct summary c = entry_summary(table[i], level);
		if (c.kind == SUMMARY_ALL_FREE) {
			pages += PT_SPAN_PAGES(level);
			continue;
		}
		if (c.free_suffix)
			pages += free_suffix_pages(ctx, child_table(table[i]), level - 1);
		break;
	}
	return pages;
}

static bool worth_entering(const struct search *s, const struct summary *c)
{
	return c->maxrun >= s->min_pages ||
	       (s->run_pages > 0 && c->free_prefix && s->run_pages + c->maxrun >= s->min_pages);
}

/*
 * With no run carried in, the first entry from i to end (of a table above level 0) that cannot be
 * passed over without a look inside. An entry can be passed when it is full, or when its longest
 * inner run is too short (maxrun log2 < short_buckets) and no run leaves it through its end; that
 * holds for any clipped part of it too. Decided from the raw bits: this is the search's inner loop.
 */
static unsigned skip_dead_entries(const uint64_t *table, unsigned i, unsigned end,
				  unsigned short_buckets)
{
	for (; i <= end; i++) {
		pte_t e = table[i];
		if ((e & (PTE_PRESENT | PTE_LARGE)) != PTE_PRESENT) { /* not a pointer */
			if (!(e & RES_RESERVED))
				break;
			continue;
		}
		unsigned bits = (unsigned)(pte_software(e) >> PTE_SW_FIELD_SHIFT);
		if ((bits & SUM_KIND_MASK) == SUMMARY_FULL)
			continue;
		if ((bits & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) != SUMMARY_MIXED ||
		    ((bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK) >= short_buckets)
			break;
	}
	return i;
}

/* search_table over entries [i, end] of a table of 4 KiB entries: one bit test per entry. */
static bool search_leaves(struct search *s, const uint64_t *table, uint64_t base, unsigned i,
			  unsigned end)
{
	unsigned from = i;
	bool found = false;
	for (; i <= end && !found; i++)
		found = (table[i] & RES_RESERVED) ? run_end(s) : run_extend(s, base + i * PAGE_SIZE, 1);
	s->ctx->backend_work += i - from;
	return found;
}

static bool search_table(struct search *s, const uint64_t *table, unsigned level, uint64_t base,
			 uint64_t first, uint64_t last)
{
	unsigned i = PT_INDEX(level, first), end = PT_INDEX(level, last);
	unsigned hint = pte_hint_read(table);
	s->ctx->backend_work++;
	if (i < hint) {
		/* Entries below the hint are full: the carried run ends at the first of them. */
		if (run_end(s))
			return true;
		i = hint;
	}
	if (level == 0)
		return search_leaves(s, table, base, i, end);
	for (; i <= end; i++) {
		if (s->run_pages == 0) {
			unsigned from = i;
			i = skip_dead_entries(table, i, end, s->short_buckets);
			s->ctx->backend_work += i - from;
			if (i > end)
				break;
		}
		s->ctx->backend_work++;
		uint64_t ebase = entry_base(level, base, i);
		uint64_t lo = MAX(first, ebase), hi = MIN(last, entry_last(level, ebase));
		bool whole = lo == ebase && hi == entry_last(level, ebase);
		pte_t e = table[i];
		struct summary c = entry_summary(e, level);
		if (c.kind == SUMMARY_ALL_FREE && (whole || !pte_is_table(e, level))) {
			if (run_extend(s, lo, span_pages_clipped(lo, hi)))
				return true;
		} else if (c.kind == SUMMARY_FULL && (whole || !pte_is_table(e, level))) {
			if (run_end(s))
				return true;
		} else if (!whole || worth_entering(s, &c)) {
			if (search_table(s, child_table(e), level - 1, ebase, lo, hi))
				return true;
		} else {
			/* No fit can end in or start inside this subtree: only its suffix carries on. */
			if (run_end(s))
				return true;
			if (c.free_suffix) {
				uint64_t pages = free_suffix_pages(s->ctx, child_table(e), level - 1);
				if (run_extend(s, ebase + PT_SPAN_BYTES(level) - pages * PAGE_SIZE, pages))
					return true;
			}
		}
	}
	return false;
}

static bool pagetable_find_free_run(struct vmm_context *ctx, const struct vmm_region *region,
				    uint64_t from, uint64_t min_pages, uint64_t enough_pages,
				    struct vmm_free_run *out)
{
	uint64_t end = region->base + region->pages * PAGE_SIZE;
	if (from >= end)
		return false;
	struct search s = { .ctx = ctx,
			    .min_pages = min_pages,
			    .enough_pages = enough_pages,
			    .short_buckets = ceil_log2(min_pages) };
	if (!search_table(&s, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, MAX(from, region->base),
			  end - 1) &&
	    !run_end(&s))
		return false;
	*out = s.found;
	return true;
}

/* --- marking and clearing ------------------------------------------------------------------- */

struct mark {
	struct vmm_context *ctx;
	uint64_t start; /* the page that gets RES_START; 1 (never a page address) for none */
};

#define NO_START_PAGE 1

static enum vm_status mark_table(struct mark *m, uint64_t *table, unsigned level, uint64_t base,
				 uint64_t first, uint64_t last, bool *changed);

/* Marks [first, last] reserved in the entries of `table`; *changed when one of them changed. */
static enum vm_status mark_entries(struct mark *m, uint64_t *table, unsigned level, uint64_t base,
				   uint64_t first, uint64_t last, bool *changed)
{
	for (unsigned i = PT_INDEX(level, first); i <= PT_INDEX(level, last); i++) {
		m->ctx->backend_work++;
		uint64_t ebase = entry_base(level, base, i);
		uint64_t lo = MAX(first, ebase), hi = MIN(last, entry_last(level, ebase));
		bool whole = lo == ebase && hi == entry_last(level, ebase);
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		if (level == 0 || (whole && !pte_is_used(e))) {
			MM_ASSERT(!(e & RES_RESERVED), "mark_table: %llx already reserved",
				  (unsigned long long)ebase);
			pt_slot_write(table, i, e | RES_RESERVED | (ebase == m->start ? RES_START : 0));
			*changed = true;
			continue;
		}
		if (!pte_is_table(e, level)) {
			MM_ASSERT(!pte_is_used(e), "mark_table: chunk at %llx not free",
				  (unsigned long long)ebase);
			if (pt_install_table(&m->ctx->pt, table, level, i, 0) != VM_OK)
				return VM_ERR_NO_MEMORY;
			*changed = true;
		}
		bool child_changed = false;
		enum vm_status st = mark_table(m, child_table(table[i]), level - 1, ebase, lo, hi,
					       &child_changed);
		struct leaf_change change = { .marked = true,
					      .first = PT_INDEX(0, lo),
					      .last = PT_INDEX(0, hi),
					      .start = m->start >= lo && m->start <= hi };
		if (child_changed && refresh(m->ctx, table, level, i, &change))
			*changed = true;
		if (st != VM_OK)
			return st;
	}
	return VM_OK;
}

/* Marks [first, last] reserved below `table`, then moves its hint past what became full. */
static enum vm_status mark_table(struct mark *m, uint64_t *table, unsigned level, uint64_t base,
				 uint64_t first, uint64_t last, bool *changed)
{
	enum vm_status st = mark_entries(m, table, level, base, first, last, changed);
	unsigned hint = pte_hint_read(table);
	if (PT_INDEX(level, first) <= hint && hint <= PT_INDEX(level, last))
		hint_advance(m->ctx, table, level);
	return st;
}

/* Clears reservation bits in [first, last] below `table`, freeing tables that become empty. */
static bool clear_table(struct vmm_context *ctx, uint64_t *table, unsigned level, uint64_t base,
			uint64_t first, uint64_t last)
{
	bool changed = false;
	hint_lower(table, PT_INDEX(level, first)); /* every entry in the range gets a free page */
	for (unsigned i = PT_INDEX(level, first); i <= PT_INDEX(level, last); i++) {
		ctx->backend_work++;
		uint64_t ebase = entry_base(level, base, i);
		uint64_t lo = MAX(first, ebase), hi = MIN(last, entry_last(level, ebase));
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		if (pte_is_table(e, level)) {
			bool child_changed = clear_table(ctx, child_table(e), level - 1, ebase, lo, hi);
			struct leaf_change change = { .marked = false,
						      .first = PT_INDEX(0, lo),
						      .last = PT_INDEX(0, hi) };
			if (pt_free_table_if_empty(&ctx->pt, table, level, i) ||
			    (child_changed && refresh(ctx, table, level, i, &change)))
				changed = true;
		} else if (e & RES_RESERVED) {
			MM_ASSERT(level == 0 || (lo == ebase && hi == entry_last(level, ebase)),
				  "clear_table: chunk at %llx only partly cleared", (unsigned long long)ebase);
			pt_slot_write(table, i, e & ~(RES_RESERVED | RES_START));
			changed = true;
		}
	}
	return changed;
}

static enum vm_status mark_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
				 uint64_t start_page)
{
	struct mark m = { .ctx = ctx, .start = start_page };
	bool changed = false;
	uint64_t last = addr + pages * PAGE_SIZE - 1;
	enum vm_status st = mark_table(&m, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, addr, last, &changed);
	if (st != VM_OK) /* the range was free: clearing all of it restores it exactly */
		clear_table(ctx, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, addr, last);
	return st;
}

static enum vm_status pagetable_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
					      uint64_t addr, uint64_t pages)
{
	(void)region;
	return mark_range(ctx, addr, pages, addr);
}

/* --- point and range queries ---------------------------------------------------------------- */

struct page_state {
	bool reserved;
	bool start; /* the reservation starts at exactly this page */
};

/* One loop over levels down to the entry that decides the page. */
static struct page_state page_state(struct vmm_context *ctx, uint64_t addr)
{
	const uint64_t *table = pt_table(ctx->pt.root);
	for (unsigned level = PT_TOP_LEVEL;; level--) {
		ctx->backend_work++;
		pte_t e = table[PT_INDEX(level, addr)];
		if (!pte_is_table(e, level)) {
			bool at_chunk_start = IS_ALIGNED(addr, PT_SPAN_BYTES(level));
			return (struct page_state){ (e & RES_RESERVED) != 0,
						    (e & RES_START) != 0 && at_chunk_start };
		}
		table = child_table(e);
	}
}

enum find_target { FIND_RESERVED, FIND_FREE_OR_START, FIND_START };
enum find_direction { FIND_FORWARD, FIND_BACKWARD };

struct find {
	struct vmm_context *ctx;
	enum find_target target;
	enum find_direction direction;
	uint64_t hit;
};

/* May the subtree summarised by c hold a page of the target? */
static bool may_hold(enum find_target target, const struct summary *c)
{
	switch (target) {
	case FIND_RESERVED:
		return c->kind != SUMMARY_ALL_FREE;
	case FIND_FREE_OR_START:
		return c->kind != SUMMARY_FULL || c->has_start;
	case FIND_START:
		return c->has_start;
	}
	return false;
}

/* Decides a non-pointer entry covering [lo, hi] (its chunk starts at ebase). */
static bool find_in_chunk(struct find *f, pte_t e, uint64_t ebase, uint64_t lo, uint64_t hi)
{
	bool reserved = (e & RES_RESERVED) != 0;
	bool start_inside = (e & RES_START) && ebase >= lo;
	uint64_t nearest = f->direction == FIND_FORWARD ? lo : ALIGN_DOWN(hi, PAGE_SIZE);
	if (f->target == FIND_RESERVED && reserved)
		f->hit = nearest;
	else if (f->target == FIND_FREE_OR_START && !reserved)
		f->hit = nearest;
	else if (f->target != FIND_RESERVED && reserved && start_inside)
		f->hit = ebase;
	else
		return false;
	return true;
}

static bool find_page(struct find *f, const uint64_t *table, unsigned level, uint64_t base,
		      uint64_t first, uint64_t last)
{
	unsigned lo_index = PT_INDEX(level, first), hi_index = PT_INDEX(level, last);
	for (unsigned k = 0; k <= hi_index - lo_index; k++) {
		f->ctx->backend_work++;
		unsigned i = f->direction == FIND_FORWARD ? lo_index + k : hi_index - k;
		uint64_t ebase = entry_base(level, base, i);
		uint64_t lo = MAX(first, ebase), hi = MIN(last, entry_last(level, ebase));
		pte_t e = table[i];
		if (!pte_is_table(e, level)) {
			if (find_in_chunk(f, e, ebase, lo, hi))
				return true;
			continue;
		}
		struct summary c = entry_summary(e, level);
		if (may_hold(f->target, &c) && find_page(f, child_table(e), level - 1, ebase, lo, hi))
			return true;
	}
	return false;
}

/* First/last page of the target in [first, last]; false when there is none. */
static bool find_range(struct vmm_context *ctx, enum find_target target, enum find_direction dir,
		       uint64_t first, uint64_t last, uint64_t *hit)
{
	if (first > last)
		return false;
	struct find f = { .ctx = ctx, .target = target, .direction = dir };
	if (!find_page(&f, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, first, last))
		return false;
	*hit = f.hit;
	return true;
}

static void pagetable_query(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
			    struct vmm_extent *out)
{
	uint64_t base = region->base, last = region->base + region->pages * PAGE_SIZE - 1;
	uint64_t start = base, end = last + 1, hit;
	struct page_state here = page_state(ctx, addr);
	if (!here.reserved) {
		if (addr > base && find_range(ctx, FIND_RESERVED, FIND_BACKWARD, base, addr - 1, &hit))
			start = hit + PAGE_SIZE;
		if (find_range(ctx, FIND_RESERVED, FIND_FORWARD, addr + PAGE_SIZE, last, &hit))
			end = hit;
	} else {
		bool found = find_range(ctx, FIND_START, FIND_BACKWARD, base, addr, &hit);
		MM_ASSERT(found, "pagetable_query: reservation at %llx has no start",
			  (unsigned long long)addr);
		start = hit;
		if (find_range(ctx, FIND_FREE_OR_START, FIND_FORWARD, addr + PAGE_SIZE, last, &hit))
			end = hit;
	}
	*out = (struct vmm_extent){
		.state = here.reserved ? VMM_RANGE_RESERVED : VMM_RANGE_FREE,
		.start = start,
		.pages = (end - start) / PAGE_SIZE,
	};
}

/* --- release and resize --------------------------------------------------------------------- */

struct tally {
	uint64_t reserved_pages;
	uint64_t starts;
};

static void tally_table(struct vmm_context *ctx, const uint64_t *table, unsigned level, uint64_t base,
			uint64_t first, uint64_t last, struct tally *t)
{
	for (unsigned i = PT_INDEX(level, first); i <= PT_INDEX(level, last); i++) {
		ctx->backend_work++;
		uint64_t ebase = entry_base(level, base, i);
		uint64_t lo = MAX(first, ebase), hi = MIN(last, entry_last(level, ebase));
		bool whole = lo == ebase && hi == entry_last(level, ebase);
		pte_t e = table[i];
		if (!pte_is_table(e, level)) {
			if (e & RES_RESERVED)
				t->reserved_pages += span_pages_clipped(lo, hi);
			t->starts += (e & RES_START) && ebase >= lo;
			continue;
		}
		struct summary c = entry_summary(e, level);
		if (whole && c.kind == SUMMARY_FULL && !c.has_start)
			t->reserved_pages += PT_SPAN_PAGES(level);
		else if (!(whole && c.kind == SUMMARY_ALL_FREE))
			tally_table(ctx, child_table(e), level - 1, ebase, lo, hi, t);
	}
}

/* Checks that [addr, addr + pages) is exactly one reservation. */
static enum vm_status check_reservation(struct vmm_context *ctx, const struct vmm_region *region,
					uint64_t addr, uint64_t pages)
{
	struct page_state first = page_state(ctx, addr);
	if (!first.reserved)
		return VM_ERR_NOT_RESERVED;
	if (!first.start)
		return VM_ERR_NOT_RESERVATION_START;
	struct tally t = { 0, 0 };
	uint64_t end = addr + pages * PAGE_SIZE;
	tally_table(ctx, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, addr, end - 1, &t);
	if (t.reserved_pages != pages || t.starts != 1)
		return VM_ERR_WRONG_LENGTH;
	if (end < region->base + region->pages * PAGE_SIZE) {
		struct page_state after = page_state(ctx, end);
		if (after.reserved && !after.start)
			return VM_ERR_WRONG_LENGTH;
	}
	return VM_OK;
}

static enum vm_status pagetable_release(struct vmm_context *ctx, const struct vmm_region *region,
					uint64_t addr, uint64_t pages)
{
	enum vm_status st = check_reservation(ctx, region, addr, pages);
	if (st == VM_OK)
		clear_table(ctx, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, addr,
			    addr + pages * PAGE_SIZE - 1);
	return st;
}

static uint64_t split_child(void *cookie, uint64_t chunk, unsigned child_level, unsigned index)
{
	(void)cookie;
	(void)child_level;
	pte_t start = index == 0 ? (chunk & RES_START) : 0;
	return (chunk & RES_RESERVED) | start;
}

static uint64_t summarize_for_pt(void *cookie, const uint64_t *table, unsigned level)
{
	return recount(cookie, table, level);
}

/*
 * Makes `boundary` an entry boundary at every level, splitting the chunk marks that straddle it.
 * A split that cannot allocate leaves an equivalent state (split tables say what the chunk said).
 */
static enum vm_status split_at(struct vmm_context *ctx, uint64_t boundary)
{
	uint64_t *table = pt_table(ctx->pt.root);
	for (unsigned level = PT_TOP_LEVEL; level > 0; level--) {
		ctx->backend_work++;
		unsigned i = PT_INDEX(level, boundary);
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		if (!pte_is_table(e, level)) {
			if (!(e & RES_RESERVED) || IS_ALIGNED(boundary, PT_SPAN_BYTES(level)))
				return VM_OK;
			if (pte_is_present(e))
				return VM_ERR_BUSY;
			pt_slot_write(table, i, 0);
			if (pt_install_table(&ctx->pt, table, level, i, 0) != VM_OK) {
				pt_slot_write(table, i, e);
				return VM_ERR_NO_MEMORY;
			}
			uint64_t *child = child_table(table[i]);
			for (unsigned c = 0; c < PT_ENTRIES; c++)
				pt_slot_write(child, c, split_child(NULL, e, level - 1, c));
			refresh(ctx, table, level, i, NULL);
		}
		table = child_table(table[i]);
	}
	return VM_OK;
}

/* Re-summarises the tables on the path to addr, bottom-up (after split_at changed them). */
static void refresh_path(struct vmm_context *ctx, uint64_t addr)
{
	uint64_t *path[PT_LEVELS];
	uint64_t *table = pt_table(ctx->pt.root);
	unsigned level = PT_TOP_LEVEL;
	for (;; level--) {
		path[level] = table;
		pte_t e = table[PT_INDEX(level, addr)];
		if (!pte_is_table(e, level))
			break;
		table = child_table(e);
	}
	for (level++; level <= PT_TOP_LEVEL; level++)
		refresh(ctx, path[level], level, PT_INDEX(level, addr), NULL);
}

static enum vm_status pagetable_resize(struct vmm_context *ctx, const struct vmm_region *region,
				       uint64_t start, uint64_t old_pages, uint64_t new_pages)
{
	(void)region;
	uint64_t old_end = start + old_pages * PAGE_SIZE, new_end = start + new_pages * PAGE_SIZE;
	if (new_pages > old_pages)
		return mark_range(ctx, old_end, new_pages - old_pages, NO_START_PAGE);
	enum vm_status st = split_at(ctx, new_end);
	if (st != VM_OK)
		return st;
	clear_table(ctx, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, new_end, old_end - 1);
	refresh_path(ctx, new_end - PAGE_SIZE);
	return VM_OK;
}

/* --- setup ---------------------------------------------------------------------------------- */

static enum vm_status pagetable_init(struct vmm_context *ctx)
{
	ctx->chunk_ops = (struct pt_chunk_ops){ .split = split_child,
						.summarize = summarize_for_pt,
						.cookie = ctx };
	ctx->pt.chunk_ops = &ctx->chunk_ops;
	return VM_OK;
}

static void pagetable_destroy(struct vmm_context *ctx)
{
	ctx->pt.chunk_ops = NULL;
}

/* --- self-check ---------------------------------------------------------------------------- */

/* What a subtree holds, found entry by entry from the RES/STA bits alone (no summary is read). */
struct exact {
	enum summary_kind kind;
	uint64_t prefix, suffix, longest; /* free pages at its start, at its end; longest free run */
	bool has_start;
};

static struct exact exact_table(const uint64_t *table, unsigned level, uint64_t base,
				unsigned first, unsigned end, unsigned *bad);

static struct exact exact_entry(pte_t e, unsigned level, uint64_t ebase, unsigned *bad)
{
	if (pte_is_table(e, level)) {
		struct exact t = exact_table(child_table(e), level - 1, ebase, 0, PT_ENTRIES, bad);
		pte_t expect = summary_bits(t.kind, t.prefix > 0, t.suffix > 0, t.has_start, t.longest);
		pte_t kind_only = (pte_t)SUM_KIND_MASK << PTE_SW_FIELD_SHIFT;
		if (pte_software(e) != expect &&
		    (t.kind != SUMMARY_ALL_FREE || pte_software(e) != (expect & kind_only))) {
			mm_log("pagetable self-check: level %u entry at %llx says %llx, recount %llx\n",
			       level, (unsigned long long)ebase, (unsigned long long)pte_software(e),
			       (unsigned long long)expect);
			(*bad)++;
		}
		return t;
	}
	uint64_t span = PT_SPAN_PAGES(level);
	if (e & RES_RESERVED)
		return (struct exact){ SUMMARY_FULL, 0, 0, 0, (e & RES_START) != 0 };
	return (struct exact){ SUMMARY_ALL_FREE, span, span, span, false };
}

/* Entries [first, end) of a table, combined; checks the table's hint on the way. */
static struct exact exact_table(const uint64_t *table, unsigned level, uint64_t base,
				unsigned first, unsigned end, unsigned *bad)
{
	struct exact t = { .kind = SUMMARY_MIXED };
	unsigned free_children = 0, full_children = 0, first_not_full = PT_ENTRIES;
	uint64_t run = 0;
	bool in_prefix = true;
	for (unsigned i = first; i < end; i++) {
		struct exact c = exact_entry(table[i], level, entry_base(level, base, i), bad);
		t.has_start |= c.has_start;
		free_children += c.kind == SUMMARY_ALL_FREE;
		full_children += c.kind == SUMMARY_FULL;
		if (c.kind != SUMMARY_FULL && first_not_full == PT_ENTRIES)
			first_not_full = i;
		if (c.kind == SUMMARY_ALL_FREE) {
			run += c.prefix;
			t.prefix += in_prefix ? c.prefix : 0;
			continue;
		}
		t.prefix += in_prefix ? c.prefix : 0;
		in_prefix = false;
		t.longest = MAX(t.longest, MAX(run + c.prefix, c.longest));
		run = c.suffix;
	}
	t.longest = MAX(t.longest, run);
	t.suffix = run;
	if (free_children == end - first)
		t.kind = SUMMARY_ALL_FREE;
	else if (full_children == end - first)
		t.kind = SUMMARY_FULL;
	if (pte_hint_read(table) > first_not_full) {
		mm_log("pagetable self-check: level %u table at %llx has hint %u, first non-full %u\n",
		       level, (unsigned long long)base, pte_hint_read(table), first_not_full);
		(*bad)++;
	}
	return t;
}

/* Every summary and hint of the context's half equals a recount from the reservation bits. */
static unsigned pagetable_self_check(struct vmm_context *ctx)
{
	unsigned bad = 0, first = ctx->kind == VMM_CONTEXT_USER ? 0 : PT_KERNEL_HALF_FIRST_INDEX;
	exact_table(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, first, first + PT_KERNEL_HALF_FIRST_INDEX,
		    &bad);
	return bad;
}

/* What lies under a range of entries, for bookkeeping_bytes. */
struct table_use {
	bool maps;     /* some present leaf */
	bool reserves; /* some reservation bit */
};

/*
 * Table pages in entries [first, end) of `table` (a table at `level`) that hold reservations but
 * map nothing: they exist only for the bookkeeping. Empty tables (such as the kernel half's
 * top-level tables, created up front so user contexts can share them) are not counted: the list
 * backend has them too. Adds what lies under the range to *use.
 */
static uint64_t reservation_only_tables(const uint64_t *table, unsigned level, unsigned first,
					unsigned end, struct table_use *use)
{
	uint64_t count = 0;
	for (unsigned i = first; i < end; i++) {
		if (pte_is_table(table[i], level)) {
			struct table_use below = { false, false };
			count += reservation_only_tables(child_table(table[i]), level - 1, 0, PT_ENTRIES,
							 &below);
			count += below.reserves && !below.maps;
			use->maps |= below.maps;
			use->reserves |= below.reserves;
		} else {
			use->maps |= pte_is_leaf(table[i], level);
			use->reserves |= (table[i] & RES_RESERVED) != 0;
		}
	}
	return count;
}

/*
 * The bookkeeping is the reservation bits and summaries inside entries the CPU needs anyway, so
 * what it costs is the table pages that exist only for it: tables (below the root) that hold
 * reservations and map nothing. A walk of the context's half, for snapshots only.
 */
static uint64_t pagetable_bookkeeping_bytes(const struct vmm_context *ctx)
{
	unsigned first = ctx->kind == VMM_CONTEXT_USER ? 0 : PT_KERNEL_HALF_FIRST_INDEX;
	struct table_use use = { false, false };
	return reservation_only_tables(pt_table(ctx->pt.root), PT_TOP_LEVEL, first,
				       first + PT_KERNEL_HALF_FIRST_INDEX, &use) * PAGE_SIZE;
}

const struct vmm_backend_ops vmm_backend_pagetable = {
	.name = "pagetable",
	.init = pagetable_init,
	.destroy = pagetable_destroy,
	.find_free_run = pagetable_find_free_run,
	.mark_reserved = pagetable_mark_reserved,
	.release = pagetable_release,
	.resize = pagetable_resize,
	.query = pagetable_query,
	.bookkeeping_bytes = pagetable_bookkeeping_bytes,
	.self_check = pagetable_self_check,
};
