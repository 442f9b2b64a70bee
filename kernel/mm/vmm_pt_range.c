/*
 * The page-table backend's range walk that writes (encoding in vmm_pt.h): marking a range reserved
 * and clearing it (release, shrink, undo). Each is one walk over the range (pt_walk_range) whose
 * visitor writes the entries and, on the way back up, re-summarises every table whose entries
 * changed (vmm_pt_summary.c says how and at what cost). The point routes (vmm_pt_spine.c,
 * vmm_pt_chunk.c) run these same visitors along one path when their own upkeep does not apply
 * (vmm_pt_write.h holds the parts they inline).
 *
 * Invariants kept: a reservation is the run of RES pages from a page with STA up to the next STA
 * or free page; every table pointer's summary and every mixed table's exact values describe the
 * entries below it (vmm_pt_check.c recounts them); a table's first-free hint is at or below its
 * first entry that is not full. An operation that fails leaves the state as it found it: a mark
 * that cannot install a table clears what it marked (the range was free, so clearing all of it
 * restores it exactly).
 *
 * Bound: a mark or clear of p pages touches the entries of the range and re-summarises the tables
 * it changed, at most 1 024 + sum over t = 0..2 of (2 + p / 512^(t+1)) U(t) entries
 * (vmm_pt_summary.c); a release first tallies the range (at most what the clear reads:
 * vmm_pt_reserve.c), a resize splits and re-measures one path more (vmm_pt_resize.c).
 * vmm_pt_work_bound() (vmm_pt_check.c) adds them up.
 */
#include "vmm_pt_write.h"

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

static enum pt_step mark_enter(void *cookie, uint64_t *table, unsigned level, uint64_t base,
			       unsigned *first, unsigned last)
{
	(void)table, (void)base, (void)first, (void)last;
	struct mark *m = cookie;
	m->ch[level] = (struct table_change){ .direction = CHANGE_MARKED };
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

enum pt_step mark_ascend(void *cookie, const struct pt_walk_entry *at)
{
	struct mark *m = cookie;
	unsigned level = at->level;
	hint_after_mark(m->ctx, child_table(at->table[at->index]), level - 1, at->first, at->last);
	note_refresh(m->ctx, at, &m->ch[level - 1], &m->ch[level], m->installed[level]);
	return PT_STEP_NEXT;
}

/* --- clear ---------------------------------------------------------------------------------- */

enum pt_step clear_entry(void *cookie, const struct pt_walk_entry *at)
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
enum pt_step clear_ascend(void *cookie, const struct pt_walk_entry *at)
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
bool clear_range(struct vmm_context *ctx, uint64_t first, uint64_t last)
{
	static const struct pt_walk_visitor visitor = { .entry = clear_entry,
							.ascend = clear_ascend,
							.enter = clear_enter,
							.leaves = clear_leaves };
	struct clear c = { .ctx = ctx };
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, first, last, &visitor, &c);
	return c.met_mapped;
}

enum vm_status mark_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
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
