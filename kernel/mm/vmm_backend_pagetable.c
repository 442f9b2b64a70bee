/*
 * VMM bookkeeping kept in the page-table entries themselves (vmm_backend.h's interface): no
 * structure besides the tables the CPU needs anyway, plus tables created for reservations nobody
 * has mapped yet. What the entries hold is drawn in vmm_pt.h; the backend is split by concept:
 *   vmm_pt_summary.c   the summaries and their upkeep (derive or measure, the first-free hint)
 *   vmm_pt_search.c    the lowest free run (bounded by the summaries), the page at an address,
 *                      the extent around it
 *   vmm_pt_lookup.c    the page a fault asks about (one entry, reached from the last walk's tables)
 *   vmm_pt_reserve.c   mark, release; reserve_lowest (the search and the mark in one call)
 *   vmm_pt_range.c, vmm_pt_spine.c, vmm_pt_chunk.c   the routes that write (range walk, one
 *                      leaf table, one chunk)
 *   vmm_pt_resize.c    resize, split, set_access
 *   vmm_pt_lean.c      the usual reserve and release inside one leaf table (at the frontier,
 *                      inside its inner runs), from one path, writing only what moves
 *   vmm_pt_check.c     the self-check, the bounds as numbers, bookkeeping bytes
 * Each file states its invariants and bound at its top. backend_work counts entries read: by
 * searches, marks, clears, queries and summary upkeep.
 */
#include "vmm.h"
#include "vmm_pt.h"
#include "vmm_pt_leaf_tags.h"

/* pt_chunk_ops.summarize: a table made from a chunk mark gets its summary from scratch. */
static uint64_t summarize_split_chunk(void *cookie, uint64_t *table, unsigned level)
{
	bool changed = false;
	struct exact now;
	return summarize_table(cookie, table, level, NULL, NULL, &changed, &now);
}

static enum vm_status pagetable_init(struct vmm_context *ctx)
{
	ctx->chunk_ops = (struct pt_chunk_ops){ .split = vmm_pt_split_child,
						.summarize = summarize_split_chunk,
						.leaf_empty = leaf_empty,
						.cookie = ctx };
	ctx->pt.chunk_ops = &ctx->chunk_ops;
	ctx->pt_caches.leaf_hint = (struct vmm_pt_leaf_hint){ .base = VMM_PT_LEAF_HINT_NONE,
							       .upper_base = VMM_PT_LEAF_HINT_NONE };
	return VM_OK;
}

static void pagetable_destroy(struct vmm_context *ctx)
{
	ctx->pt.chunk_ops = NULL;
}

const struct vmm_backend_ops vmm_backend_pagetable = {
	.name = "pagetable",
	.init = pagetable_init,
	.destroy = pagetable_destroy,
	.find_free_run = vmm_pt_find_free_run,
	.mark_reserved = vmm_pt_mark_reserved,
	.reserve_lowest = vmm_pt_reserve_lowest,
	.release = vmm_pt_release,
	.resize = vmm_pt_resize,
	.query = vmm_pt_query,
	.lookup = vmm_pt_lookup,
	.split = vmm_pt_split,
	.set_access = vmm_pt_set_access,
	.released_unmapped = vmm_pt_released_unmapped,
	.work_bound = vmm_pt_work_bound,
	.bookkeeping_bytes = vmm_pt_bookkeeping_bytes,
	.self_check = vmm_pt_self_check,
};
