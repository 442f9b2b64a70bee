/*
 * Page-table pages for one address space: allocates them from a page source (owner
 * MM_OWNER_PAGE_TABLE), walks them with one loop over levels, and frees a table as soon as it has
 * no used entry left.
 *
 * Invariants:
 *   - Every table's used-entry count (striped into bits 9..11 of its entries 0..3, see pte.h)
 *     equals the number of its used entries (pte_is_used: a bit set outside the stripe and the
 *     free-run tag). Entries become used or unused only through pt_slots.h's writers
 *     (pt_slot_write, pt_slots_update), which move the count with them, so it cannot drift.
 *     Exception: when pt->chunk_ops->leaf_empty is set, tables of 4 KiB entries keep no count
 *     (the page-table backend writes them with pt_slots_rewrite and plain stores; the generic
 *     writers here may still move it, meaninglessly) and it is never read: pt_table_empty asks
 *     leaf_empty instead (vmm_pt_leaf_tags.h: entry 0 holds nothing but its stripe).
 *   - A table other than the root and the kernel's 256 upper-half tables has at least one used
 *     entry; the last one to go frees the table (pt_free_table_if_empty).
 *   - The kernel's upper-half tables (pointed to by root entries 256..511) are pinned: allocated by
 *     pt_create_kernel, freed only by destroying the kernel table. User roots copy those entries,
 *     so the kernel half is shared and changes only through the kernel's table.
 *   - No leaf is both writable and executable; no kernel-half leaf has USER.
 *   - Software bits of an entry (bookkeeping marks, pte.h) survive map and unmap.
 */
#include "pagetable.h"
#include "pt_slots.h"
#include "page_share.h"
#include "pt_walk.h"
#include <machine/pte.h>
#include "kernel/trace/tracepoints.h"

enum pt_walk_mode { PT_WALK_LOOKUP, PT_WALK_CREATE };
enum pt_data_fate { PT_DATA_FREE_OWNED, PT_DATA_KEEP };

static enum pt_half half_of(uint64_t va)
{
	return (va >> 63) ? PT_HALF_KERNEL : PT_HALF_USER;
}

unsigned pt_table_used(const uint64_t *table)
{
	return pte_stripe_read(table);
}

/* Whether the table's leaves keep no count: the backend's leaf_empty decides instead. */
static ALWAYS_INLINE bool count_not_kept(const struct pagetable *pt, unsigned table_level)
{
	return table_level == 0 && pt->chunk_ops && pt->chunk_ops->leaf_empty;
}

/* A zero count is every digit zero: the or of the stripe entries, without assembling it. */
static ALWAYS_INLINE bool count_zero(const uint64_t *table)
{
	return !((table[0] | table[1] | table[2] | table[3]) & PTE_COUNT_STRIPE_MASK);
}
STATIC_ASSERT(PTE_COUNT_STRIPE_ENTRIES == 4, "count_zero reads the count stripe's 4 entries");

bool pt_table_empty(const struct pagetable *pt, const uint64_t *table, unsigned table_level)
{
	return count_not_kept(pt, table_level) ? pt->chunk_ops->leaf_empty(table) : count_zero(table);
}

static bool is_pinned(const struct pagetable *pt, unsigned parent_level, unsigned index)
{
	(void)pt;
	return parent_level == PT_TOP_LEVEL && index >= PT_KERNEL_HALF_FIRST_INDEX;
}

/*
 * Only root entries decide the half: x86 ANDs the USER bit along the walk, so a kernel-half root
 * entry without USER makes everything below it kernel-only whatever lower pointers say.
 */
static enum pt_half pointer_half(unsigned level, unsigned index)
{
	return level == PT_TOP_LEVEL && index >= PT_KERNEL_HALF_FIRST_INDEX ? PT_HALF_KERNEL :
									    PT_HALF_USER;
}

/* pt_slot_write for a slot pointer: tables are page-aligned, so the table is the slot's page. */
static void slot_write(pte_t *slot, pte_t value)
{
	pte_t *table = (pte_t *)ALIGN_DOWN((uintptr_t)slot, (uintptr_t)PAGE_SIZE);
	pt_slot_write(table, (unsigned)(slot - table), value);
}

