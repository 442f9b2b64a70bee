/*
 * The page-table backend's reserve and release (vmm_backend.h's mark_reserved, reserve_lowest,
 * release): which route takes a request, and the checks a release makes before it clears.
 * reserve_lowest (vmm.c's placement in one call) and release try vmm_pt_lean.c's routes first (the
 * usual request, at the frontier or inside a leaf's inner runs, from one path: the search's own,
 * or one point walk) and the chunk frontier (reserve_chunk_frontier, vmm_pt_chunk.c); what they
 * decline comes here: a range inside one existing leaf table takes the point routes
 * (vmm_pt_spine.c), one aligned chunk the chunk routes (vmm_pt_chunk.c), anything else the range
 * walk (vmm_pt_range.c). A release is checked in the leaf table itself instead of by a tally walk:
 * an unmapped one while the lean routes clear it (leaf_entries_clear_checked), else first
 * (leaf_reservation: a mapped one is unmapped, then the lean routes take it as unmapped);
 * elsewhere by the tally walk (check_reservation). A release unmaps the pages it clears first (unmap_before_clear): a cleared
 * entry may take a tag, which must never land in a present entry.
 *
 * Invariants kept: a release clears only a range that is exactly one reservation (a start, every
 * page reserved, no other start, the page after it free or a start); a refused one changes
 * nothing. The routes keep vmm_pt_range.c's invariants.
 *
 * Bound: a release first tallies the range (at most what the clear reads), or checks it in its leaf
 * table (the run and the page after it: at most 513, in place of the tally); then the route's own
 * bound (vmm_pt_range.c, vmm_pt_spine.c, vmm_pt_chunk.c). vmm_pt_work_bound() (vmm_pt_check.c)
 * adds them up.
 */
#include "vmm_pt_write.h"

enum vm_status vmm_pt_mark_reserved(struct vmm_context *ctx, const struct vmm_region *region,
				    uint64_t addr, uint64_t pages, unsigned access)
{
	(void)region;
	struct spine p;
	unsigned first, last;
	uint64_t last_addr = addr + pages * PAGE_SIZE - 1;
	if (chunk_sized(pages) && chunk_reserve(ctx, addr, pages, access))
		return VM_OK;
	if (!spine_of(ctx, addr, last_addr, &p, &first, &last))
		return mark_range(ctx, addr, pages, addr, access);
	path_mark(ctx, &p, addr, last_addr, access);
	return VM_OK;
}

/*
 * vmm.c's placement in one call (vmm_backend.h's reserve_lowest): at the frontier, the frontier
 * route (vmm_pt_frontier_reserve: the answer and the mark from one path) when the root's first
 * entry with a free page has no inner run that fits; else the search, then the mark. When the
 * search went down one path of mixed tables to the leaf table the fit starts in
 * (vmm_pt_find_lowest), a reservation inside that leaf table is marked along that path by
 * path_mark, as vmm_pt_mark_reserved would after its own point walk (spine_of), which it saves.
 * Anything else (a run not in one leaf table, a whole chunk) takes vmm_pt_mark_reserved.
 */
NOINLINE enum vm_status reserve_placed(struct vmm_context *ctx, const struct vmm_region *region, uint64_t pages,
				       uint64_t align_pages, unsigned access, uint64_t *addr)
{
	uint64_t padded = pages + align_pages - 1;
	struct vmm_free_run run;
	if (!vmm_pt_find_free_run(ctx, region, region->base, padded, padded, &run))
		return VM_ERR_NO_SPACE;
	*addr = ALIGN_UP(run.start, align_pages * PAGE_SIZE);
	return vmm_pt_mark_reserved(ctx, region, *addr, pages, access);
}

enum vm_status vmm_pt_reserve_searched(struct vmm_context *ctx, const struct vmm_region *region, unsigned i3,
				       uint64_t pages, unsigned access, uint64_t *addr)
{
	struct vmm_free_run run;
	struct spine p;
	enum pt_found found = vmm_pt_find_lowest(ctx, region, i3, pages, &run, &p);
	if (found == PT_NOT_FOUND)
		return VM_ERR_NO_SPACE;
	uint64_t start = run.start, last_addr = start + pages * PAGE_SIZE - 1;
	*addr = start;
	if (found != PT_FOUND_ON_PATH || start >> PT_LEVEL_SHIFT(1) != last_addr >> PT_LEVEL_SHIFT(1))
		return vmm_pt_mark_reserved(ctx, region, start, pages, access);
	if (!vmm_pt_inner_reserve(ctx, &p, start, pages, access))
		path_mark_general(ctx, &p, start, last_addr, access);
	return VM_OK;
}

