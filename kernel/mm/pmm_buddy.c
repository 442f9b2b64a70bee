/*
 * Binary buddy placement in Linux's design (mm/page_alloc.c; Knowlton 1965): free memory is a set
 * of naturally aligned blocks of 2^order pages, one doubly-linked free list per order, orders
 * 0..BUDDY_MAX_ORDER as Linux's (MAX_ORDER 10: blocks of up to 4 MiB). A placement for the
 * allocator lab (pmm_placement.h).
 *
 * STATE: a header and one struct buddy_page per page of the span, from the block-aligned page
 * below the span's first (as Linux's struct page array): the free lists link pages by index.
 *
 * INVARIANTS
 *   1. Every free block of order o starts at an index that is a multiple of 2^o (the index base
 *      is aligned to 2^BUDDY_MAX_ORDER pages, so the physical page is too) and is on free list
 *      o, exactly once; only block heads carry state.
 *   2. Coalesced: a free block's buddy (index ^ 2^o) is never a free block of the same order,
 *      below BUDDY_MAX_ORDER.
 *   3. A page never added (a hole, a reservation) is never a block head (PAGE_ABSENT, as is
 *      every page inside a block): never a buddy, so nothing merges across it.
 *
 * alloc(n, a): order = max(ceil(log2 n), log2 a); take the head of the first non-empty list at
 * that order or above (Linux's __rmqueue_smallest walks the orders upwards) and split it, putting
 * each upper half back on the list below ("expand"). free: while the buddy is a free block of the
 * same order, unlink it and merge (__free_one_page). Both O(BUDDY_MAX_ORDER).
 * PROMISE: alloc fails only when no free block of the rounded order or above exists; a request
 * above 2^BUDDY_MAX_ORDER pages (or aligned above it) is always refused, as in Linux.
 * What it wastes: a request is rounded up to a power of two (37 pages hold 64).
 */
#include "pmm_placement.h"

#define BUDDY_MAX_ORDER 10
#define BUDDY_NONE UINT32_MAX

enum { PAGE_ABSENT, PAGE_INSIDE, PAGE_FREE_HEAD, PAGE_USED_HEAD };

/* Per-page state, as Linux's struct page: only block heads are meaningful. */
struct buddy_page {
	uint32_t prev, next; /* free list of the block's order */
	uint8_t order;
	uint8_t state;
};

struct buddy {
	uint64_t base;  /* first page of the index space, aligned to 2^BUDDY_MAX_ORDER */
	uint64_t pages; /* index space: base .. base + pages */
	uint32_t free_head[BUDDY_MAX_ORDER + 1];
	uint64_t free_count[BUDDY_MAX_ORDER + 1];
	uint64_t free_page_count;
	struct buddy_page page[];
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

/* Frees the block of 2^order pages at `index`, merging it with its buddy while it can. */
static void free_block(struct buddy *b, uint32_t index, unsigned order)
{
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

static uint64_t index_base(uint64_t first_page)
{
	return first_page & ~(((uint64_t)1 << BUDDY_MAX_ORDER) - 1);
}

static uint64_t buddy_state_bytes(uint64_t first_page, uint64_t span_pages)
{
	uint64_t pages = first_page + span_pages - index_base(first_page);
	return sizeof(struct buddy) + pages * sizeof(struct buddy_page);
}

static const char *buddy_init(void *state, uint64_t first_page, uint64_t span_pages)
{
	struct buddy *b = state;
	b->base = index_base(first_page);
	b->pages = first_page + span_pages - b->base;
	if (b->pages >= BUDDY_NONE)
		return "the span has 2^32 pages or more (32-bit page indices)";
	for (unsigned o = 0; o <= BUDDY_MAX_ORDER; o++)
		b->free_head[o] = BUDDY_NONE;
	return NULL;
}

/* The range as the largest aligned blocks that fit, as memblock hands memory to the buddy. */
static void buddy_add_free(void *state, uint64_t first_page, uint64_t pages)
{
	struct buddy *b = state;
	uint64_t i = first_page - b->base, end = i + pages;
	while (i < end) {
		unsigned order = BUDDY_MAX_ORDER;
		while ((i & (((uint64_t)1 << order) - 1)) || i + ((uint64_t)1 << order) > end)
			order--;
		free_block(b, (uint32_t)i, order);
		i += (uint64_t)1 << order;
	}
}

static uint64_t buddy_alloc(void *state, uint64_t pages, uint64_t align_pages)
{
	struct buddy *b = state;
	unsigned order = order_for(pages, align_pages), o = order;
	if (order > BUDDY_MAX_ORDER)
		return PMM_PLACEMENT_FAILED;
	while (o <= BUDDY_MAX_ORDER && b->free_head[o] == BUDDY_NONE)
		o++;
	if (o > BUDDY_MAX_ORDER)
		return PMM_PLACEMENT_FAILED;
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
	MM_ASSERT(first_page >= b->base && index < b->pages &&
			  b->page[index].state == PAGE_USED_HEAD && b->page[index].order == order,
		  "buddy_free: page %#llx is not an order-%u allocation",
		  (unsigned long long)first_page, order);
	free_block(b, index, order);
}

static uint64_t buddy_held_pages(uint64_t pages, uint64_t align_pages)
{
	return (uint64_t)1 << order_for(pages, align_pages);
}

static void buddy_guarantee(uint64_t pages, uint64_t align_pages, uint64_t *run_pages,
			    uint64_t *run_align)
{
	if (order_for(pages, align_pages) > BUDDY_MAX_ORDER) {
		*run_pages = UINT64_MAX;
		*run_align = 1;
		return;
	}
	*run_pages = *run_align = buddy_held_pages(pages, align_pages);
}

/* Walks blocks in index order: a block head skips its block, an absent page one page. */
static void buddy_for_each_free_run(const void *state, pmm_free_run_visitor visit, void *ctx)
{
	const struct buddy *b = state;
	uint64_t run_first = 0, run_pages = 0;
	for (uint64_t i = 0; i < b->pages;) {
		const struct buddy_page *p = &b->page[i];
		uint64_t step = p->state == PAGE_FREE_HEAD || p->state == PAGE_USED_HEAD
					? (uint64_t)1 << p->order
					: 1;
		if (p->state == PAGE_FREE_HEAD) {
			if (run_pages && run_first + run_pages == i) {
				run_pages += step;
			} else {
				if (run_pages && !visit(ctx, b->base + run_first, run_pages))
					return;
				run_first = i;
				run_pages = step;
			}
		}
		i += step;
	}
	if (run_pages)
		visit(ctx, b->base + run_first, run_pages);
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

const struct pmm_placement_ops pmm_buddy_ops = {
	.name = "buddy",
	.promise = "fails only when no free block of the request's power-of-two order or above "
		   "exists; never serves more than 2^10 pages",
	.state_bytes = buddy_state_bytes,
	.init = buddy_init,
	.add_free = buddy_add_free,
	.alloc = buddy_alloc,
	.free = buddy_free,
	.held_pages = buddy_held_pages,
	.guarantee = buddy_guarantee,
	.for_each_free_run = buddy_for_each_free_run,
	.free_pages = buddy_free_pages,
	.free_blocks = buddy_free_blocks,
	.blocks_for_free_run = buddy_blocks_for_free_run,
};
