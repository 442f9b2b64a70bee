/*
 * The page-table backend's self-check, its bounds as numbers, and what its bookkeeping costs in
 * memory (encoding in vmm_pt.h).
 *
 * Self-check: every pointer's rounded summary, every mixed table's exact values, every table's
 * first-free hint, every leaf table's free-run tags (vmm_pt_leaf_tags.h) and first-fit hints
 * (vmm_pt_fit_hints.h: each at or below the first run of its class) are recounted from the
 * RES/STA bits alone (no summary, stripe, hint or tag is read to find them), in one walk of the
 * context's half that combines each table's entries bottom-up; and no leaf table holds nothing (a
 * release that empties a leaf frees it).
 *
 * Bounds: the search bound (vmm_pt_search.c) is PT_SEARCH_WORK_BOUND, checked below against the
 * sum of its table scans; a mark or clear of p pages costs at most 1 024 + sum over t = 0..2 of
 * (2 + p / 512^(t+1)) U(t) (vmm_pt_summary.c); vmm_pt_work_bound() adds one search and two updates
 * (a release tallies the range before clearing it; a failed mark clears what it marked), and what
 * a reserve's lean routes read before they decline (LEAN_DECLINED_READS).
 */
#include "vmm_pt.h"
#include "vmm_pt_leaf_tags.h"
#include "vmm_pt_fit_hints.h"

/* --- self-check ----------------------------------------------------------------------------- */

/*
 * Fit hints of a leaf table that break vmm_pt_fit_hints.h's invariants: one above the first start of
 * a free run of its class's threshold or more (the runs found here from the RES bits alone), or
 * above the next class's hint.
 */
static unsigned leaf_fit_hints_wrong(const uint64_t *leaf, uint64_t base)
{
	unsigned first_start[FIT_HINTS], wrong = 0;
	for (unsigned k = 0; k < FIT_HINTS; k++)
		first_start[k] = PT_ENTRIES; /* no such run: any hint is true */
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		if (leaf[i] & RES_RESERVED)
			continue;
		unsigned b = i;
		while (b + 1 < PT_ENTRIES && !(leaf[b + 1] & RES_RESERVED))
			b++;
		for (unsigned k = 0; k < FIT_HINTS; k++)
			if (b - i + 1 >= 2u << k && first_start[k] == PT_ENTRIES)
				first_start[k] = i;
		i = b;
	}
	for (unsigned k = 0; k < FIT_HINTS; k++) {
		unsigned hint = (unsigned)pte_stripe_field_read(leaf, LEAF_FIT_HINT_FIRST + 3 * k, 3);
		unsigned next = k + 1 < FIT_HINTS ? (unsigned)pte_stripe_field_read(leaf, LEAF_FIT_HINT_FIRST + 3 * (k + 1), 3) :
						    PT_ENTRIES;
		if (hint > first_start[k] || hint > next) {
			mm_log("pagetable self-check: leaf table at %llx has fit hint %u (runs of %u) = %u, first such run at %u, next hint %u\n",
			       (unsigned long long)base, k, 2u << k, hint, first_start[k], next);
			wrong++;
		}
	}
	return wrong;
}

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
	const uint64_t values[EXACT_FIELDS] = { t->prefix, t->suffix, t->inner, t->inner2 };
	unsigned entries = exact_value_entries(level - 1);
	/*
	 * Levels 1 and 2: a pending run (PEND, after LAST) joins the stored INNER as its rule says;
	 * its on digit is 0 or 1, and a run that is on is not empty.
	 */
	uint64_t word = level - 1 == 0 ? 0 : pte_stripe_field_read(child, PEND_FIRST(level - 1), PEND_ENTRIES + 1);
	uint64_t pend = pend_run(word);
	if (word / PEND_LIMIT > 1 || (word == PEND_ON)) {
		mm_log("pagetable self-check: level %u table under %llx has PEND %llx (on digit above 1, or on and empty)\n",
		       level - 1, (unsigned long long)ebase, (unsigned long long)word);
		(*bad)++;
	}
	uint64_t rest = pte_stripe_field_read(child, exact_field_first(level - 1, EXACT_INNER), entries);
	for (unsigned f = 0; f < EXACT_FIELDS; f++) {
		if (!exact_field_striped(level - 1, (enum exact_field)f))
			continue; /* a leaf's PREFIX and SUFFIX are its edge tags: leaf_tags_wrong checks them */
		uint64_t stored = pte_stripe_field_read(child, exact_field_first(level - 1, (enum exact_field)f),
							entries);
		uint64_t expect = values[f];
		if (f == EXACT_SUFFIX) { /* LAST in its first entries, then PEND (checked above), 0 in the rest */
			stored &= ~((PEND_ON * 8 - 1) << (3 * LAST_ENTRIES));
			expect = last_of_suffix(values[f], level - 1);
		}
		if (pend && f == EXACT_INNER)
			stored = MAX(stored, pend);
		if (pend && f == EXACT_INNER2) { /* stored unknown while a run is pending */
			if (stored != 0) {
				mm_log("pagetable self-check: level %u table under %llx has a pending run %llu and INNER2 stored %llu\n",
				       level - 1, (unsigned long long)ebase, (unsigned long long)pend,
				       (unsigned long long)stored);
				(*bad)++;
			}
			stored = pend > rest ? inner2_stored(rest) : 0;
		}
		if (f == EXACT_INNER2) /* plus one; 0: not known, which is never wrong */
			expect = inner2_stored(values[f]);
		if (stored != expect && !(f == EXACT_INNER2 && stored == 0)) {
			mm_log("pagetable self-check: level %u table under %llx stores exact value %u = %llu, recount %llu\n",
			       level - 1, (unsigned long long)ebase, f, (unsigned long long)stored,
			       (unsigned long long)expect);
			(*bad)++;
		}
	}
}

