/*
 * Binary buddy page allocator in Linux's design (mm/page_alloc.c; Knowlton 1965): free memory is
 * a set of naturally aligned blocks of 2^order pages, one doubly-linked free list per order.
 *
 * INVARIANTS
 *   1. Every free block of order o starts at a multiple of 2^o (relative to the managed base,
 *      which is itself aligned to 2^BUDDY_MAX_ORDER) and is on free list o, exactly once.
 *   2. Coalesced: a free block's buddy (index ^ 2^o) is never a free block of the same order,
 *      below BUDDY_MAX_ORDER.
 *   3. Every page is in exactly one block (free or allocated); only block heads carry state.
 *
 * alloc(n, a): order = max(ceil(log2 n), log2 a); take the head of the first non-empty list at
 * that order or above (Linux's __rmqueue_smallest walks the orders upwards) and split it,
 * putting each upper half back on the list below ("expand"). free: while the buddy is a free
 * block of the same order, unlink it and merge (__free_one_page). Both O(BUDDY_MAX_ORDER).
 * Linux caps orders at MAX_ORDER = 10 (4 MiB); this one goes to 18 so a 1 GiB block exists.
 * What it wastes: a request is rounded up to a power of two (37 pages hold 64).
 */
#include <stdlib.h>

#include "peer.h"

#define BUDDY_MAX_ORDER 18
#define BUDDY_NONE UINT32_MAX

enum { PAGE_INSIDE, PAGE_FREE_HEAD, PAGE_USED_HEAD };

/* Per-page state, as Linux's struct page: only block heads are meaningful. */
struct buddy_page {
	uint32_t prev, next; /* free list of the block's order */
	uint8_t order;
	uint8_t state;
};

struct buddy {
	uint64_t base, pages;
	uint32_t free_head[BUDDY_MAX_ORDER + 1];
	uint64_t free_count[BUDDY_MAX_ORDER + 1];
	uint64_t free_page_count;
	struct buddy_page *page;
};

static unsigned order_for(uint64_t pages, uint64_t align_pages)
{
	unsigned order = 0;
	while (((uint64_t)1 << order) < pages || ((uint64_t)1 << order) < align_pages)
		order++;
	return order;
}

static void list_add(struct buddy *b, uint32_t index, unsigned order)
{
	struct buddy_page *p = &b->page[index];
	p->order = (uint8_t)order;
	p->state = PAGE_FREE_HEAD;
	p->prev = BUDDY_NONE;
	p->next = b->free_head[order];
	if (p->next != BUDDY_NONE)
		b->page[p->next].prev = index;
	b->free_head[order] = index;
	b->free_count[order]++;
	b->free_page_count += (uint64_t)1 << order;
}

static void list_del(struct buddy *b, uint32_t index, unsigned order)
{
	struct buddy_page *p = &b->page[index];
	if (p->prev != BUDDY_NONE)
		b->page[p->prev].next = p->next;
	else
		b->free_head[order] = p->next;
	if (p->next != BUDDY_NONE)
		b->page[p->next].prev = p->prev;
	p->state = PAGE_INSIDE;
	b->free_count[order]--;
	b->free_page_count -= (uint64_t)1 << order;
}

static void *buddy_create(uint64_t first_page, uint64_t pages)
{
	if (first_page % ((uint64_t)1 << BUDDY_MAX_ORDER) || pages >= BUDDY_NONE)
		return NULL;
	struct buddy *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->page = calloc(pages, sizeof(*b->page));
	if (!b->page) {
		free(b);
		return NULL;
	}
	b->base = first_page;
	b->pages = pages;
	for (unsigned o = 0; o <= BUDDY_MAX_ORDER; o++)
		b->free_head[o] = BUDDY_NONE;
	/* The range as the largest aligned blocks that fit, as memblock hands memory to the buddy. */
	for (uint64_t i = 0; i < pages;) {
		unsigned order = BUDDY_MAX_ORDER;
		while ((i & (((uint64_t)1 << order) - 1)) || i + ((uint64_t)1 << order) > pages)
			order--;
		list_add(b, (uint32_t)i, order);
		i += (uint64_t)1 << order;
	}
	return b;
}