/* Trace events number table levels from 1 (a page table of 4 KiB leaves) to 4 (the root). */
#define TRACE_TABLE_LEVEL(table_level) ((uint8_t)((table_level) + 1))

/* A zeroed page for a table whose entries are at `table_level`. */
static paddr_t alloc_table_page(struct pagetable *pt, unsigned table_level)
{
	paddr_t pa = page_source_alloc(pt->source, 1, 1, MM_OWNER_PAGE_TABLE);
	if (pa == PAGE_SOURCE_FAILED)
		return pa;
	memset(pt_table(pa), 0, PAGE_SIZE);
	pt->table_pages++;
	trace_pt_alloc(pa, pt->trace_context, TRACE_TABLE_LEVEL(table_level));
	return pa;
}

static void free_table_page(struct pagetable *pt, paddr_t pa, unsigned table_level)
{
	MM_ASSERT(pt->table_pages > 0, "free_table_page: table page count underflow");
	pt->table_pages--;
	pt->tables_freed++;
	trace_pt_free(pa, pt->trace_context, TRACE_TABLE_LEVEL(table_level));
	page_source_free(pt->source, pa, 1);
}

enum vm_status pt_install_table(struct pagetable *pt, uint64_t *parent, unsigned level,
				unsigned index, uint64_t software)
{
	MM_ASSERT(level > 0 && !pte_is_used(parent[index]), "pt_install_table: entry in use");
	paddr_t pa = alloc_table_page(pt, level - 1);
	if (pa == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	pt_slot_write(parent, index, pte_make_table(pa, pointer_half(level, index)) | software);
	return VM_OK;
}

/* Entry `index` of `parent` points to an empty table: both go. */
static void free_table_at(struct pagetable *pt, uint64_t *parent, unsigned level, unsigned index)
{
	paddr_t pa = pte_address(parent[index]);
	pt_slot_write(parent, index, 0);
	free_table_page(pt, pa, level - 1);
}

/* The leaf case of pt_free_table_if_empty, apart: its call to the backend would make every call
 * save registers, where the count's test alone makes no call before it says no. */
static NOINLINE bool free_uncounted_leaf_if_empty(struct pagetable *pt, uint64_t *parent,
						  unsigned index)
{
	if (!pt->chunk_ops->leaf_empty(pt_table(pte_address(parent[index]))))
		return false;
	free_table_at(pt, parent, 1, index);
	return true;
}

bool pt_free_table_if_empty(struct pagetable *pt, uint64_t *parent, unsigned level, unsigned index)
{
	pte_t e = parent[index];
	if (!pte_is_table(e, level) || is_pinned(pt, level, index))
		return false;
	if (count_not_kept(pt, level - 1))
		return free_uncounted_leaf_if_empty(pt, parent, index);
	if (!count_zero(pt_table(pte_address(e))))
		return false;
	free_table_at(pt, parent, level, index);
	return true;
}

enum vm_status pt_split_chunk(struct pagetable *pt, uint64_t *parent, unsigned level, unsigned index)
{
	pte_t chunk = parent[index];
	const struct pt_chunk_ops *ops = pt->chunk_ops;
	MM_ASSERT(ops != NULL, "split_chunk: entry %llx has a payload but no backend owns it",
		  (unsigned long long)chunk);
	paddr_t pa = alloc_table_page(pt, level - 1);
	if (pa == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	uint64_t *child = pt_table(pa);
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		pt_slot_write(child, i, ops->split(ops->cookie, chunk, level - 1, i));
	pt_slot_write(parent, index,
		      pte_make_table(pa, pointer_half(level, index)) | ops->summarize(ops->cookie, child, level - 1));
	return VM_OK;
}

/*
 * Tables (or split chunks) created during one walk, so a failing walk can put everything back.
 */
struct walk_undo {
	uint64_t *parent[PT_LEVELS];
	unsigned level[PT_LEVELS]; /* of the parent entry */
	unsigned index[PT_LEVELS];
	pte_t old[PT_LEVELS];
	unsigned count;
};

static void walk_undo_apply(struct pagetable *pt, struct walk_undo *undo)
{
	while (undo->count > 0) {
		undo->count--;
		uint64_t *parent = undo->parent[undo->count];
		unsigned index = undo->index[undo->count];
		paddr_t table = pte_address(parent[index]);
		pt_slot_write(parent, index, undo->old[undo->count]);
		free_table_page(pt, table, undo->level[undo->count] - 1);
	}
}

/*
 * Walks from the root towards `stop_level` for `va`, one iteration per level. Stops early at an
 * entry that is not a table pointer (a large leaf, a chunk mark, or nothing); in CREATE mode it
 * creates the missing tables instead (splitting chunk marks), except over a large leaf. Returns the
 * slot it stopped at and its level, or NULL with *status set (everything created is undone).
 */
static pte_t *walk(struct pagetable *pt, uint64_t va, unsigned stop_level, enum pt_walk_mode mode,
		   unsigned *level_out, enum vm_status *status)
{
	struct walk_undo undo = { .count = 0 };
	pte_t *table = pt_table(pt->root);
	unsigned level;
	for (level = PT_TOP_LEVEL; level > stop_level; level--) {
		unsigned index = PT_INDEX(level, va);
		pte_t e = table[index];
		if (!pte_is_table(e, level)) {
			if (mode == PT_WALK_LOOKUP || pte_is_leaf(e, level)) {
				*level_out = level;
				return &table[index];
			}
			enum vm_status st = pte_is_used(e) ? pt_split_chunk(pt, table, level, index) :
						pt_install_table(pt, table, level, index, 0);
			if (st != VM_OK) {
				walk_undo_apply(pt, &undo);
				*status = st;
				return NULL;
			}
			undo.parent[undo.count] = table;
			undo.level[undo.count] = level;
			undo.index[undo.count] = index;
			undo.old[undo.count] = e & ~PTE_COUNT_STRIPE_MASK;
			undo.count++;
		}
		table = pt_table(pte_address(table[index]));
	}
	*level_out = level;
	return &table[PT_INDEX(level, va)];
}

static enum vm_status check_prot(const struct pagetable *pt, uint64_t first, uint64_t last,
				 unsigned prot)
{
	if ((prot & PT_WRITE) && (prot & PT_EXECUTE))
		return VM_ERR_WRITE_EXECUTE;
	if (half_of(first) != half_of(last) || last < first)
		return VM_ERR_INVALID;
	if (pt_canonical(first) != first || pt_canonical(last) != last)
		return VM_ERR_INVALID;
	if (half_of(first) == PT_HALF_KERNEL && ((prot & PT_USER) || pt->kernel != NULL))
		return VM_ERR_INVALID;
	return VM_OK;
}

static void unmap_range(struct pagetable *pt, uint64_t first, uint64_t last, enum pt_data_fate fate,
			uint64_t *unmapped);

enum vm_status pt_map(struct pagetable *pt, uint64_t va, paddr_t pa, uint64_t count,
		      enum pt_page_size size, unsigned prot, enum pt_data_ownership ownership)
{
	unsigned level = (unsigned)size;
	uint64_t span = PT_SPAN_BYTES(level);
	if (count == 0 || level > PT_PAGE_1G || !IS_ALIGNED(va, span) || !IS_ALIGNED(pa, span) ||
	    count > (UINT64_MAX - va) / span)
		return VM_ERR_INVALID;
	enum vm_status st = check_prot(pt, va, va + count * span - 1, prot);
	if (st != VM_OK)
		return st;
	for (uint64_t i = 0; i < count; i++) {
		unsigned at_level;
		pte_t *slot = walk(pt, va + i * span, level, PT_WALK_CREATE, &at_level, &st);
		if (slot && (at_level != level || pte_is_table(*slot, level)))
			st = VM_ERR_BUSY;
		else if (slot && pte_is_present(*slot))
			st = VM_ERR_EXISTS;
		if (st != VM_OK) {
			if (i > 0)
				unmap_range(pt, va, va + i * span - 1, PT_DATA_KEEP, NULL);
			return st;
		}
		pte_t leaf = pte_make_leaf(pa + i * span, level, prot) | pte_software(*slot);
		if (ownership == PT_DATA_OWNED) {
			leaf |= PTE_SW_LEAF_OWNED;
			pt->owned_data_pages += PT_SPAN_PAGES(level);
		}
		slot_write(slot, leaf);
		pt->mapped_pages += PT_SPAN_PAGES(level);
		trace_vmm_map(va + i * span, pa + i * span, pt->trace_context,
			      (uint8_t)level, (uint8_t)prot);
	}
	return VM_OK;
}

/* An owned data page leaves this table: freed, unless a fork shared it and others still map it. */
static void free_owned_data(struct pagetable *pt, paddr_t pa, uint64_t pages)
{
	if (pt->share && pages == 1 && page_share_drop(pt->share, pa, pt->trace_context))
		return;
	page_source_free(pt->source, pa, pages);
}

static void release_leaf(struct pagetable *pt, pte_t *slot, unsigned level, uint64_t va,
			 enum pt_data_fate fate)
{
	pte_t e = *slot;
	uint64_t pages = PT_SPAN_PAGES(level);
	if (e & PTE_SW_LEAF_OWNED) {
		if (fate == PT_DATA_FREE_OWNED)
			free_owned_data(pt, pte_address(e), pages);
		pt->owned_data_pages -= pages;
	}
	pt->mapped_pages -= pages;
	trace_vmm_unmap(va, pte_address(e), pt->trace_context, (uint8_t)level,
			(uint8_t)pte_leaf_prot(e));
	slot_write(slot, pte_software(e) & ~(PTE_SW_LEAF_OWNED | PTE_SW_LEAF_COPY_ON_WRITE));
	mm_arch_invalidate_page((uintptr_t)va);
}

/* pt_unmap's visitor: releases every leaf of the range, frees tables that become empty. */
struct unmap_walk {
	struct pagetable *pt;
	enum pt_data_fate fate;
	uint64_t unmapped;
};

static enum pt_step unmap_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct unmap_walk *u = cookie;
	pte_t e = at->table[at->index];
	if (pte_is_table(e, at->level))
		return PT_STEP_DESCEND;
	if (pte_is_leaf(e, at->level)) {
		release_leaf(u->pt, &at->table[at->index], at->level, at->base, u->fate);
		u->unmapped += PT_SPAN_PAGES(at->level);
	}
	return PT_STEP_NEXT;
}

/* A table of 4 KiB entries: a tight loop, most entries of a range being unused. */
static enum pt_step unmap_leaves(void *cookie, uint64_t *table, uint64_t base, unsigned first,
				 unsigned last)
{
	struct unmap_walk *u = cookie;
	for (unsigned i = first; i <= last; i++)
		if (pte_is_present(table[i])) {
			release_leaf(u->pt, &table[i], 0, base + i * PAGE_SIZE, u->fate);
			u->unmapped++;
		}
	return PT_STEP_NEXT;
}

static enum pt_step unmap_ascend(void *cookie, const struct pt_walk_entry *at)
{
	struct unmap_walk *u = cookie;
	pt_free_table_if_empty(u->pt, at->table, at->level, at->index);
	return PT_STEP_NEXT;
}

static void unmap_range(struct pagetable *pt, uint64_t first, uint64_t last, enum pt_data_fate fate,
			uint64_t *unmapped)
{
	static const struct pt_walk_visitor visitor = { .entry = unmap_entry,
							.ascend = unmap_ascend,
							.leaves = unmap_leaves };
	struct unmap_walk u = { pt, fate, 0 };
	pt_walk_range(pt_table(pt->root), PT_TOP_LEVEL, 0, first, last, &visitor, &u);
	if (unmapped)
		*unmapped = u.unmapped;
}

/* A large page covering `va` that sticks out of [first, last] makes a range operation BUSY. */
static bool large_page_sticks_out(const struct pagetable *pt, uint64_t va, uint64_t first,
				  uint64_t last)
{
	struct pt_translation t;
	if (pt_translate(pt, va, &t) != VM_OK || t.size == PT_PAGE_4K)
		return false;
	uint64_t span = PT_SPAN_BYTES(t.size);
	uint64_t start = ALIGN_DOWN(va, span);
	return start < first || start + span - 1 > last;
}

static enum vm_status check_range(const struct pagetable *pt, uint64_t va, uint64_t pages,
				  uint64_t *last)
{
	if (pages == 0 || !IS_ALIGNED(va, PAGE_SIZE) || pages > (UINT64_MAX - va) / PAGE_SIZE + 1)
		return VM_ERR_INVALID;
	*last = va + pages * PAGE_SIZE - 1;
	enum vm_status st = check_prot(pt, va, *last, 0);
	if (st != VM_OK)
		return st;
	if (large_page_sticks_out(pt, va, va, *last) || large_page_sticks_out(pt, *last, va, *last))
		return VM_ERR_BUSY;
	return VM_OK;
}

enum vm_status pt_unmap(struct pagetable *pt, uint64_t va, uint64_t pages, uint64_t *unmapped)
{
	uint64_t last;
	enum vm_status st = check_range(pt, va, pages, &last);
	if (st != VM_OK)
		return st;
	unmap_range(pt, va, last, PT_DATA_FREE_OWNED, unmapped);
	return VM_OK;
}

/*
 * Visits leaves in [first, last]; with PT_PROTECT_CHECK counts the pages covered by leaves, with
 * PT_PROTECT_APPLY rewrites them with `prot`.
 */
enum pt_protect_pass { PT_PROTECT_CHECK, PT_PROTECT_APPLY };

struct protect_walk {
	unsigned prot;
	enum pt_protect_pass pass;
	uint16_t context;
	uint64_t covered;
};

static enum pt_step protect_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct protect_walk *p = cookie;
	pte_t e = at->table[at->index];
	if (pte_is_table(e, at->level))
		return PT_STEP_DESCEND;
	if (!pte_is_leaf(e, at->level))
		return PT_STEP_NEXT;
	p->covered += PT_SPAN_PAGES(at->level);
	if (p->pass == PT_PROTECT_APPLY) {
		pte_t keep = e & (PTE_ADDR_MASK | PTE_SW_FIELD_MASK);
		unsigned leaf_prot = (e & PTE_SW_LEAF_COPY_ON_WRITE) ? p->prot & ~(unsigned)PT_WRITE : p->prot;
		pt_slot_write(at->table, at->index, keep | pte_make_leaf(pte_address(e), at->level, leaf_prot));
		mm_arch_invalidate_page((uintptr_t)at->base);
		trace_vmm_protect(at->base, pte_address(e), p->context, (uint8_t)at->level, (uint8_t)p->prot);
	}
	return PT_STEP_NEXT;
}

