/*
 * The page-table backend's reads (encoding in vmm_pt.h): the search for the lowest free run, the
 * page at one address (what a fault asks) and the extent around it.
 *
 * Search ("lowest free run of >= n pages at or after from", the placement policy is vmm.c's):
 * scan entries in address order, carrying the free run that reaches the current entry. A table
 * is entered at its hint (the carried run ends there). An all-free or full subtree costs one
 * entry. For a whole mixed subtree (pointer kind 2) the search reads, from the child's summary
 * stripe, at most three exact values: the PREFIX when a run is carried in (carried + PREFIX >= n:
 * found, without entering), the INNER when the pointer's maxrun code neither rules a fit out nor
 * proves one (INNER >= n: enter it, and a fit lies wholly inside, so the search ends there), the SUFFIX
 * to carry on (a suffix of n pages or more is found as the carried run). With no run carried, entries that can neither hold nor start a fit are
 * passed on their raw bits. It never enters a whole subtree that cannot hold a fit. Before the
 * walk, a point descent (search_narrow) follows each table's hint entry while it holds a fit inside,
 * and ends the search there when that entry's free suffix is the answer, or narrows the walk to the
 * table where it stopped (a leaf table is scanned directly).
 *
 * Bound, proved: a table is scanned only if it is the root, or lies on the path of the first or
 * of the last page of the searched range (its pointer is clipped, so its summary says nothing
 * about the part searched: at most 2 tables per level), or its INNER is >= n (the search ends
 * inside it: at most 1 per level, since a whole subtree has no clipped entry; search_narrow reads
 * at most 4 + 2 E(t-1) + P(t-1) entries of such tables, fewer than a scan). A scan of a table
 * at level t reads its hint (1) and at most 512 entries, each plus at most three values of E(t-1)
 * entries and, with INNER, the child's pending run (P(t-1), vmm_pt.h's PEND). With E = 4, 7, 10
 * and P = 0, 4, 4 at levels 0, 1, 2:
 *     root        1 + 512 x (1 + 3 x 10 + 4) = 17 921
 *     level 2     1 + 512 x (1 + 3 x  7 + 4) = 13 313    (at most 3 tables)
 *     level 1     1 + 512 x (1 + 3 x  4)     =  6 657    (at most 3 tables)
 *     level 0     1 + 512                    =    513    (at most 3 tables)
 * so one search reads at most 17 921 + 3 x (13 313 + 6 657 + 513) = 79 370 entries
 * (PT_SEARCH_WORK_BOUND, vmm_pt_check.c), whatever is mapped or reserved; typical searches read a few dozen.
 * The first-fit hints by run size (vmm_pt_fit_hints.h) are read only where a descent reached a
 * leaf table (SEARCH_LEAF, or vmm_pt_leaf_lowest_fit): that leaf is then the only table scanned, so
 * its scan's one fit hint more and the raise's at most 8 (1 + 1 + 512 + 8 = 522, with the
 * descent's reads under 100) keep that search far inside the bound; the range walk's leaf scans
 * read none.
 *
 * A query (the extent around one page) reads one path (4 entries) and runs at most two range
 * finds; a find enters a subtree only when its kind or HST says it holds what is looked for, so
 * besides the two clipped edges the first subtree it enters holds it: at most 7 tables of 512
 * entries per find, 7 172 entries per query, well inside the search bound that
 * vmm_pt_work_bound() states for a reserve_at (query + mark) as for a reserve.
 */
#include "vmm_pt.h"
#include "vmm_pt_leaf_tags.h"
#include "vmm_pt_fit_hints.h"

/* --- search --------------------------------------------------------------------------------- */

