/*
 * The page-table backend's summaries (encoding in vmm_pt.h): measuring a table's exact values,
 * deriving them after one change, storing them, and the first-free hint.
 *
 * Marking and clearing touch the entries of the range (one per aligned chunk inside it, 512 per
 * table at most), and re-summarise every table whose entries changed, bottom-up. When a table
 * saw one change (one entry above level 0, one run of pages at level 0: the usual case), its new
 * summary is derived (derive()) from its old values (4 V(t)) and the change (the entry before and
 * after, 8 V(t-1)): only runs through the change can differ. (V(t) = E(t) + P(t) bounds a read of
 * one value: INNER and INNER2 of a table at level 1 or 2 read its pending run too, vmm_pt.h's PEND;
 * P(0) = 0.) Its free neighbours are known without
 * a look at the frontier (every entry before the change full, by the hint; every page after it
 * free, by the old SUFFIX) and inside the free suffix; otherwise they are counted (at most 512,
 * one exact value at each end). PREFIX and SUFFIX change only when the free run through the
 * change reaches the table's start or end. A clear that removed a start looks for another (at
 * most 512).
 *
 * INNER and INNER2 are the top two of the runs not reaching the end. Those that do not touch the
 * change (K) keep their lengths; those that touch it are known exactly as a longest (before and
 * after: the neighbours plus the entry's PREFIX, INNER, SUFFIX) and as a bound on the second
 * (the entry's INNER2 bounds its middle runs). So K's top two are the old ones when the runs
 * through the change were all shorter than INNER2; K's longest is the old INNER when they were
 * shorter than INNER, and the old INNER2 when only the longest went through the change (the
 * runs' second is below INNER2); at the frontier K is empty. The new top two are K's with the
 * change's runs added (INNER2 becomes unknown where a bound cannot decide it). Only when the
 * longest went through the change, shrank, and what came next is not known (INNER2 unknown, or
 * tied with the change's second) is the table measured, as is a table that saw several changes
 * (from its hint after a mark: entries below it are full): its entries and, for each mixed child,
 * the exact values that can change the result (PREFIX when a run reaches it, INNER when its maxrun
 * code could beat the longest so far, SUFFIX when its last page is free), at most
 * 512 x (1 + 3 V(t-1)) entries; a measure of a table of 4 KiB entries finds INNER2 too, above
 * level 0 it leaves INNER2 unknown. Then its four values are written (4 E(t), and PEND read and
 * turned off: within 4 V(t)). Per table at level t:
 *     U(t) = 512 (range) + 512 (hint) + 8 V(t-1) + 4 V(t) + 1 024 + 2 V(t-1) (derive)
 *            + 512 x (1 + 3 V(t-1)) (measure) + 4 V(t) (write)           (table_update_bound())
 * and a range of p pages lies in at most 2 + p / 512^(t+1) tables at level t: a mark or clear
 * costs at most 1 024 + sum over t = 0..2 of (2 + p / 512^(t+1)) U(t) (pagetable_work_bound()
 * adds this to the search bound). A clear also walks every table the range covers, which the
 * unmap walks too. At the frontier, as in the benchmark's mapped layouts, a reserve+release pair
 * reads a few hundred entries. A table of 4 KiB entries whose change lies inside its inner runs
 * (a reserved page on both sides of the free run through it) skips derive: its INNER top two take
 * one run out and one or two in (leaf_inner_runs), from at most 512 neighbour entries and its four
 * values, within U(0).
 */
#include "vmm_pt.h"
#include "vmm_pt_leaf_runs.h"

#define WORD_BITS 64u
#define LEAF_WORDS (PT_ENTRIES / WORD_BITS)

/*
 * The two longest runs of set bits in a bitmap of LEAF_WORDS words (bit j of word w is entry
 * 64w + j), a tie counted twice.
 */