/*
 * Every route is a tail call: none sets up its frame for another. Unaligned and short: the
 * frontier (vmm_pt_frontier_reserve) when the root's first entry with a free page has no inner
 * run that fits, else the search and the mark along its path (vmm_pt_reserve_searched). One 2 MiB
 * chunk at 2 MiB alignment: the chunk frontier first (vmm_pt_reserve_chunk). Any other: the search
 * and vmm_pt_mark_reserved (reserve_placed).
 */
enum vm_status vmm_pt_reserve_lowest(struct vmm_context *ctx, const struct vmm_region *region,
				     uint64_t pages, uint64_t align_pages, unsigned access, uint64_t *addr)
{
	if (align_pages != 1 || pages >= PT_ENTRIES) {
		if (pages == PT_SPAN_PAGES(1) && align_pages == PT_SPAN_PAGES(1))
			return vmm_pt_reserve_chunk(ctx, region, access, addr);
		return reserve_placed(ctx, region, pages, align_pages, access, addr);
	}
	const uint64_t *root = pt_table(ctx->pt.root);
	unsigned i3 = MAX(PT_INDEX(PT_TOP_LEVEL, region->base), pte_hint_read(root));
	pte_t e3 = root[i3];
	ctx->backend_work += 2; /* the root's hint and entry, as the search's narrow descent counts them */
	if (((summary_field(e3) >> SUM_MAXRUN_SHIFT) & SUM_MAXRUN_MASK) < maxrun_code(pages))
		return vmm_pt_frontier_reserve(ctx, region, i3, pages, access, addr);
	return vmm_pt_descent_reserve(ctx, region, i3, pages, access, addr);
}

/* --- release -------------------------------------------------------------------------------- */

/* The reserved pages and reservation starts of a range. */
struct tally {
	struct vmm_context *ctx;
	uint64_t reserved_pages;
	uint64_t starts;
	bool mapped; /* a page of the range may be mapped (a full subtree passed unread counts) */
};

/* A whole subtree that is full with no start inside counts without a look; all-free is passed. */
static enum pt_step tally_entry(void *cookie, const struct pt_walk_entry *at)
{
	struct tally *t = cookie;
	t->ctx->backend_work++;
	pte_t e = at->table[at->index];
	if (!pte_is_table(e, at->level)) {
		if (e & RES_RESERVED)
			t->reserved_pages += span_pages_clipped(at->first, at->last);
		t->starts += (e & RES_START) && at->base >= at->first;
		t->mapped |= pte_is_present(e);
		return PT_STEP_NEXT;
	}
	struct summary c = entry_summary(e, at->level);
	if (at->whole && c.kind == SUMMARY_FULL && !c.has_start) {
		t->reserved_pages += PT_SPAN_PAGES(at->level);
		t->mapped = true;
		return PT_STEP_NEXT;
	}
	return at->whole && c.kind == SUMMARY_ALL_FREE ? PT_STEP_NEXT : PT_STEP_DESCEND;
}

/* A run of 4 KiB entries: reserved pages and starts counted with one pass of bit tests. */
static enum pt_step tally_leaves(void *cookie, uint64_t *table, uint64_t base, unsigned first,
				 unsigned last)
{
	(void)base;
	struct tally *t = cookie;
	uint64_t reserved = 0, starts = 0;
	pte_t any = 0;
	for (unsigned i = first; i <= last; i++) {
		reserved += (table[i] & RES_RESERVED) != 0;
		starts += (table[i] & RES_START) != 0;
		any |= table[i];
	}
	t->ctx->backend_work += last - first + 1;
	t->reserved_pages += reserved;
	t->starts += starts;
	t->mapped |= pte_is_present(any);
	return PT_STEP_NEXT;
}

/* Checks that [addr, addr + pages) is exactly one reservation; *mapped: a page of it may be mapped. */
static enum vm_status check_reservation(struct vmm_context *ctx, const struct vmm_region *region,
					uint64_t addr, uint64_t pages, bool *mapped)
{
	static const struct pt_walk_visitor visitor = { .entry = tally_entry, .leaves = tally_leaves };
	struct page_state first = page_state(ctx, addr);
	if (!first.reserved)
		return VM_ERR_NOT_RESERVED;
	if (!first.start)
		return VM_ERR_NOT_RESERVATION_START;
	struct tally t = { ctx, 0, 0, false };
	uint64_t end = addr + pages * PAGE_SIZE;
	pt_walk_range(pt_table(ctx->pt.root), PT_TOP_LEVEL, 0, addr, end - 1, &visitor, &t);
	if (t.reserved_pages != pages || t.starts != 1)
		return VM_ERR_WRONG_LENGTH;
	*mapped = t.mapped;
	if (end < region->base + region->pages * PAGE_SIZE) {
		struct page_state after = page_state(ctx, end);
		if (after.reserved && !after.start)
			return VM_ERR_WRONG_LENGTH;
	}
	return VM_OK;
}

