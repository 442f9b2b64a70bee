/*
 * The page-table backend's answer to a page fault (vmm_backend_ops.lookup): is the page at addr
 * reserved, and what does its reservation allow? The answer is the RES and access bits of the one
 * entry that decides the page (vmm_pt.h's encoding): the level-0 entry when a leaf table covers
 * the page, else the chunk entry (or empty entry) above it where the walk stops. Nothing else is
 * read: no summary, no other structure.
 *
 * Reaching that entry: a fault usually lands in the same 2 MiB as the one before (a heap, a stack
 * or a buffer is first touched page after page), and nearly always in the same 1 GiB, so the
 * backend keeps the tables its last walk reached at levels 0 and 1 (ctx->pt_caches.leaf_hint,
 * vmm_pt_caches.h):
 *   - addr in the kept leaf table's 2 MiB: its entry there is read at once (1 entry);
 *   - else addr in the kept level-1 table's 1 GiB: the walk starts there (2 entries, or 1 when it
 *     stops at a chunk entry);
 *   - else a walk from the root (at most 4 entries).
 * A walk keeps the tables it reached, and so does the descent of a reserve (vmm_pt_lean.c,
 * leaf_hint_keep), whose release usually follows in the same 2 MiB: vmm_pt_release_in_leaf takes
 * the kept tables instead of walking, by the same argument. The miss paths are out of line, so the
 * hit saves no register.
 *
 * Why the hint is exact: a table lives at one place in the tree from its install until it is freed
 * (a table is only ever installed where no table was: pt_install_table under an unused entry,
 * pt_split_chunk in place of a chunk mark; every path that unhooks one frees it:
 * pt_free_table_if_empty, the walk undo, pt_destroy; nothing moves a table), and every free goes
 * through pagetable.c's free_table_page, which counts it in
 * pt.tables_freed. So while pt.tables_freed equals the count kept with the hint, each kept table
 * is still the table of its span at its level, and a walk from it reaches the entry a walk from
 * the root would reach. The hint is a copy, never the truth: dropping it changes the cost, not the
 * answer. Host test builds check every answer against a walk from the root. Tables are written
 * only through their own context (the kernel half by the kernel's) and a context starts with no
 * hint (pagetable_init), so no other context's frees matter.
 *
 * Work (backend_work, the entries read): 1 on a leaf hit, else one per level walked (at most
 * PT_LEVELS = 4), counted once per lookup rather than per level.
 */
#include "vmm_pt.h"

/* What the deciding entry e says: reserved or free, and what a reservation allows. */
static ALWAYS_INLINE enum vmm_range_state answer(pte_t e, unsigned *access)
{
	bool reserved = (e & RES_RESERVED) != 0;
	*access = reserved ? access_of(e) : 0;
	return reserved ? VMM_RANGE_RESERVED : VMM_RANGE_FREE;
}

/* A walk reached `table` at `level` (1 or 0): it becomes the hint's table of that level. */
static ALWAYS_INLINE void keep(struct vmm_pt_leaf_hint *hint, const uint64_t *table, unsigned level,
			       uint64_t addr, uint64_t tables_freed)
{
	if (level == 1) {
		/* Kept as of now; the leaf table kept before may be of another count: dropped. */
		hint->base = VMM_PT_LEAF_HINT_NONE;
		hint->tables_freed = tables_freed;
		hint->upper_base = ALIGN_DOWN(addr, PT_SPAN_BYTES(2));
		hint->upper_table = table;
	} else if (level == 0) {
		hint->base = ALIGN_DOWN(addr, PT_SPAN_BYTES(1));
		hint->table = table;
	}
}

/*
 * From `table` at `level` down to the entry deciding addr, one loop over levels (each caller's
 * copy unrolled, so every level's shift and test are constants), keeping the tables it reaches
 * and counting the entries it reads once.
 */
static ALWAYS_INLINE pte_t walk_down(struct vmm_context *ctx, const uint64_t *table, unsigned level,
				     uint64_t addr, uint64_t tables_freed)
{
	pte_t e = table[PT_INDEX(level, addr)];
	unsigned reads = 1;
#pragma GCC unroll 4
	for (unsigned above = level; above > 0; above--) {
		if (!pte_is_table(e, above))
			break;
		table = child_table(e);
		e = table[PT_INDEX(above - 1, addr)];
		reads++;
		keep(&ctx->pt_caches.leaf_hint, table, above - 1, addr, tables_freed);
	}
	ctx->backend_work += reads;
	return e;
}

/*
 * The leaf hint missed: a walk from the kept level-1 table when addr is in its 1 GiB, else from
 * the root.
 */
static NOINLINE enum vmm_range_state lookup_walk(struct vmm_context *ctx, uint64_t addr,
						  unsigned *access)
{
	const struct vmm_pt_leaf_hint *hint = &ctx->pt_caches.leaf_hint;
	uint64_t tables_freed = ctx->pt.tables_freed;
	pte_t e;
	if (hint->tables_freed == tables_freed && ALIGN_DOWN(addr, PT_SPAN_BYTES(2)) == hint->upper_base)
		e = walk_down(ctx, hint->upper_table, 1, addr, tables_freed);
	else
		e = walk_down(ctx, pt_table(ctx->pt.root), PT_TOP_LEVEL, addr, tables_freed);
	return answer(e, access);
}

#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
/* Host test builds: every answer must be the one of the entry a walk from the root reaches. */
static void check_answer(const struct vmm_context *ctx, uint64_t addr, enum vmm_range_state state,
			 unsigned access)
{
	pte_t e = pt_table(ctx->pt.root)[PT_INDEX(PT_TOP_LEVEL, addr)];
	for (unsigned level = PT_TOP_LEVEL; level > 0 && pte_is_table(e, level); level--)
		e = child_table(e)[PT_INDEX(level - 1, addr)];
	unsigned walked_access;
	MM_ASSERT(answer(e, &walked_access) == state && walked_access == access,
		  "vmm_pt_lookup: the hint's answer at %llx is not the walk's", (unsigned long long)addr);
}
#endif

enum vmm_range_state vmm_pt_lookup(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, unsigned *access)
{
	(void)region;
	const struct vmm_pt_leaf_hint *hint = &ctx->pt_caches.leaf_hint;
	enum vmm_range_state state;
	if (likely(ALIGN_DOWN(addr, PT_SPAN_BYTES(1)) == hint->base &&
		   hint->tables_freed == ctx->pt.tables_freed)) {
		ctx->backend_work++;
		state = answer(hint->table[PT_INDEX(0, addr)], access);
	} else {
		state = lookup_walk(ctx, addr, access);
	}
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	check_answer(ctx, addr, state, *access);
#endif
	return state;
}
