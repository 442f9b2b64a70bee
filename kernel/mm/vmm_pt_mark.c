/*
 * The page-table backend's writes (encoding in vmm_pt.h): marking a range reserved, clearing it
 * (release, shrink, undo), splitting a reservation and changing the access it allows. Each is one
 * walk over the range (pt_walk_range) whose visitor writes the entries and, on the way back up,
 * re-summarises every table whose entries changed (vmm_pt_summary.c says how and at what cost).
 * reserve_lowest (vmm.c's placement in one call) and release try vmm_pt_lean.c's routes first (the
 * usual request, at the frontier or inside a leaf's inner runs, from one path: the search's own,
 * or one point walk) and the chunk frontier (reserve_chunk_frontier); what they decline comes here.
 * A reserve or release inside one existing leaf table takes one point walk instead (spine_of):
 * at the frontier only the leaf table's SUFFIX moves (frontier_mark, frontier_release);
 * inside the leaf's inner runs the free-run tags (vmm_pt_leaf_tags.h) give the run's ends and the
 * leaf's new values follow without a look (inner_mark, inner_clear), and so do the tables above,
 * which lose and gain the same runs (runs_above); elsewhere the range walk's
 * own visitors run along that path (path_mark, path_clear), and a release is checked in the leaf
 * table itself instead of by a tally walk: an unmapped one while it is cleared, on the frontier
 * and inner routes (leaf_release_unmapped, leaf_entries_clear_checked), else first
 * (leaf_reservation). A release (or a shrink) unmaps the
 * pages it clears first (unmap_before_clear): a cleared entry may take a tag, which must never
 * land in a present entry.
 * A reservation that is exactly one aligned chunk (2 MiB or 1 GiB) takes one point walk too
 * (chunk_spine_of): at the frontier of 2 MiB chunks only T1's and T2's suffix, inner top two and
 * HST move (chunk_frontier_mark, chunk_frontier_release), elsewhere the range walk's visitors
 * run along the path (chunk_mark, chunk_release).
 *
 * Invariants kept: a reservation is the run of RES pages from a page with STA up to the next STA
 * or free page; every table pointer's summary and every mixed table's exact values describe the
 * entries below it (vmm_pt_check.c recounts them); a table's first-free hint is at or below its
 * first entry that is not full. An operation that fails leaves the state as it found it: a mark
 * that cannot install a table clears what it marked (the range was free, so clearing all of it
 * restores it exactly), and a split or a shrink changes nothing before its chunk splits succeeded.
 *
 * Bound: a mark or clear of p pages touches the entries of the range and re-summarises the tables
 * it changed, at most 1 024 + sum over t = 0..2 of (2 + p / 512^(t+1)) U(t) entries
 * (vmm_pt_summary.c); a release first tallies the range (at most what the clear reads), a resize
 * splits and re-measures one path more. vmm_pt_work_bound() (vmm_pt_check.c) adds them up. The
 * point-walk routes read no more: 3 path entries, the leaf run and the page after it (at most
 * 513, in place of the tally), the leaf's SUFFIX and two LASTs (7) and at most 512 entries looking for
 * another start, then at most what the range walk's clear would read; a release that the clear
 * checking as it goes refuses has read and written its run twice (at most 2 x 511 entries each),
 * and pays again for the checks above before leaf_reservation and the tally (a refused release
 * runs no search, whose share of vmm_pt_work_bound is far larger); the inner routes read the
 * entries on either side (2) and the leaf's values (2 E(0) + 2), and a mark's run start is one
 * entry, or at most 512 back (leaf_run_around); above the leaf, each table whose values change
 * has its four values read and two written (runs_above: 6 E(t), less than its U(t)) until one
 * keeps its values, or takes the range walk's upkeep from there. The chunk routes read the
 * path (3), T1's and T2's values (4 x 7 + 4 x 10), the entry before the chunk and its SUFFIX
 * (1 + 4), at most 2 x 512 entries looking for other starts and the page after the chunk (4):
 * less than one U(1) + U(2) of the range walk's upkeep, which they replace. Values found in the
 * value cache (vmm_pt.h) are not read again, and not counted.
 */
#include "vmm_pt.h"
#include "vmm_pt_leaf_runs.h"
#include "vmm_pt_leaf_tags.h"

/* Whether a change to an entry of a table at `level` must be described (the table's first). */
static bool change_wanted(const struct table_change *ch, unsigned level)
{
	return ch->count == 0 && level > 0 && level < PT_TOP_LEVEL; /* the root has no summary */
}

/* Entry i changed from `before` to `after`: counts it, and keeps both while it is the only one. */
static void change_note(struct table_change *ch, unsigned level, unsigned i, const struct exact *before,
			const struct exact *after, bool suffix_only)
{
	if (change_wanted(ch, level)) {
		ch->first = ch->last = i;
		ch->before = *before;
		ch->after = *after;
		ch->suffix_only = suffix_only;
	}
	ch->count++;
}

/*
 * Back from the table under entry `at` whose entries changed as `below` says: re-summarises it and,
 * when what the parent's summary is computed from changed, notes the change in the parent's `ch`.
 * A table the walk installed was a free entry before.
 */
static void note_refresh(struct vmm_context *ctx, const struct pt_walk_entry *at,
			 const struct table_change *below, struct table_change *ch, bool installed)
{
	unsigned level = at->level;
	struct exact before, after;
	bool wanted = change_wanted(ch, level), suffix_only = false;
	bool changed = below->count > 0 &&
		       refresh(ctx, at->table, level, at->index, below, wanted ? &before : NULL,
			       wanted ? &after : NULL, &suffix_only);
	if (!changed && !installed)
		return;
	if (wanted && installed) {
		before = entry_exact(ctx, 0, level);
		if (suffix_only) /* the table is new: what it covers now is read whole */
			after = entry_exact(ctx, at->table[at->index], level);
		suffix_only = false;
	}
	if (wanted && !changed)
		after = entry_exact(ctx, at->table[at->index], level);
	change_note(ch, level, at->index, &before, &after, suffix_only);
	if (wanted && !installed && !entry_before_suffix_known(level, below))
		ch->count++; /* what the entry covered before is not known: the table is measured */
}

/* --- mark ----------------------------------------------------------------------------------- */

struct mark {
	struct vmm_context *ctx;
	uint64_t start; /* the page that gets RES_START; NO_START_PAGE for none */
	pte_t access;   /* access_bits() of the reservation */
	enum vm_status status;
	/* Per level, for the table open there: its changes, and whether the walk installed the table
	 * under the entry it went down through. */
	struct table_change ch[PT_LEVELS];
	bool installed[PT_LEVELS];
	bool leaf_all_free; /* the leaf table the walk goes down into is all free (has no tags) */
};

#define NO_START_PAGE 1 /* never a page address */

static enum pt_step mark_enter(void *cookie, uint64_t *table, unsigned level, uint64_t base,
			       unsigned *first, unsigned last)
{
	(void)table, (void)base, (void)first, (void)last;
	struct mark *m = cookie;
	m->ch[level] = (struct table_change){ .direction = CHANGE_MARKED };
	return PT_STEP_NEXT;
}

/* Marks pages [first, last] of a table of 4 KiB entries: one change, free before, full after. */
static ALWAYS_INLINE enum pt_step mark_leaves(void *cookie, uint64_t *table, uint64_t base,
					      unsigned first, unsigned last)
{
	struct mark *m = cookie;
	uint64_t start_index = (m->start - base) / PAGE_SIZE;
	bool start = m->start != NO_START_PAGE && m->start >= base && start_index >= first &&
		     start_index <= last;
	unsigned a, b; /* the free run the pages are taken from */
	leaf_run_around(m->ctx, table, first, m->leaf_all_free, &a, &b);
	uint64_t old_prefix = leaf_edge_run(table, 0), old_suffix = leaf_edge_run(table, PT_ENTRIES - 1);
	leaf_edges_forget(m->ctx, table);
	MM_ASSERT(last <= b, "mark_leaves: pages %u..%u of %llx.. are not one free run", first, last,
		  (unsigned long long)base);
	struct pt_slots_seen seen = pt_slots_rewrite(table, first, last, ~PTE_FREE_TAG_MASK,
						    RES_RESERVED | m->access);
	MM_ASSERT(!(seen.any & RES_RESERVED), "mark_leaves: a page of %llx.. was already reserved",
		  (unsigned long long)(base + first * PAGE_SIZE));
	if (start)
		pt_slot_write(table, (unsigned)start_index,
			      (table[start_index] & ~PTE_COUNT_STRIPE_MASK) | RES_START);
	m->ctx->backend_work += last - first + 1;
	uint64_t pages = last - first + 1;
	m->ch[0] = (struct table_change){ CHANGE_MARKED, 1, first, last,
					  { SUMMARY_ALL_FREE, false, pages, pages, 0, 0 },
					  { SUMMARY_FULL, start, 0, 0, 0, 0 }, false,
					  leaf_tags_mark(table, a, b, first, last), old_prefix, old_suffix };
	return PT_STEP_NEXT;
}

