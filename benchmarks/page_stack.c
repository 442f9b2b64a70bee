/* The VMM benchmarks' page source (page_stack.h). */
#include <stdlib.h>

#include "benchmarks/page_stack.h"

static paddr_t stack_alloc(void *cookie, uint64_t pages, uint64_t align, enum mm_owner owner)
{
	struct page_stack *s = cookie;
	(void)align;
	(void)owner;
	return pages != 1 || s->count == 0 ? PAGE_SOURCE_FAILED : s->pages[--s->count];
}

static void stack_free(void *cookie, paddr_t pa, uint64_t pages)
{
	struct page_stack *s = cookie;
	(void)pages;
	s->pages[s->count++] = pa;
}

void page_stack_init(struct page_stack *s, paddr_t first, uint64_t pages)
{
	*s = (struct page_stack){ .pages = malloc(pages * sizeof(paddr_t)), .capacity = pages };
	for (uint64_t i = pages; i-- > 0;)
		s->pages[s->count++] = first + i * PAGE_SIZE;
	s->source = (struct page_source){ .alloc = stack_alloc, .free = stack_free, .ctx = s };
}

void page_stack_fini(struct page_stack *s)
{
	free(s->pages);
	s->pages = NULL;
}

uint64_t page_stack_missing(const struct page_stack *s)
{
	return s->capacity - s->count;
}
