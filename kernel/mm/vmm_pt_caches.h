/*
 * What the page-table backend keeps in a context besides the page tables: two caches, constant
 * size, copies of what the tables say and never the truth (dropping either changes the cost of
 * an operation, not its answer). They sit in struct vmm_context (vmm.h) because the backend
 * takes no memory besides tables: the list backend's state, which is bookkeeping, is behind
 * backend_private and counted; these are not bookkeeping and are not counted in
 * vmm_bookkeeping_bytes. The list backend leaves them unused.
 */
#ifndef PAGESCOPE_MM_VMM_PT_CACHES_H
#define PAGESCOPE_MM_VMM_PT_CACHES_H

#include <stdint.h>

/*
 * The page-table backend's copy of the exact summary values of at most one table per level below
 * the root, as it last read or wrote them (vmm_pt.h, "value cache", says why it cannot go stale).
 * Constant size; the list backend leaves it unused.
 */
struct vmm_pt_value_cache {
	const uint64_t *table[3];
	uint64_t value[3][4];
	uint64_t pend[3]; /* levels 1 and 2: PEND (vmm_pt.h) */
	uint8_t known[3]; /* bit f: value[level][f] is held; bit 4: pend[level] is */
};

/*
 * The page-table backend's fault lookup: the tables its last walks reached at levels 0 and 1, for
 * the next fault in the same 2 MiB or 1 GiB, or release in the same 2 MiB (a reserve's descent
 * keeps them too; vmm_pt_lookup.c says why they are exact). base,
 * upper_base: the 2 MiB / 1 GiB the table covers, VMM_PT_LEAF_HINT_NONE when none is kept;
 * tables_freed: pt.tables_freed when they were kept.
 */
#define VMM_PT_LEAF_HINT_NONE 1u /* never an aligned address */
struct vmm_pt_leaf_hint {
	uint64_t base;
	const uint64_t *table;
	uint64_t tables_freed;
	uint64_t upper_base;
	const uint64_t *upper_table;
};

struct vmm_pt_caches {
	struct vmm_pt_value_cache values; /* vmm_pt.h, "value cache" */
	struct vmm_pt_leaf_hint leaf_hint; /* vmm_pt_lookup.c */
};

#endif
