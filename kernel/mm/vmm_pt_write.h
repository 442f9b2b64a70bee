/*
 * What the page-table backend's writing files share (encoding and summaries in vmm_pt.h): the
 * change notes a table's upkeep is derived from, the range walk's mark and clear state with the
 * visitor parts the point routes run along one path (vmm_pt_range.c), the point walk to one leaf
 * table (vmm_pt_spine.c), the chunk routes' entry points (vmm_pt_chunk.c) and the unmap before a
 * clear. The bodies here are the ones that must inline into a file other than their concept's, or
 * into several (each is on a per-operation path); everything else is declared here and defined
 * in the file of its concept. Their invariants and bounds are stated in those files' headers.
 */
#ifndef PAGESCOPE_MM_VMM_PT_WRITE_H
#define PAGESCOPE_MM_VMM_PT_WRITE_H

#include "vmm_pt.h"
#include "vmm_pt_leaf_tags.h"
#include "vmm_pt_fit_hints.h"

/* --- change notes (the first change of a table, for its upkeep) ------------------------------ */

/* Whether a change to an entry of a table at `level` must be described (the table's first). */
static inline bool change_wanted(const struct table_change *ch, unsigned level)
{
	return ch->count == 0 && level > 0 && level < PT_TOP_LEVEL; /* the root has no summary */
}

/* Entry i changed from `before` to `after`: counts it, and keeps both while it is the only one. */
static inline void change_note(struct table_change *ch, unsigned level, unsigned i, const struct exact *before,
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

/* --- the range walk's mark and clear (vmm_pt_range.c) ---------------------------------------- */

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

/* A marked table moves its hint past what became full; its parent notes the change. */
static ALWAYS_INLINE void hint_after_mark(struct vmm_context *ctx, uint64_t *table, unsigned level,
					   uint64_t first, uint64_t last)
{
	unsigned hint = pte_hint_read(table), last_index = PT_INDEX(level, last);
	/* Every entry of a marked leaf run is full; above, only the hint's entry is known to be. */
	if (PT_INDEX(level, first) <= hint && hint <= last_index)
		hint_advance(ctx, table, level, level == 0 ? last_index + 1 : hint);
}

struct clear {
	struct vmm_context *ctx;
	bool met_mapped;                   /* some entry of the range was present (mapped) */
	struct table_change ch[PT_LEVELS]; /* per level, the changes to the table open there */
};

/* Every entry of the range gets a free page: the table's hint drops to the first of them. */
static inline enum pt_step clear_enter(void *cookie, uint64_t *table, unsigned level, uint64_t base,
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
	if (all_reserved) /* the joined run, as the tags now say; else not known: every fit hint to 0 */
		fit_hints_lower(table, first - (unsigned)n.before, n.before + pages + n.after);
	else
		fit_hints_reset(table);
	c->ch[0] = (struct table_change){ CHANGE_CLEARED, all_reserved ? 1 : 2, first, last,
					  { SUMMARY_FULL, start, 0, 0, 0, 0 },
					  { SUMMARY_ALL_FREE, false, pages, pages, 0, 0 }, false, n, old_prefix,
					  old_suffix };
	return PT_STEP_NEXT;
}

enum pt_step mark_ascend(void *cookie, const struct pt_walk_entry *at);
enum pt_step clear_entry(void *cookie, const struct pt_walk_entry *at);
enum pt_step clear_ascend(void *cookie, const struct pt_walk_entry *at);
/* The range walk's clear and mark (vmm_pt_range.c says what each returns). */
bool clear_range(struct vmm_context *ctx, uint64_t first, uint64_t last);
enum vm_status mark_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages, uint64_t start_page,
			  unsigned access);

/* --- the point routes inside one leaf table (vmm_pt_spine.c) --------------------------------- */

/*
 * The path to the leaf table of [addr, last], when the range lies in one that exists; *first,
 * *last_index are the run's leaf entries; p->mixed: each table on it is mixed.
 */
static ALWAYS_INLINE bool spine_of(struct vmm_context *ctx, uint64_t addr, uint64_t last,
				    struct spine *p, unsigned *first, unsigned *last_index)
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
	p->mixed = (kinds & SUM_KIND_MASK) == SUMMARY_MIXED;
	*first = PT_INDEX(0, addr);
	*last_index = PT_INDEX(0, last);
	return true;
}

/* path_mark, path_mark_general and path_clear: vmm_pt_spine.c says what each does. */
void path_mark(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last, unsigned access);
void path_mark_general(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last,
		       unsigned access);
void path_clear(struct vmm_context *ctx, const struct spine *p, uint64_t addr, uint64_t last);

/* --- one whole chunk (vmm_pt_chunk.c) -------------------------------------------------------- */

/* Whether `pages` is the span of a 2 MiB chunk: inline, so other requests pay a compare. */
static ALWAYS_INLINE bool chunk_sized(uint64_t pages)
{
	return pages == PT_SPAN_PAGES(1);
}

/* A mark of [addr, addr + pages) when it is one aligned free chunk at the frontier: true when done. */
bool chunk_reserve(struct vmm_context *ctx, uint64_t addr, uint64_t pages, unsigned access);
/*
 * vmm_pt_release of a chunk_sized range: by chunk_release when it is one aligned chunk at the
 * frontier and one reservation, else by release_tallied (a tail call).
 */
enum vm_status vmm_pt_release_chunk(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
				    uint64_t pages);
/*
 * reserve_lowest of one 2 MiB chunk at 2 MiB alignment: at the frontier of chunks when it is there
 * (reserve_chunk_frontier), else by reserve_placed (a tail call).
 */
enum vm_status vmm_pt_reserve_chunk(struct vmm_context *ctx, const struct vmm_region *region, unsigned access,
				    uint64_t *addr);

/* --- reserve and release (vmm_pt_reserve.c) -------------------------------------------------- */

/* reserve_lowest as vmm.c would place without it: the search, then vmm_pt_mark_reserved. */
enum vm_status reserve_placed(struct vmm_context *ctx, const struct vmm_region *region, uint64_t pages,
			      uint64_t align_pages, unsigned access, uint64_t *addr);

/*
 * A release checked by the tally walk (vmm_pt_reserve.c's check_reservation), then cleared by the
 * range walk: VM_OK, or what check_reservation found wrong (nothing changed).
 */
enum vm_status release_tallied(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
			       uint64_t pages);

/*
 * Unmaps the pages of a reservation about to be cleared: a cleared page's entry may take a
 * free-run tag, which must never land in a present entry (vmm_pt_leaf_tags.h). The unmap keeps
 * the software bits (pagetable.c), so the range is still the reservation it was, and frees no
 * table (its leaves are still reserved, hence used). vmm.c's own unmap after a release is then
 * skipped (vmm_pt_released_unmapped), so the pages are unmapped once, as before.
 */
static inline void unmap_before_clear(struct vmm_context *ctx, uint64_t addr, uint64_t pages)
{
	enum vm_status st = pt_unmap(&ctx->pt, addr, pages, NULL);
	MM_ASSERT(st == VM_OK, "unmap_before_clear: unmapping %llx.. failed: %s", (unsigned long long)addr,
		  vm_status_name(st));
}

#endif
