/*
 * VMM bookkeeping kept in the page-table entries themselves: no structure besides the tables the
 * CPU needs anyway (plus tables created for reservations nobody has mapped yet).
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
 *   unmapped page is 0. A page fault reads this one entry, the one the CPU's walk stopped at, to
 *   learn whether the address is reserved and what it may do: no other structure is consulted.
 *
 * Level-1/2/3 entry that is not a table pointer (a large page, or no table below):
 *   same RES/STA/R/W/X bits, meaning "the whole 2 MiB / 1 GiB / 512 GiB chunk is reserved"
 *   (STA: the reservation starts at the chunk's first page). A reservation covering aligned chunks
 *   marks them here and needs no table below; a map into such a chunk splits it
 *   (pt_chunk_ops.split), and the children inherit the chunk's access.
 *
 * Level-1/2/3 table pointer: a rounded summary of the subtree, read with the entry itself:
 *   63  62  61 ...... 57  56  55  54  53 52  51 ........... 12  11..9   8 ..... 0
 *  +--+---+-------------+---+---+---+------+------------------+-------+---------+
 *  |0 | 0 | maxrun log2 |HST|SFX|PFX| kind |  phys of table   |stripe | P,W,(U) |
 *  +--+---+-------------+---+---+---+------+------------------+-------+---------+
 *   kind: 0 = all pages free, 1 = no page free, 2 = mixed. PFX / SFX: first / last page free.
 *   HST: some reservation starts in the subtree. maxrun log2: ceil(log2(longest free run)), so a
 *   subtree whose field is below ceil(log2(n)) cannot hold n free pages. An all-free pointer may
 *   carry just its kind (a new table is installed with a zero field): readers take PFX and SFX of
 *   kind 0 as set.
 * Bits 59..62 are protection keys only in leaves and only with CR4.PKE/PKS (never set here), and
 * leaves use only 52..54, so nothing here depends on protection keys.
 *
 * Stripes: bits 9..11 of a table's entries, which the CPU ignores at every level (pte.h):
 *
 *   entry:   0   1   2   3 | 4   5   6 | 7 ........ 7+E-1 | 7+E ...... 7+2E-1 | 7+2E .... 7+3E-1 | ..
 *          +---------------+-----------+------------------+-------------------+------------------+
 *          | used count    | first-free|  free PREFIX     |  free SUFFIX      |  INNER: longest  |
 *          | (pagetable.c) | hint      |  (exact, pages)  |  (exact, pages)   |  run not ending  |
 *          |               |           |                  |                   |  at the table end|
 *          +---------------+-----------+------------------+-------------------+------------------+
 *   3 bits per entry, low bits first. A table at level t spans 512^(t+1) pages, so each exact value
 *   takes 9(t+1)+1 bits: E = 4 entries in a table of 4 KiB entries, 7 at level 1, 10 at level 2
 *   (the root has no summary). The longest free run of the table is max(INNER, SUFFIX). The exact
 *   values are valid while the pointer's kind is "mixed"; for the other kinds they are implied
 *   (all free: PREFIX = SUFFIX = the span, INNER = 0; full: 0) and never read.
 *
 * First-free hint, per table (hint stripe, 9 bits): no entry below it has a free page (it is a
 * lower bound on the first entry that is not full; 511 when all are). Every clear lowers it to the
 * first entry it touches; a mark that fills the entry at the hint moves it past the full entries
 * that follow; a new table starts at 0, which is always true.
 *
 * Search ("lowest free run of >= n pages at or after from", the placement policy is vmm.c's):
 * scan entries in address order, carrying the free run that reaches the current entry. A table
 * is entered at its hint (the carried run ends there). An all-free or full subtree costs one
 * entry. For a whole mixed subtree (pointer kind 2) the search reads, from the child's summary
 * stripe, at most three exact values: the PREFIX when a run is carried in (carried + PREFIX >= n:
 * found, without entering), the INNER when the pointer's maxrun log2 does not already rule a fit
 * out (INNER >= n: enter it, and a fit lies wholly inside, so the search ends there), the SUFFIX
 * to carry on (a suffix of n pages or more is found as the carried run). With no run carried, entries that can neither hold nor start a fit are
 * passed on their raw bits. It never enters a whole subtree that cannot hold a fit.
 *
 * Bound, proved: a table is scanned only if it is the root, or lies on the path of the first or
 * of the last page of the searched range (its pointer is clipped, so its summary says nothing
 * about the part searched: at most 2 tables per level), or its INNER is >= n (the search ends
 * inside it: at most 1 per level, since a whole subtree has no clipped entry). A scan of a table
 * at level t reads its hint (1) and at most 512 entries, each plus at most three values of E(t-1)
 * entries. With E = 4, 7, 10 at levels 0, 1, 2:
 *     root        1 + 512 x (1 + 3 x 10) = 15 873
 *     level 2     1 + 512 x (1 + 3 x  7) = 11 265    (at most 3 tables)
 *     level 1     1 + 512 x (1 + 3 x  4) =  6 657    (at most 3 tables)
 *     level 0     1 + 512                =    513    (at most 3 tables)
 * so one search reads at most 15 873 + 3 x (11 265 + 6 657 + 513) = 71 178 entries
 * (PT_SEARCH_WORK_BOUND, below), whatever is mapped or reserved; typical searches read a few dozen.
 *
 * Marking and clearing touch the entries of the range (one per aligned chunk inside it, 512 per
 * table at most), and re-summarise every table whose entries changed, bottom-up. When a table
 * saw one change (one entry above level 0, one run of pages at level 0: the usual case), its new
 * summary is derived (derive()) from its old values (3 E(t)) and the change (the entry before and
 * after, 6 E(t-1)): only runs through the change can differ. Its free neighbours are known without
 * a look at the frontier (every entry before the change full, by the hint; every page after it
 * free, by the old SUFFIX) and inside the free suffix; otherwise they are counted (at most 512,
 * one exact value at each end). Runs that do not touch the change keep their lengths, so the new
 * INNER is the larger of the old one and the inner run through the change, unless the old INNER
 * itself ran through the change and shrank; PREFIX and SUFFIX change only when the free run
 * through the change reaches the table's start or end. A clear that removed a start looks for
 * another (at most 512). When the longest inner run shrank, or a table saw several changes, it is
 * measured (from its hint after a mark: entries below it are full): its entries and, for each
 * mixed child, the exact values that can change the result (PREFIX when a run reaches it, INNER
 * when its maxrun log2 could beat the longest so far, SUFFIX when its last page is free), at most
 * 512 x (1 + 3 E(t-1)) entries; then its three values are written (3 E(t)). Per table at level t:
 *     U(t) = 512 (range) + 512 (hint) + 6 E(t-1) + 3 E(t) + 1 024 + 2 E(t-1) (derive)
 *            + 512 x (1 + 3 E(t-1)) (measure) + 3 E(t) (write)           (table_update_bound())
 * and a range of p pages lies in at most 2 + p / 512^(t+1) tables at level t: a mark or clear
 * costs at most 1 024 + sum over t = 0..2 of (2 + p / 512^(t+1)) U(t) (pagetable_work_bound()
 * adds this to the search bound). A clear also walks every table the range covers, which the
 * unmap walks too. At the frontier, as in the benchmark's mapped layouts, a reserve+release pair
 * reads a few hundred entries.
 * A query (the extent around one page) reads one path (4 entries) and runs at most two range
 * finds; a find enters a subtree only when its kind or HST says it holds what is looked for, so
 * besides the two clipped edges the first subtree it enters holds it: at most 7 tables of 512
 * entries per find, 7 172 entries per query, well inside the search bound that
 * pagetable_work_bound() states for a reserve_at (query + mark) as for a reserve.
 * backend_work counts entries read: by searches, marks, clears, queries and summary upkeep.
 */