struct search {
	struct vmm_context *ctx;
	uint64_t min_pages;
	uint64_t enough_pages;         /* a run this long is returned without looking for its end */
	unsigned short_codes;          /* maxrun code below this: runs too short (maxrun_code(min)) */
	unsigned fit_codes;            /* maxrun code at or above this: an inner run fits (maxrun_fit_code) */
	uint64_t run_start, run_pages; /* the free run reaching the current entry */
	struct vmm_free_run found;
	uint64_t entries_read; /* added to ctx->backend_work once, when the search ends */
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

static enum pt_step found_if(bool found)
{
	return found ? PT_STEP_STOP : PT_STEP_NEXT;
}

/*
 * With no run carried in, an entry (of a table above level 0) that can be passed over without a
 * look inside: it is full, or its longest inner run is too short (maxrun code < short_codes) and
 * no run leaves it through its end; that holds for any clipped part of it too. Decided from the
 * raw bits: this is the search's inner loop.
 */
static bool dead_entry(pte_t e, unsigned short_codes)
{
	if ((e & (PTE_PRESENT | PTE_LARGE)) != PTE_PRESENT) /* not a pointer */
		return (e & RES_RESERVED) != 0;
	unsigned bits = summary_field(e);
	if ((bits & SUM_KIND_MASK) == SUMMARY_FULL)
		return true;
	return (bits & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) == SUMMARY_MIXED &&
	       ((bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK) < short_codes;
}

/* A table is entered at its hint: entries below it are full, so the carried run ends there. */
static ALWAYS_INLINE enum pt_step search_enter(void *cookie, uint64_t *table, unsigned level,
					       uint64_t base, unsigned *first, unsigned last)
{
	(void)level, (void)base, (void)last;
	struct search *s = cookie;
	unsigned hint = pte_hint_read(table);
	s->entries_read++;
	if (*first >= hint)
		return PT_STEP_NEXT;
	if (run_end(s))
		return PT_STEP_STOP;
	*first = hint;
	return PT_STEP_NEXT;
}

/*
 * Entries [i, end] of a table of 4 KiB entries, with a run of `run` free pages carried in. Where a
 * free run starts at i (nothing carried, the entry before reserved or none), its first entry's
 * free-run tag says how long it is (vmm_pt_leaf_tags.h; no tag: the table is all free), so it is
 * taken whole or passed with its reserved end in two reads. Otherwise a fit of n = min_pages needs
 * the n - run entries from i free, so the last of them is read first: if it is reserved, no run
 * through it fits and the scan jumps past it; if free, the entries before it are read backwards
 * down to the last reserved one, which becomes the run's new start. Every entry is read at most
 * once (at most 513 per table with the hint, as a plain scan), and where reservations are dense,
 * most of them are skipped unread. Once a run holds min_pages it is extended up to enough_pages
 * or its end (the policy's cut).
 */
static enum pt_step search_leaves(void *cookie, uint64_t *table, uint64_t base, unsigned i,
				  unsigned end)
{
	struct search *s = cookie;
	uint64_t run = s->run_pages, run_start = s->run_start, reads = 0;
	bool fits = false;
	/* Entry i - 1 is reserved (or there is none) and nothing is carried: a free entry i starts a run. */
	bool after_reserved = run == 0 && (i == 0 || (reads++, (table[i - 1] & RES_RESERVED) != 0));
	while (i <= end && !fits) {
		if (after_reserved) {
			reads++;
			if (!(table[i] & RES_RESERVED)) { /* a run's first entry: its tag is its length */
				unsigned tag = leaf_tag(table[i]);
				uint64_t length = tag ? tag : PT_ENTRIES - i; /* no tag: an all-free table */
				uint64_t avail = MIN(length, (uint64_t)(end - i + 1));
				run_start = base + i * PAGE_SIZE;
				fits = avail >= s->min_pages;
				run = fits ? MIN(avail, MAX(s->enough_pages, s->min_pages)) : avail;
				i += (unsigned)run;
				if (!fits && i <= end) { /* the run ended at a reserved entry: passed unread */
					run = 0;
					i++;
					continue;
				}
				break;
			}
			if (++i > end) /* entry i was reserved: probe from the next one */
				break;
			after_reserved = false;
		}
		uint64_t need = s->min_pages - MIN(run, s->min_pages - 1); /* >= 1 */
		unsigned probe = need - 1 > end - i ? end : i + (unsigned)(need - 1);
		reads++;
		if (table[probe] & RES_RESERVED) {
			i = probe + 1;
			run = 0;
			after_reserved = true;
			continue;
		}
		unsigned k = probe;
		while (k >= i + 4 && !((table[k - 1] | table[k - 2] | table[k - 3] | table[k - 4]) & RES_RESERVED))
			k -= 4; /* four free entries a test, then one by one */
		while (k > i && !(table[k - 1] & RES_RESERVED))
			k--;
		reads += probe - k;
		if (k > i) { /* entry k - 1 is reserved: the run starts at k */
			reads++;
			run = 0;
		}
		if (run == 0)
			run_start = base + k * PAGE_SIZE;
		run += probe - k + 1;
		i = probe + 1;
		fits = run >= s->min_pages;
	}
	/* A fit is extended up to enough_pages or its end. */
	while (fits && run < s->enough_pages && i <= end && !(table[i] & RES_RESERVED)) {
		run++;
		i++;
		reads++;
	}
	bool ends_here = fits && (run >= s->enough_pages || i <= end);
	reads += fits && run < s->enough_pages && i <= end; /* the reserved entry that ended it */
	s->entries_read += reads;
	s->run_pages = run;
	s->run_start = run_start;
	if (ends_here)
		s->found = (struct vmm_free_run){ run_start, run };
	return found_if(ends_here);
}

/*
 * A whole subtree under pointer e (at `level`), decided from its summaries: at most three exact
 * values read, and entered (DESCEND) only when a fit lies wholly inside it: then the search ends
 * there.
 */
static ALWAYS_INLINE enum pt_step search_subtree(struct search *s, pte_t e, unsigned level,
						 uint64_t ebase)
{
	unsigned bits = summary_field(e);
	uint64_t span = PT_SPAN_PAGES(level);
	switch ((enum summary_kind)(bits & SUM_KIND_MASK)) {
	case SUMMARY_ALL_FREE:
		return found_if(run_extend(s, ebase, span));
	case SUMMARY_FULL:
		return found_if(run_end(s));
	case SUMMARY_MIXED:
		break;
	}
	const uint64_t *child = child_table(e);
	struct vmm_context *ctx = s->ctx;
	if (s->run_pages > 0 && (bits & SUM_FREE_PREFIX) &&
	    run_extend(s, ebase, exact_peek(ctx, child, level - 1, EXACT_PREFIX)))
		return PT_STEP_STOP;
	if (run_end(s))
		return PT_STEP_STOP;
	unsigned code = (bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK;
	if (code >= s->fit_codes ||
	    (code >= s->short_codes && exact_peek(ctx, child, level - 1, EXACT_INNER) >= s->min_pages))
		return PT_STEP_DESCEND;
	if (!(bits & SUM_FREE_SUFFIX))
		return PT_STEP_NEXT;
	uint64_t suffix = exact_peek(ctx, child, level - 1, EXACT_SUFFIX);
	return found_if(run_extend(s, ebase + (span - suffix) * PAGE_SIZE, suffix));
}

static ALWAYS_INLINE enum pt_step search_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct search *s = cookie;
	pte_t e = at->table[at->index];
	s->entries_read++;
	if (s->run_pages == 0 && dead_entry(e, s->short_codes))
		return PT_STEP_NEXT;
	if (!pte_is_table(e, at->level))
		return found_if((e & RES_RESERVED) ? run_end(s) :
						     run_extend(s, at->first, span_pages_clipped(at->first, at->last)));
	if (!at->whole)
		return PT_STEP_DESCEND;
	return search_subtree(s, e, at->level, at->base);
}

/* Back from a whole subtree the summary promised a fit in: found inside, or it is the suffix. */
static enum pt_step search_ascend(void *cookie, const struct pt_walk_entry *at)
{
	struct search *s = cookie;
	MM_ASSERT(!at->whole || s->run_pages >= s->min_pages,
		  "search_ascend: summary at %llx promised %llu free pages", (unsigned long long)at->base,
		  (unsigned long long)s->min_pages);
	return PT_STEP_NEXT;
}

/*
 * Where the lowest fit of [*first, *last] lies, found or narrowed by a point descent before the
 * range walk: in each table from the root, the first entry of the range at or after the table's
 * hint is looked at alone (entries below the hint are full, so nothing free lies before it in the
 * range and no run is carried into it). When it is a whole mixed subtree whose INNER holds a fit
 * (search_subtree's own test: its maxrun code proves it, or its INNER read from the child's stripe
 * does), the lowest fit lies wholly inside it (a maximal free run that starts before an inner run
 * ends before it, so it does not reach the subtree's end either) and the descent goes on in its
 * table. When no inner run fits but its free SUFFIX holds enough_pages, that suffix is the answer
 * (the walk would carry it as found: SEARCH_FOUND). Otherwise, where it stops, the range narrows to
 * that table's span (SEARCH_NARROWED): the range walk over it (clipped entries above, descended
 * without a look at their summaries) gives the answer the walk over the whole range gives; or to
 * the leaf table it reached (SEARCH_LEAF, *leaf), which the caller scans from its hint.
 *
 * Work: per table looked at, its hint and one entry (2; the root's hint, when the caller read it
 * and gives the entry, counted by the caller), INNER or SUFFIX (E(t-1), INNER + P(t-1)) when read; the
 * narrowed walk then reads one entry and the hint of each table above the one where the descent
 * stopped. Each of these tables is the root or was promised a fit inside (tables the header's
 * proof lets a search scan), and is read at most 4 + 2 E(t-1) + P(t-1) entries, less than a scan, so the
 * search bound holds.
 */
enum search_start { SEARCH_WALK, SEARCH_NARROWED, SEARCH_LEAF, SEARCH_FOUND };

/*
 * With `path` (may be NULL), the tables and entries looked at are recorded there from the root
 * down; SEARCH_LEAF leaves it complete. i3: the root's entry to look at, when the caller has read
 * the root's hint (ROOT_HINT_UNREAD: not read).
 */
#define ROOT_HINT_UNREAD PT_ENTRIES
static ALWAYS_INLINE enum search_start search_narrow(struct search *s, uint64_t *root, uint64_t *first,
						     uint64_t *last, uint64_t **leaf, struct spine *path,
						     unsigned i3)
{
	uint64_t *t = root, tbase = 0, from = *first;
	unsigned level = PT_TOP_LEVEL;
#pragma GCC unroll 3
	for (; level > 0; level--) {
		bool given = level == PT_TOP_LEVEL && i3 != ROOT_HINT_UNREAD;
		unsigned i = given ? i3 : MAX(PT_INDEX(level, from), pte_hint_read(t));
		pte_t e = t[i];
		s->entries_read += given ? 1 : 2; /* the hint (unless given), the entry */
		if (!pte_is_table(e, level))
			break;
		if (path) {
			path->table[level] = t;
			path->index[level] = i;
		}
		unsigned bits = summary_field(e), code = (bits >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK;
		uint64_t ebase = pt_walk_entry_base(level, tbase, i);
		/*
		 * A root entry must lie wholly in the range; below the root, the table's whole span
		 * does (its pointer passed this test), so every entry of it does: the test is the
		 * root's only (the loop is unrolled, level is a constant).
		 */
		if ((bits & SUM_KIND_MASK) != SUMMARY_MIXED ||
		    (level == PT_TOP_LEVEL && (ebase < from || ebase + (PT_SPAN_BYTES(level) - 1) > *last)))
			break;
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
		MM_ASSERT(ebase >= from && ebase + (PT_SPAN_BYTES(level) - 1) <= *last,
			  "search_narrow: level %u entry at %llx leaves the range", level, (unsigned long long)ebase);
#endif
		uint64_t *child = child_table(e);
		if (code < s->fit_codes && (code < s->short_codes ||
					    exact_peek(s->ctx, child, level - 1, EXACT_INNER) < s->min_pages)) {
			if (!(bits & SUM_FREE_SUFFIX))
				break;
			uint64_t suffix = exact_peek(s->ctx, child, level - 1, EXACT_SUFFIX);
			if (suffix < s->enough_pages)
				break;
			s->found = (struct vmm_free_run){ ebase + (PT_SPAN_PAGES(level) - suffix) * PAGE_SIZE, suffix };
			return SEARCH_FOUND;
		}
		t = child;
		tbase = from = ebase;
	}
	if (level == PT_TOP_LEVEL)
		return SEARCH_WALK;
	*first = tbase;
	*last = tbase + (PT_SPAN_BYTES(level + 1) - 1);
	*leaf = t;
	if (level == 0 && path) {
		path->table[0] = t;
		path->mixed = true;
	}
	return level == 0 ? SEARCH_LEAF : SEARCH_NARROWED;
}

/* The fit found: the free run of `length` pages at leaf entry i, as much of it as the request takes. */
static ALWAYS_INLINE void leaf_fit_found(struct search *s, uint64_t base, unsigned i, unsigned length)
{
	s->found = (struct vmm_free_run){ base + i * PAGE_SIZE, MIN(length, MAX(s->enough_pages, s->min_pages)) };
}

/* Whether the free run that starts at entry i of a mixed leaf (if one does) fits: then found. */
static ALWAYS_INLINE bool leaf_run_fits_at(struct search *s, const uint64_t *leaf, uint64_t base, unsigned i)
{
	unsigned tag = leaf_tag(leaf[i]);
	if ((leaf[i] & RES_RESERVED) || (i > 0 && !(leaf[i - 1] & RES_RESERVED)) || tag < s->min_pages)
		return false;
	s->entries_read += 1 + (i > 0);
	leaf_fit_found(s, base, i, tag);
	return true;
}

/* The scan of a leaf the descent was promised a fit in, from entry i (no fit starts before it). */
static ALWAYS_INLINE bool search_leaf_scan(struct search *s, uint64_t *leaf, uint64_t base, unsigned i)
{
	bool found = search_leaves(s, leaf, base, i, PT_ENTRIES - 1) == PT_STEP_STOP;
	MM_ASSERT(found, "search_leaf_scan: the leaf table at %llx was promised %llu free pages",
		  (unsigned long long)base, (unsigned long long)s->min_pages);
	return found;
}

/*
 * The scan of a leaf the descent was promised a fit in, from entry i, at or above the fit hint of
 * the request's class (no fit starts below either); the hints of its class and above rise to what
 * it finds, the first fit.
 */
static ALWAYS_INLINE bool search_leaf_scan_raise(struct search *s, uint64_t *leaf, uint64_t base, unsigned i)
{
	bool found = search_leaf_scan(s, leaf, base, i);
	if (s->min_pages >= 2)
		s->entries_read += fit_hints_raise(leaf, s->min_pages, (unsigned)((s->found.start - base) / PAGE_SIZE));
	return found;
}

/*
 * The lowest fit in a leaf the descent was promised one in (a fit lies inside, no run carried in),
 * whose first-free hint i does not start one: at the fit hint of n's class when a fit starts there
 * (fit_hint_lowest_fit), else the scan from the higher of the two hints.
 */
static ALWAYS_INLINE bool search_leaf_by_class(struct search *s, uint64_t *leaf, uint64_t base, unsigned i)
{
	if (s->min_pages >= 2) {
		unsigned at = fit_hint_lowest_fit(leaf, s->min_pages, &i, &s->entries_read);
		if (at < PT_ENTRIES) {
			leaf_fit_found(s, base, at, leaf_tag(leaf[at]));
			return true;
		}
	}
	return search_leaf_scan_raise(s, leaf, base, i);
}

/*
 * A leaf table search_narrow found the fit in, scanned from its hint as the range walk would;
 * *hint receives the hint (no run is carried in, so the scan starts there).
 */
static ALWAYS_INLINE bool search_leaf_table(struct search *s, uint64_t *leaf, uint64_t base, unsigned *hint)
{
	unsigned i = 0;
	if (search_enter(s, leaf, 0, base, &i, PT_ENTRIES - 1) == PT_STEP_STOP)
		return true;
	*hint = i;
	/*
	 * A run that starts at i (a reserved entry before it) has its length in its first entry's tag
	 * (the table is mixed): when it fits, it is the answer as search_leaves would cut it, from
	 * these two reads. At the first-free hint (the entry there is free and the one before it
	 * reserved) that is the usual case, and the answer no fit hint needs to learn.
	 */
	return leaf_run_fits_at(s, leaf, base, i) || search_leaf_by_class(s, leaf, base, i);
}

uint64_t vmm_pt_leaf_lowest_fit(struct vmm_context *ctx, uint64_t *leaf, uint64_t base, unsigned from, uint64_t pages)
{
	struct search s = { .ctx = ctx,
			    .min_pages = pages,
			    .enough_pages = pages,
			    .short_codes = maxrun_code(pages),
			    .fit_codes = maxrun_fit_code(pages) };
	search_leaf_scan_raise(&s, leaf, base, from);
	ctx->backend_work += s.entries_read;
	return s.found.start;
}

/* The search, specialised for path NULL (vmm_pt_find_free_run) or not (vmm_pt_find_lowest). */
static ALWAYS_INLINE bool find_lowest(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
				      uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out,
				      struct spine *path, bool *known, unsigned i3)
{
	static const struct pt_walk_visitor visitor = { .entry = search_entry,
							.ascend = search_ascend,
							.enter = search_enter,
							.leaves = search_leaves };
	uint64_t end = region->base + region->pages * PAGE_SIZE;
	if (known)
		*known = false;
	if (from >= end)
		return false;
	struct search s = { .ctx = ctx,
			    .min_pages = min_pages,
			    .enough_pages = enough_pages,
			    .short_codes = maxrun_code(min_pages),
			    .fit_codes = maxrun_fit_code(min_pages) };
	uint64_t *root = pt_table(ctx->pt.root), *leaf, first = MAX(from, region->base), last = end - 1;
	unsigned hint_unused;
	enum search_start start = search_narrow(&s, root, &first, &last, &leaf, path, i3);
	bool found = start == SEARCH_FOUND ||
		     (start == SEARCH_LEAF ? search_leaf_table(&s, leaf, first, path ? &path->leaf_hint : &hint_unused) :
					     pt_walk_range(root, PT_TOP_LEVEL, 0, first, last, &visitor, &s) ||
						     run_end(&s));
	ctx->backend_work += s.entries_read;
	if (found) {
		*out = s.found;
		if (path) /* the search went down one path of mixed tables to the fit's leaf table */
			*known = start == SEARCH_LEAF;
	}
	return found;
}

enum pt_found vmm_pt_find_lowest(struct vmm_context *ctx, const struct vmm_region *region, unsigned i3,
				 uint64_t pages, struct vmm_free_run *out, struct spine *path)
{
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	unsigned expect = MAX(PT_INDEX(PT_TOP_LEVEL, region->base), pte_hint_read(pt_table(ctx->pt.root)));
	MM_ASSERT(i3 == expect, "vmm_pt_find_lowest: root entry %u given, the hint says %u", i3, expect);
#endif
	if (!path) /* never (the caller's spine): lets find_lowest's NULL tests of it vanish */
		__builtin_unreachable();
	bool known;
	if (!find_lowest(ctx, region, region->base, pages, pages, out, path, &known, i3))
		return PT_NOT_FOUND;
	return known ? PT_FOUND_ON_PATH : PT_FOUND;
}

bool vmm_pt_find_free_run(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			  uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out)
{
	return find_lowest(ctx, region, from, min_pages, enough_pages, out, NULL, NULL, ROOT_HINT_UNREAD);
}

/* --- the page at one address ---------------------------------------------------------------- */

/*
 * The entry that decides the page at addr: a point walk, one loop over levels (as pagetable.c's
 * walk()), which a fault takes once per fault, so it carries none of a range walk's clipping.
 */
struct page_state page_state(struct vmm_context *ctx, uint64_t addr)
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

/* --- the extent around one address ---------------------------------------------------------- */

enum find_target { FIND_RESERVED, FIND_FREE_OR_START, FIND_START };

struct find {
	struct vmm_context *ctx;
	enum find_target target;
	bool forward;
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
	uint64_t nearest = f->forward ? lo : ALIGN_DOWN(hi, PAGE_SIZE);
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

static enum pt_step find_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct find *f = cookie;
	pte_t e = at->table[at->index];
	f->ctx->backend_work++;
	if (!pte_is_table(e, at->level))
		return find_in_chunk(f, e, at->base, at->first, at->last) ? PT_STEP_STOP : PT_STEP_NEXT;
	struct summary c = entry_summary(e, at->level);
	return may_hold(f->target, &c) ? PT_STEP_DESCEND : PT_STEP_NEXT;
}

/* First (forward) or last page of the target in [first, last]; false when there is none. */
static bool find_range(struct vmm_context *ctx, enum find_target target, enum pt_walk_direction dir,
		       uint64_t first, uint64_t last, uint64_t *hit)
{
	static const struct pt_walk_visitor forward = { .entry = find_entry };
	static const struct pt_walk_visitor backward = { .entry = find_entry,
							 .direction = PT_WALK_BACKWARD };
	if (first > last)
		return false;
	struct find f = { .ctx = ctx, .target = target, .forward = dir == PT_WALK_FORWARD };
	uint64_t *root = pt_table(ctx->pt.root);
	bool found = dir == PT_WALK_FORWARD ?
			     pt_walk_range(root, PT_TOP_LEVEL, 0, first, last, &forward, &f) :
			     pt_walk_range(root, PT_TOP_LEVEL, 0, first, last, &backward, &f);
	if (found)
		*hit = f.hit;
	return found;
}

void vmm_pt_query(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
		  uint64_t lo, uint64_t hi, struct vmm_extent *out)
{
	uint64_t start = lo, end = hi, hit;
	struct page_state here = page_state(ctx, addr);
	if (!here.reserved) {
		if (addr > lo && find_range(ctx, FIND_RESERVED, PT_WALK_BACKWARD, lo, addr - 1, &hit))
			start = hit + PAGE_SIZE;
		if (find_range(ctx, FIND_RESERVED, PT_WALK_FORWARD, addr + PAGE_SIZE, hi - 1, &hit))
			end = hit;
	} else {
		/* Clipped, the start may lie before lo; unclipped, it must be found. */
		bool found = find_range(ctx, FIND_START, PT_WALK_BACKWARD, lo, addr, &hit);
		MM_ASSERT(found || lo > region->base, "vmm_pt_query: reservation at %llx has no start",
			  (unsigned long long)addr);
		if (found)
			start = hit;
		if (find_range(ctx, FIND_FREE_OR_START, PT_WALK_FORWARD, addr + PAGE_SIZE, hi - 1, &hit))
			end = hit;
	}
	*out = (struct vmm_extent){
		.state = here.reserved ? VMM_RANGE_RESERVED : VMM_RANGE_FREE,
		.start = start,
		.pages = (end - start) / PAGE_SIZE,
		.access = here.reserved ? here.access : 0,
	};
}
