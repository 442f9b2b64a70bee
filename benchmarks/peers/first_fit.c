/*
 * First-fit page allocator: the classic free list (Knuth, TAOCP vol. 1, 2.5, algorithm A; K&R's
 * malloc without the roving pointer). One record per free run, in address order; no index and no
 * record of allocations.
 *
 * INVARIANTS
 *   1. The list holds exactly the free runs, sorted by address, none empty.
 *   2. Coalesced: no two records touch.
 *
 * alloc: walk from the lowest address to the first record holding an aligned run; carve it
 * (the unaligned front stays in the record, a tail gets a new record). free: walk to the
 * insertion point and merge with the record before and after. Both O(free records): the cost
 * this design is known for, and the reason for size-class indexes.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "peer.h"

struct free_run {
	uint64_t first, pages;
	struct free_run *prev, *next;
};

struct first_fit {
	struct free_run *head;
	struct free_run *spare; /* recycled records */
	uint64_t free_page_count, record_count;
};

static struct free_run *record_get(struct first_fit *f)
{
	struct free_run *r = f->spare;
	if (r)
		f->spare = r->next;
	else if (!(r = malloc(sizeof(*r))))
		abort(); /* host memory for a benchmark: nothing sensible to do */
	f->record_count++;
	return r;
}

static void record_put(struct first_fit *f, struct free_run *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		f->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = f->spare;
	f->spare = r;
	f->record_count--;
}

/* Links a new record for [first, first + pages) between prev and prev's successor. */
static void record_insert_after(struct first_fit *f, struct free_run *prev, uint64_t first,
				uint64_t pages)
{
	struct free_run *r = record_get(f);
	r->first = first;
	r->pages = pages;
	r->prev = prev;
	r->next = prev ? prev->next : f->head;
	if (r->next)
		r->next->prev = r;
	if (prev)
		prev->next = r;
	else
		f->head = r;
}

static void *first_fit_create(uint64_t first_page, uint64_t pages)
{
	struct first_fit *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	record_insert_after(f, NULL, first_page, pages);
	f->free_page_count = pages;
	return f;
}

static void first_fit_destroy(void *state)
{
	struct first_fit *f = state;
	while (f->head)
		record_put(f, f->head);
	for (struct free_run *r = f->spare, *next; r; r = next) {
		next = r->next;
		free(r);
	}
	free(f);
}

static uint64_t first_fit_alloc(void *state, uint64_t pages, uint64_t align_pages)
{
	struct first_fit *f = state;
	for (struct free_run *r = f->head; r; r = r->next) {
		uint64_t start = (r->first + align_pages - 1) & ~(align_pages - 1);
		uint64_t end = r->first + r->pages;
		if (start >= end || end - start < pages)
			continue;
		f->free_page_count -= pages;
		if (start + pages < end)
			record_insert_after(f, r, start + pages, end - start - pages);
		if (start > r->first)
			r->pages = start - r->first;
		else
			record_put(f, r);
		return start;
	}
	return PEER_ALLOC_FAILED;
}

static void first_fit_free(void *state, uint64_t first_page, uint64_t pages, uint64_t align_pages)
{
	struct first_fit *f = state;
	(void)align_pages;
	struct free_run *prev = NULL, *next = f->head;
	while (next && next->first < first_page) {
		prev = next;
		next = next->next;
	}
	if ((prev && prev->first + prev->pages > first_page) ||
	    (next && first_page + pages > next->first))
		abort(); /* freeing free pages: a benchmark bug */
	f->free_page_count += pages;
	bool joins_prev = prev && prev->first + prev->pages == first_page;
	bool joins_next = next && first_page + pages == next->first;
	if (joins_prev && joins_next) {
		prev->pages += pages + next->pages;
		record_put(f, next);
	} else if (joins_prev) {
		prev->pages += pages;
	} else if (joins_next) {
		next->first = first_page;
		next->pages += pages;
	} else {
		record_insert_after(f, prev, first_page, pages);
	}
}

static uint64_t first_fit_held_pages(uint64_t pages, uint64_t align_pages)
{
	(void)align_pages;
	return pages;
}

static void first_fit_guarantee(uint64_t pages, uint64_t align_pages, uint64_t *run_pages,
				uint64_t *run_align)
{
	*run_pages = pages;
	*run_align = align_pages;
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

const struct peer_ops peer_first_fit = {
	.name = "first-fit",
	.create = first_fit_create,
	.destroy = first_fit_destroy,
	.alloc = first_fit_alloc,
	.free = first_fit_free,
	.held_pages = first_fit_held_pages,
	.guarantee = first_fit_guarantee,
	.free_pages = first_fit_free_pages,
	.free_blocks = first_fit_free_blocks,
	.blocks_for_free_run = first_fit_blocks_for_free_run,
};