/* A table's recount in progress: its entries combined so far, in address order. */
struct recount_table {
	struct exact t;
	uint64_t middle1, middle2; /* the top two runs touching neither end of the table */
	unsigned entries, free_children, full_children, first_not_full;
	uint64_t run;
	bool in_prefix;
	const uint64_t *table;
	uint64_t base;
};

struct recount {
	unsigned bad;
	struct recount_table open[PT_LEVELS];
};

static enum pt_step recount_enter(void *cookie, uint64_t *table, unsigned level, uint64_t base,
				  unsigned *first, unsigned last)
{
	(void)first, (void)last;
	struct recount *r = cookie;
	r->open[level] = (struct recount_table){ .t = { .kind = SUMMARY_MIXED },
						 .first_not_full = PT_ENTRIES,
						 .in_prefix = true,
						 .table = table,
						 .base = base };
	return PT_STEP_NEXT;
}

/*
 * Adds entry i, covering c (whose runs touching neither of its ends have the top two middle1,
 * middle2), to the table's recount.
 */
static void recount_add(struct recount_table *o, unsigned i, const struct exact *c, uint64_t middle1,
			uint64_t middle2)
{
	o->entries++;
	o->t.has_start |= c->has_start;
	o->free_children += c->kind == SUMMARY_ALL_FREE;
	o->full_children += c->kind == SUMMARY_FULL;
	if (c->kind != SUMMARY_FULL && o->first_not_full == PT_ENTRIES)
		o->first_not_full = i;
	o->t.prefix += o->in_prefix ? c->prefix : 0;
	if (c->kind == SUMMARY_ALL_FREE) {
		o->run += c->prefix;
		return;
	}
	if (!o->in_prefix) /* the run ending here started after the table's start */
		top2_add(&o->middle1, &o->middle2, o->run + c->prefix);
	top2_add(&o->middle1, &o->middle2, middle1);
	top2_add(&o->middle1, &o->middle2, middle2);
	o->in_prefix = false;
	o->t.inner = MAX(o->t.inner, MAX(o->run + c->prefix, c->inner));
	o->run = c->suffix;
}

/* The table's recount, complete; checks its hint on the way. */
static struct exact recount_finish(const struct recount_table *o, unsigned level, unsigned *bad)
{
	struct exact t = o->t;
	t.suffix = o->run;
	if (o->free_children == o->entries)
		t.kind = SUMMARY_ALL_FREE;
	else if (o->full_children == o->entries)
		t.kind = SUMMARY_FULL;
	/* The runs INNER is the longest of: the prefix run (unless it is the whole table) and the middle. */
	uint64_t first = o->middle1, second = o->middle2;
	if (t.kind != SUMMARY_ALL_FREE)
		top2_add(&first, &second, t.prefix);
	t.inner2 = second;
	if (pte_hint_read(o->table) > o->first_not_full) {
		mm_log("pagetable self-check: level %u table at %llx has hint %u, first non-full %u\n",
		       level, (unsigned long long)o->base, pte_hint_read(o->table), o->first_not_full);
		(*bad)++;
	}
	return t;
}

