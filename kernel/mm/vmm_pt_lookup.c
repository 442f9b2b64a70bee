/*
 * The page-table backend's answer to a page fault (vmm_backend_ops.lookup): is the page at addr
 * reserved, and what does its reservation allow? The answer is the RES and access bits of the one
 * entry that decides the page (vmm_pt.h's encoding): the level-0 entry when a leaf table covers
 * the page, else the chunk entry (or empty entry) above it where the walk stops. Nothing else is
 * read: no summary, no other structure.
 *
 * Reaching that entry: a fault usually lands in the same 2 MiB as the one before (a heap, a stack
 * or a buffer is first touched page after page), so the backend keeps the leaf table its last walk
 * reached (ctx->pt_leaf_hint, vmm.h) and, for an address in that table's 2 MiB, reads the entry
 * there at once; otherwise it walks from the root, one loop over levels, and keeps the leaf table
 * it reached, if any.
 *
 * Why the hint is exact: a table lives at one place in the tree from its install until it is freed
 * (a table is only ever installed under an unused entry, pt_install_table / pt_split_chunk, and
 * every path that unhooks one frees it: pt_free_table_if_empty, the walk undo, pt_destroy; nothing
 * moves a table), and every free goes through pagetable.c's free_table_page, which counts it in
 * pt.tables_freed. So while pt.tables_freed equals the count taken with the hint, the hinted table
 * is still the leaf table of its 2 MiB, and its entry is the entry a walk from the root would
 * reach. The hint is a copy, never the truth: dropping it changes the cost, not the answer. Host
 * test builds check every hit against a walk from the root. Tables are written only through their
 * own context (the kernel half by the kernel's) and a context starts with no hint
 * (pagetable_init), so no other context's frees matter.
 *
 * Work (backend_work, the entries read): 1 on a hit, one per level walked otherwise (at most
 * PT_LEVELS = 4), counted once at the end rather than per level.
 */
#include "vmm_pt.h"

/* What the deciding entry e says: reserved or free, and what a reservation allows. */
static ALWAYS_INLINE enum vmm_range_state answer(pte_t e, unsigned *access)
{
	bool reserved = (e & RES_RESERVED) != 0;
	*access = reserved ? access_of(e) : 0;
	return reserved ? VMM_RANGE_RESERVED : VMM_RANGE_FREE;
}

/*
 * The entry deciding addr, walking from the root (one entry read per level, counted at the end);
 * keeps the leaf table when the walk reaches one. Out of line and reached by a tail call, so that
 * the hint's path saves no register.
 */
static NOINLINE enum vmm_range_state lookup_from_root(struct vmm_context *ctx, uint64_t addr,
						       unsigned *access)
{
	const uint64_t *table = pt_table(ctx->pt.root);
	pte_t e = table[PT_INDEX(PT_TOP_LEVEL, addr)];
	unsigned level = PT_TOP_LEVEL;
	/* Unrolled: each level's shift and test are constants. */
#pragma GCC unroll 4
	for (unsigned above = PT_TOP_LEVEL; above > 0; above--) {
		if (!pte_is_table(e, above))
			break;
		table = child_table(e);
		level = above - 1;
		e = table[PT_INDEX(level, addr)];
	}
	ctx->backend_work += PT_TOP_LEVEL + 1 - level;
	if (level == 0)
		ctx->pt_leaf_hint = (struct vmm_pt_leaf_hint){ .base = ALIGN_DOWN(addr, PT_SPAN_BYTES(1)),
							      .table = table,
							      .tables_freed = ctx->pt.tables_freed };
	return answer(e, access);
}

#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
/* Host test builds: the hint's answer must be the walk's (which reads 4 entries, leaving the hint). */
static void check_hint(struct vmm_context *ctx, uint64_t addr, enum vmm_range_state state, unsigned access)
{
	struct vmm_pt_leaf_hint kept = ctx->pt_leaf_hint;
	uint64_t work = ctx->backend_work;
	unsigned walked_access;
	enum vmm_range_state walked = lookup_from_root(ctx, addr, &walked_access);
	MM_ASSERT(walked == state && walked_access == access && ctx->backend_work - work == PT_LEVELS,
		  "vmm_pt_lookup: the leaf hint disagrees with the walk at %llx", (unsigned long long)addr);
	ctx->backend_work = work;
	ctx->pt_leaf_hint = kept;
}
#endif

enum vmm_range_state vmm_pt_lookup(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, unsigned *access)
{
	(void)region;
	const struct vmm_pt_leaf_hint *hint = &ctx->pt_leaf_hint;
	if (unlikely(ALIGN_DOWN(addr, PT_SPAN_BYTES(1)) != hint->base ||
		     hint->tables_freed != ctx->pt.tables_freed))
		return lookup_from_root(ctx, addr, access);
	ctx->backend_work++;
	enum vmm_range_state state = answer(hint->table[PT_INDEX(0, addr)], access);
#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
	check_hint(ctx, addr, state, *access);
#endif
	return state;
}