static uint64_t protect_range(struct pagetable *pt, uint64_t first, uint64_t last, unsigned prot,
			      enum pt_protect_pass pass)
{
	static const struct pt_walk_visitor visitor = { .entry = protect_entry };
	struct protect_walk p = { prot, pass, pt->trace_context, 0 };
	pt_walk_range(pt_table(pt->root), PT_TOP_LEVEL, 0, first, last, &visitor, &p);
	return p.covered;
}

/* The checks every protection change makes first: the range, and W^X for the new protection. */
static enum vm_status check_protect(const struct pagetable *pt, uint64_t va, uint64_t pages,
				    unsigned prot, uint64_t *last)
{
	enum vm_status st = check_range(pt, va, pages, last);
	return st == VM_OK ? check_prot(pt, va, *last, prot) : st;
}

enum vm_status pt_protect(struct pagetable *pt, uint64_t va, uint64_t pages, unsigned prot)
{
	uint64_t last;
	enum vm_status st = check_protect(pt, va, pages, prot, &last);
	if (st != VM_OK)
		return st;
	if (protect_range(pt, va, last, prot, PT_PROTECT_CHECK) != pages)
		return VM_ERR_NOT_MAPPED;
	protect_range(pt, va, last, prot, PT_PROTECT_APPLY);
	return VM_OK;
}

