/*
 * The list backend's record pool: records are carved from pages of the page source (owner
 * MM_OWNER_MM_META), 4 KiB at a time, RECORDS_PER_PAGE to a page behind a small header; a page
 * goes back as soon as none of its records is in use, but for one: while a page's worth of
 * records or more is in use, the first page to empty is kept (state->kept_page) and handed out
 * again before a new one is taken, so a context whose records sit at a page boundary does not
 * take and return a page on every reserve and release (it did: 363 of 964 instructions of a
 * reserve+release at 10,000 pages went to the page source). The kept page goes back once fewer
 * than half a page's worth of records is in use, so an emptied context holds no more than it did
 * when it was new. And one record: a freed record is kept as state->cached (while half a page's
 * worth of records or more is in use) and handed out by the next alloc, so the carve and the
 * merge that undo each other (a reserve and its release) pass one record back and forth without
 * touching a page's slots or lists.
 *
 * Invariants: every record page is on exactly one of state->partial (it has a free slot) and
 * state->full (it has none), or is state->kept_page (none in use; NULL when there is none, and
 * always NULL while fewer than RECORDS_PER_PAGE / 2 records are in use); page->in_use counts its
 * records handed out and free_slots chains the others (through node.right);
 * state->record_pages counts the pages (the kept one included), state->records_in_use the
 * records handed out on all of them. state->cached is NULL or a record handed out and in no
 * structure (counted in records_in_use), and NULL while fewer than RECORDS_PER_PAGE / 2
 * records are in use.
 * The alloc and the free every carve and merge takes are inline (vmm_list.h); here, the pages.
 * Bound: an alloc or a free is O(1) (one page from or to the source at most) and counts no
 * backend work: the pool is not what the backend's bound is about.
 */
#include "vmm_list.h"

#define RECORDS_OFFSET ALIGN_UP(sizeof(struct record_page), 16)

void vmm_list_pool_init(struct list_state *ls)
{
	list_init(&ls->partial);
	list_init(&ls->full);
}

static struct record_page *new_record_page(struct vmm_context *ctx)
{
	paddr_t pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
	if (pa == PAGE_SOURCE_FAILED)
		return NULL;
	struct record_page *page = phys_to_virt(pa);
	*page = (struct record_page){ 0 };
	struct range_record *records = (struct range_record *)((char *)page + RECORDS_OFFSET);
	for (unsigned i = RECORDS_PER_PAGE; i-- > 0;) {
		records[i].node.right = page->free_slots ? &page->free_slots->node : NULL;
		page->free_slots = &records[i];
	}
	state_of(ctx)->record_pages++;
	return page;
}

bool vmm_list_pool_refill(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	struct record_page *page = ls->kept_page;
	ls->kept_page = NULL;
	if (!page)
		page = new_record_page(ctx);
	if (!page)
		return false;
	list_push_front(&ls->partial, &page->link);
	return true;
}

void vmm_list_pool_give_back(struct vmm_context *ctx, struct record_page *page)
{
	struct list_state *ls = state_of(ctx);
	struct range_record *cached = ls->cached;
	if (cached && ls->records_in_use < RECORDS_PER_PAGE / 2) {
		ls->cached = NULL;
		if (vmm_list_record_put(ls, cached) && record_page_of(cached) != page)
			vmm_list_pool_give_back(ctx, record_page_of(cached)); /* once: cached is NULL now */
	}
	if (page->in_use == 0) {
		list_remove(&page->link);
		if (!ls->kept_page && ls->records_in_use >= RECORDS_PER_PAGE) {
			ls->kept_page = page;
			return;
		}
		ls->record_pages--;
		page_source_free(ctx->source, virt_to_phys(page), 1);
	}
	if (ls->kept_page && ls->records_in_use < RECORDS_PER_PAGE / 2) {
		ls->record_pages--;
		page_source_free(ctx->source, virt_to_phys(ls->kept_page), 1);
		ls->kept_page = NULL;
	}
}

void vmm_list_pool_destroy(struct vmm_context *ctx)
{
	struct list_state *ls = state_of(ctx);
	struct list_node *lists[] = { &ls->partial, &ls->full }, *node, *next;
	for (unsigned l = 0; l < ARRAY_SIZE(lists); l++)
		list_for_each_safe(node, next, lists[l])
			page_source_free(ctx->source, virt_to_phys(container_of(node, struct record_page, link)), 1);
	if (ls->kept_page)
		page_source_free(ctx->source, virt_to_phys(ls->kept_page), 1);
}