/*
 * An entry above level 0: a whole free chunk is marked in the entry itself; anything else is
 * marked below (a table is installed under a free entry first). After a failed install the walk
 * passes the rest of the range untouched, and mark_range clears what was marked.
 */
static enum pt_step mark_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct mark *m = cookie;
	unsigned level = at->level;
	if (m->status != VM_OK)
		return PT_STEP_NEXT;
	m->ctx->backend_work++;
	pte_t e = at->table[at->index] & ~PTE_COUNT_STRIPE_MASK;
	if (at->whole && !pte_is_used(e)) {
		pte_t now = e | RES_RESERVED | m->access | (at->base == m->start ? RES_START : 0);
		pt_slot_write(at->table, at->index, now);
		struct exact before = entry_exact(m->ctx, e, level), after = entry_exact(m->ctx, now, level);
		change_note(&m->ch[level], level, at->index, &before, &after, false);
		return PT_STEP_NEXT;
	}
	m->installed[level] = false;
	if (!pte_is_table(e, level)) {
		MM_ASSERT(!pte_is_used(e), "mark_entry: chunk at %llx not free", (unsigned long long)at->base);
		if (pt_install_table(&m->ctx->pt, at->table, level, at->index, 0) != VM_OK) {
			m->status = VM_ERR_NO_MEMORY;
			return PT_STEP_NEXT;
		}
		m->installed[level] = true;
	}
	if (level == 1)
		m->leaf_all_free = m->installed[1] || entry_summary(e, 1).kind == SUMMARY_ALL_FREE;
	return PT_STEP_DESCEND;
}

/* A marked table moves its hint past what became full; its parent notes the change. */
static ALWAYS_INLINE void hint_after_mark(struct vmm_context *ctx, uint64_t *table, unsigned level,
					   uint64_t first, uint64_t last)
{
	unsigned hint = pte_hint_read(table), last_index = PT_INDEX(level, last);
	/* Every entry of a marked leaf run is full; above, only the hint's entry is known to be. */
	if (PT_INDEX(level, first) <= hint && hint <= last_index)
		hint_advance(ctx, table, level, level == 0 ? last_index + 1 : hint);
}

static enum pt_step mark_ascend(void *cookie, const struct pt_walk_entry *at)
{
	struct mark *m = cookie;
	unsigned level = at->level;
	hint_after_mark(m->ctx, child_table(at->table[at->index]), level - 1, at->first, at->last);
	note_refresh(m->ctx, at, &m->ch[level - 1], &m->ch[level], m->installed[level]);
	return PT_STEP_NEXT;
}

/* --- clear ---------------------------------------------------------------------------------- */

struct clear {
	struct vmm_context *ctx;
	bool met_mapped;                   /* some entry of the range was present (mapped) */
	struct table_change ch[PT_LEVELS]; /* per level, the changes to the table open there */
};

/* Every entry of the range gets a free page: the table's hint drops to the first of them. */
static enum pt_step clear_enter(void *cookie, uint64_t *table, unsigned level, uint64_t base,
				unsigned *first, unsigned last)
{
	(void)base, (void)last;
	struct clear *c = cookie;
	hint_lower(table, *first);
	c->ch[level] = (struct table_change){ .direction = CHANGE_CLEARED };
	return PT_STEP_NEXT;
}

/*
 * Clears pages [first, last] of a table of 4 KiB entries: one change, full before and free after
 * when every page was reserved (a release); otherwise (undoing a mark that failed half-way) two,
 * so the table is measured.
 */
static ALWAYS_INLINE enum pt_step clear_leaves(void *cookie, uint64_t *table, uint64_t base,
					       unsigned first, unsigned last)
{
	(void)base;
	struct clear *c = cookie;
	uint64_t old_prefix = leaf_edge_run(table, 0), old_suffix = leaf_edge_run(table, PT_ENTRIES - 1);
	leaf_edges_forget(c->ctx, table);
	struct pt_slots_seen seen = pt_slots_rewrite(table, first, last, ~RES_BITS, 0);
	bool start = (seen.any & RES_START) != 0, all_reserved = (seen.all & RES_RESERVED) != 0;
	c->met_mapped |= (seen.any & PTE_PRESENT) != 0;
	MM_ASSERT(!(seen.any & PTE_PRESENT), "clear_leaves: a page of %llx.. is still mapped",
		  (unsigned long long)(base + first * PAGE_SIZE));
	c->ctx->backend_work += last - first + 1;
	uint64_t pages = last - first + 1;
	/* Pages not all reserved (a failed mark's undo): two changes, the table is re-tagged whole. */
	struct neighbours n = { 0 };
	if (all_reserved)
		n = leaf_tags_clear(c->ctx, table, first, last);
	else
		leaf_retag(c->ctx, table);
	c->ch[0] = (struct table_change){ CHANGE_CLEARED, all_reserved ? 1 : 2, first, last,
					  { SUMMARY_FULL, start, 0, 0, 0, 0 },
					  { SUMMARY_ALL_FREE, false, pages, pages, 0, 0 }, false, n, old_prefix,
					  old_suffix };
	return PT_STEP_NEXT;
}

static enum pt_step clear_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct clear *c = cookie;
	unsigned level = at->level;
	c->ctx->backend_work++;
	pte_t e = at->table[at->index] & ~PTE_COUNT_STRIPE_MASK;
	if (pte_is_table(e, level))
		return PT_STEP_DESCEND;
	c->met_mapped |= pte_is_present(e); /* a large page */
	if (e & RES_RESERVED) {
		MM_ASSERT(at->whole, "clear_entry: chunk at %llx only partly cleared",
			  (unsigned long long)at->base);
		pt_slot_write(at->table, at->index, e & ~RES_BITS);
		struct exact before = entry_exact(c->ctx, e, level), after = entry_exact(c->ctx, 0, level);
		change_note(&c->ch[level], level, at->index, &before, &after, false);
	}
	return PT_STEP_NEXT;
}

/* Back from a cleared table: freed when empty, else re-summarised; the parent notes the change. */
static enum pt_step clear_ascend(void *cookie, const struct pt_walk_entry *at)
{
	struct clear *c = cookie;
	unsigned level = at->level;
	struct table_change *ch = &c->ch[level];
	if (pt_table_empty(&c->ctx->pt, child_table(at->table[at->index]), level - 1)) {
		/* What the table covered is read before it goes; then the entry is free. */
		bool wanted = change_wanted(ch, level);
		struct exact before = wanted ? entry_before(c->ctx, at->table[at->index], level, &c->ch[level - 1]) :
					       (struct exact){ 0 };
		if (level == 1 && before.kind == SUMMARY_MIXED) { /* a leaf's edge tags went with the clear */
			before.prefix = c->ch[0].old_prefix;
			before.suffix = c->ch[0].old_suffix;
		}
		if (pt_free_table_if_empty(&c->ctx->pt, at->table, level, at->index)) {
			struct exact after = entry_exact(c->ctx, 0, level);
			change_note(ch, level, at->index, &before, &after, false);
			if (wanted && !entry_before_suffix_known(level, &c->ch[level - 1]))
				ch->count++; /* its old SUFFIX is not known: the table is measured */
			return PT_STEP_NEXT;
		}
	}
	note_refresh(c->ctx, at, &c->ch[level - 1], ch, false);
	return PT_STEP_NEXT;
}

/*
 * Clears the reservation bits of [first, last], freeing tables that become empty. True when some
 * entry of the range was present: a page in it is mapped.
 */
static bool clear_range(struct vmm_context *ctx, uint64_t first, uint64_t last)
{
	static const struct pt_walk_visitor visitor = { .entry = clear_entry,
							.ascend = clear_ascend,
							.enter = clear_enter,
							.leaves = clear_leaves };
	struct clear c = { .ctx = ctx };
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, first, last, &visitor, &c);
	return c.met_mapped;
}

static enum vm_status mark_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
				 uint64_t start_page, unsigned access)
{
	static const struct pt_walk_visitor visitor = { .entry = mark_entry,
							.ascend = mark_ascend,
							.enter = mark_enter,
							.leaves = mark_leaves };
	struct mark m = { .ctx = ctx, .start = start_page, .access = access_bits(access), .status = VM_OK };
	uint64_t last = addr + pages * PAGE_SIZE - 1;
	uint64_t *root = pt_table(ctx->pt.root);
	pt_walk_range(root, PT_TOP_LEVEL, 0, addr, last, &visitor, &m);
	hint_after_mark(ctx, root, PT_TOP_LEVEL, addr, last);
	if (m.status != VM_OK) /* the range was free: clearing all of it restores it exactly */
		clear_range(ctx, addr, last);
	return m.status;
}

/* --- the frontier -------------------------------------------------------------------------- */

/*
 * Where reservations are usually placed and released: at the start of the free suffix of a leaf
 * table that is the last table with anything reserved on its path (every table on the path is its
 * parent's last entry not wholly free). A reservation marked there, or released there from a
 * reserved page on, changes no run but the free suffix, so every table on the path keeps its
 * pointer and all its values but SUFFIX, which moves by the pages marked or cleared. This is
 * decided from one point walk (3 entries), the LAST of each table above the leaf table (vmm_pt.h:
 * the path is the last one when each LAST is the path's entry), its SUFFIX and the leaf run, before
 * anything is written; otherwise the range walks below do the general upkeep. It reads less than
 * they would, so the bound of vmm_pt_summary.c holds for it.
 */