#include "vmm.h"
#include <machine/pte.h>

#define RES_RESERVED PTE_SW_BIT(0)
#define RES_START PTE_SW_BIT(1)
/* The reservation's access (vmm_access_pack: 4 bits, PT_READ at bit 55) in leaves and chunk marks. */
#define RES_ACCESS_SHIFT (PTE_SW_FIELD_SHIFT + 3)
#define RES_ACCESS_MASK ((pte_t)0xF << RES_ACCESS_SHIFT)
#define RES_BITS (RES_RESERVED | RES_START | RES_ACCESS_MASK)

static pte_t access_bits(unsigned access)
{
	return (pte_t)vmm_access_pack(access) << RES_ACCESS_SHIFT;
}

static unsigned access_of(pte_t e)
{
	return vmm_access_unpack((unsigned)((e & RES_ACCESS_MASK) >> RES_ACCESS_SHIFT));
}

enum summary_kind { SUMMARY_ALL_FREE = 0, SUMMARY_FULL = 1, SUMMARY_MIXED = 2 };

#define SUM_KIND_MASK 3u
#define SUM_FREE_PREFIX (1u << 2)
#define SUM_FREE_SUFFIX (1u << 3)
#define SUM_HAS_START (1u << 4)
#define SUM_MAXRUN_SHIFT 5
#define SUM_MAXRUN_MASK 0x1Fu

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
};

enum exact_field { EXACT_PREFIX, EXACT_SUFFIX, EXACT_INNER, EXACT_FIELDS };

static uint64_t longest_of(const struct exact *x)
{
	return MAX(x->inner, x->suffix);
}

static uint64_t *child_table(pte_t e)
{
	return pt_table(pte_address(e));
}

static uint64_t span_pages_clipped(uint64_t first, uint64_t last)
{
	return (last - first) / PAGE_SIZE + 1;
}

static unsigned summary_field(pte_t e)
{
	return (unsigned)(pte_software(e) >> PTE_SW_FIELD_SHIFT);
}

static struct summary entry_summary(pte_t e, unsigned level)
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

static unsigned ceil_log2(uint64_t x)
{
	return x <= 1 ? 0 : ilog2_u64(x - 1) + 1;
}

/* Stripe entries per exact value of a table at `table_level` (values go up to its whole span). */
#define EXACT_VALUE_ENTRIES(table_level) ((PT_INDEX_BITS * ((table_level) + 1) + 1 + 2) / 3)

static unsigned exact_value_entries(unsigned table_level)
{
	return EXACT_VALUE_ENTRIES(table_level);
}

static unsigned exact_field_first(unsigned table_level, enum exact_field field)
{
	return PTE_SUMMARY_STRIPE_FIRST + (unsigned)field * exact_value_entries(table_level);
}

/* One exact value of a mixed table, read from its summary stripe (costs its entries). */
static uint64_t exact_read(uint64_t *work, const uint64_t *table, unsigned table_level,
			   enum exact_field field)
{
	unsigned entries = exact_value_entries(table_level);
	*work += entries;
	return pte_stripe_field_read(table, exact_field_first(table_level, field), entries);
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

/* Set bits at the start (bit 0 of word 0 on) and at the end of the bitmap. */
static uint64_t run_at_start(const uint64_t *words)
{
	uint64_t n = 0;
	for (unsigned w = 0; w < LEAF_WORDS && words[w] == ~0ull; w++)
		n += WORD_BITS;
	return n == PT_ENTRIES ? n : n + (unsigned)__builtin_ctzll(~words[n / WORD_BITS]);
}

static uint64_t run_at_end(const uint64_t *words)
{
	uint64_t n = 0;
	for (unsigned w = LEAF_WORDS; w-- > 0 && words[w] == ~0ull;)
		n += WORD_BITS;
	return n == PT_ENTRIES ? n : n + (unsigned)__builtin_clzll(~words[LEAF_WORDS - 1 - n / WORD_BITS]);
}

/* A table of 4 KiB entries: a bitmap of the free entries in one branch-free pass, then its runs. */
static struct exact measure_leaves(struct vmm_context *ctx, const uint64_t *table)
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
	ctx->backend_work += PT_ENTRIES;
	enum summary_kind kind = !(any & RES_RESERVED) ? SUMMARY_ALL_FREE :
				 (all & RES_RESERVED) ? SUMMARY_FULL : SUMMARY_MIXED;
	uint64_t prefix = run_at_start(free), suffix = run_at_end(free);
	/* The inner runs: the bitmap without its free suffix. */
	for (uint64_t page = PT_ENTRIES - suffix; page < PT_ENTRIES; page++)
		free[page / WORD_BITS] &= ~(1ull << (page % WORD_BITS));
	return (struct exact){ kind, (any & RES_START) != 0, prefix, suffix, longest_run(free) };
}