/* The mapped 4 KiB leaf at va that a change to `prot` may touch (W^X checked), or why not. */
static enum vm_status small_leaf(struct pagetable *pt, uint64_t va, unsigned prot, pte_t **slot)
{
	enum vm_status st = check_prot(pt, va, va + PAGE_SIZE - 1, prot);
	if (st != VM_OK)
		return st;
	unsigned level;
	*slot = walk(pt, va, 0, PT_WALK_LOOKUP, &level, &st);
	if (!*slot || !pte_is_leaf(**slot, level))
		return VM_ERR_NOT_MAPPED;
	return level == 0 ? VM_OK : VM_ERR_BUSY;
}

enum vm_status pt_replace_owned(struct pagetable *pt, uint64_t va, paddr_t pa, unsigned prot)
{
	pte_t *slot;
	enum vm_status st = small_leaf(pt, va, prot, &slot);
	if (st != VM_OK)
		return st;
	pte_t e = *slot;
	if (!(e & PTE_SW_LEAF_OWNED))
		return VM_ERR_INVALID;
	free_owned_data(pt, pte_address(e), 1);
	trace_vmm_unmap(va, pte_address(e), pt->trace_context, 0, (uint8_t)pte_leaf_prot(e));
	slot_write(slot, (pte_software(e) & ~PTE_SW_LEAF_COPY_ON_WRITE) | pte_make_leaf(pa, 0, prot));
	mm_arch_invalidate_page((uintptr_t)va);
	trace_vmm_map(va, pa, pt->trace_context, 0, (uint8_t)prot);
	return VM_OK;
}

