/*
 * The page-table backend's answer to a page fault (vmm_backend_ops.lookup): is the page at addr
 * reserved, and what does its reservation allow? The answer is the RES and access bits of the one
 * entry that decides the page (vmm_pt.h's encoding): the level-0 entry when a leaf table covers
 * the page, else the chunk entry (or empty entry) above it where the walk stops. Nothing else is
 * read: no summary, no other structure.
 *
 * Reaching that entry: a fault usually lands in the same 2 MiB as the one before (a heap, a stack
 * or a buffer is first touched page after page), and nearly always in the same 1 GiB, so the
 * backend keeps the tables its last walk reached at levels 0 and 1 (ctx->pt_leaf_hint, vmm.h):
 *   - addr in the kept leaf table's 2 MiB: its entry there is read at once (1 entry);
 *   - else addr in the kept level-1 table's 1 GiB: the walk starts there (2 entries, or 1 when it
 *     stops at a chunk entry);
 *   - else a walk from the root (at most 4 entries).
 * A walk keeps the tables it reached. The miss paths are out of line, so the hit saves no register.
 *
 * Why the hint is exact: a table lives at one place in the tree from its install until it is freed
 * (a table is only ever installed under an unused entry, pt_install_table / pt_split_chunk, and
 * every path that unhooks one frees it: pt_free_table_if_empty, the walk undo, pt_destroy; nothing
 * moves a table), and every free goes through pagetable.c's free_table_page, which counts it in
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

/* One step down from *e at `level` when it points to a table: *table, *e become the child's. */
static ALWAYS_INLINE bool descend(const uint64_t **table, pte_t *e, unsigned level, uint64_t addr)
{
	if (!pte_is_table(*e, level))
		return false;
	*table = child_table(*e);
	*e = (*table)[PT_INDEX(level - 1, addr)];
	return true;
}

/*
 * The leaf hint missed: the walk from the kept level-1 table when addr is in its 1 GiB, else from
 * the root (each level's shift and test a constant); keeps the tables it reaches.
 */
static NOINLINE enum vmm_range_state lookup_walk(struct vmm_context *ctx, uint64_t addr,
						  unsigned *access)
{
	struct vmm_pt_leaf_hint *hint = &ctx->pt_leaf_hint;
	uint64_t tables_freed = ctx->pt.tables_freed;
	const uint64_t *table;
	pte_t e;
	unsigned reads = 1;
	if (hint->tables_freed == tables_freed && ALIGN_DOWN(addr, PT_SPAN_BYTES(2)) == hint->upper_base) {
		table = hint->upper_table;
		e = table[PT_INDEX(1, addr)];
	} else {
		table = pt_table(ctx->pt.root);
		e = table[PT_INDEX(PT_TOP_LEVEL, addr)];
		if (!descend(&table, &e, 3, addr))
			goto found;
		reads++;
		if (!descend(&table, &e, 2, addr))
			goto found;
		reads++;
		/* Kept as of now; the leaf table kept before may be of another count: dropped. */
		hint->base = VMM_PT_LEAF_HINT_NONE;
		hint->tables_freed = tables_freed;
		hint->upper_base = ALIGN_DOWN(addr, PT_SPAN_BYTES(2));
		hint->upper_table = table;
	}
	if (descend(&table, &e, 1, addr)) {
		reads++;
		hint->base = ALIGN_DOWN(addr, PT_SPAN_BYTES(1));
		hint->table = table;
	}
found:
	ctx->backend_work += reads;
	return answer(e, access);
}

#if defined(PAGESCOPE_HOST) && !defined(NDEBUG)
/* Host test builds: every answer must be the one of the entry a walk from the root reaches. */
static void check_answer(const struct vmm_context *ctx, uint64_t addr, enum vmm_range_state state,
			 unsigned access)
{
	const uint64_t *table = pt_table(ctx->pt.root);
	pte_t e = table[PT_INDEX(PT_TOP_LEVEL, addr)];
	for (unsigned level = PT_TOP_LEVEL; descend(&table, &e, level, addr); level--)
		;
	unsigned walked_access;
	MM_ASSERT(answer(e, &walked_access) == state && walked_access == access,
		  "vmm_pt_lookup: the hint's answer at %llx is not the walk's", (unsigned long long)addr);
}
#endif

enum vmm_range_state vmm_pt_lookup(struct vmm_context *ctx, const struct vmm_region *region,
				   uint64_t addr, unsigned *access)
{
	(void)region;
	const struct vmm_pt_leaf_hint *hint = &ctx->pt_leaf_hint;
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