/*
 * The path to the leaf table of [addr, last], when the range lies in one that exists; *first,
 * *last_index are the run's leaf entries; when each table on it is mixed (p->mixed), p->suffix[0]
 * is the leaf table's SUFFIX.
 */
static ALWAYS_INLINE bool spine_of(struct vmm_context *ctx, uint64_t addr, uint64_t last,
				    struct spine *p, unsigned *first, unsigned *last_index, bool suffix_wanted)
{
	if (addr >> PT_LEVEL_SHIFT(1) != last >> PT_LEVEL_SHIFT(1))
		return false;
	uint64_t *t = pt_table(ctx->pt.root);
	unsigned kinds = SUM_KIND_MASK; /* the and of the path's kinds: "mixed" only if all are */
	/* Unrolled, so each level's index and table test are constants. */
#pragma GCC unroll 3
	for (unsigned level = PT_TOP_LEVEL; level > 0; level--) {
		unsigned i = PT_INDEX(level, addr);
		pte_t e = t[i];
		if (!pte_is_table(e, level)) {
			ctx->backend_work += PT_TOP_LEVEL - level + 1;
			return false;
		}
		kinds &= summary_field(e);
		p->table[level] = t;
		p->index[level] = i;
		t = child_table(e);
	}
	ctx->backend_work += PT_TOP_LEVEL; /* the path's entries */
	p->table[0] = t;
	/* Kinds are 0, 1 and 2: the and is 2 only when every one is. */
	bool mixed = (kinds & SUM_KIND_MASK) == SUMMARY_MIXED;
	p->mixed = mixed;
	if (mixed && suffix_wanted)
		p->suffix[0] = exact_read(ctx, t, 0, EXACT_SUFFIX);
	*first = PT_INDEX(0, addr);
	*last_index = PT_INDEX(0, last);
	return true;
}

/* Each table above the leaf table is its parent's last entry not wholly free: its LAST is the path's. */
static bool spine_is_last(struct vmm_context *ctx, struct spine *p)
{
#pragma GCC unroll 2
	for (unsigned level = 1; level < PT_TOP_LEVEL; level++) {
		ctx->backend_work += LAST_ENTRIES;
		if (last_read(p->table[level], level) != p->index[level])
			return false;
	}
	return true;
}

/*
 * Every SUFFIX on the path moves by `grown` pages (negative: shrinks); nothing else changes. The
 * leaf table's is its last tag, written with its entries; above, no LAST moves (the leaf table
 * stays the last entry not wholly free of its table, and so on up), so only the value cache's
 * copies move.
 */
static void spine_shift(struct vmm_context *ctx, const struct spine *p, int64_t grown)
{
	suffix_move(ctx, p->table[0], 0, p->suffix[0], p->suffix[0] + (uint64_t)grown);
	struct vmm_pt_value_cache *c = &ctx->pt_caches.values;
#pragma GCC unroll 2
	for (unsigned level = 1; level < PT_TOP_LEVEL; level++)
		if (c->table[level] == p->table[level] && (c->known[level] & (1u << EXACT_SUFFIX)))
			c->value[level][EXACT_SUFFIX] += (uint64_t)grown;
}

/*
 * A reservation of [addr, addr + pages) (it starts at addr) at the frontier: from the suffix's first
 * page, short of its end, in a table whose pointer already says it holds a start. True when done.
 */
static bool frontier_mark(struct vmm_context *ctx, struct spine *sp, uint64_t addr, uint64_t pages,
			  unsigned first, unsigned last, unsigned access)
{
	struct spine p = *sp;
	uint64_t *leaves = p.table[0];
	if (!p.mixed || first != PT_ENTRIES - p.suffix[0] || last == PT_ENTRIES - 1 ||
	    !(summary_field(p.table[1][p.index[1]]) & SUM_HAS_START) || !spine_is_last(ctx, &p))
		return false;
	/* The suffix run's pages are free (its tags say where it ends): written blind. */
	leaf_entries_set(leaves, first, last, RES_RESERVED | access_bits(access));
	leaves[first] |= RES_START;
	leaf_tags_mark(leaves, first, PT_ENTRIES - 1, first, last); /* the suffix run loses its start */
	ctx->backend_work += pages;
	hint_after_mark(ctx, leaves, 0, addr, addr + pages * PAGE_SIZE - 1);
	spine_shift(ctx, &p, -(int64_t)pages);
	return true;
}

/*
 * Whether leaf entries [first, last] (last < 511) are exactly one reservation: a start at first,
 * every page reserved, no other start, the page after it free or a start. *mapped: some page of
 * it is present. False leaves the answer to check_reservation (which names what is wrong).
 */
static bool leaf_reservation(struct vmm_context *ctx, const uint64_t *leaves, unsigned first,
			     unsigned last, bool *mapped)
{
	pte_t any = 0, all = leaves[first];
	unsigned i = first + 1;
	for (; i + 4 <= last + 1; i += 4) { /* four entries a step, then the rest */
		any |= leaves[i] | leaves[i + 1] | leaves[i + 2] | leaves[i + 3];
		all &= leaves[i] & leaves[i + 1] & leaves[i + 2] & leaves[i + 3];
	}
	for (; i <= last; i++) {
		any |= leaves[i];
		all &= leaves[i];
	}
	pte_t after = leaves[last + 1];
	ctx->backend_work += last - first + 2; /* the run and the page after it */
	*mapped = ((any | leaves[first]) & PTE_PRESENT) != 0;
	return (leaves[first] & RES_START) && (all & RES_RESERVED) && !(any & RES_START) &&
	       (!(after & RES_RESERVED) || (after & RES_START));
}

/*
 * How a release clears its leaf entries: already checked to be one unmapped reservation
 * (leaf_reservation, then unmap_before_clear), or checked as they are cleared
 * (leaf_entries_clear_checked: the usual release, which then reads each entry once, not twice).
 */
enum leaf_clear { LEAF_CLEAR_CHECKED, LEAF_CLEAR_CHECKING };

/* Clears leaf entries [first, last] as `how` says; false (LEAF_CLEAR_CHECKING only): nothing changed. */
static ALWAYS_INLINE bool leaf_clear(uint64_t *leaves, unsigned first, unsigned last, enum leaf_clear how)
{
	if (how == LEAF_CLEAR_CHECKING)
		return leaf_entries_clear_checked(leaves, first, last);
	leaf_entries_set(leaves, first, last, 0);
	return true;
}

/*
 * The release of [addr, addr + pages) (a reservation, leaf_reservation said or `how` checks) at the frontier: it
 * ends where the suffix begins, with a reserved page before it and another start in its table (so
 * HST stays). True when released.
 */
static ALWAYS_INLINE bool frontier_release(struct vmm_context *ctx, struct spine *p, unsigned first,
					    unsigned last, enum leaf_clear how)
{
	uint64_t *leaves = p->table[0];
	ctx->backend_work++; /* the page before */
	if (!p->mixed)
		return false;
	p->suffix[0] = leaf_edge_run(leaves, PT_ENTRIES - 1); /* (spine_of was not asked for it) */
	if (last + 1 != PT_ENTRIES - p->suffix[0] || first == 0 || !(leaves[first - 1] & RES_RESERVED) ||
	    !spine_is_last(ctx, p) || !start_elsewhere(ctx, leaves, 0, first, last))
		return false;
	if (!leaf_clear(leaves, first, last, how))
		return false;
	leaf_tags_clear(ctx, leaves, first, last);
	hint_lower(leaves, first);
	spine_shift(ctx, p, (int64_t)(last - first + 1));
	return true;
}

/*
 * A range inside one existing leaf table, away from the frontier: the general upkeep (the range
 * walk's own visitors, mark_leaves and mark_ascend) run along the point walk's path, bottom-up,
 * as the range walk would run them for a range that touches one entry per level.
 */
/*
 * The tables a mark or clear along a path opens: only what a change note reads before it writes
 * (the direction and the count), not the whole of each table_change.
 */
static void path_changes_open(struct table_change *ch, enum change_direction direction)
{
	for (unsigned level = 0; level < PT_LEVELS; level++) {
		ch[level].direction = direction;
		ch[level].count = 0;
	}
}

/* --- inside a leaf table's inner runs, from the free-run tags ------------------------------ */

/*
 * The usual reserve or release away from the frontier changes one run inside a mixed leaf table,
 * between reserved pages: a mark takes the start of a free run (the search's fits begin there) and
 * leaves a reserved page before it and one after the run; a release clears a reservation whose
 * joined free run still has a reserved page on either side. The free-run tags (vmm_pt_leaf_tags.h)
 * give the run's ends in one load each, so the change is known before anything is written: one run
 * leaves the leaf's inner runs and one or two join them (top2_remove, top2_add), PREFIX and SUFFIX
 * lie beyond reserved pages and stay, HST is set by a mark and stays set after a release: the
 * joined run is followed by a reserved page, and a reserved page after a free one is a reservation's
 * start (the invariant above), so the leaf still holds one. The entries are written straight (leaf_entries_set), the count moves
 * once, at most 4 tags are written. Reads: the entries before and after (2), the leaf's values (4
 * E(0) unless cached): within the U(0) of the range walk it replaces.
 */