static void buddy_destroy(void *state)
{
	struct buddy *b = state;
	free(b->page);
	free(b);
}

static uint64_t buddy_alloc(void *state, uint64_t pages, uint64_t align_pages)
{
	struct buddy *b = state;
	unsigned order = order_for(pages, align_pages), o = order;
	if (order > BUDDY_MAX_ORDER)
		return PEER_ALLOC_FAILED;
	while (o <= BUDDY_MAX_ORDER && b->free_head[o] == BUDDY_NONE)
		o++;
	if (o > BUDDY_MAX_ORDER)
		return PEER_ALLOC_FAILED;
	uint32_t index = b->free_head[o];
	list_del(b, index, o);
	while (o > order) {
		o--;
		list_add(b, index + ((uint32_t)1 << o), o);
	}
	b->page[index].order = (uint8_t)order;
	b->page[index].state = PAGE_USED_HEAD;
	return b->base + index;
}

static void buddy_free(void *state, uint64_t first_page, uint64_t pages, uint64_t align_pages)
{
	struct buddy *b = state;
	uint32_t index = (uint32_t)(first_page - b->base);
	unsigned order = order_for(pages, align_pages);
	if (first_page < b->base || index >= b->pages || b->page[index].state != PAGE_USED_HEAD ||
	    b->page[index].order != order)
		abort(); /* a benchmark bug, not a condition to survive */
	b->page[index].state = PAGE_INSIDE;
	while (order < BUDDY_MAX_ORDER) {
		uint32_t buddy = index ^ ((uint32_t)1 << order);
		if (buddy >= b->pages || b->page[buddy].state != PAGE_FREE_HEAD ||
		    b->page[buddy].order != order)
			break;
		list_del(b, buddy, order);
		index &= ~((uint32_t)1 << order);
		order++;
	}
	list_add(b, index, order);
}

static uint64_t buddy_held_pages(uint64_t pages, uint64_t align_pages)
{
	return (uint64_t)1 << order_for(pages, align_pages);
}

static void buddy_guarantee(uint64_t pages, uint64_t align_pages, uint64_t *run_pages,
			    uint64_t *run_align)
{
	*run_pages = *run_align = buddy_held_pages(pages, align_pages);
}

static uint64_t buddy_free_pages(const void *state)
{
	return ((const struct buddy *)state)->free_page_count;
}

static uint64_t buddy_free_blocks(const void *state)
{
	const struct buddy *b = state;
	uint64_t n = 0;
	for (unsigned o = 0; o <= BUDDY_MAX_ORDER; o++)
		n += b->free_count[o];
	return n;
}

/* With complete coalescing a free run is the greedy split into the largest aligned blocks. */
static uint64_t buddy_blocks_for_free_run(uint64_t first_page, uint64_t pages)
{
	uint64_t n = 0;
	for (uint64_t p = first_page, end = first_page + pages; p < end; n++) {
		unsigned order = BUDDY_MAX_ORDER;
		while ((p & (((uint64_t)1 << order) - 1)) || p + ((uint64_t)1 << order) > end)
			order--;
		p += (uint64_t)1 << order;
	}
	return n;
}

const struct peer_ops peer_buddy = {
	.name = "buddy",
	.create = buddy_create,
	.destroy = buddy_destroy,
	.alloc = buddy_alloc,
	.free = buddy_free,
	.held_pages = buddy_held_pages,
	.guarantee = buddy_guarantee,
	.free_pages = buddy_free_pages,
	.free_blocks = buddy_free_blocks,
	.blocks_for_free_run = buddy_blocks_for_free_run,
};
