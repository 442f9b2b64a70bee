/*
 * TLSF placement: two-level segregated fit with bitmaps (M. Masmano, I. Ripoll, A. Crespo,
 * J. Real, "TLSF: a new dynamic memory allocator for real-time systems", ECRTS 2004), with pages
 * as the unit; a placement for the allocator lab (pmm_placement.h). Block headers live out of
 * band, one per page of the span (as struct page), because the pages themselves may not be
 * touched. Pages never added (holes, reservations) are used blocks that are never freed.
 *
 * SIZE CLASSES (SLI = 4, 16 second-level lists per first level; the paper's mapping function):
 *   size < 16:  row 0, list = size                       (exact)
 *   size >= 16: f = floor(log2 size); row = f - 3, list = (size >> (f - 4)) - 16
 *   fl_bitmap bit r = row r has a non-empty list; sl_bitmap[r] bit s = list (r, s) non-empty.
 *
 * INVARIANTS
 *   1. Every page is in exactly one block; blocks tile the span in address order, and each
 *      block head knows its size and its physical predecessor (the paper's boundary tag).
 *   2. Immediate coalescing: no two free blocks are physical neighbours.
 *   3. Every free block is on the list of its class, once; the bitmaps mirror list emptiness.
 *
 * malloc: mapping_search rounds the request up to the next class boundary so that every block
 * of the class found is big enough (no list walk), find_suitable_block is two find-first-set
 * operations, and the block is split; the remainder goes back. free: merge with the physical
 * predecessor and successor, insert. Both O(1). An aligned request searches for
 * pages + align - 1 and returns the unaligned front as its own free block (TLSF's memalign).
 * What it wastes: nothing is held beyond the request, but the rounded search skips blocks of the
 * request's own class that are big enough (a 37-page block does not serve 37 pages: class 36..37
 * rounds up to 38).
 * PROMISE: alloc succeeds whenever a free block of at least pages + align - 1 pages rounded up to
 * its class boundary exists (the paper's good fit: smaller blocks that would fit are not found).
 */
#include "pmm_placement.h"

#define TLSF_SLI 4
#define TLSF_SL_COUNT (1u << TLSF_SLI)
#define TLSF_ROWS 40
#define TLSF_NONE UINT32_MAX

struct tlsf_page {
	uint32_t size;      /* pages of the block starting here; 0 if not a block head */
	uint32_t prev_phys; /* head of the physically previous block, TLSF_NONE at the start */
	uint32_t prev_free, next_free;
	uint8_t free;
};

struct tlsf {
	uint64_t base, pages, free_page_count, free_block_count;
	uint64_t fl_bitmap;
	uint32_t sl_bitmap[TLSF_ROWS];
	uint32_t head[TLSF_ROWS][TLSF_SL_COUNT];
	struct tlsf_page page[];
};

static inline unsigned floor_log2(uint64_t x) { return 63u - (unsigned)__builtin_clzll(x); }

static void mapping_insert(uint64_t size, unsigned *row, unsigned *list)
{
	if (size < TLSF_SL_COUNT) {
		*row = 0;
		*list = (unsigned)size;
		return;
	}
	unsigned f = floor_log2(size);
	*row = f - TLSF_SLI + 1;
	*list = (unsigned)(size >> (f - TLSF_SLI)) - TLSF_SL_COUNT;
}

/* The request rounded up to the lowest size of the class at which every block fits. */
static uint64_t round_to_class(uint64_t size)
{
	if (size < TLSF_SL_COUNT)
		return size;
	size += ((uint64_t)1 << (floor_log2(size) - TLSF_SLI)) - 1;
	return size & ~(((uint64_t)1 << (floor_log2(size) - TLSF_SLI)) - 1);
}

