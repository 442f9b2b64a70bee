/*
 * First-fit placement: the classic free list (Knuth, TAOCP vol. 1, 2.5, algorithm A; K&R's
 * malloc without the roving pointer), a placement for the allocator lab (pmm_placement.h). One
 * record per free run, in address order; no index and no record of allocations. A run's record
 * is the per-page slot of its first page (as struct page), so the state is a header and one slot
 * per page of the span.
 *
 * INVARIANTS
 *   1. The list holds exactly the free runs, sorted by address, none empty.
 *   2. Coalesced: no two records touch.
 *
 * alloc: walk from the lowest address to the first record holding an aligned run; carve it
 * (the unaligned front stays in the record, a tail gets a new record). free: walk to the
 * insertion point and merge with the record before and after. Both O(free records): the cost
 * this design is known for, and the reason for size-class indexes.
 * PROMISE: alloc fails only when no free run holds the request at its alignment (exact).
 */
#include "pmm_placement.h"

#define FIRST_FIT_NONE UINT32_MAX

struct free_run {
	uint64_t pages;      /* the run starting at this page; meaningful at run heads only */
	uint32_t prev, next; /* address-ordered list of runs, by page index */
};

struct first_fit {
	uint64_t base, span;
	uint32_t head;
	uint64_t free_page_count, record_count;
	struct free_run run[];
};

/* Links a new record for [index, index + pages) after `prev` (FIRST_FIT_NONE: at the head). */
static void record_insert_after(struct first_fit *f, uint32_t prev, uint32_t index, uint64_t pages)
{
	struct free_run *r = &f->run[index];
	r->pages = pages;
	r->prev = prev;
	r->next = prev != FIRST_FIT_NONE ? f->run[prev].next : f->head;
	if (r->next != FIRST_FIT_NONE)
		f->run[r->next].prev = index;
	if (prev != FIRST_FIT_NONE)
		f->run[prev].next = index;
	else
		f->head = index;
	f->record_count++;
}

static void record_remove(struct first_fit *f, uint32_t index)
{
	struct free_run *r = &f->run[index];
	if (r->prev != FIRST_FIT_NONE)
		f->run[r->prev].next = r->next;
	else
		f->head = r->next;
	if (r->next != FIRST_FIT_NONE)
		f->run[r->next].prev = r->prev;
	r->pages = 0;
	f->record_count--;
}

static uint64_t first_fit_state_bytes(uint64_t first_page, uint64_t span_pages)
{
	(void)first_page;
	return sizeof(struct first_fit) + span_pages * sizeof(struct free_run);
}

static const char *first_fit_init(void *state, uint64_t first_page, uint64_t span_pages)
{
	struct first_fit *f = state;
	if (span_pages >= FIRST_FIT_NONE)
		return "the span has 2^32 pages or more (32-bit page indices)";
	f->base = first_page;
	f->span = span_pages;
	f->head = FIRST_FIT_NONE;
	return NULL;
}

static uint64_t first_fit_alloc(void *state, uint64_t pages, uint64_t align_pages)
{
	struct first_fit *f = state;
	for (uint32_t i = f->head; i != FIRST_FIT_NONE; i = f->run[i].next) {
		uint64_t first = f->base + i, end = first + f->run[i].pages;
		uint64_t start = (first + align_pages - 1) & ~(align_pages - 1);
		if (start >= end || end - start < pages)
			continue;
		f->free_page_count -= pages;
		if (start + pages < end)
			record_insert_after(f, i, (uint32_t)(start + pages - f->base),
					    end - start - pages);
		if (start > first)
			f->run[i].pages = start - first;
		else
			record_remove(f, i);
		return start;
	}
	return PMM_PLACEMENT_FAILED;
}

static void first_fit_free(void *state, uint64_t first_page, uint64_t pages, uint64_t align_pages)
{
	struct first_fit *f = state;
	uint32_t index = (uint32_t)(first_page - f->base);
	uint32_t prev = FIRST_FIT_NONE, next = f->head;
	(void)align_pages;
	while (next != FIRST_FIT_NONE && next < index) {
		prev = next;
		next = f->run[next].next;
	}
	MM_ASSERT((prev == FIRST_FIT_NONE || prev + f->run[prev].pages <= index) &&
			  (next == FIRST_FIT_NONE || index + pages <= next),
		  "first_fit_free: pages %#llx + %llu overlap a free run",
		  (unsigned long long)first_page, (unsigned long long)pages);
	f->free_page_count += pages;
	bool joins_prev = prev != FIRST_FIT_NONE && prev + f->run[prev].pages == index;
	bool joins_next = next != FIRST_FIT_NONE && index + pages == next;
	if (joins_prev && joins_next) {
		f->run[prev].pages += pages + f->run[next].pages;
		record_remove(f, next);
	} else if (joins_prev) {
		f->run[prev].pages += pages;
	} else if (joins_next) {
		uint64_t next_pages = f->run[next].pages;
		record_remove(f, next);
		record_insert_after(f, prev, index, pages + next_pages);
	} else {
		record_insert_after(f, prev, index, pages);
	}
}

/* Freeing never-added pages is the same walk and merge as returning an allocation. */
static void first_fit_add_free(void *state, uint64_t first_page, uint64_t pages)
{
	first_fit_free(state, first_page, pages, 1);
}

static void first_fit_for_each_free_run(const void *state, pmm_free_run_visitor visit, void *ctx)
{
	const struct first_fit *f = state;
	for (uint32_t i = f->head; i != FIRST_FIT_NONE; i = f->run[i].next)
		if (!visit(ctx, f->base + i, f->run[i].pages))
			return;
}

static uint64_t first_fit_free_pages(const void *state)
{
	return ((const struct first_fit *)state)->free_page_count;
}

static uint64_t first_fit_free_blocks(const void *state)
{
	return ((const struct first_fit *)state)->record_count;
}

static uint64_t first_fit_blocks_for_free_run(uint64_t first_page, uint64_t pages)
{
	(void)first_page;
	(void)pages;
	return 1;
}

const struct pmm_placement_ops pmm_firstfit_ops = {
	.name = "firstfit",
	.promise = "fails only when no free run holds the request at its alignment",
	.state_bytes = first_fit_state_bytes,
	.init = first_fit_init,
	.add_free = first_fit_add_free,
	.alloc = first_fit_alloc,
	.free = first_fit_free,
	.held_pages = pmm_exact_held_pages,
	.guarantee = pmm_exact_guarantee,
	.for_each_free_run = first_fit_for_each_free_run,
	.free_pages = first_fit_free_pages,
	.free_blocks = first_fit_free_blocks,
	.blocks_for_free_run = first_fit_blocks_for_free_run,
};