static void longest_runs(const uint64_t *words, uint64_t *first, uint64_t *second)
{
	uint64_t carry = 0; /* the run reaching the start of the current word */
	*first = *second = 0;
	for (unsigned w = 0; w < LEAF_WORDS; w++) {
		uint64_t x = words[w];
		if (x == ~0ull) {
			carry += WORD_BITS;
			continue;
		}
		unsigned low = (unsigned)__builtin_ctzll(~x), high = (unsigned)__builtin_clzll(~x);
		top2_add(first, second, carry + low);
		carry = high;
		/* x has a clear bit, so low + high < 64: drop both end runs, measure the inner ones. */
		x &= (~0ull << low) & (~0ull >> high);
		while (x) {
			unsigned at = (unsigned)__builtin_ctzll(x);
			unsigned len = (unsigned)__builtin_ctzll(~(x >> at));
			top2_add(first, second, len);
			x &= ~(((1ull << len) - 1) << at);
		}
	}
	top2_add(first, second, carry);
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

#define RES_RESERVED_SHIFT PTE_SW_FIELD_SHIFT /* RES_RESERVED is bit 0 of the software field */

/* Bit j of a bitmap word from entry e's RES bit: one mask and one constant shift once unrolled. */
static ALWAYS_INLINE uint64_t reserved_bit_at(pte_t e, unsigned j)
{
	pte_t bit = e & RES_RESERVED;
	return j <= RES_RESERVED_SHIFT ? bit >> (RES_RESERVED_SHIFT - j) : bit << (j - RES_RESERVED_SHIFT);
}

/* A table of 4 KiB entries: a bitmap of the free entries in one branch-free pass, then its runs. */
static struct exact measure_leaves(struct vmm_context *ctx, const uint64_t *table)
{
	uint64_t free[LEAF_WORDS], some_free = 0, all_free = ~0ull;
	pte_t any = 0;
	for (unsigned w = 0; w < LEAF_WORDS; w++) {
		const pte_t *word = table + w * WORD_BITS;
		uint64_t reserved = 0;
#pragma GCC unroll 64
		for (unsigned j = 0; j < WORD_BITS; j++) {
			any |= word[j];
			reserved |= reserved_bit_at(word[j], j);
		}
		free[w] = ~reserved;
		some_free |= free[w];
		all_free &= free[w];
	}
	ctx->backend_work += PT_ENTRIES;
	enum summary_kind kind = all_free == ~0ull ? SUMMARY_ALL_FREE :
				 some_free == 0	   ? SUMMARY_FULL :
						     SUMMARY_MIXED;
	uint64_t prefix = run_at_start(free), suffix = run_at_end(free);
	/* The inner runs: the bitmap without its free suffix (pages from `cut` on). */
	uint64_t cut = PT_ENTRIES - suffix;
	for (unsigned w = 0; w < LEAF_WORDS; w++) {
		uint64_t low = (uint64_t)w * WORD_BITS;
		if (low >= cut)
			free[w] = 0;
		else if (cut - low < WORD_BITS)
			free[w] &= (1ull << (cut - low)) - 1;
	}
	struct exact t = { kind, (any & RES_START) != 0, prefix, suffix, 0, 0 };
	longest_runs(free, &t.inner, &t.inner2);
	return t;
}

/*
 * The exact summary of a table at `level` >= 1 from entry `first` on, its entries below `first`
 * being full (has_start then covers only the entries read). The table's used-entry count says how
 * many used entries lie ahead: once all are read, the rest is free without a look.
 */
static struct exact measure_from(struct vmm_context *ctx, const uint64_t *table, unsigned level,
				 unsigned first)
{
	uint64_t span = PT_SPAN_PAGES(level), run = 0;
	unsigned free_children = 0, full_children = first;
	bool in_prefix = first == 0;
	struct exact t = { .kind = SUMMARY_MIXED };
	uint64_t work = 0; /* a local count: ctx->backend_work could alias the table for the compiler */
	/* Entries below `first` are full, hence used: the table's used count says how many lie ahead. */
	unsigned used_ahead = pt_table_used(table) - first;
	MM_ASSERT(pt_table_used(table) >= first, "measure_from: %u used entries below a hint of %u",
		  pt_table_used(table), first);
	for (unsigned i = first; i < PT_ENTRIES; i++) {
		if (used_ahead == 0) { /* the rest is unused: free, and counted without a look */
			unsigned rest = PT_ENTRIES - i;
			free_children += rest;
			run += rest * span;
			t.prefix += in_prefix ? rest * span : 0;
			break;
		}
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
		used_ahead -= pte_is_used(e);
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
					  exact_read_stripe(&work, child, level - 1, EXACT_PREFIX) : 0;
		t.prefix += prefix_reaches ? prefix : 0;
		unsigned code = (bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK;
		if (code < MAXRUN_EXACT_BELOW)
			t.inner = MAX(t.inner, maxrun_bound(code)); /* the child's INNER, exactly */
		else if (maxrun_bound(code) > t.inner)
			t.inner = MAX(t.inner, exact_read_stripe(&work, child, level - 1, EXACT_INNER));
		t.inner = MAX(t.inner, run + prefix);
		run = (bits & SUM_FREE_SUFFIX) ? exact_read_stripe(&work, child, level - 1, EXACT_SUFFIX) : 0;
	}
	ctx->backend_work += work;
	t.suffix = run;
	if (free_children == PT_ENTRIES)
		t.kind = SUMMARY_ALL_FREE;
	else if (full_children == PT_ENTRIES)
		t.kind = SUMMARY_FULL;
	/* A measure reads no child's runs but the longest: the second is not known. */
	t.inner2 = t.kind == SUMMARY_MIXED ? INNER2_UNKNOWN : 0;
	return t;
}

/* The exact summary of a table at `level`, from its entries and its mixed children's stripes. */
struct exact measure(struct vmm_context *ctx, const uint64_t *table, unsigned level)
{
	return level == 0 ? measure_leaves(ctx, table) : measure_from(ctx, table, level, 0);
}

/* Counts the free pages just before entry `first` (sets n->before, n->to_start). */
static void count_free_before(struct vmm_context *ctx, const uint64_t *table, unsigned level,
			      unsigned first, struct neighbours *n)
{
	MM_ASSERT(level > 0, "count_free_before: a leaf table's neighbours come with its change");
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
			n->before += exact_read_stripe(&work, child_table(table[k]), level - 1, EXACT_SUFFIX);
		break;
	}
	ctx->backend_work += work;
}

/* Counts the free pages just after entry `last` (sets n->after, n->to_end). */
static void count_free_after(struct vmm_context *ctx, const uint64_t *table, unsigned level,
			     unsigned last, struct neighbours *n)
{
	MM_ASSERT(level > 0, "count_free_after: a leaf table's neighbours come with its change");
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
			n->after += exact_read_stripe(&work, child_table(table[k]), level - 1, EXACT_PREFIX);
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

/*
 * The second longest of those runs (a tie counted twice): exact when the change is all free (one
 * run) or full (the runs on either side), and for a mixed entry whose INNER2 is known and whose
 * prefix run is not among its top two (shorter than INNER2, or empty): then its middle runs' top
 * two are its INNER and INNER2. Else a bound, *exact false: INNER and INNER2 bound the middle runs.
 */
static uint64_t second_through(const struct exact *x, const struct neighbours *n, bool *exact)
{
	*exact = x->kind != SUMMARY_MIXED ||
		 (x->inner2 != INNER2_UNKNOWN && (x->prefix == 0 || x->prefix < x->inner2));
	if (x->kind == SUMMARY_ALL_FREE)
		return 0;
	if (x->kind == SUMMARY_FULL)
		return n->to_end ? 0 : MIN(n->before, n->after);
	uint64_t first = 0, second = 0;
	top2_add(&first, &second, n->before + x->prefix);
	top2_add(&first, &second, x->inner);
	top2_add(&first, &second, x->inner2 == INNER2_UNKNOWN ? x->inner : x->inner2);
	if (!n->to_end)
		top2_add(&first, &second, x->suffix + n->after);
	return second;
}

/* Any reservation start in the table outside entries [first, last]. */
bool start_elsewhere(struct vmm_context *ctx, const uint64_t *table, unsigned level,
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
 * first-free hint: every entry below is full, after a clear too, which lowers the hint to its
 * first entry). PREFIX and SUFFIX change only when the run through the change reaches the table's start
 * or end. At the frontier nothing before the change is free, so the change's own inner runs are
 * all there is.
 */
static struct exact derive(struct vmm_context *ctx, const uint64_t *table, unsigned level,
			   const struct exact *was, const struct table_change *ch)
{
	uint64_t span = PT_SPAN_PAGES(level), table_span = PT_SPAN_PAGES(level + 1);
	uint64_t changed_first = ch->first * span, changed_end = (ch->last + 1) * span;
	uint64_t changed = changed_end - changed_first;
	struct exact old = *was;
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
	if (level == 0) { /* from the free-run tags, read by the write (vmm_pt_leaf_tags.h) */
		n = ch->n;
	} else {
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
	}
	/*
	 * The runs not reaching the end (INNER, INNER2 their top two) are those that touch the change,
	 * before (longest inner_before) or after it (inner_after), and the kept ones, K: their top
	 * two follow from the old top two when the runs through the change were shorter, or when
	 * only the longest went through it and INNER2 is known; else the table is measured. At the
	 * frontier nothing before the change is free, so K is empty.
	 */
	bool second_before_exact, second_after_exact;
	uint64_t inner_before = inner_through(&ch->before, &n, changed);
	uint64_t inner_after = inner_through(&ch->after, &n, changed);
	uint64_t second_before = second_through(&ch->before, &n, &second_before_exact);
	uint64_t second_after = second_through(&ch->after, &n, &second_after_exact);
	bool frontier = hint >= ch->first && suffix_start <= changed_end;
	uint64_t inner = 0, inner2 = 0; /* K's top two, then the new top two */
	bool change_added = false;      /* the change's runs are already in inner, inner2 */
	if (frontier || old.inner == 0)
		inner = inner2 = 0; /* K has no run */
	else if (old.inner2 != INNER2_UNKNOWN && inner_before < old.inner2)
		inner = old.inner, inner2 = old.inner2;
	else if (inner_before < old.inner)
		inner = old.inner, inner2 = INNER2_UNKNOWN;
	else if (inner_before == old.inner && old.inner2 != INNER2_UNKNOWN && second_before < old.inner2)
		inner = old.inner2, inner2 = INNER2_UNKNOWN; /* the longest went: the second is next */
	else if (inner_after >= (old.inner2 != INNER2_UNKNOWN ? old.inner2 : old.inner)) {
		/*
		 * The longest went through the change, so K's runs are no longer than the old INNER2
		 * (INNER when not known): the new longest is inner_after, and the second is the change's
		 * own second when that is exact and no shorter than K's runs can be.
		 */
		uint64_t k_bound = old.inner2 != INNER2_UNKNOWN ? old.inner2 : old.inner;
		inner = inner_after;
		inner2 = second_after_exact && second_after >= k_bound ? second_after : INNER2_UNKNOWN;
		change_added = true;
	} else {
		/*
		 * A longest inner run went through the change and shrank, and what comes next is not
		 * known: measure, from the hint (every entry below it is full, after a clear too: the
		 * clear lowered it to its first entry). has_start, computed above, covers the entries
		 * below the hint.
		 */
		if (level == 0)
			return measure(ctx, table, level);
		struct exact t = measure_from(ctx, table, level, hint);
		t.has_start = has_start;
		return t;
	}
	if (!change_added) {
		top2_add(&inner, &inner2, inner_after);
		if (second_after_exact)
			top2_add(&inner, &inner2, second_after);
		else
			top2_add_bounded(&inner, &inner2, second_after);
	}
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
	return (struct exact){ kind, has_start, prefix, suffix, inner, kind == SUMMARY_MIXED ? inner2 : 0 };
}

pte_t summarize_table(struct vmm_context *ctx, uint64_t *table, unsigned level,
		      const struct exact *old, const struct table_change *ch, bool *stripe_changed,
		      struct exact *now)
{
	bool derived = ch && ch->count == 1;
	struct exact t = derived ? derive(ctx, table, level, old, ch) : measure(ctx, table, level);
	/* The stored values are the old ones only where the old summary was mixed too. */
	if (t.kind == SUMMARY_MIXED)
		*stripe_changed |= exact_write(ctx, table, level, &t,
					       derived && old->kind == SUMMARY_MIXED ? old : NULL);
	*now = t;
	return summary_bits(&t);
}

/*
 * The change to table `t` (at `level` >= 1) altered only the SUFFIX of its entry `first`: when that
 * entry is the table's last one not wholly free, the table's own SUFFIX moves by as much and
 * nothing else of it changes (its pointer neither: the maxrun code leaves the suffix out). True
 * when so, with the table's old and new SUFFIX; false when the table needs the full upkeep.
 */
static bool suffix_shift(struct vmm_context *ctx, uint64_t *t, unsigned level,
			 const struct table_change *ch, uint64_t *old_suffix, uint64_t *new_suffix)
{
	/* The entry below already moved: the old SUFFIX is its LAST's spans plus its old suffix. */
	unsigned last = last_read(t, level);
	ctx->backend_work += LAST_ENTRIES;
	if (ch->first != last)
		return false;
	uint64_t spans = (uint64_t)(PT_ENTRIES - 1 - last) * PT_SPAN_PAGES(level);
	uint64_t was = spans + ch->before.suffix, now = spans + ch->after.suffix;
	if ((was == 0) != (now == 0)) /* SFX flips */
		return false;
	suffix_move(ctx, t, level, was, now);
	*old_suffix = was;
	*new_suffix = now;
	return true;
}

/*
 * A table of 4 KiB entries (mixed, its pointer `pointer`) whose one change is a run of pages at the
 * edge of its free suffix: marked from the suffix's first page on (not to its end), or cleared up
 * to the page before it from a reserved page on. Then only its SUFFIX moves: no run but the suffix
 * touches the change, the prefix lies before it, and a start marked or cleared leaves HST as it
 * was when the pointer already had it, or another start remains (start_elsewhere, at most 512).
 * True when so, with the old and new SUFFIX; false when the table needs the full upkeep.
 */
static bool leaf_suffix_edge(struct vmm_context *ctx, uint64_t *t, pte_t pointer,
			     const struct table_change *ch, uint64_t *old_suffix, uint64_t *new_suffix)
{
	unsigned bits = summary_field(pointer);
	if ((bits & SUM_KIND_MASK) != SUMMARY_MIXED)
		return false;
	uint64_t was = ch->old_suffix, now; /* the edge tag moved with the entries */
	uint64_t suffix_start = PT_ENTRIES - was;
	if (ch->direction == CHANGE_MARKED) {
		if (ch->first != suffix_start || ch->last == PT_ENTRIES - 1 ||
		    (ch->after.has_start && !(bits & SUM_HAS_START)))
			return false;
		now = PT_ENTRIES - 1 - ch->last;
	} else {
		ctx->backend_work++; /* the page before the run */
		if (was == 0 || ch->last + 1 != suffix_start || ch->first == 0 ||
		    !(t[ch->first - 1] & RES_RESERVED) ||
		    (ch->before.has_start && !start_elsewhere(ctx, t, 0, ch->first, ch->last)))
			return false;
		now = PT_ENTRIES - ch->first;
	}
	suffix_move(ctx, t, 0, was, now);
	*old_suffix = was;
	*new_suffix = now;
	return true;
}

bool refresh(struct vmm_context *ctx, uint64_t *table, unsigned level, unsigned i,
	     const struct table_change *ch, struct exact *before, struct exact *after, bool *suffix_only)
{
	pte_t old = table[i] & ~PTE_COUNT_STRIPE_MASK;
	uint64_t *child = child_table(old);
	struct table_change full;
	if (ch && ch->count == 1 && (ch->suffix_only || level == 1)) {
		uint64_t was_suffix, now_suffix;
		if (level == 1 ? leaf_suffix_edge(ctx, child, old, ch, &was_suffix, &now_suffix) :
				 suffix_shift(ctx, child, level - 1, ch, &was_suffix, &now_suffix)) {
			if (before)
				*before = (struct exact){ .kind = SUMMARY_MIXED, .suffix = was_suffix };
			if (after)
				*after = (struct exact){ .kind = SUMMARY_MIXED, .suffix = now_suffix };
			if (suffix_only)
				*suffix_only = true;
			return was_suffix != now_suffix;
		}
	}
	if (ch && ch->count == 1 && !ch->suffix_only && level >= 2 &&
	    inner_change_below(ctx, child, level - 1, &ch->before, &ch->after))
		return false;
	if (ch && ch->count == 1 && ch->suffix_only) {
		/* The full upkeep needs the changed entry's other values: they are as they are now. */
		full = *ch;
		full.after = entry_exact(ctx, child[ch->first], level - 1);
		full.before = full.after;
		full.before.suffix = ch->before.suffix;
		full.suffix_only = false;
		ch = &full;
	}
	struct exact was = { 0 }, now;
	bool changed = false;
	pte_t software;
	if (level == 1 && ch && ch->count == 1 && leaf_inner_runs(ctx, old, ch, &was, &now)) {
		if (now.kind == SUMMARY_MIXED)
			changed = exact_write(ctx, child, 0, &now, &was);
		software = summary_bits(&now);
	} else {
		if (before || (ch && ch->count == 1)) {
			was = level >= 2 ? entry_before(ctx, old, level, ch) : entry_exact(ctx, old, level);
			if (level == 1 && ch && was.kind == SUMMARY_MIXED) { /* its edge tags moved already */
				was.prefix = ch->old_prefix;
				was.suffix = ch->old_suffix;
			}
		}
		software = summarize_table(ctx, child, level - 1, &was, ch, &changed, &now);
	}
	if (before)
		*before = was;
	if (after)
		*after = now;
	if (suffix_only)
		*suffix_only = before && was.kind == SUMMARY_MIXED && now.kind == SUMMARY_MIXED &&
			       was.has_start == now.has_start && was.prefix == now.prefix &&
			       was.inner == now.inner && was.inner2 == now.inner2;
	pte_t updated = (old & ~PTE_SW_FIELD_MASK) | software;
	if (updated == old)
		return changed;
	pt_slot_write(table, i, updated);
	return true;
}

/*
 * The SUFFIX of a mixed table at `table_level` >= 1 whose LAST (already read) is `last`: the free
 * entries after it and the SUFFIX of the subtree there, as suffix_derived (vmm_pt.h) reads it but
 * for the LAST already in hand (costs 1 entry, then LAST_ENTRIES + 1 per level below, + 1 for the
 * leaf's tag).
 */
static NOINLINE uint64_t suffix_below_last(uint64_t *work, const uint64_t *table, unsigned table_level, unsigned last)
{
	pte_t e = table[last];
	uint64_t spans = (uint64_t)(PT_ENTRIES - 1 - last) * PT_SPAN_PAGES(table_level);
	unsigned bits = summary_field(e);
	*work += 1;
	if (!pte_is_table(e, table_level) ||
	    (bits & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) != (SUMMARY_MIXED | SUM_FREE_SUFFIX))
		return spans; /* a full subtree or a chunk mark: nothing free at its end */
	const uint64_t *child = child_table(e);
	if (table_level == 1) {
		*work += 1;
		return spans + leaf_edge_run(child, PT_ENTRIES - 1);
	}
	return spans + suffix_derived(work, child, table_level - 1);
}

struct exact entry_before(struct vmm_context *ctx, pte_t e, unsigned level, const struct table_change *ch)
{
	struct summary c = entry_summary(e, level);
	if (c.kind != SUMMARY_MIXED || level == 1)
		return entry_exact(ctx, e, level); /* implied, or a leaf's: its caller has its old edges */
	const uint64_t *t = child_table(e);
	unsigned tl = level - 1;
	struct exact x = { SUMMARY_MIXED, c.has_start, exact_read(ctx, t, tl, EXACT_PREFIX), 0,
			   exact_read(ctx, t, tl, EXACT_INNER), exact_read(ctx, t, tl, EXACT_INNER2) };
	if (!entry_before_suffix_known(level, ch))
		return x; /* SUFFIX not known: the parent measures (note_refresh) */
	/*
	 * Reads: 3 V(tl) for the three stored values, LAST, and the changed entry's subtree only when
	 * it is not at LAST (1 + 5 at most): no more than the 4 V(tl) of the four stored values it
	 * stands for (vmm_pt_summary.c's U(t)).
	 */
	unsigned last = last_read(t, tl);
	ctx->backend_work += LAST_ENTRIES;
	if (ch->first != last) /* the entry at LAST did not change: its subtree says the old suffix */
		x.suffix = suffix_below_last(&ctx->backend_work, t, tl, last);
	else
		x.suffix = (uint64_t)(PT_ENTRIES - 1 - last) * PT_SPAN_PAGES(tl) +
			   (ch->before.kind == SUMMARY_MIXED ? ch->before.suffix : 0);
	return x;
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

/* Entries below `from` are full: the hint moves to the first one from there that is not. */
void hint_advance(struct vmm_context *ctx, uint64_t *table, unsigned level, unsigned from)
{
	unsigned hint = MIN(from, PTE_HINT_MAX);
	if (level == 0) { /* a table of 4 KiB entries: a tight loop over the RES bits */
		unsigned start = hint;
		while (hint < PTE_HINT_MAX && (table[hint] & RES_RESERVED))
			hint++;
		ctx->backend_work += hint - start;
		pte_hint_write(table, hint);
		return;
	}
	while (hint < PTE_HINT_MAX && entry_full(table[hint], level)) {
		ctx->backend_work++;
		hint++;
	}
	pte_hint_write(table, hint);
}