/*
 * A leaf table with no entry in use (every entry holds nothing but stripe bits and a tag, which
 * pte_is_used ignores) is one the release that emptied it should have freed: pagetable.c frees a
 * leaf when the backend's leaf_empty says so, from its entry 0 alone. Read here from all 512
 * entries, not from entry 0, so a leaf_empty that misses an empty leaf is caught.
 */
static bool leaf_leaked(const uint64_t *leaf)
{
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		if (pte_is_used(leaf[i]))
			return false;
	return true;
}

static enum pt_step recount_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct recount *r = cookie;
	pte_t e = at->table[at->index];
	if (pte_is_table(e, at->level))
		return PT_STEP_DESCEND;
	uint64_t span = PT_SPAN_PAGES(at->level);
	struct exact c = (e & RES_RESERVED) ? (struct exact){ SUMMARY_FULL, (e & RES_START) != 0, 0, 0, 0, 0 } :
					      (struct exact){ SUMMARY_ALL_FREE, false, span, span, 0, 0 };
	recount_add(&r->open[at->level], at->index, &c, 0, 0);
	return PT_STEP_NEXT;
}

static enum pt_step recount_ascend(void *cookie, const struct pt_walk_entry *at)
{
	struct recount *r = cookie;
	const struct recount_table *below = &r->open[at->level - 1];
	struct exact t = recount_finish(below, at->level - 1, &r->bad);
	check_summary(at->table[at->index], at->level, at->base, &t, &r->bad);
	if (at->level == 1) {
		const uint64_t *leaf = child_table(at->table[at->index]);
		unsigned wrong = leaf_tags_wrong(leaf);
		if (wrong) {
			mm_log("pagetable self-check: leaf table at %llx has %u wrong free-run tags\n",
			       (unsigned long long)at->base, wrong);
			r->bad += wrong;
		}
		r->bad += leaf_fit_hints_wrong(leaf, at->base);
		if (leaf_leaked(leaf)) {
			mm_log("pagetable self-check: leaf table at %llx holds nothing and was not freed\n",
			       (unsigned long long)at->base);
			r->bad++;
		}
	}
	recount_add(&r->open[at->level], at->index, &t, below->middle1, below->middle2);
	return PT_STEP_NEXT;
}

/* Every summary, exact value and hint of the context's half equals a recount from the RES/STA bits. */
unsigned vmm_pt_self_check(struct vmm_context *ctx)
{
	static const struct pt_walk_visitor visitor = { .entry = recount_entry,
							.ascend = recount_ascend,
							.enter = recount_enter };
	struct recount r = { .bad = 0 };
	uint64_t first, last;
	pt_half_range(ctx->kind == VMM_CONTEXT_USER ? PT_HALF_USER : PT_HALF_KERNEL, &first, &last);
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, first, last, &visitor, &r);
	recount_finish(&r.open[PT_TOP_LEVEL], PT_TOP_LEVEL, &r.bad);
	return r.bad;
}

/* --- the bounds, as numbers ----------------------------------------------------------------- */

#define PT_SEARCH_WORK_BOUND 79370u
/*
 * A table scan at level t: its hint, then 512 entries each with up to three exact values read,
 * one of them INNER with the child's PEND (P(t-1), vmm_pt.h).
 */
#define TABLE_SCAN_BOUND(t) \
	(1 + PT_ENTRIES * (1 + SEARCH_EXACT_FIELDS * EXACT_VALUE_ENTRIES((t) - 1) + PEND_READ_ENTRIES((t) - 1)))
STATIC_ASSERT(PT_SEARCH_WORK_BOUND == TABLE_SCAN_BOUND(3) +
					      3 * (TABLE_SCAN_BOUND(2) + TABLE_SCAN_BOUND(1) + 1 + PT_ENTRIES),
	      "the header's search bound is the sum of its table scans");

/*
 * U(t): one table at level t below the root, updated by a mark or clear (vmm_pt_summary.c); each
 * value read or written costs at most V(t) = E(t) + P(t) (PEND read with INNER and INNER2, turned
 * off by a write).
 */
static uint64_t value_entries_with_pend(unsigned table_level)
{
	return exact_value_entries(table_level) + PEND_READ_ENTRIES(table_level);
}