enum vm_status pt_protect_mapped(struct pagetable *pt, uint64_t va, uint64_t pages, unsigned prot)
{
	uint64_t last;
	enum vm_status st = check_protect(pt, va, pages, prot, &last);
	if (st != VM_OK)
		return st;
	protect_range(pt, va, last, prot, PT_PROTECT_APPLY);
	return VM_OK;
}

enum vm_status pt_translate(const struct pagetable *pt, uint64_t va, struct pt_translation *out)
{
	unsigned level;
	enum vm_status st = VM_OK;
	pte_t *slot = walk((struct pagetable *)pt, va, 0, PT_WALK_LOOKUP, &level, &st);
	if (!slot || !pte_is_leaf(*slot, level))
		return VM_ERR_NOT_MAPPED;
	out->pa = pte_address(*slot) + (va & (PT_SPAN_BYTES(level) - 1));
	out->prot = pte_leaf_prot(*slot);
	out->size = (enum pt_page_size)level;
	out->ownership = (*slot & PTE_SW_LEAF_OWNED) ? PT_DATA_OWNED : PT_DATA_BORROWED;
	out->copy_on_write = (*slot & PTE_SW_LEAF_COPY_ON_WRITE) != 0;
	return VM_OK;
}

enum vm_status pt_set_copy_on_write(struct pagetable *pt, uint64_t va, bool copy_on_write,
				    unsigned prot)
{
	if (copy_on_write)
		prot &= ~(unsigned)PT_WRITE;
	pte_t *slot;
	enum vm_status st = small_leaf(pt, va, prot, &slot);
	if (st != VM_OK)
		return st;
	pte_t e = *slot;
	pte_t sw = copy_on_write ? pte_software(e) | PTE_SW_LEAF_COPY_ON_WRITE :
				   pte_software(e) & ~PTE_SW_LEAF_COPY_ON_WRITE;
	slot_write(slot, sw | pte_make_leaf(pte_address(e), 0, prot));
	mm_arch_invalidate_page((uintptr_t)va);
	trace_vmm_protect(va, pte_address(e), pt->trace_context, 0, (uint8_t)prot);
	return VM_OK;
}