/*
 * The free runs an inner change took out of the leaf and put in (0: none). Each lies between
 * reserved pages of the leaf, so it is a run not reaching the end of every table above too
 * (runs_above).
 */

/* The top two of a table's runs not reaching its end after the delta; false when not known. */
static ALWAYS_INLINE bool run_delta_apply(struct exact *x, const struct run_delta *d)
{
	if (!top2_remove(&x->inner, &x->inner2, d->out[0]) || !top2_remove(&x->inner, &x->inner2, d->out[1]))
		return false;
	top2_add(&x->inner, &x->inner2, d->in);
	return true;
}

/*
 * A mark of leaf entries [first, last] (a reservation starting at first, its bits `set`) from the
 * start of a free run that is followed by a reserved page, in a mixed leaf table on an all-mixed
 * path. True when done (entries, count, tags, hint written), with the leaf's values before and
 * after in *was, *now; false, nothing written, otherwise.
 */
static bool inner_mark(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last_addr,
		       pte_t set, struct exact *was, struct exact *now, struct run_delta *d)
{
	uint64_t *leaves = p->table[0];
	unsigned first = PT_INDEX(0, addr), last = PT_INDEX(0, last_addr);
	ctx->backend_work += 2; /* the entry before, the run's first */
	if (!p->mixed || first == 0 || !(leaves[first - 1] & RES_RESERVED))
		return false;
	unsigned length = leaf_tag(leaves[first]), b = first + length - 1;
	if (length == 0 || b >= PT_ENTRIES - 1 || last > b)
		return false;
	*was = entry_exact(ctx, p->table[1][p->index[1]], 1);
	struct exact x = *was;
	if (!top2_remove(&x.inner, &x.inner2, length))
		return false;
	top2_add(&x.inner, &x.inner2, b - last);
	*d = (struct run_delta){ { length, 0 }, b - last };
	x.has_start = true;
	if (x.inner == 0 && x.suffix == 0)
		x = (struct exact){ SUMMARY_FULL, true, 0, 0, 0, 0 };
	*now = x;
	unsigned pages = last - first + 1;
	leaf_entries_set(leaves, first, last, set);
	leaves[first] |= RES_START;
	if (last < b)
		leaf_run_tag(leaves, last + 1, b);
	ctx->backend_work += pages;
	hint_after_mark(ctx, leaves, 0, addr, last_addr);
	return true;
}

/*
 * The clear of leaf entries [first, last] (one unmapped reservation, last < 511) whose joined free
 * run keeps a reserved page on either side, in a mixed leaf table on an all-mixed path. As
 * inner_mark: true when done, false with nothing written.
 */
static bool inner_clear(struct vmm_context *ctx, const struct spine *p, unsigned first, unsigned last,
			enum leaf_clear how, struct exact *was, struct exact *now, struct run_delta *d)
{
	uint64_t *leaves = p->table[0];
	ctx->backend_work += 2; /* the entries before and after */
	if (!p->mixed || first == 0)
		return false;
	unsigned before = (unsigned)leaf_edge_run(leaves, first - 1);
	unsigned after = (unsigned)leaf_edge_run(leaves, last + 1);
	unsigned a = first - before, b = last + after;
	if (a == 0 || b == PT_ENTRIES - 1)
		return false;
	*was = entry_exact(ctx, p->table[1][p->index[1]], 1);
	struct exact x = *was;
	if (!top2_remove(&x.inner, &x.inner2, before) || !top2_remove(&x.inner, &x.inner2, after))
		return false;
	top2_add(&x.inner, &x.inner2, b - a + 1);
	*d = (struct run_delta){ { before, after }, b - a + 1 };
	x.has_start = true; /* entry b + 1, reserved after a free page, starts a reservation */
	*now = x;
	unsigned pages = last - first + 1;
	if (!leaf_clear(leaves, first, last, how))
		return false;
	if (before)
		leaf_tag_write(leaves, first - 1, 0);
	if (after)
		leaf_tag_write(leaves, last + 1, 0);
	leaf_run_tag(leaves, a, b);
	ctx->backend_work += pages;
	hint_lower(leaves, first);
	return true;
}

/*
 * Stores the new values of the path's table at `level` (below the root) and its pointer; true when
 * the table above keeps its values, and so everything above (inner_change_below; the root has none).
 */
static ALWAYS_INLINE bool table_store(struct vmm_context *ctx, const struct spine *p, unsigned level,
				      const struct exact *was, const struct exact *now)
{
	uint64_t *up = p->table[level + 1];
	unsigned i = p->index[level + 1];
	if (now->kind == SUMMARY_MIXED)
		exact_write(ctx, p->table[level], level, now, was);
	pte_t old = up[i] & ~PTE_COUNT_STRIPE_MASK;
	pte_t updated = (old & ~PTE_SW_FIELD_MASK) | summary_bits(now);
	if (updated != old)
		pt_slot_write(up, i, updated);
	return level + 1 == PT_TOP_LEVEL || inner_change_below(ctx, up, level + 1, was, now);
}

/*
 * After an inner change whose leaf kept its kind (mixed), PREFIX, SUFFIX and HST but changed the
 * table above (table_store said so): that table's runs not reaching its end lost and gained the
 * very runs the leaf did (they lie between reserved pages), and nothing else of it changed, so
 * its INNER top two take the same delta and its other values stay; and so on up while each table
 * keeps its kind, PREFIX, SUFFIX and HST (a mixed child keeps its table mixed). Hints stay: no
 * entry became full, and a cleared entry was not full before. Returns the level whose table must
 * take the general upkeep (PT_LEVELS: none), with *was, *now what its path entry covered before
 * and after; the delta failing (the longest went and the second is not known) stops it there.
 * Reads per table: its four values (4 E(t), or the value cache) and writes two, within the U(t)
 * of the general upkeep it replaces.
 */
static NOINLINE unsigned runs_above(struct vmm_context *ctx, const struct spine *p, const struct run_delta *d,
			   struct exact *was, struct exact *now)
{
	for (unsigned level = 1; level < PT_TOP_LEVEL; level++) {
		if (now->kind != SUMMARY_MIXED || was->kind != SUMMARY_MIXED || was->prefix != now->prefix ||
		    was->suffix != now->suffix || was->has_start != now->has_start)
			return level;
		struct exact x_was = entry_exact(ctx, p->table[level + 1][p->index[level + 1]], level + 1);
		struct exact x = x_was;
		if (!run_delta_apply(&x, d))
			return level;
		*was = x_was;
		*now = x;
		if (table_store(ctx, p, level, was, now))
			return PT_LEVELS;
	}
	return PT_LEVELS;
}

/*
 * path_mark and path_clear stay out of line: inlined with their leaf upkeep, they would widen the
 * frame that vmm_pt_mark_reserved and vmm_pt_release set up on every call, the frontier's too.
 */
/*
 * The tables above a mark along the path that the leaf's own store did not settle: the runs above
 * after an inner mark (`inner`: was, now, d from inner_mark), else the range walk's visitors. Out of
 * line, so that the usual mark, settled in its leaf, does not set up their frame.
 */
static NOINLINE void path_mark_upkeep(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
				      uint64_t last, unsigned access, bool inner, struct exact was,
				      struct exact now, const struct run_delta *d)
{
	struct mark m;
	m.ctx = ctx;
	m.start = addr;
	m.access = access_bits(access);
	m.status = VM_OK;
	for (unsigned level = 0; level < PT_LEVELS; level++)
		m.installed[level] = false;
	m.leaf_all_free = entry_summary(p->table[1][p->index[1]], 1).kind == SUMMARY_ALL_FREE;
	path_changes_open(m.ch, CHANGE_MARKED);
	unsigned from = 2;
	if (inner) { /* the leaf is done; the tables above take its runs, or the change */
		unsigned level = runs_above(ctx, p, d, &was, &now);
		if (level == PT_LEVELS)
			return;
		change_note(&m.ch[level], level, p->index[level], &was, &now, false);
		from = level + 1;
	} else { /* the range walk's visitors, from the leaf up (refresh takes the leaf's inner case) */
		mark_leaves(&m, p->table[0], ALIGN_DOWN(addr, PT_SPAN_BYTES(1)), PT_INDEX(0, addr),
			    PT_INDEX(0, last));
		from = 1;
	}
	for (unsigned level = from; level < PT_LEVELS; level++) { /* mark_ascend moves the hints below */
		struct pt_walk_entry at = { p->table[level], level, p->index[level],
					    ALIGN_DOWN(addr, PT_SPAN_BYTES(level)), addr, last, false };
		mark_ascend(&m, &at);
	}
	hint_after_mark(ctx, p->table[PT_TOP_LEVEL], PT_TOP_LEVEL, addr, last);
}

