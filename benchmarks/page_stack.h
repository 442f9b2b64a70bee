/*
 * A page source for the VMM benchmarks: a stack of the single pages of a host arena, which is all
 * the VMM asks for there (table pages and list records; data pages are borrowed). O(1) per call,
 * so the source adds nothing to what the benchmark measures.
 */
#ifndef PAGESCOPE_BENCHMARKS_PAGE_STACK_H
#define PAGESCOPE_BENCHMARKS_PAGE_STACK_H

#include "kernel/mm/page_source.h"

struct page_stack {
	struct page_source source;
	paddr_t *pages;
	uint64_t count;    /* pages on the stack */
	uint64_t capacity; /* pages of the arena */
};

/* Every page of [first, first + pages * PAGE_SIZE) on the stack, the lowest on top. */
void page_stack_init(struct page_stack *s, paddr_t first, uint64_t pages);
void page_stack_fini(struct page_stack *s);
/* Pages handed out and not given back. */
uint64_t page_stack_missing(const struct page_stack *s);

#endif