struct leaf_walk {
	pt_leaf_visitor visit;
	void *cookie;
};

static enum pt_step leaf_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct leaf_walk *w = cookie;
	pte_t e = at->table[at->index];
	if (pte_is_table(e, at->level))
		return PT_STEP_DESCEND;
	if (pte_is_leaf(e, at->level)) {
		struct pt_translation t = {
			.pa = pte_address(e),
			.prot = pte_leaf_prot(e),
			.size = (enum pt_page_size)at->level,
			.ownership = (e & PTE_SW_LEAF_OWNED) ? PT_DATA_OWNED : PT_DATA_BORROWED,
			.copy_on_write = (e & PTE_SW_LEAF_COPY_ON_WRITE) != 0,
		};
		w->visit(w->cookie, at->base, &t);
	}
	return PT_STEP_NEXT;
}

void pt_for_each_leaf(const struct pagetable *pt, enum pt_half half, pt_leaf_visitor visit,
		      void *cookie)
{
	static const struct pt_walk_visitor visitor = { .entry = leaf_entry };
	struct leaf_walk w = { visit, cookie };
	uint64_t first, last;
	pt_half_range(half, &first, &last);
	pt_walk_range(pt_table(pt->root), PT_TOP_LEVEL, 0, first, last, &visitor, &w);
}