static NOINLINE void path_mark(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
			       uint64_t last, unsigned access)
{
	struct exact was, now;
	struct run_delta d;
	bool inner = inner_mark(ctx, p, addr, last, RES_RESERVED | access_bits(access), &was, &now, &d);
	if (inner && table_store(ctx, p, 0, &was, &now)) {
		/* A hint above moves only past an entry that became full: none did unless the leaf did. */
		for (unsigned level = 1; level < PT_LEVELS && now.kind == SUMMARY_FULL; level++)
			hint_after_mark(ctx, p->table[level], level, addr, last);
		return;
	}
	path_mark_upkeep(ctx, p, addr, last, access, inner, was, now, &d);
}

/* The clear's upkeep above the leaf the same way (clear_enter, clear_leaves, clear_ascend). */
static NOINLINE void path_clear_upkeep(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
				       uint64_t last, bool inner, struct exact was, struct exact now,
				       const struct run_delta *d)
{
	struct clear c;
	c.ctx = ctx;
	c.met_mapped = false;
	path_changes_open(c.ch, CHANGE_CLEARED);
	unsigned from = 2;
	if (inner) {
		unsigned level = runs_above(ctx, p, d, &was, &now);
		if (level == PT_LEVELS)
			return;
		change_note(&c.ch[level], level, p->index[level], &was, &now, false);
		from = level + 1;
	} else {
		/*
		 * clear_enter's hints. Above the leaf table a hint is already at or below an entry that
		 * was not full (no entry below the hint has a free page), so only a full entry's table is
		 * read.
		 */
		hint_lower(p->table[0], PT_INDEX(0, addr));
		for (unsigned level = 1; level < PT_LEVELS; level++)
			if (entry_summary(p->table[level][p->index[level]], level).kind == SUMMARY_FULL)
				hint_lower(p->table[level], p->index[level]);
		clear_leaves(&c, p->table[0], ALIGN_DOWN(addr, PT_SPAN_BYTES(1)), PT_INDEX(0, addr),
			     PT_INDEX(0, last));
		from = 1;
	}
	for (unsigned level = from; level < PT_LEVELS; level++) {
		struct pt_walk_entry at = { p->table[level], level, p->index[level],
					    ALIGN_DOWN(addr, PT_SPAN_BYTES(level)), addr, last, false };
		clear_ascend(&c, &at);
	}
}

void vmm_pt_inner_mark_above(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last,
			     unsigned access, const struct exact *was, const struct exact *now,
			     const struct run_delta *d)
{
	path_mark_upkeep(ctx, p, addr, last, access, true, *was, *now, d);
}

void vmm_pt_inner_clear_above(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last,
			      const struct exact *was, const struct exact *now, const struct run_delta *d)
{
	path_clear_upkeep(ctx, p, addr, last, true, *was, *now, d);
}

/*
 * The clear of such a range: in the leaf's inner runs, else as the range walk clears it. Checking
 * while it clears (LEAF_CLEAR_CHECKING), it takes only the inner route: false, nothing changed,
 * when that route does not apply or the entries are not one unmapped reservation.
 */
static NOINLINE bool path_clear(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
				uint64_t last, enum leaf_clear how)
{
	struct exact was, now;
	struct run_delta d;
	bool inner = inner_clear(ctx, p, PT_INDEX(0, addr), PT_INDEX(0, last), how, &was, &now, &d);
	if (inner && table_store(ctx, p, 0, &was, &now))
		return true; /* the path is all mixed: no hint above moves */
	if (!inner && how == LEAF_CLEAR_CHECKING)
		return false;
	path_clear_upkeep(ctx, p, addr, last, inner, was, now, &d);
	return true;
}

/* --- one whole chunk ------------------------------------------------------------------------ */

/*
 * A range that is exactly one aligned chunk of an entry at `level` >= 1 (512 pages at 2 MiB, as a
 * large-page mapping's reservation) whose tables above exist: the path to that entry (p->table and
 * p->index from PT_TOP_LEVEL down to `level`), from one point walk. The range walk would visit
 * the same entries and nothing else (one per level), so the chunk paths below run its visitors
 * (mark_entry's chunk branch, mark_ascend; clear_enter, clear_entry, clear_ascend) along the path
 * and read what it would read, without its clipping.
 */
static ALWAYS_INLINE bool chunk_spine_walk(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
					    unsigned *level, struct spine *p);

/* The size test inline, so that other requests pay a compare, not a call. */
static ALWAYS_INLINE bool chunk_spine_of(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
					 unsigned *level, struct spine *p)
{
	return (pages == PT_SPAN_PAGES(1) || pages == PT_SPAN_PAGES(2)) &&
	       chunk_spine_walk(ctx, addr, pages, level, p);
}

static ALWAYS_INLINE bool chunk_spine_walk(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
					    unsigned *level, struct spine *p)
{
	unsigned at;
	if (pages == PT_SPAN_PAGES(1) && IS_ALIGNED(addr, PT_SPAN_BYTES(1)))
		at = 1;
	else if (pages == PT_SPAN_PAGES(2) && IS_ALIGNED(addr, PT_SPAN_BYTES(2)))
		at = 2;
	else
		return false;
	uint64_t *t = pt_table(ctx->pt.root);
	for (unsigned l = PT_TOP_LEVEL; l > at; l--) {
		unsigned i = PT_INDEX(l, addr);
		pte_t e = t[i];
		ctx->backend_work++;
		if (!pte_is_table(e, l))
			return false;
		p->table[l] = t;
		p->index[l] = i;
		t = child_table(e);
	}
	p->table[at] = t;
	p->index[at] = PT_INDEX(at, addr);
	*level = at;
	return true;
}

/* The tables above the chunk, bottom-up, as the range walk's ascends (mark_ascend, clear_ascend). */
static struct pt_walk_entry chunk_path_entry(const struct spine *p, unsigned level, uint64_t addr,
					     uint64_t last)
{
	return (struct pt_walk_entry){ p->table[level], level, p->index[level],
				       ALIGN_DOWN(addr, PT_SPAN_BYTES(level)), addr, last, false };
}

/*
 * The frontier of 2 MiB chunks: a chunk mark at entry j of a level-1 table T1 whose free suffix
 * covers entries j.. (not its last), T1 being the last entry of its level-2 table T2 that is not
 * wholly free; or, for a release, the chunk being T1's last entry not free, the entry before it a
 * table or chunk mark that is not free. Then the free pages just before the chunk (`before`: the
 * rest of T1's suffix, or the suffix of the entry before) lie between a reserved page and the
 * chunk in both T1 and T2: a mark turns them from part of both tables' suffixes into one inner
 * run of each (top2_add), a release back (top2_remove; when the longest goes and the second is
 * not known, the general path measures). PREFIX stays (a reserved page lies before the chunk),
 * both tables stay mixed, HST is set by a mark and after a release kept where another start is
 * (start_elsewhere). The values are read through the value cache, written with exact_write.
 */
struct chunk_frontier {
	uint64_t *t1, *t2;
	unsigned j, i2;
	struct exact x1, x2; /* T1's and T2's values before */
};

/* T1 and T2 mixed, their values read, and T1 the last entry of T2 that is not wholly free. */
static ALWAYS_INLINE bool chunk_frontier_of(struct vmm_context *ctx, const struct spine *p,
					     struct chunk_frontier *f)
{
	f->t1 = p->table[1];
	f->t2 = p->table[2];
	f->j = p->index[1];
	f->i2 = p->index[2];
	pte_t e1 = f->t2[f->i2], e2 = p->table[3][p->index[3]];
	if ((summary_field(e1) & SUM_KIND_MASK) != SUMMARY_MIXED ||
	    (summary_field(e2) & SUM_KIND_MASK) != SUMMARY_MIXED || f->j == PT_ENTRIES - 1)
		return false;
	f->x2.suffix = exact_read(ctx, f->t2, 2, EXACT_SUFFIX);
	if (f->i2 != PT_ENTRIES - 1 - f->x2.suffix / PT_SPAN_PAGES(2))
		return false;
	f->x1 = entry_exact(ctx, e1, 2);
	f->x2 = entry_exact(ctx, e2, 3);
	return true;
}

/* Writes T1's and T2's new values (those that changed) and their pointers' summaries. */
static ALWAYS_INLINE void chunk_frontier_store(struct vmm_context *ctx, const struct spine *p,
					  const struct chunk_frontier *f, const struct exact *n1, const struct exact *n2)
{
	exact_write(ctx, f->t1, 1, n1, &f->x1);
	exact_write(ctx, f->t2, 2, n2, &f->x2);
	uint64_t *root = p->table[3];
	unsigned i3 = p->index[3];
	pte_t e1 = f->t2[f->i2] & ~PTE_COUNT_STRIPE_MASK, e2 = root[i3] & ~PTE_COUNT_STRIPE_MASK;
	pte_t u1 = (e1 & ~PTE_SW_FIELD_MASK) | summary_bits(n1);
	pte_t u2 = (e2 & ~PTE_SW_FIELD_MASK) | summary_bits(n2);
	if (u1 != e1)
		pt_slot_write(f->t2, f->i2, u1);
	if (u2 != e2)
		pt_slot_write(root, i3, u2);
}

