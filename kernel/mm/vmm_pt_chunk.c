/*
 * The page-table backend's chunk routes: a reservation that is exactly one aligned chunk (2 MiB or
 * 1 GiB, as a large-page mapping's) takes one point walk to its entry (chunk_spine_walk) instead
 * of the range walk: at the frontier of 2 MiB chunks only T1's and T2's suffix, inner top two and
 * HST move (chunk_frontier_mark, chunk_frontier_release), elsewhere the range walk's visitors
 * (vmm_pt_range.c) run along the path (chunk_mark, chunk_release). reserve_lowest of one 2 MiB
 * chunk at 2 MiB alignment finds the frontier chunk from the chain of LASTs, without the search
 * (reserve_chunk_frontier).
 *
 * Invariants kept: those of vmm_pt_range.c; a route that does not apply returns false before it
 * writes anything.
 *
 * Bound: the chunk routes read the path (3), T1's and T2's values (4 x 7 + 4 x 10), the entry
 * before the chunk and its SUFFIX (1 + 4), at most 2 x 512 entries looking for other starts and
 * the page after the chunk (4): less than one U(1) + U(2) of the range walk's upkeep, which they
 * replace. Values found in the value cache (vmm_pt.h) are not read again, and not counted.
 */
#include "vmm_pt_write.h"

/*
 * A range that is exactly one aligned chunk of an entry at `level` >= 1 (512 pages at 2 MiB, as a
 * large-page mapping's reservation) whose tables above exist: the path to that entry (p->table and
 * p->index from PT_TOP_LEVEL down to `level`), from one point walk. The range walk would visit
 * the same entries and nothing else (one per level), so the chunk paths below run its visitors
 * (mark_entry's chunk branch, mark_ascend; clear_enter, clear_entry, clear_ascend) along the path
 * and read what it would read, without its clipping.
 */
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

/* Marks a free chunk (chunk_spine_walk) reserved in its entry; false when the entry is in use. */
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
 * Releases a chunk (chunk_spine_walk) when it is exactly one reservation: its entry is a chunk mark
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

bool chunk_reserve(struct vmm_context *ctx, uint64_t addr, uint64_t pages, unsigned access)
{
	struct spine p;
	unsigned level;
	return chunk_spine_walk(ctx, addr, pages, &level, &p) &&
	       chunk_mark(ctx, &p, level, addr, addr + pages * PAGE_SIZE - 1, access);
}

enum vm_status vmm_pt_release_chunk(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
				    uint64_t pages)
{
	struct spine p;
	unsigned level;
	if (chunk_spine_walk(ctx, addr, pages, &level, &p) &&
	    chunk_release(ctx, region, &p, level, addr, addr + pages * PAGE_SIZE - 1))
		return VM_OK;
	return release_tallied(ctx, region, addr, pages);
}

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
bool reserve_chunk_frontier(struct vmm_context *ctx, const struct vmm_region *region, uint64_t padded,
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
