/*
 * Physical pages mapped in more than one place: the mapping count of every page that copy-on-write
 * fork (or shared anonymous memory) made shared, so the page is freed with its last mapping and
 * a write fault on the last sharer reuses the page instead of copying it.
 *
 * A page absent from the map has one mapping (or none): only shared pages cost memory. The map is
 * an open-addressing hash (linear probing, backward-shift deletion) in pages of the page source
 * (owner mm-meta), at most half full; it doubles when it would pass that, halves when a quarter
 * full (never below one page), and is freed when nothing is shared.
 *
 * Bound: lookups, adds and drops probe O(1) slots on average at load <= 1/2; a resize rehashes
 * every entry once (amortised O(1) per add or drop). No operation walks page tables.
 *
 * Every change of a count is traced as page_share(phys, mappings after, context).
 */
#ifndef PAGESCOPE_MM_PAGE_SHARE_H
#define PAGESCOPE_MM_PAGE_SHARE_H

#include "page_source.h"
#include "vm_status.h"

struct page_share_slot;

struct page_share {
	const struct page_source *source; /* where the map's own pages come from */
	struct page_share_slot *slots;
	uint64_t capacity; /* slots, a power of two; 0 until the first page is shared */
	uint64_t used;
};

void page_share_init(struct page_share *share, const struct page_source *source);
/* Checks that nothing is shared any more (the map then holds no memory). */
void page_share_destroy(struct page_share *share);
/* Mappings of the page at pa: 1 when it is not shared. */
unsigned page_share_mappings(const struct page_share *share, paddr_t pa);
/* One more mapping of pa (a fork mapped it again). VM_OK or VM_ERR_NO_MEMORY (nothing changed). */
enum vm_status page_share_add(struct page_share *share, paddr_t pa, uint16_t context);
/*
 * One mapping of pa went away. Returns true when others remain (the page must not be freed),
 * false when it was the last one (the caller frees it). Needs no memory.
 */
bool page_share_drop(struct page_share *share, paddr_t pa, uint16_t context);
/* Pages of memory the map takes (for the bookkeeping figures). */
uint64_t page_share_bytes(const struct page_share *share);

#endif