static uint64_t table_update_bound(unsigned table_level)
{
	uint64_t values = EXACT_FIELDS * value_entries_with_pend(table_level);
	uint64_t below = table_level == 0 ? 0 : value_entries_with_pend(table_level - 1);
	uint64_t measure = PT_ENTRIES * (1 + SEARCH_EXACT_FIELDS * below); /* never INNER2 */
	uint64_t derive = values + 2 * PT_ENTRIES + 2 * below;
	return 2 * PT_ENTRIES + 2 * EXACT_FIELDS * below + derive + measure + values;
}

/*
 * Entries a reserve's lean routes (vmm_pt_lean.c, vmm_pt_reserve.c's vmm_pt_reserve_lowest,
 * vmm_pt_chunk.c's reserve_chunk_frontier) may read before they decline, which the search and the
 * mark then read again: the root's hint and entry (2), two LASTs and the entries there and a
 * leaf's last tag (4 + 4 + 1), then the inner route's two entries and a leaf's INNER and INNER2
 * (2 + 2 E(0)). A release does no search: its reads lie in the search's slot (vmm_pt_lean.c).
 */
#define LEAN_DECLINED_READS (2 + 2 * (LAST_ENTRIES + 1) + 1 + 2 + 2 * EXACT_VALUE_ENTRIES(0))
STATIC_ASSERT(LEAN_DECLINED_READS == 21, "the count the header of vmm_pt_work_bound states");

/*
 * One search, plus twice a mark or clear of `pages` pages: a release tallies the range (at most
 * what a clear reads) before clearing it, a failed mark clears what it marked, a resize splits
 * and re-measures one path (8 entries and at most one measure per level more); plus the 21
 * entries a reserve's lean routes may read before they decline (LEAN_DECLINED_READS).
 */
uint64_t vmm_pt_work_bound(const struct vmm_context *ctx, uint64_t pages)
{
	(void)ctx;
	uint64_t update = 2 * PT_ENTRIES; /* the root: its entries in the range and its hint */
	for (unsigned t = 0; t < PT_TOP_LEVEL; t++)
		update += (2 + pages / PT_SPAN_PAGES(t + 1)) * table_update_bound(t);
	return PT_SEARCH_WORK_BOUND + 2 * update + 8 + LEAN_DECLINED_READS;
}

/* --- bookkeeping bytes ---------------------------------------------------------------------- */

/* What lies under the entries walked so far, per open table. */
struct table_use {
	bool maps;     /* some present leaf */
	bool reserves; /* some reservation bit */
};

struct use_walk {
	uint64_t reservation_only; /* tables that hold reservations and map nothing */
	struct table_use open[PT_LEVELS];
};

static enum pt_step use_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct use_walk *w = cookie;
	pte_t e = at->table[at->index];
	if (pte_is_table(e, at->level)) {
		w->open[at->level - 1] = (struct table_use){ false, false };
		return PT_STEP_DESCEND;
	}
	w->open[at->level].maps |= pte_is_leaf(e, at->level);
	w->open[at->level].reserves |= (e & RES_RESERVED) != 0;
	return PT_STEP_NEXT;
}

static enum pt_step use_ascend(void *cookie, const struct pt_walk_entry *at)
{
	struct use_walk *w = cookie;
	struct table_use below = w->open[at->level - 1];
	w->reservation_only += below.reserves && !below.maps;
	w->open[at->level].maps |= below.maps;
	w->open[at->level].reserves |= below.reserves;
	return PT_STEP_NEXT;
}

/*
 * The bookkeeping is the reservation bits and summaries inside entries the CPU needs anyway, so
 * what it costs is the table pages that exist only for it: tables (below the root) that hold
 * reservations and map nothing. Empty tables (such as the kernel half's top-level tables, created
 * up front so user contexts can share them) are not counted: the list backend has them too. A
 * walk of the context's half, for snapshots only.
 */
uint64_t vmm_pt_bookkeeping_bytes(const struct vmm_context *ctx)
{
	static const struct pt_walk_visitor visitor = { .entry = use_entry, .ascend = use_ascend };
	struct use_walk w = { 0 };
	uint64_t first, last;
	pt_half_range(ctx->kind == VMM_CONTEXT_USER ? PT_HALF_USER : PT_HALF_KERNEL, &first, &last);
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, first, last, &visitor, &w);
	return w.reservation_only * PAGE_SIZE;
}