/* A mark of the free chunk at the frontier (chunk_mark checked the entry is free). True when done. */
static bool chunk_frontier_mark(struct vmm_context *ctx, const struct spine *p, uint64_t addr,
				uint64_t last, pte_t now)
{
	struct chunk_frontier f;
	if (!chunk_frontier_of(ctx, p, &f))
		return false;
	uint64_t after = (uint64_t)(PT_ENTRIES - f.j) * PT_SPAN_PAGES(1); /* the chunk and what follows */
	if (f.x1.suffix < after)
		return false;
	uint64_t before = f.x1.suffix - after;
	struct exact n1 = f.x1, n2 = f.x2;
	n1.suffix = after - PT_SPAN_PAGES(1);
	n2.suffix = f.x2.suffix - before - PT_SPAN_PAGES(1);
	n1.has_start = n2.has_start = true;
	if (before > 0) {
		top2_add(&n1.inner, &n1.inner2, before);
		top2_add(&n2.inner, &n2.inner2, before);
	}
	pt_slot_write(f.t1, f.j, now);
	ctx->backend_work += PT_LEVELS - 1; /* the path's entries */
	chunk_frontier_store(ctx, p, &f, &n1, &n2);
	/* Only T1's hint can move: T1 and T2 stay mixed, so no entry above became full. */
	hint_after_mark(ctx, f.t1, 1, addr, last);
	return true;
}

/*
 * A release of the chunk mark e (a reservation start) at the frontier: the page after it is free
 * (T1's suffix starts there), so the chunk is exactly one reservation. True when done.
 */
static bool chunk_frontier_release(struct vmm_context *ctx, const struct spine *p, pte_t e)
{
	struct chunk_frontier f;
	if (!chunk_frontier_of(ctx, p, &f) || f.j == 0 ||
	    f.x1.suffix != (uint64_t)(PT_ENTRIES - 1 - f.j) * PT_SPAN_PAGES(1))
		return false;
	pte_t prev = f.t1[f.j - 1];
	ctx->backend_work++;
	struct summary ps = entry_summary(prev, 1);
	if (ps.kind == SUMMARY_ALL_FREE)
		return false;
	uint64_t before = ps.kind == SUMMARY_MIXED && ps.free_suffix ?
				  exact_read(ctx, child_table(prev), 0, EXACT_SUFFIX) : 0;
	struct exact n1 = f.x1, n2 = f.x2;
	if (!top2_remove(&n1.inner, &n1.inner2, before) || !top2_remove(&n2.inner, &n2.inner2, before))
		return false;
	n1.suffix = f.x1.suffix + PT_SPAN_PAGES(1) + before;
	n2.suffix = f.x2.suffix + PT_SPAN_PAGES(1) + before;
	n1.has_start = start_elsewhere(ctx, f.t1, 1, f.j, f.j);
	n2.has_start = n1.has_start || start_elsewhere(ctx, f.t2, 2, f.i2, f.i2);
	pt_slot_write(f.t1, f.j, (e & ~PTE_COUNT_STRIPE_MASK) & ~RES_BITS);
	ctx->backend_work += PT_LEVELS - 1;
	chunk_frontier_store(ctx, p, &f, &n1, &n2);
	/* Only T1's hint can drop: above, T1 and T2 were mixed, so the hints are at or below them. */
	hint_lower(f.t1, f.j);
	pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, pte_is_present(e));
	return true;
}

/* Marks a free chunk (chunk_spine_of) reserved in its entry; false when the entry is in use. */
static ALWAYS_INLINE bool chunk_mark(struct vmm_context *ctx, const struct spine *p, unsigned level, uint64_t addr,
		       uint64_t last, unsigned access)
{
	uint64_t *table = p->table[level];
	unsigned index = p->index[level];
	pte_t e = table[index] & ~PTE_COUNT_STRIPE_MASK;
	if (pte_is_used(e))
		return false;
	pte_t now = e | RES_RESERVED | access_bits(access) | RES_START;
	if (level == 1 && chunk_frontier_mark(ctx, p, addr, last, now))
		return true;
	struct mark m = { .ctx = ctx, .start = addr, .access = access_bits(access), .status = VM_OK };
	for (unsigned l = 0; l < PT_LEVELS; l++)
		m.ch[l] = (struct table_change){ .direction = CHANGE_MARKED };
	ctx->backend_work += PT_TOP_LEVEL - level + 1; /* the entries the range walk visits */
	pt_slot_write(table, index, now);
	struct exact before = entry_exact(ctx, e, level), after = entry_exact(ctx, now, level);
	change_note(&m.ch[level], level, index, &before, &after, false);
	for (unsigned l = level + 1; l < PT_LEVELS; l++) {
		struct pt_walk_entry at = chunk_path_entry(p, l, addr, last);
		mark_ascend(&m, &at);
	}
	hint_after_mark(ctx, p->table[PT_TOP_LEVEL], PT_TOP_LEVEL, addr, last);
	return true;
}

/*
 * Releases a chunk (chunk_spine_of) when it is exactly one reservation: its entry is a chunk mark
 * with a start, and the page after it is free or a start (what check_reservation would find).
 * False, nothing changed, otherwise.
 */
static ALWAYS_INLINE bool chunk_release(struct vmm_context *ctx, const struct vmm_region *region, const struct spine *p,
			  unsigned level, uint64_t addr, uint64_t last)
{
	uint64_t *table = p->table[level];
	unsigned index = p->index[level];
	pte_t e = table[index] & ~PTE_COUNT_STRIPE_MASK;
	ctx->backend_work++;
	if (pte_is_table(e, level) || !(e & RES_RESERVED) || !(e & RES_START))
		return false;
	if (level == 1 && chunk_frontier_release(ctx, p, e))
		return true;
	if (last + 1 < region->base + region->pages * PAGE_SIZE) {
		struct page_state after = page_state(ctx, last + 1);
		if (after.reserved && !after.start)
			return false;
	}
	struct clear c = { .ctx = ctx };
	for (unsigned l = PT_TOP_LEVEL + 1; l-- > level;) {
		unsigned first = p->index[l];
		clear_enter(&c, p->table[l], l, 0, &first, first);
	}
	struct pt_walk_entry at = chunk_path_entry(p, level, addr, last);
	at.whole = true;
	clear_entry(&c, &at);
	for (unsigned l = level + 1; l < PT_LEVELS; l++) {
		at = chunk_path_entry(p, l, addr, last);
		clear_ascend(&c, &at);
	}
	pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, c.met_mapped);
	return true;
}

enum vm_status vmm_pt_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
				    uint64_t addr, uint64_t pages, unsigned access)
{
	(void)region;
	struct spine p;
	unsigned first, last;
	uint64_t last_addr = addr + pages * PAGE_SIZE - 1;
	unsigned chunk_level;
	if (chunk_spine_of(ctx, addr, pages, &chunk_level, &p) &&
	    chunk_mark(ctx, &p, chunk_level, addr, last_addr, access))
		return VM_OK;
	if (!spine_of(ctx, addr, last_addr, &p, &first, &last, true))
		return mark_range(ctx, addr, pages, addr, access);
	if (!frontier_mark(ctx, &p, addr, pages, first, last, access))
		path_mark(ctx, &p, addr, last_addr, access);
	return VM_OK;
}

/*
 * vmm.c's placement in one call (vmm_backend.h's reserve_lowest): at the frontier, the frontier
 * route (vmm_pt_frontier_reserve: the answer and the mark from one path) when the root's first
 * entry with a free page has no inner run that fits; else the search, then the mark. When the
 * search went down one path of mixed tables to the leaf table the fit starts in
 * (vmm_pt_find_lowest), a reservation inside that leaf table is marked along that path by
 * path_mark, as vmm_pt_mark_reserved would after its own point walk (spine_of), which it saves.
 * Anything else (a run not in one leaf table, a whole chunk) takes vmm_pt_mark_reserved.
 */
/*
 * A reservation of one 2 MiB chunk at 2 MiB alignment placed at the frontier of 2 MiB chunks, when
 * the root's first entry with a free page has no inner run of `padded` pages (its maxrun code
 * says so: search_narrow's first test) and its free suffix holds them: the lowest fit is that
 * suffix, which starts in the level-1 table T1 that ends its chain of LASTs (T2's LAST, then
 * T1's LAST and the leaf there); the chunk is its first whole free entry j, marked by chunk_mark
 * (at the frontier: chunk_frontier_mark) from this path, without the search's walk. Reads: the
 * root's hint and entry (4), two LASTs and their entries (8), a leaf's last entry (1), as the
 * search reads on the same path. False, nothing written, when it is not that.
 */