/*
 * Whether leaf entries [first, last] (last < 511) are exactly one reservation: a start at first,
 * every page reserved, no other start, the page after it free or a start. *mapped: some page of
 * it is present. False leaves the answer to check_reservation (which names what is wrong).
 */
static bool leaf_reservation(struct vmm_context *ctx, const uint64_t *leaves, unsigned first,
			     unsigned last, bool *mapped)
{
	pte_t any = 0, all = leaves[first];
	unsigned i = first + 1;
	for (; i + 4 <= last + 1; i += 4) { /* four entries a step, then the rest */
		any |= leaves[i] | leaves[i + 1] | leaves[i + 2] | leaves[i + 3];
		all &= leaves[i] & leaves[i + 1] & leaves[i + 2] & leaves[i + 3];
	}
	for (; i <= last; i++) {
		any |= leaves[i];
		all &= leaves[i];
	}
	pte_t after = leaves[last + 1];
	ctx->backend_work += last - first + 2; /* the run and the page after it */
	*mapped = ((any | leaves[first]) & PTE_PRESENT) != 0;
	return (leaves[first] & RES_START) && (all & RES_RESERVED) && !(any & RES_START) &&
	       (!(after & RES_RESERVED) || (after & RES_START));
}

enum vm_status release_tallied(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
			       uint64_t pages)
{
	bool mapped;
	enum vm_status st = check_reservation(ctx, region, addr, pages, &mapped);
	if (st == VM_OK) {
		if (mapped)
			unmap_before_clear(ctx, addr, pages);
		clear_range(ctx, addr, addr + pages * PAGE_SIZE - 1);
		pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, 0);
	}
	return st;
}

/*
 * A release the lean routes did not take, of fewer than 512 pages: inside one leaf table (p, when
 * spine_of found one; not its last page) checked first (leaf_reservation); a mapped one is then
 * unmapped and given to the lean routes again (vmm_pt_release_in_leaf: now unmapped, it is theirs
 * unless they decline it again, which brings it back here unmapped), an unmapped one cleared
 * along the path (path_clear); else checked by the tally walk (release_tallied). A whole chunk
 * takes vmm_pt_release_chunk before it.
 */
static NOINLINE enum vm_status release_general(struct vmm_context *ctx, const struct vmm_region *region,
					       uint64_t addr, uint64_t pages, struct spine *p, unsigned first,
					       unsigned last)
{
	bool mapped;
	uint64_t last_addr = addr + pages * PAGE_SIZE - 1;
	if (p) {
		if (leaf_reservation(ctx, p->table[0], first, last, &mapped)) {
			if (mapped) {
				unmap_before_clear(ctx, addr, pages);
				return vmm_pt_release_in_leaf(ctx, region, addr, pages);
			}
			path_clear(ctx, p, addr, last_addr);
			pte_stripe_field_write(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1, 0);
			return VM_OK;
		}
	}
	return release_tallied(ctx, region, addr, pages);
}

enum vm_status vmm_pt_release_general(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
				      uint64_t pages)
{
	struct spine p;
	unsigned first, last;
	if (pages < PT_ENTRIES && spine_of(ctx, addr, addr + pages * PAGE_SIZE - 1, &p, &first, &last) &&
	    last < PT_ENTRIES - 1)
		return release_general(ctx, region, addr, pages, &p, first, last);
	if (chunk_sized(pages))
		return vmm_pt_release_chunk(ctx, region, addr, pages);
	return release_general(ctx, region, addr, pages, NULL, 0, 0);
}

/*
 * Every route is a tail call: none sets up its frame for another. Fewer than 512 pages: the lean
 * routes inside one leaf table (vmm_pt_release_in_leaf), which pass what they do not take to
 * vmm_pt_release_general; one chunk's span: vmm_pt_release_chunk.
 */
enum vm_status vmm_pt_release(struct vmm_context *ctx, const struct vmm_region *region,
			      uint64_t addr, uint64_t pages)
{
	if (pages < PT_ENTRIES)
		return vmm_pt_release_in_leaf(ctx, region, addr, pages);
	if (chunk_sized(pages))
		return vmm_pt_release_chunk(ctx, region, addr, pages);
	return release_general(ctx, region, addr, pages, NULL, 0, 0);
}

bool vmm_pt_released_unmapped(const struct vmm_context *ctx)
{
	return pte_stripe_field_read(pt_table(ctx->pt.root), ROOT_RELEASE_MAPPED_ENTRY, 1) == 0;
}