/*
 * The exact summary of a table at `level` >= 1 from entry `first` on, its entries below `first`
 * being full (has_start then covers only the entries read).
 */
static struct exact measure_from(struct vmm_context *ctx, const uint64_t *table, unsigned level,
				 unsigned first)
{
	uint64_t span = PT_SPAN_PAGES(level), run = 0;
	unsigned free_children = 0, full_children = first;
	bool in_prefix = first == 0;
	struct exact t = { .kind = SUMMARY_MIXED };
	uint64_t work = 0; /* a local count: ctx->backend_work could alias the table for the compiler */
	for (unsigned i = first; i < PT_ENTRIES; i++) {
		/* Most entries of a sparse table are unused: take them four at a time, undecoded. */
		if (i % 4 == 0 && !pte_is_used(table[i] | table[i + 1] | table[i + 2] | table[i + 3])) {
			work += 4;
			free_children += 4;
			run += 4 * span;
			t.prefix += in_prefix ? 4 * span : 0;
			i += 3;
			continue;
		}
		work++;
		pte_t e = table[i];
		/* Decoded from the raw bits: this loop is most of the upkeep's cost. */
		unsigned bits = pte_is_table(e, level) ? summary_field(e) :
				(e & RES_RESERVED)     ? SUMMARY_FULL | ((e & RES_START) ? SUM_HAS_START : 0) :
							 SUMMARY_ALL_FREE;
		t.has_start |= (bits & SUM_HAS_START) != 0;
		unsigned kind = bits & SUM_KIND_MASK;
		if (kind == SUMMARY_ALL_FREE) {
			free_children++;
			run += span;
			t.prefix += in_prefix ? span : 0;
			continue;
		}
		bool prefix_reaches = in_prefix;
		in_prefix = false;
		if (kind == SUMMARY_FULL) {
			full_children++;
			t.inner = MAX(t.inner, run);
			run = 0;
			continue;
		}
		/* A mixed child: read only the exact values that can change the result. */
		const uint64_t *child = child_table(e);
		uint64_t prefix = (run > 0 || prefix_reaches) && (bits & SUM_FREE_PREFIX) ?
					  exact_read(&work, child, level - 1, EXACT_PREFIX) : 0;
		t.prefix += prefix_reaches ? prefix : 0;
		unsigned bucket = (bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK;
		if (((uint64_t)1 << bucket) > t.inner) /* 2^bucket bounds its longest run */
			t.inner = MAX(t.inner, exact_read(&work, child, level - 1, EXACT_INNER));
		t.inner = MAX(t.inner, run + prefix);
		run = (bits & SUM_FREE_SUFFIX) ? exact_read(&work, child, level - 1, EXACT_SUFFIX) : 0;
	}
	ctx->backend_work += work;
	t.suffix = run;
	if (free_children == PT_ENTRIES)
		t.kind = SUMMARY_ALL_FREE;
	else if (full_children == PT_ENTRIES)
		t.kind = SUMMARY_FULL;
	return t;
}

/* The exact summary of a table at `level`, from its entries and its mixed children's stripes. */
static struct exact measure(struct vmm_context *ctx, const uint64_t *table, unsigned level)
{
	return level == 0 ? measure_leaves(ctx, table) : measure_from(ctx, table, level, 0);
}

/* The exact summary of what entry e (at `level`) covers: from its bits, or its child's stripe. */
static struct exact entry_exact(struct vmm_context *ctx, pte_t e, unsigned level)
{
	uint64_t span = PT_SPAN_PAGES(level);
	struct summary c = entry_summary(e, level);
	if (c.kind == SUMMARY_ALL_FREE)
		return (struct exact){ SUMMARY_ALL_FREE, false, span, span, 0 };
	if (c.kind == SUMMARY_FULL)
		return (struct exact){ SUMMARY_FULL, c.has_start, 0, 0, 0 };
	const uint64_t *child = child_table(e);
	uint64_t *work = &ctx->backend_work;
	return (struct exact){ SUMMARY_MIXED, c.has_start, exact_read(work, child, level - 1, EXACT_PREFIX),
			       exact_read(work, child, level - 1, EXACT_SUFFIX),
			       exact_read(work, child, level - 1, EXACT_INNER) };
}

static pte_t summary_bits(const struct exact *t)
{
	unsigned bits = (unsigned)t->kind | (t->prefix ? SUM_FREE_PREFIX : 0) |
			(t->suffix ? SUM_FREE_SUFFIX : 0) | (t->has_start ? SUM_HAS_START : 0);
	if (t->kind == SUMMARY_MIXED)
		bits |= ceil_log2(longest_of(t)) << SUM_MAXRUN_SHIFT;
	return (pte_t)bits << PTE_SW_FIELD_SHIFT;
}

/*
 * What changed among one table's entries during a mark or a clear, for the re-summary of that
 * table: when a single entry changed (the usual case: a small range touches one entry per level),
 * what it covered before and after, so the table's new summary can be derived (derive()) instead
 * of measured.
 */
enum change_direction { CHANGE_MARKED, CHANGE_CLEARED };

struct table_change {
	enum change_direction direction;
	unsigned count;       /* changes: entries above level 0, runs of entries at level 0 */
	unsigned first, last; /* the entries of the first change */
	struct exact before, after; /* what they covered */
};

/* The free pages next to entries [first, last]: before and after them, within the table. */
struct neighbours {
	uint64_t before, after;
	bool to_start, to_end; /* every entry before / after j is all free */
};

/* Counts the free pages just before entry `first` (sets n->before, n->to_start). */
static void count_free_before(struct vmm_context *ctx, const uint64_t *table, unsigned level,
			      unsigned first, struct neighbours *n)
{
	uint64_t span = PT_SPAN_PAGES(level), work = 0;
	n->before = 0;
	n->to_start = true;
	for (unsigned k = first; k-- > 0;) {
		work++;
		struct summary s = entry_summary(table[k], level);
		if (s.kind == SUMMARY_ALL_FREE) {
			n->before += span;
			continue;
		}
		n->to_start = false;
		if (s.kind == SUMMARY_MIXED && s.free_suffix)
			n->before += exact_read(&work, child_table(table[k]), level - 1, EXACT_SUFFIX);
		break;
	}
	ctx->backend_work += work;
}

/* Counts the free pages just after entry `last` (sets n->after, n->to_end). */
static void count_free_after(struct vmm_context *ctx, const uint64_t *table, unsigned level,
			     unsigned last, struct neighbours *n)
{
	uint64_t span = PT_SPAN_PAGES(level), work = 0;
	n->after = 0;
	n->to_end = true;
	for (unsigned k = last + 1; k < PT_ENTRIES; k++) {
		/* Free space after the entry is mostly unused entries: four at a time, undecoded. */
		if (k % 4 == 0 && !pte_is_used(table[k] | table[k + 1] | table[k + 2] | table[k + 3])) {
			work += 4;
			n->after += 4 * span;
			k += 3;
			continue;
		}
		work++;
		struct summary s = entry_summary(table[k], level);
		if (s.kind == SUMMARY_ALL_FREE) {
			n->after += span;
			continue;
		}
		n->to_end = false;
		if (s.kind == SUMMARY_MIXED && s.free_prefix)
			n->after += exact_read(&work, child_table(table[k]), level - 1, EXACT_PREFIX);
		break;
	}
	ctx->backend_work += work;
}

/*
 * The longest free run through changed entries covering x (`changed` pages), between neighbours
 * n, that does not reach the table's end (a run that does is the table's suffix).
 */
static uint64_t inner_through(const struct exact *x, const struct neighbours *n, uint64_t changed)
{
	if (x->kind == SUMMARY_ALL_FREE)
		return n->to_end ? 0 : n->before + changed + n->after;
	uint64_t inner = MAX(n->before + x->prefix, x->inner);
	return n->to_end ? inner : MAX(inner, x->suffix + n->after);
}

/* Any reservation start in the table outside entries [first, last]. */
static bool start_elsewhere(struct vmm_context *ctx, const uint64_t *table, unsigned level,
			    unsigned first, unsigned last)
{
	for (unsigned k = 0; k < PT_ENTRIES; k++) {
		ctx->backend_work++;
		if ((k < first || k > last) && entry_summary(table[k], level).has_start)
			return true;
	}
	return false;
}

/*
 * The new exact summary of `table` (at `level`; its pointer `pointer` still carries the old summary
 * and its stripe the old values) after the one change `ch` describes. Only the runs that touch the
 * change can differ: the others keep their lengths, so the new INNER is the larger of the old one
 * and the inner run through the change, unless the old INNER was a run through the change (it was
 * at least as long as the old run there) and that run shrank; then the table is measured (from its
 * first-free hint after a mark: every entry below is full, and a mark adds starts, never removes
 * them). PREFIX and SUFFIX change only when the run through the change reaches the table's start
 * or end. At the frontier nothing before the change is free, so the change's own inner runs are
 * all there is.
 */
static struct exact derive(struct vmm_context *ctx, const uint64_t *table, unsigned level,
			   pte_t pointer, const struct table_change *ch)
{
	uint64_t span = PT_SPAN_PAGES(level), table_span = PT_SPAN_PAGES(level + 1);
	uint64_t changed_first = ch->first * span, changed_end = (ch->last + 1) * span;
	uint64_t changed = changed_end - changed_first;
	struct exact old = entry_exact(ctx, pointer, level + 1);
	uint64_t suffix_start = table_span - old.suffix;
	unsigned hint = pte_hint_read(table);
	bool has_start = ch->after.has_start ||
			 (old.has_start && (!ch->before.has_start ||
					    start_elsewhere(ctx, table, level, ch->first, ch->last)));
	/*
	 * Each side of the change is known without a look when the hint or the old suffix says so:
	 * below the hint every entry is full; from the suffix's start on every page is free.
	 */
	struct neighbours n;
	if (hint >= ch->first)
		n.before = 0, n.to_start = ch->first == 0;
	else if (suffix_start <= changed_first)
		n.before = changed_first - suffix_start, n.to_start = suffix_start == 0;
	else
		count_free_before(ctx, table, level, ch->first, &n);
	if (suffix_start <= changed_end)
		n.after = table_span - changed_end, n.to_end = true;
	else
		count_free_after(ctx, table, level, ch->last, &n);
	uint64_t inner_before = inner_through(&ch->before, &n, changed);
	uint64_t inner_after = inner_through(&ch->after, &n, changed);
	bool frontier = hint >= ch->first && suffix_start <= changed_end;
	if (!frontier && inner_before >= old.inner && inner_after < old.inner) {
		/* A longest inner run went through the change and shrank: measure. */
		if (ch->direction == CHANGE_CLEARED || level == 0)
			return measure(ctx, table, level);
		struct exact t = measure_from(ctx, table, level, hint);
		t.has_start = has_start;
		return t;
	}
	uint64_t inner = frontier ? inner_after : MAX(old.inner, inner_after);
	uint64_t prefix = old.prefix, suffix = old.suffix;
	if (n.to_start)
		prefix = changed_first + (ch->after.kind == SUMMARY_ALL_FREE ? changed + n.after :
									       ch->after.prefix);
	if (n.to_end)
		suffix = table_span - changed_end +
			 (ch->after.kind == SUMMARY_ALL_FREE ? changed + n.before : ch->after.suffix);
	enum summary_kind kind = prefix == table_span		? SUMMARY_ALL_FREE :
				 MAX(inner, suffix) == 0 ? SUMMARY_FULL :
							   SUMMARY_MIXED;
	return (struct exact){ kind, has_start, prefix, suffix, inner };
}

/*
 * Stores the exact values of the table at `level` (derived when `ch` allows, else measured) in
 * its summary stripe (mixed tables only); returns the software field for its pointer.
 * *stripe_changed when a stored value changed.
 */
static pte_t summarize_table(struct vmm_context *ctx, uint64_t *table, unsigned level, pte_t pointer,
			     const struct table_change *ch, bool *stripe_changed)
{
	struct exact t = ch && ch->count == 1 ? derive(ctx, table, level, pointer, ch) :
						measure(ctx, table, level);
	if (t.kind == SUMMARY_MIXED) {
		const uint64_t values[EXACT_FIELDS] = { t.prefix, t.suffix, t.inner };
		unsigned entries = exact_value_entries(level);
		for (unsigned f = 0; f < EXACT_FIELDS; f++)
			*stripe_changed |= pte_stripe_field_write(
				table, exact_field_first(level, (enum exact_field)f), entries, values[f]);
		ctx->backend_work += EXACT_FIELDS * entries;
	}
	return summary_bits(&t);
}

/*
 * Re-summarises the table under entry i (at `level`), whose entries changed as `ch` says (NULL:
 * unknown); true if what the parent's own summary is computed from (the pointer or the child's
 * exact values) changed.
 */
static bool refresh(struct vmm_context *ctx, uint64_t *table, unsigned level, unsigned i,
		    const struct table_change *ch)
{
	pte_t old = table[i] & ~PTE_COUNT_STRIPE_MASK;
	bool changed = false;
	pte_t software = summarize_table(ctx, child_table(old), level - 1, old, ch, &changed);
	pte_t now = (old & ~PTE_SW_FIELD_MASK) | software;
	if (now == old)
		return changed;
	pt_slot_write(table, i, now);
	return true;
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
		unsigned bits = summary_field(e);
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
			 uint64_t first, uint64_t last);

/*
 * A whole subtree under pointer e (at `level`), decided from its summaries: at most three exact
 * values read, and entered only when a fit lies wholly inside it (then the search ends there).
 */
static bool search_subtree(struct search *s, pte_t e, unsigned level, uint64_t ebase)
{
	unsigned bits = summary_field(e);
	uint64_t span = PT_SPAN_PAGES(level);
	switch ((enum summary_kind)(bits & SUM_KIND_MASK)) {
	case SUMMARY_ALL_FREE:
		return run_extend(s, ebase, span);
	case SUMMARY_FULL:
		return run_end(s);
	case SUMMARY_MIXED:
		break;
	}
	const uint64_t *child = child_table(e);
	uint64_t *work = &s->ctx->backend_work;
	if (s->run_pages > 0 && (bits & SUM_FREE_PREFIX) &&
	    run_extend(s, ebase, exact_read(work, child, level - 1, EXACT_PREFIX)))
		return true;
	if (run_end(s))
		return true;
	if (((bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK) >= s->short_buckets &&
	    exact_read(work, child, level - 1, EXACT_INNER) >= s->min_pages) {
		/* A fit is found inside, or is the free suffix: carried on, it ends at the next entry. */
		bool found = search_table(s, child, level - 1, ebase, ebase,
					  ebase + span * PAGE_SIZE - 1);
		MM_ASSERT(found || s->run_pages >= s->min_pages,
			  "search_subtree: summary at %llx promised %llu free pages",
			  (unsigned long long)ebase, (unsigned long long)s->min_pages);
		return found;
	}
	if (!(bits & SUM_FREE_SUFFIX))
		return false;
	uint64_t suffix = exact_read(work, child, level - 1, EXACT_SUFFIX);
	return run_extend(s, ebase + (span - suffix) * PAGE_SIZE, suffix);
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
		struct pt_range_part part = pt_range_part(level, base, i, first, last);
		pte_t e = table[i];
		bool found;
		if (!pte_is_table(e, level))
			found = (e & RES_RESERVED) ? run_end(s) :
						     run_extend(s, part.first,
								span_pages_clipped(part.first, part.last));
		else if (!part.whole)
			found = search_table(s, child_table(e), level - 1, part.base, part.first, part.last);
		else
			found = search_subtree(s, e, level, part.base);
		if (found)
			return true;
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
	pte_t access;   /* access_bits() of the reservation */
};

#define NO_START_PAGE 1

static enum vm_status mark_table(struct mark *m, uint64_t *table, unsigned level, uint64_t base,
				 uint64_t first, uint64_t last, struct table_change *ch);

/* Entry i of a table at `level` is about to change: what it covers now, if ch needs it. */
static struct exact change_before(struct vmm_context *ctx, const struct table_change *ch,
				  const uint64_t *table, unsigned level, unsigned i)
{
	if (ch->count == 0 && level > 0 && level < PT_TOP_LEVEL) /* the root has no summary */
		return entry_exact(ctx, table[i], level);
	return (struct exact){ 0 };
}

/* Entry i changed from `before`: counts it, and keeps both sides while it is the only one. */
static void change_note(struct vmm_context *ctx, struct table_change *ch, const uint64_t *table,
			unsigned level, unsigned i, const struct exact *before)
{
	if (ch->count++ == 0 && level > 0 && level < PT_TOP_LEVEL) {
		ch->first = ch->last = i;
		ch->before = *before;
		ch->after = entry_exact(ctx, table[i], level);
	}
}

/* Marks pages [first, last] of a table of 4 KiB entries: one change, free before, full after. */
static void mark_leaves(struct mark *m, uint64_t *table, uint64_t base, unsigned first,
			unsigned last, struct table_change *ch)
{
	bool start = false;
	for (unsigned i = first; i <= last; i++) {
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		uint64_t page = base + i * PAGE_SIZE;
		MM_ASSERT(!(e & RES_RESERVED), "mark_leaves: %llx already reserved", (unsigned long long)page);
		start |= page == m->start;
		pt_slot_write(table, i, e | RES_RESERVED | m->access | (page == m->start ? RES_START : 0));
	}
	m->ctx->backend_work += last - first + 1;
	uint64_t pages = last - first + 1;
	*ch = (struct table_change){ CHANGE_MARKED, 1, first, last,
				     { SUMMARY_ALL_FREE, false, pages, pages, 0 },
				     { SUMMARY_FULL, start, 0, 0, 0 } };
}

/* Marks [first, last] reserved in the entries of `table`, noting each entry changed in ch. */
static enum vm_status mark_entries(struct mark *m, uint64_t *table, unsigned level, uint64_t base,
				   uint64_t first, uint64_t last, struct table_change *ch)
{
	if (level == 0) {
		mark_leaves(m, table, base, PT_INDEX(0, first), PT_INDEX(0, last), ch);
		return VM_OK;
	}
	for (unsigned i = PT_INDEX(level, first); i <= PT_INDEX(level, last); i++) {
		m->ctx->backend_work++;
		struct pt_range_part part = pt_range_part(level, base, i, first, last);
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		struct exact before = change_before(m->ctx, ch, table, level, i);
		if (part.whole && !pte_is_used(e)) {
			MM_ASSERT(!(e & RES_RESERVED), "mark_table: %llx already reserved",
				  (unsigned long long)part.base);
			pt_slot_write(table, i,
				      e | RES_RESERVED | m->access | (part.base == m->start ? RES_START : 0));
			change_note(m->ctx, ch, table, level, i, &before);
			continue;
		}
		bool installed = false;
		if (!pte_is_table(e, level)) {
			MM_ASSERT(!pte_is_used(e), "mark_table: chunk at %llx not free",
				  (unsigned long long)part.base);
			if (pt_install_table(&m->ctx->pt, table, level, i, 0) != VM_OK)
				return VM_ERR_NO_MEMORY;
			installed = true;
		}
		struct table_change child = { .direction = CHANGE_MARKED };
		enum vm_status st = mark_table(m, child_table(table[i]), level - 1, part.base, part.first,
					       part.last, &child);
		if ((child.count > 0 && refresh(m->ctx, table, level, i, &child)) || installed)
			change_note(m->ctx, ch, table, level, i, &before);
		if (st != VM_OK)
			return st;
	}
	return VM_OK;
}

/* Marks [first, last] reserved below `table`, then moves its hint past what became full. */
static enum vm_status mark_table(struct mark *m, uint64_t *table, unsigned level, uint64_t base,
				 uint64_t first, uint64_t last, struct table_change *ch)
{
	enum vm_status st = mark_entries(m, table, level, base, first, last, ch);
	unsigned hint = pte_hint_read(table);
	if (PT_INDEX(level, first) <= hint && hint <= PT_INDEX(level, last))
		hint_advance(m->ctx, table, level);
	return st;
}

/*
 * Clears pages [first, last] of a table of 4 KiB entries: one change, full before and free after
 * when every page was reserved (a release); otherwise (undoing a mark that failed half-way) two,
 * so the table is measured.
 */
static void clear_leaves(struct vmm_context *ctx, uint64_t *table, unsigned first, unsigned last,
			 struct table_change *ch)
{
	bool start = false, all_reserved = true;
	for (unsigned i = first; i <= last; i++) {
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		start |= (e & RES_START) != 0;
		all_reserved &= (e & RES_RESERVED) != 0;
		pt_slot_write(table, i, e & ~RES_BITS);
	}
	ctx->backend_work += last - first + 1;
	uint64_t pages = last - first + 1;
	*ch = (struct table_change){ CHANGE_CLEARED, all_reserved ? 1 : 2, first, last,
				     { SUMMARY_FULL, start, 0, 0, 0 },
				     { SUMMARY_ALL_FREE, false, pages, pages, 0 } };
}

/* Clears reservation bits in [first, last] below `table`, freeing tables that become empty. */
static void clear_table(struct vmm_context *ctx, uint64_t *table, unsigned level, uint64_t base,
			uint64_t first, uint64_t last, struct table_change *ch)
{
	hint_lower(table, PT_INDEX(level, first)); /* every entry in the range gets a free page */
	if (level == 0) {
		clear_leaves(ctx, table, PT_INDEX(0, first), PT_INDEX(0, last), ch);
		return;
	}
	for (unsigned i = PT_INDEX(level, first); i <= PT_INDEX(level, last); i++) {
		ctx->backend_work++;
		struct pt_range_part part = pt_range_part(level, base, i, first, last);
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		if (pte_is_table(e, level)) {
			struct exact before = change_before(ctx, ch, table, level, i);
			struct table_change child = { .direction = CHANGE_CLEARED };
			clear_table(ctx, child_table(e), level - 1, part.base, part.first, part.last, &child);
			if (pt_free_table_if_empty(&ctx->pt, table, level, i) ||
			    (child.count > 0 && refresh(ctx, table, level, i, &child)))
				change_note(ctx, ch, table, level, i, &before);
		} else if (e & RES_RESERVED) {
			MM_ASSERT(part.whole, "clear_table: chunk at %llx only partly cleared",
				  (unsigned long long)part.base);
			struct exact before = change_before(ctx, ch, table, level, i);
			pt_slot_write(table, i, e & ~RES_BITS);
			change_note(ctx, ch, table, level, i, &before);
		}
	}
}

/* Clears [first, last] below the root. */
static void clear_range(struct vmm_context *ctx, uint64_t first, uint64_t last)
{
	struct table_change root = { .direction = CHANGE_CLEARED };
	clear_table(ctx, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, first, last, &root);
}

static enum vm_status mark_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
				 uint64_t start_page, unsigned access)
{
	struct mark m = { .ctx = ctx, .start = start_page, .access = access_bits(access) };
	struct table_change root = { .direction = CHANGE_MARKED };
	uint64_t last = addr + pages * PAGE_SIZE - 1;
	enum vm_status st = mark_table(&m, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, addr, last, &root);
	if (st != VM_OK) /* the range was free: clearing all of it restores it exactly */
		clear_range(ctx, addr, last);
	return st;
}

static enum vm_status pagetable_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
					      uint64_t addr, uint64_t pages, unsigned access)
{
	(void)region;
	return mark_range(ctx, addr, pages, addr, access);
}