static bool reserve_chunk_frontier(struct vmm_context *ctx, const struct vmm_region *region, uint64_t padded,
				   unsigned access, uint64_t *addr)
{
	uint64_t from = region->base, end_last = region->base + region->pages * PAGE_SIZE - 1;
	uint64_t *root = pt_table(ctx->pt.root);
	unsigned i3 = MAX(PT_INDEX(PT_TOP_LEVEL, from), pte_hint_read(root));
	pte_t e3 = root[i3];
	uint64_t base3 = pt_walk_entry_base(PT_TOP_LEVEL, 0, i3);
	unsigned mixed_end = SUMMARY_MIXED | SUM_FREE_SUFFIX;
	ctx->backend_work += 2;
	if (!pte_is_table(e3, 3) || (summary_field(e3) & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) != mixed_end ||
	    base3 < from || base3 + (PT_SPAN_BYTES(3) - 1) > end_last ||
	    ((summary_field(e3) >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK) >= maxrun_code(padded))
		return false;
	uint64_t *t2 = child_table(e3);
	unsigned i2 = last_read(t2, 2);
	pte_t e2 = t2[i2];
	ctx->backend_work += LAST_ENTRIES + 1;
	if (!pte_is_table(e2, 2) || (summary_field(e2) & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) != mixed_end)
		return false;
	uint64_t *t1 = child_table(e2);
	unsigned l1 = last_read(t1, 1);
	pte_t e1 = t1[l1];
	uint64_t t1_suffix = (uint64_t)(PT_ENTRIES - 1 - l1) * PT_SPAN_PAGES(1);
	ctx->backend_work += LAST_ENTRIES + 1;
	if (pte_is_table(e1, 1) && (summary_field(e1) & (SUM_KIND_MASK | SUM_FREE_SUFFIX)) == mixed_end) {
		t1_suffix += leaf_edge_run(child_table(e1), PT_ENTRIES - 1);
		ctx->backend_work++;
	}
	uint64_t suffix = (uint64_t)(PT_ENTRIES - 1 - i2) * PT_SPAN_PAGES(2) + t1_suffix;
	if (suffix < padded)
		return false;
	/* The suffix starts in T1 (T2's LAST) at page 512^2 - t1_suffix; the chunk at the next 2 MiB. */
	uint64_t start_page = PT_SPAN_PAGES(2) - t1_suffix;
	unsigned j = (unsigned)((start_page + PT_SPAN_PAGES(1) - 1) / PT_SPAN_PAGES(1));
	if (j >= PT_ENTRIES)
		return false;
	struct spine p;
	p.table[3] = root;
	p.index[3] = i3;
	p.table[2] = t2;
	p.index[2] = i2;
	p.table[1] = t1;
	p.index[1] = j;
	uint64_t chunk = base3 + ((uint64_t)i2 << PT_LEVEL_SHIFT(2)) + ((uint64_t)j << PT_LEVEL_SHIFT(1));
	if (!chunk_mark(ctx, &p, 1, chunk, chunk + PT_SPAN_BYTES(1) - 1, access))
		return false;
	*addr = chunk;
	return true;
}

/* reserve_lowest as vmm.c would place without it: the search, then vmm_pt_mark_reserved. */
static NOINLINE enum vm_status reserve_placed(struct vmm_context *ctx, const struct vmm_region *region,
					      uint64_t pages, uint64_t align_pages, unsigned access, uint64_t *addr)
{
	uint64_t padded = pages + align_pages - 1;
	if (pages == PT_SPAN_PAGES(1) && align_pages == PT_SPAN_PAGES(1) &&
	    reserve_chunk_frontier(ctx, region, padded, access, addr))
		return VM_OK;
	struct vmm_free_run run;
	if (!vmm_pt_find_free_run(ctx, region, region->base, padded, padded, &run))
		return VM_ERR_NO_SPACE;
	*addr = ALIGN_UP(run.start, align_pages * PAGE_SIZE);
	return vmm_pt_mark_reserved(ctx, region, *addr, pages, access);
}

enum vm_status vmm_pt_reserve_searched(struct vmm_context *ctx, const struct vmm_region *region, uint64_t pages,
				       unsigned access, uint64_t *addr)
{
	struct vmm_free_run run;
	struct spine p;
	bool known;
	if (!vmm_pt_find_lowest(ctx, region, region->base, pages, pages, &run, &p, &known))
		return VM_ERR_NO_SPACE;
	uint64_t start = run.start, last_addr = start + pages * PAGE_SIZE - 1;
	*addr = start;
	if (!known || start >> PT_LEVEL_SHIFT(1) != last_addr >> PT_LEVEL_SHIFT(1))
		return vmm_pt_mark_reserved(ctx, region, start, pages, access);
	if (!vmm_pt_inner_reserve(ctx, &p, start, pages, access))
		path_mark(ctx, &p, start, last_addr, access);
	return VM_OK;
}

/*
 * Every route is a tail call: none sets up its frame for another. Unaligned and short: the
 * frontier (vmm_pt_frontier_reserve) when the root's first entry with a free page has no inner
 * run that fits, else the search and the mark along its path (vmm_pt_reserve_searched).
 */
enum vm_status vmm_pt_reserve_lowest(struct vmm_context *ctx, const struct vmm_region *region,
				     uint64_t pages, uint64_t align_pages, unsigned access, uint64_t *addr)
{
	if (align_pages != 1 || pages >= PT_ENTRIES)
		return reserve_placed(ctx, region, pages, align_pages, access, addr);
	const uint64_t *root = pt_table(ctx->pt.root);
	unsigned i3 = MAX(PT_INDEX(PT_TOP_LEVEL, region->base), pte_hint_read(root));
	pte_t e3 = root[i3];
	ctx->backend_work += 2; /* the root's hint and entry, as the search's narrow descent counts them */
	if (((summary_field(e3) >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK) < maxrun_code(pages))
		return vmm_pt_frontier_reserve(ctx, region, i3, e3, pages, access, addr);
	return vmm_pt_reserve_searched(ctx, region, pages, access, addr);
}

/* --- release -------------------------------------------------------------------------------- */

/* The reserved pages and reservation starts of a range. */
struct tally {
	struct vmm_context *ctx;
	uint64_t reserved_pages;
	uint64_t starts;
	bool mapped; /* a page of the range may be mapped (a full subtree passed unread counts) */
};

/* A whole subtree that is full with no start inside counts without a look; all-free is passed. */
static enum pt_step tally_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct tally *t = cookie;
	t->ctx->backend_work++;
	pte_t e = at->table[at->index];
	if (!pte_is_table(e, at->level)) {
		if (e & RES_RESERVED)
			t->reserved_pages += span_pages_clipped(at->first, at->last);
		t->starts += (e & RES_START) && at->base >= at->first;
		t->mapped |= pte_is_present(e);
		return PT_STEP_NEXT;
	}
	struct summary c = entry_summary(e, at->level);
	if (at->whole && c.kind == SUMMARY_FULL && !c.has_start) {
		t->reserved_pages += PT_SPAN_PAGES(at->level);
		t->mapped = true;
		return PT_STEP_NEXT;
	}
	return at->whole && c.kind == SUMMARY_ALL_FREE ? PT_STEP_NEXT : PT_STEP_DESCEND;
}

/* A run of 4 KiB entries: reserved pages and starts counted with one pass of bit tests. */
static enum pt_step tally_leaves(void *cookie, uint64_t *table, uint64_t base, unsigned first,
				 unsigned last)
{
	(void)base;
	struct tally *t = cookie;
	uint64_t reserved = 0, starts = 0;
	pte_t any = 0;
	for (unsigned i = first; i <= last; i++) {
		reserved += (table[i] & RES_RESERVED) != 0;
		starts += (table[i] & RES_START) != 0;
		any |= table[i];
	}
	t->ctx->backend_work += last - first + 1;
	t->reserved_pages += reserved;
	t->starts += starts;
	t->mapped |= pte_is_present(any);
	return PT_STEP_NEXT;
}

/* Checks that [addr, addr + pages) is exactly one reservation; *mapped: a page of it may be mapped. */
static enum vm_status check_reservation(struct vmm_context *ctx, const struct vmm_region *region,
					uint64_t addr, uint64_t pages, bool *mapped)
{
	static const struct pt_walk_visitor visitor = { .entry = tally_entry, .leaves = tally_leaves };
	struct page_state first = page_state(ctx, addr);
	if (!first.reserved)
		return VM_ERR_NOT_RESERVED;
	if (!first.start)
		return VM_ERR_NOT_RESERVATION_START;
	struct tally t = { ctx, 0, 0, false };
	uint64_t end = addr + pages * PAGE_SIZE;
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, addr, end - 1, &visitor, &t);
	if (t.reserved_pages != pages || t.starts != 1)
		return VM_ERR_WRONG_LENGTH;
	*mapped = t.mapped;
	if (end < region->base + region->pages * PAGE_SIZE) {
		struct page_state after = page_state(ctx, end);
		if (after.reserved && !after.start)
			return VM_ERR_WRONG_LENGTH;
	}
	return VM_OK;
}

/*
 * Unmaps the pages of a reservation about to be cleared: a cleared page's entry may take a
 * free-run tag, which must never land in a present entry (vmm_pt_leaf_tags.h). The unmap keeps
 * the software bits (pagetable.c), so the range is still the reservation it was, and frees no
 * table (its leaves are still reserved, hence used). vmm.c's own unmap after a release is then
 * skipped (vmm_pt_released_unmapped), so the pages are unmapped once, as before.
 */
static void unmap_before_clear(struct vmm_context *ctx, uint64_t addr, uint64_t pages)
{
	enum vm_status st = pt_unmap(&ctx->pt, addr, pages, NULL);
	MM_ASSERT(st == VM_OK, "unmap_before_clear: unmapping %llx.. failed: %s", (unsigned long long)addr,
		  vm_status_name(st));
}

