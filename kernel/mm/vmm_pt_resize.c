/*
 * The page-table backend's resize, split and access change: a grow marks the pages after the
 * reservation (mark_range), a shrink splits the chunk marks that straddle the new end, unmaps and
 * clears the tail (clear_range) and re-measures the path at the boundary; a split sets STA at an
 * address made an entry boundary (split_at); an access change rewrites the access bits of every
 * leaf and chunk mark of the range.
 *
 * Invariants kept: those of vmm_pt_range.c; a split or a shrink changes nothing before its chunk
 * splits succeeded (pt_split_chunk: a child says what its chunk said, so a failed split leaves
 * the reservation as it was).
 *
 * Bound: a resize is the range walk's mark or clear of the pages that change (vmm_pt_range.c)
 * plus the split and re-measure of one path; a split is one path walk and one re-measure of it.
 */
#include "vmm_pt_write.h"

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