/* --- point and range queries ---------------------------------------------------------------- */

struct page_state {
	bool reserved;
	bool start;      /* the reservation starts at exactly this page */
	unsigned access; /* what the reservation allows */
	uint64_t *table; /* the table and index of the entry that decides the page */
	unsigned level, index;
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
						    (e & RES_START) != 0 && at_chunk_start, access_of(e),
						    (uint64_t *)table, level, PT_INDEX(level, addr) };
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
		struct pt_range_part part = pt_range_part(level, base, i, first, last);
		pte_t e = table[i];
		if (!pte_is_table(e, level)) {
			if (find_in_chunk(f, e, part.base, part.first, part.last))
				return true;
			continue;
		}
		struct summary c = entry_summary(e, level);
		if (may_hold(f->target, &c) &&
		    find_page(f, child_table(e), level - 1, part.base, part.first, part.last))
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
			    uint64_t lo, uint64_t hi, struct vmm_extent *out)
{
	uint64_t start = lo, end = hi, hit;
	struct page_state here = page_state(ctx, addr);
	if (!here.reserved) {
		if (addr > lo && find_range(ctx, FIND_RESERVED, FIND_BACKWARD, lo, addr - 1, &hit))
			start = hit + PAGE_SIZE;
		if (find_range(ctx, FIND_RESERVED, FIND_FORWARD, addr + PAGE_SIZE, hi - 1, &hit))
			end = hit;
	} else {
		/* Clipped, the start may lie before lo; unclipped, it must be found. */
		bool found = find_range(ctx, FIND_START, FIND_BACKWARD, lo, addr, &hit);
		MM_ASSERT(found || lo > region->base, "pagetable_query: reservation at %llx has no start",
			  (unsigned long long)addr);
		if (found)
			start = hit;
		if (find_range(ctx, FIND_FREE_OR_START, FIND_FORWARD, addr + PAGE_SIZE, hi - 1, &hit))
			end = hit;
	}
	*out = (struct vmm_extent){
		.state = here.reserved ? VMM_RANGE_RESERVED : VMM_RANGE_FREE,
		.start = start,
		.pages = (end - start) / PAGE_SIZE,
		.access = here.reserved ? here.access : 0,
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
		struct pt_range_part part = pt_range_part(level, base, i, first, last);
		pte_t e = table[i];
		if (!pte_is_table(e, level)) {
			if (e & RES_RESERVED)
				t->reserved_pages += span_pages_clipped(part.first, part.last);
			t->starts += (e & RES_START) && part.base >= part.first;
			continue;
		}
		struct summary c = entry_summary(e, level);
		if (part.whole && c.kind == SUMMARY_FULL && !c.has_start)
			t->reserved_pages += PT_SPAN_PAGES(level);
		else if (!(part.whole && c.kind == SUMMARY_ALL_FREE))
			tally_table(ctx, child_table(e), level - 1, part.base, part.first, part.last, t);
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
		clear_range(ctx, addr, addr + pages * PAGE_SIZE - 1);
	return st;
}

static uint64_t split_child(void *cookie, uint64_t chunk, unsigned child_level, unsigned index)
{
	(void)cookie;
	(void)child_level;
	pte_t start = index == 0 ? (chunk & RES_START) : 0;
	return (chunk & (RES_RESERVED | RES_ACCESS_MASK)) | start;
}

static uint64_t summarize_for_pt(void *cookie, uint64_t *table, unsigned level)
{
	bool changed = false;
	return summarize_table(cookie, table, level, 0, NULL, &changed);
}

/*
 * Makes `boundary` an entry boundary at every level, splitting the chunk marks that straddle it
 * (pt_split_chunk: its children say what the chunk said, so a failed split changes nothing).
 */
static enum vm_status split_at(struct vmm_context *ctx, uint64_t boundary, bool *split)
{
	uint64_t *table = pt_table(ctx->pt.root);
	*split = false;
	for (unsigned level = PT_TOP_LEVEL; level > 0; level--) {
		ctx->backend_work++;
		unsigned i = PT_INDEX(level, boundary);
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		if (!pte_is_table(e, level)) {
			if (!(e & RES_RESERVED) || IS_ALIGNED(boundary, PT_SPAN_BYTES(level)))
				return VM_OK;
			if (pte_is_present(e))
				return VM_ERR_BUSY;
			if (pt_split_chunk(&ctx->pt, table, level, i) != VM_OK)
				return VM_ERR_NO_MEMORY;
			*split = true;
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
		return mark_range(ctx, old_end, new_pages - old_pages, NO_START_PAGE,
				  page_state(ctx, start).access);
	bool split;
	enum vm_status st = split_at(ctx, new_end, &split);
	if (st != VM_OK)
		return st;
	clear_range(ctx, new_end, old_end - 1);
	if (split) /* the clear re-summarised only the tables it touched */
		refresh_path(ctx, new_end - PAGE_SIZE);
	return VM_OK;
}

/* --- split and access ------------------------------------------------------------------------ */

/* The fault path's question: one walk down to the entry that decides the page. */
static enum vmm_range_state pagetable_lookup(struct vmm_context *ctx, const struct vmm_region *region,
					     uint64_t addr, unsigned *access)
{
	(void)region;
	struct page_state here = page_state(ctx, addr);
	*access = here.reserved ? here.access : 0;
	return here.reserved ? VMM_RANGE_RESERVED : VMM_RANGE_FREE;
}

/*
 * A split sets STA on the entry at addr, after split_at made addr an entry boundary (a chunk mark
 * straddling it becomes a table), and re-summarises the path (its HST bits).
 */
static enum vm_status pagetable_split(struct vmm_context *ctx, const struct vmm_region *region,
				      uint64_t addr)
{
	(void)region;
	struct page_state here = page_state(ctx, addr);
	if (!here.reserved)
		return VM_ERR_NOT_RESERVED;
	if (here.start)
		return VM_OK;
	bool split;
	enum vm_status st = split_at(ctx, addr, &split);
	if (st != VM_OK)
		return st;
	here = page_state(ctx, addr);
	MM_ASSERT(IS_ALIGNED(addr, PT_SPAN_BYTES(here.level)), "pagetable_split: %llx not an entry start",
		  (unsigned long long)addr);
	pt_slot_write(here.table, here.index, (here.table[here.index] & ~PTE_COUNT_STRIPE_MASK) | RES_START);
	refresh_path(ctx, addr);
	return VM_OK;
}

/* Rewrites the access bits of every leaf and chunk mark in [first, last] below `table`. */
static void access_table(struct vmm_context *ctx, uint64_t *table, unsigned level, uint64_t base,
			 uint64_t first, uint64_t last, pte_t bits)
{
	for (unsigned i = PT_INDEX(level, first); i <= PT_INDEX(level, last); i++) {
		ctx->backend_work++;
		struct pt_range_part part = pt_range_part(level, base, i, first, last);
		pte_t e = table[i] & ~PTE_COUNT_STRIPE_MASK;
		if (pte_is_table(e, level)) {
			access_table(ctx, child_table(e), level - 1, part.base, part.first, part.last, bits);
			continue;
		}
		MM_ASSERT(e & RES_RESERVED, "access_table: %llx not reserved", (unsigned long long)part.base);
		MM_ASSERT(part.whole, "access_table: chunk at %llx only partly covered",
			  (unsigned long long)part.base);
		pt_slot_write(table, i, (e & ~RES_ACCESS_MASK) | bits);
	}
}

static void pagetable_set_access(struct vmm_context *ctx, const struct vmm_region *region, uint64_t start,
				 uint64_t pages, unsigned access)
{
	(void)region;
	access_table(ctx, pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, start, start + pages * PAGE_SIZE - 1,
		     access_bits(access));
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

/* The self-check recounts from the RES/STA bits alone: no summary, stripe or hint is read. */
static struct exact recount_table(const uint64_t *table, unsigned level, uint64_t base,
				  unsigned first, unsigned end, unsigned *bad);

/* A pointer's field and, for a mixed child, its stripe values equal the recount. */
static void check_summary(pte_t e, unsigned level, uint64_t ebase, const struct exact *t,
			  unsigned *bad)
{
	pte_t expect = summary_bits(t);
	pte_t kind_only = (pte_t)SUM_KIND_MASK << PTE_SW_FIELD_SHIFT;
	if (pte_software(e) != expect &&
	    (t->kind != SUMMARY_ALL_FREE || pte_software(e) != (expect & kind_only))) {
		mm_log("pagetable self-check: level %u entry at %llx says %llx, recount %llx\n", level,
		       (unsigned long long)ebase, (unsigned long long)pte_software(e),
		       (unsigned long long)expect);
		(*bad)++;
	}
	if (t->kind != SUMMARY_MIXED)
		return;
	const uint64_t *child = child_table(e);
	const uint64_t values[EXACT_FIELDS] = { t->prefix, t->suffix, t->inner };
	unsigned entries = exact_value_entries(level - 1);
	for (unsigned f = 0; f < EXACT_FIELDS; f++) {
		uint64_t stored = pte_stripe_field_read(child, exact_field_first(level - 1, (enum exact_field)f),
							entries);
		if (stored != values[f]) {
			mm_log("pagetable self-check: table under %llx stores exact value %u = %llu, recount %llu\n",
			       (unsigned long long)ebase, f, (unsigned long long)stored,
			       (unsigned long long)values[f]);
			(*bad)++;
		}
	}
}

static struct exact recount_entry(pte_t e, unsigned level, uint64_t ebase, unsigned *bad)
{
	if (pte_is_table(e, level)) {
		struct exact t = recount_table(child_table(e), level - 1, ebase, 0, PT_ENTRIES, bad);
		check_summary(e, level, ebase, &t, bad);
		return t;
	}
	uint64_t span = PT_SPAN_PAGES(level);
	if (e & RES_RESERVED)
		return (struct exact){ SUMMARY_FULL, (e & RES_START) != 0, 0, 0, 0 };
	return (struct exact){ SUMMARY_ALL_FREE, false, span, span, 0 };
}

/* Entries [first, end) of a table, combined; checks the table's hint on the way. */
static struct exact recount_table(const uint64_t *table, unsigned level, uint64_t base,
				  unsigned first, unsigned end, unsigned *bad)
{
	struct exact t = { .kind = SUMMARY_MIXED };
	unsigned free_children = 0, full_children = 0, first_not_full = PT_ENTRIES;
	uint64_t run = 0;
	bool in_prefix = true;
	for (unsigned i = first; i < end; i++) {
		struct exact c = recount_entry(table[i], level, pt_entry_base(level, base, i), bad);
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
		t.inner = MAX(t.inner, MAX(run + c.prefix, c.inner));
		run = c.suffix;
	}
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

/* Every summary, exact value and hint of the context's half equals a recount from the RES/STA bits. */
static unsigned pagetable_self_check(struct vmm_context *ctx)
{
	unsigned bad = 0, first = ctx->kind == VMM_CONTEXT_USER ? 0 : PT_KERNEL_HALF_FIRST_INDEX;
	recount_table(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, first, first + PT_KERNEL_HALF_FIRST_INDEX,
		      &bad);
	return bad;
}

/* --- the bounds of the header, as numbers ----------------------------------------------------- */

#define PT_SEARCH_WORK_BOUND 71178u
/* A table scan at level t: its hint, then 512 entries each with up to three exact values read. */
#define TABLE_SCAN_BOUND(t) (1 + PT_ENTRIES * (1 + EXACT_FIELDS * EXACT_VALUE_ENTRIES((t) - 1)))
STATIC_ASSERT(PT_SEARCH_WORK_BOUND == TABLE_SCAN_BOUND(3) +
					      3 * (TABLE_SCAN_BOUND(2) + TABLE_SCAN_BOUND(1) + 1 + PT_ENTRIES),
	      "the header's search bound is the sum of its table scans");

/* U(t): one table at level t below the root, updated by a mark or clear (see the header). */
static uint64_t table_update_bound(unsigned table_level)
{
	uint64_t values = EXACT_FIELDS * exact_value_entries(table_level);
	uint64_t below = table_level == 0 ? 0 : exact_value_entries(table_level - 1);
	uint64_t measure = PT_ENTRIES * (1 + EXACT_FIELDS * below);
	uint64_t derive = values + 2 * PT_ENTRIES + 2 * below;
	return 2 * PT_ENTRIES + 2 * EXACT_FIELDS * below + derive + measure + values;
}

/*
 * One search, plus twice a mark or clear of `pages` pages: a release tallies the range (at most
 * what a clear reads) before clearing it, a failed mark clears what it marked, a resize splits
 * and re-measures one path (8 entries and at most one measure per level more).
 */
static uint64_t pagetable_work_bound(const struct vmm_context *ctx, uint64_t pages)
{
	(void)ctx;
	uint64_t update = 2 * PT_ENTRIES; /* the root: its entries in the range and its hint */
	for (unsigned t = 0; t < PT_TOP_LEVEL; t++)
		update += (2 + pages / PT_SPAN_PAGES(t + 1)) * table_update_bound(t);
	return PT_SEARCH_WORK_BOUND + 2 * update + 8;
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
	.lookup = pagetable_lookup,
	.split = pagetable_split,
	.set_access = pagetable_set_access,
	.work_bound = pagetable_work_bound,
	.bookkeeping_bytes = pagetable_bookkeeping_bytes,
	.self_check = pagetable_self_check,
};