/*
 * The usual release, inside one leaf table (not its last page): one unmapped reservation, checked
 * while it is cleared (leaf_entries_clear_checked: what leaf_reservation checks, less the mapped
 * case) on the frontier or the inner route. False, nothing changed, when it is not that.
 */
static bool leaf_release_unmapped(struct vmm_context *ctx, struct spine *p, uint64_t addr, uint64_t last_addr,
				  unsigned first, unsigned last)
{
	pte_t after = p->table[0][last + 1];
	ctx->backend_work += last - first + 2; /* the run and the page after it, as leaf_reservation */
	/*
	 * A start at first, a reserved page at last, the page after free or a start: a free page on
	 * either side ends or starts a whole run and holds its tag, which the routes take out of the
	 * leaf's values before the entries between are checked.
	 */
	STATIC_ASSERT(RES_START == RES_RESERVED << 1, "STA is the bit above RES");
	pte_t wrong = (p->table[0][first] & (RES_START | RES_RESERVED | PTE_PRESENT)) ^ (RES_START | RES_RESERVED);
	wrong |= ~p->table[0][last] & RES_RESERVED;
	wrong |= after & ~(after >> 1) & RES_RESERVED; /* reserved, not a start */
	if (wrong)
		return false;
	if (!path_clear(ctx, p, addr, last_addr, LEAF_CLEAR_CHECKING))
		return false; /* (vmm_pt_release_in_leaf declined the frontier: it is not one) */
	pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, 0);
	return true;
}

/*
 * A release the lean routes did not take: inside one leaf table (p, when spine_of found one; not
 * its last page) an unmapped one checked while it is cleared, a mapped one first
 * (leaf_reservation); a whole chunk (chunk_release); else checked by the tally walk.
 */
static NOINLINE enum vm_status release_general(struct vmm_context *ctx, const struct vmm_region *region,
					       uint64_t addr, uint64_t pages, struct spine *p, unsigned first,
					       unsigned last)
{
	bool mapped;
	uint64_t last_addr = addr + pages * PAGE_SIZE - 1;
	if (p) {
		if (leaf_release_unmapped(ctx, p, addr, last_addr, first, last))
			return VM_OK;
		if (leaf_reservation(ctx, p->table[0], first, last, &mapped)) {
			if (mapped)
				unmap_before_clear(ctx, addr, pages);
			if (!frontier_release(ctx, p, first, last, LEAF_CLEAR_CHECKED))
				path_clear(ctx, p, addr, last_addr, LEAF_CLEAR_CHECKED);
			pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, 0);
			return VM_OK;
		}
	}
	struct spine chunk;
	unsigned chunk_level;
	if (chunk_spine_of(ctx, addr, pages, &chunk_level, &chunk) &&
	    chunk_release(ctx, region, &chunk, chunk_level, addr, last_addr))
		return VM_OK;
	enum vm_status st = check_reservation(ctx, region, addr, pages, &mapped);
	if (st == VM_OK) {
		if (mapped)
			unmap_before_clear(ctx, addr, pages);
		clear_range(ctx, addr, last_addr);
		pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, 0);
	}
	return st;
}

enum vm_status vmm_pt_release_general(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
				      uint64_t pages)
{
	struct spine p;
	unsigned first, last;
	if (pages < PT_ENTRIES && spine_of(ctx, addr, addr + pages * PAGE_SIZE - 1, &p, &first, &last, false) &&
	    last < PT_ENTRIES - 1)
		return release_general(ctx, region, addr, pages, &p, first, last);
	return release_general(ctx, region, addr, pages, NULL, 0, 0);
}

/*
 * Every route is a tail call: none sets up its frame for another. Fewer than 512 pages: the lean
 * routes inside one leaf table (vmm_pt_release_in_leaf), which pass what they do not take to
 * vmm_pt_release_general.
 */
enum vm_status vmm_pt_release(struct vmm_context *ctx, const struct vmm_region *region,
			      uint64_t addr, uint64_t pages)
{
	if (pages >= PT_ENTRIES)
		return release_general(ctx, region, addr, pages, NULL, 0, 0);
	return vmm_pt_release_in_leaf(ctx, region, addr, pages);
}

bool vmm_pt_released_unmapped(const struct vmm_context *ctx)
{
	return pte_stripe_field_read(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1) == 0;
}

/* --- resize and split ----------------------------------------------------------------------- */

uint64_t vmm_pt_split_child(void *cookie, uint64_t chunk, unsigned child_level, unsigned index)
{
	(void)cookie;
	(void)child_level;
	pte_t start = index == 0 ? (chunk & RES_START) : 0;
	return (chunk & (RES_RESERVED | RES_ACCESS_MASK)) | start;
}

struct split_walk {
	struct vmm_context *ctx;
	enum vm_status status;
	bool split; /* some chunk mark was split */
};

/* Down the path to the boundary, splitting each chunk mark that straddles it. */
static enum pt_step split_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct split_walk *w = cookie;
	if (at->level == 0)
		return PT_STEP_STOP;
	w->ctx->backend_work++;
	pte_t e = at->table[at->index] & ~PTE_COUNT_STRIPE_MASK;
	if (!pte_is_table(e, at->level)) {
		if (!(e & RES_RESERVED) || at->first == at->base)
			return PT_STEP_STOP;
		if (pte_is_present(e)) {
			w->status = VM_ERR_BUSY;
			return PT_STEP_STOP;
		}
		if (pt_split_chunk(&w->ctx->pt, at->table, at->level, at->index) != VM_OK) {
			w->status = VM_ERR_NO_MEMORY;
			return PT_STEP_STOP;
		}
		w->split = true;
	}
	return PT_STEP_DESCEND;
}

/*
 * Makes `boundary` an entry boundary at every level, splitting the chunk marks that straddle it
 * (pt_split_chunk: its children say what the chunk said, so a failed split changes nothing).
 */
static enum vm_status split_at(struct vmm_context *ctx, uint64_t boundary, bool *split)
{
	static const struct pt_walk_visitor visitor = { .entry = split_entry };
	struct split_walk w = { ctx, VM_OK, false };
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, boundary, boundary, &visitor, &w);
	*split = w.split;
	return w.status;
}

static enum pt_step path_entry(void *cookie, const struct pt_walk_entry *at)
{
	(void)cookie;
	return pte_is_table(at->table[at->index], at->level) ? PT_STEP_DESCEND : PT_STEP_NEXT;
}

static enum pt_step path_ascend(void *cookie, const struct pt_walk_entry *at)
{
	refresh(cookie, at->table, at->level, at->index, NULL, NULL, NULL, NULL);
	return PT_STEP_NEXT;
}

/* Re-summarises the tables on the path to addr, bottom-up (after split_at changed them). */
static void refresh_path(struct vmm_context *ctx, uint64_t addr)
{
	static const struct pt_walk_visitor visitor = { .entry = path_entry, .ascend = path_ascend };
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, addr, addr, &visitor, ctx);
}

enum vm_status vmm_pt_resize(struct vmm_context *ctx, const struct vmm_region *region,
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
	unmap_before_clear(ctx, new_end, old_pages - new_pages);
	clear_range(ctx, new_end, old_end - 1);
	if (split) /* the clear re-summarised only the tables it touched */
		refresh_path(ctx, new_end - PAGE_SIZE);
	return VM_OK;
}

/*
 * A split sets STA on the entry at addr, after split_at made addr an entry boundary (a chunk mark
 * straddling it becomes a table), and re-summarises the path (its HST bits).
 */
enum vm_status vmm_pt_split(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr)
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
	MM_ASSERT(IS_ALIGNED(addr, PT_SPAN_BYTES(here.level)), "vmm_pt_split: %llx not an entry start",
		  (unsigned long long)addr);
	pt_slot_write(here.table, here.index, (here.table[here.index] & ~PTE_COUNT_STRIPE_MASK) | RES_START);
	refresh_path(ctx, addr);
	return VM_OK;
}

/* --- access --------------------------------------------------------------------------------- */

struct access_walk {
	struct vmm_context *ctx;
	pte_t bits;
};

/* Rewrites the access bits of every leaf and chunk mark of the range. */
static enum pt_step access_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct access_walk *w = cookie;
	w->ctx->backend_work++;
	pte_t e = at->table[at->index] & ~PTE_COUNT_STRIPE_MASK;
	if (pte_is_table(e, at->level))
		return PT_STEP_DESCEND;
	MM_ASSERT(e & RES_RESERVED, "access_entry: %llx not reserved", (unsigned long long)at->base);
	MM_ASSERT(at->whole, "access_entry: chunk at %llx only partly covered", (unsigned long long)at->base);
	pt_slot_write(at->table, at->index, (e & ~RES_ACCESS_MASK) | w->bits);
	return PT_STEP_NEXT;
}

void vmm_pt_set_access(struct vmm_context *ctx, const struct vmm_region *region, uint64_t start,
		       uint64_t pages, unsigned access)
{
	(void)region;
	static const struct pt_walk_visitor visitor = { .entry = access_entry };
	struct access_walk w = { ctx, access_bits(access) };
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, start, start + pages * PAGE_SIZE - 1,
		      &visitor, &w);
}