static void insert_free(struct tlsf *t, uint32_t index)
{
	struct tlsf_page *p = &t->page[index];
	unsigned row, list;
	mapping_insert(p->size, &row, &list);
	p->free = 1;
	p->prev_free = TLSF_NONE;
	p->next_free = t->head[row][list];
	if (p->next_free != TLSF_NONE)
		t->page[p->next_free].prev_free = index;
	t->head[row][list] = index;
	t->sl_bitmap[row] |= 1u << list;
	t->fl_bitmap |= (uint64_t)1 << row;
	t->free_page_count += p->size;
	t->free_block_count++;
}

static void remove_free(struct tlsf *t, uint32_t index)
{
	struct tlsf_page *p = &t->page[index];
	unsigned row, list;
	mapping_insert(p->size, &row, &list);
	if (p->prev_free != TLSF_NONE)
		t->page[p->prev_free].next_free = p->next_free;
	else
		t->head[row][list] = p->next_free;
	if (p->next_free != TLSF_NONE)
		t->page[p->next_free].prev_free = p->prev_free;
	if (t->head[row][list] == TLSF_NONE) {
		t->sl_bitmap[row] &= ~(1u << list);
		if (!t->sl_bitmap[row])
			t->fl_bitmap &= ~((uint64_t)1 << row);
	}
	p->free = 0;
	t->free_page_count -= p->size;
	t->free_block_count--;
}

/* Cuts [index, index + size) off the front of block `index`, the rest becoming its own block. */
static uint32_t split(struct tlsf *t, uint32_t index, uint32_t size)
{
	struct tlsf_page *p = &t->page[index];
	uint32_t rest = index + size, end = index + p->size;
	t->page[rest] = (struct tlsf_page){ .size = p->size - size, .prev_phys = index };
	p->size = size;
	if (end < t->pages)
		t->page[end].prev_phys = rest;
	return rest;
}

static uint64_t tlsf_state_bytes(uint64_t first_page, uint64_t span_pages)
{
	(void)first_page;
	return sizeof(struct tlsf) + span_pages * sizeof(struct tlsf_page);
}

/* The whole span starts as one used block: nothing is free until add_free. */
static const char *tlsf_init(void *state, uint64_t first_page, uint64_t span_pages)
{
	struct tlsf *t = state;
	if (span_pages == 0 || span_pages >= TLSF_NONE)
		return "the span is empty or has 2^32 pages or more (32-bit block sizes)";
	t->base = first_page;
	t->pages = span_pages;
	for (unsigned r = 0; r < TLSF_ROWS; r++)
		for (unsigned s = 0; s < TLSF_SL_COUNT; s++)
			t->head[r][s] = TLSF_NONE;
	t->page[0] = (struct tlsf_page){ .size = (uint32_t)span_pages, .prev_phys = TLSF_NONE };
	return NULL;
}

static void free_block(struct tlsf *t, uint32_t index);

/* Cuts [first, first + pages) out of the used block holding it and frees it. The holding block's
 * head is found by walking back to the nearest block head: only here, never on alloc or free. */
static void tlsf_add_free(void *state, uint64_t first_page, uint64_t pages)
{
	struct tlsf *t = state;
	uint32_t index = (uint32_t)(first_page - t->base), head = index;
	while (t->page[head].size == 0)
		head--;
	MM_ASSERT(!t->page[head].free && head + t->page[head].size >= index + pages,
		  "tlsf_add_free: pages %#llx + %llu are not inside one used block",
		  (unsigned long long)first_page, (unsigned long long)pages);
	if (head < index)
		split(t, head, index - head);
	if (t->page[index].size > pages)
		split(t, index, (uint32_t)pages);
	free_block(t, index);
}

