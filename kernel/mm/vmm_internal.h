/*
 * What vmm.c shares with the files that build the user-program operations on it (vmm_ranges.c,
 * vmm_fault.c, vmm_fork.c): region lookup, the per-call work bracket and backend queries. Not for
 * use outside kernel/mm/vmm*.c.
 */
#ifndef PAGESCOPE_MM_VMM_INTERNAL_H
#define PAGESCOPE_MM_VMM_INTERNAL_H

#include "vmm.h"

uint64_t vmm_region_end(const struct vmm_region *region);
/* The region holding addr, or VMM_NO_REGION. */
unsigned vmm_region_of(const struct vmm_context *ctx, uint64_t addr);
/* The region holding all of [addr, addr + pages) (addr page-aligned, pages > 0), or VMM_NO_REGION. */
unsigned vmm_region_of_range(const struct vmm_context *ctx, uint64_t addr, uint64_t pages);
/* Brackets each public call so ctx->last_work is the backend work of that call alone. */
uint64_t vmm_work_begin(struct vmm_context *ctx);
void vmm_work_end(struct vmm_context *ctx, uint64_t begin);
/* The extent covering addr in region r, seen only through [addr, addr + pages). */
void vmm_extent_within(struct vmm_context *ctx, unsigned r, uint64_t addr, uint64_t pages,
		       struct vmm_extent *out);
/* The extent covering addr, whole (clipped to its region only). */
void vmm_extent_at(struct vmm_context *ctx, unsigned r, uint64_t addr, struct vmm_extent *out);
/*
 * Maps a fresh zeroed page owned by the context (tagged with region's owner) at va, which the
 * caller knows is reserved and unmapped. VM_OK, VM_ERR_NO_MEMORY or pt_map's error (the page
 * goes back).
 */
enum vm_status vmm_map_fresh_page(struct vmm_context *ctx, unsigned region, uint64_t va, unsigned prot);
/*
 * Tells the backend that a page at va (inside a reservation of region r) is about to be mapped,
 * so that releasing the reservation unmaps it. Every pt_map into a context goes after one.
 */
void vmm_note_mapped(struct vmm_context *ctx, unsigned r, uint64_t va);
/* True when [addr, addr + pages) of region r is free (the caller checked it lies inside r). */
bool vmm_range_is_free(struct vmm_context *ctx, unsigned r, uint64_t addr, uint64_t pages);

#endif