void pt_activate(const struct pagetable *pt)
{
	mm_arch_activate_root(pt->root);
}

enum vm_status pt_create_kernel(struct pagetable *pt, const struct page_source *source)
{
	*pt = (struct pagetable){ .source = source, .trace_context = pt->trace_context };
	pt->root = alloc_table_page(pt, PT_TOP_LEVEL);
	if (pt->root == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	uint64_t *root = pt_table(pt->root);
	for (unsigned i = PT_KERNEL_HALF_FIRST_INDEX; i < PT_ENTRIES; i++) {
		if (pt_install_table(pt, root, PT_TOP_LEVEL, i, 0) != VM_OK) {
			pt_destroy(pt);
			return VM_ERR_NO_MEMORY;
		}
	}
	return VM_OK;
}

enum vm_status pt_create_user(struct pagetable *pt, const struct page_source *source,
			      const struct pagetable *kernel)
{
	*pt = (struct pagetable){ .source = source, .kernel = kernel, .trace_context = pt->trace_context };
	pt->root = alloc_table_page(pt, PT_TOP_LEVEL);
	if (pt->root == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	uint64_t *root = pt_table(pt->root);
	const uint64_t *kernel_root = pt_table(kernel->root);
	for (unsigned i = PT_KERNEL_HALF_FIRST_INDEX; i < PT_ENTRIES; i++)
		pt_slot_write(root, i, kernel_root[i] & ~PTE_COUNT_STRIPE_MASK);
	return VM_OK;
}

/* pt_destroy's visitor: frees every table of the range and every owned data page its leaves map. */
static enum pt_step destroy_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct pagetable *pt = cookie;
	pte_t e = at->table[at->index];
	if (pte_is_table(e, at->level))
		return PT_STEP_DESCEND;
	if (pte_is_leaf(e, at->level) && (e & PTE_SW_LEAF_OWNED)) {
		free_owned_data(pt, pte_address(e), PT_SPAN_PAGES(at->level));
		pt->owned_data_pages -= PT_SPAN_PAGES(at->level);
	}
	return PT_STEP_NEXT;
}

static enum pt_step destroy_ascend(void *cookie, const struct pt_walk_entry *at)
{
	free_table_page(cookie, pte_address(at->table[at->index]), at->level - 1);
	return PT_STEP_NEXT;
}

void pt_destroy(struct pagetable *pt)
{
	static const struct pt_walk_visitor visitor = { .entry = destroy_entry, .ascend = destroy_ascend };
	uint64_t first, last = UINT64_MAX; /* both halves, unless the kernel half is the kernel's */
	if (pt->kernel)
		pt_half_range(PT_HALF_USER, &first, &last);
	pt_walk_range(pt_table(pt->root), PT_TOP_LEVEL, 0, 0, last, &visitor, pt);
	free_table_page(pt, pt->root, PT_TOP_LEVEL);
	MM_ASSERT(pt->table_pages == 0, "pt_destroy: %llu table pages unaccounted for",
		  (unsigned long long)pt->table_pages);
	pt->root = 0;
}