static uint64_t tlsf_alloc(void *state, uint64_t pages, uint64_t align_pages)
{
	struct tlsf *t = state;
	uint64_t need = round_to_class(pages + align_pages - 1);
	if (need >= t->pages + 1 || pages == 0)
		return PMM_PLACEMENT_FAILED;
	unsigned row, list;
	mapping_insert(need, &row, &list);
	uint32_t lists = t->sl_bitmap[row] & (~0u << list);
	if (!lists) {
		uint64_t rows = row + 1 < 64 ? t->fl_bitmap & (~(uint64_t)0 << (row + 1)) : 0;
		if (!rows)
			return PMM_PLACEMENT_FAILED;
		row = (unsigned)__builtin_ctzll(rows);
		lists = t->sl_bitmap[row];
	}
	list = (unsigned)__builtin_ctz(lists);
	uint32_t index = t->head[row][list];
	remove_free(t, index);
	uint64_t aligned = ((t->base + index + align_pages - 1) & ~(align_pages - 1)) - t->base;
	if (aligned > index) {
		uint32_t front = index;
		index = split(t, front, (uint32_t)(aligned - front));
		insert_free(t, front);
	}
	if (t->page[index].size > pages)
		insert_free(t, split(t, index, (uint32_t)pages));
	return t->base + index;
}

/* Frees the used block at `index`, merging it with free physical neighbours. */
static void free_block(struct tlsf *t, uint32_t index)
{
	uint32_t next = index + t->page[index].size;
	if (next < t->pages && t->page[next].free) {
		remove_free(t, next);
		t->page[index].size += t->page[next].size;
		t->page[next].size = 0;
	}
	uint32_t prev = t->page[index].prev_phys;
	if (prev != TLSF_NONE && t->page[prev].free) {
		remove_free(t, prev);
		t->page[prev].size += t->page[index].size;
		t->page[index].size = 0;
		index = prev;
	}
	uint32_t end = index + t->page[index].size;
	if (end < t->pages)
		t->page[end].prev_phys = index;
	insert_free(t, index);
}

static void tlsf_free(void *state, uint64_t first_page, uint64_t pages, uint64_t align_pages)
{
	struct tlsf *t = state;
	uint32_t index = (uint32_t)(first_page - t->base);
	(void)align_pages;
	MM_ASSERT(first_page >= t->base && index < t->pages && t->page[index].size == pages &&
			  !t->page[index].free,
		  "tlsf_free: page %#llx is not a %llu-page allocation",
		  (unsigned long long)first_page, (unsigned long long)pages);
	free_block(t, index);
}

static void tlsf_guarantee(uint64_t pages, uint64_t align_pages, uint64_t *run_pages,
			   uint64_t *run_align)
{
	*run_pages = round_to_class(pages + align_pages - 1);
	*run_align = 1;
}

/* Blocks tile the span and free ones never touch (invariant 2): each free block is a run. */
static void tlsf_for_each_free_run(const void *state, pmm_free_run_visitor visit, void *ctx)
{
	const struct tlsf *t = state;
	for (uint64_t i = 0; i < t->pages; i += t->page[i].size)
		if (t->page[i].free && !visit(ctx, t->base + i, t->page[i].size))
			return;
}

static uint64_t tlsf_free_pages(const void *state)
{
	return ((const struct tlsf *)state)->free_page_count;
}

static uint64_t tlsf_free_blocks(const void *state)
{
	return ((const struct tlsf *)state)->free_block_count;
}

static uint64_t tlsf_blocks_for_free_run(uint64_t first_page, uint64_t pages)
{
	(void)first_page;
	(void)pages;
	return 1;
}

const struct pmm_placement_ops pmm_tlsf_ops = {
	.name = "tlsf",
	.promise = "fails only when no free block reaches pages + align - 1 rounded up to its size "
		   "class (a smaller block that would fit is not searched)",
	.state_bytes = tlsf_state_bytes,
	.init = tlsf_init,
	.add_free = tlsf_add_free,
	.alloc = tlsf_alloc,
	.free = tlsf_free,
	.held_pages = pmm_exact_held_pages,
	.guarantee = tlsf_guarantee,
	.for_each_free_run = tlsf_for_each_free_run,
	.free_pages = tlsf_free_pages,
	.free_blocks = tlsf_free_blocks,
	.blocks_for_free_run = tlsf_blocks_for_free_run,
};
