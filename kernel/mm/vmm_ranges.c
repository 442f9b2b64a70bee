/*
 * A user program's view of its address space, Linux's: munmap and mprotect work on any page range,
 * whatever reservations it cuts. Reservations are the VMM's unit (a backend releases or changes a
 * whole one), so a range operation first splits the reservations at its two ends (as Linux splits
 * a VMA) and then works on the whole reservations between them.
 *
 * Work: two splits (each within the backend's work_bound(1)) plus, per reservation in the range,
 * one query and one release or set_access; the page-table work is that of the mapped pages.
 */
#include "vmm_internal.h"
#include "kernel/trace/tracepoints.h"

unsigned vmm_access_prot(unsigned access)
{
	if (!(access & PT_READ))
		return PT_READ; /* present for the kernel only: any user access faults */
	return PT_READ | PT_USER | (access & (PT_WRITE | PT_EXECUTE));
}

enum vm_status vmm_split(struct vmm_context *ctx, uint64_t addr)
{
	unsigned r = vmm_region_of(ctx, addr);
	if (r == VMM_NO_REGION || !IS_ALIGNED(addr, PAGE_SIZE))
		return VM_ERR_INVALID;
	if (addr == ctx->regions[r].base)
		return VM_OK; /* a region's first page starts whatever covers it */
	struct vmm_extent extent; /* whole: does a reservation start at addr already? */
	vmm_extent_at(ctx, r, addr, &extent);
	if (extent.state != VMM_RANGE_RESERVED || extent.start == addr)
		return VM_OK;
	uint64_t work = vmm_work_begin(ctx);
	enum vm_status st = ctx->backend->split(ctx, &ctx->regions[r], addr);
	vmm_work_end(ctx, work);
	if (st == VM_OK)
		trace_vmm_split(addr, ctx->pt.trace_context, (uint8_t)r);
	return st == VM_ERR_NOT_RESERVED ? VM_OK : st;
}

/* The part of [addr, end) inside region r, as [*lo, *hi); false when empty. */
static bool clip_to_region(const struct vmm_context *ctx, unsigned r, uint64_t addr, uint64_t end,
			   uint64_t *lo, uint64_t *hi)
{
	const struct vmm_region *region = &ctx->regions[r];
	*lo = MAX(addr, region->base);
	*hi = MIN(end, vmm_region_end(region));
	return *lo < *hi;
}

/* Splits at lo and hi (when inside the region) so every reservation is inside or outside. */
static enum vm_status split_ends(struct vmm_context *ctx, unsigned r, uint64_t lo, uint64_t hi)
{
	enum vm_status st = vmm_split(ctx, lo);
	if (st == VM_OK && hi < vmm_region_end(&ctx->regions[r]))
		st = vmm_split(ctx, hi);
	return st;
}

static bool range_valid(uint64_t addr, uint64_t pages)
{
	return IS_ALIGNED(addr, PAGE_SIZE) && pages > 0 && pages <= (UINT64_MAX - addr) / PAGE_SIZE;
}

enum vm_status vmm_release_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages)
{
	if (!range_valid(addr, pages))
		return VM_ERR_INVALID;
	uint64_t end = addr + pages * PAGE_SIZE;
	for (unsigned r = 0; r < ctx->region_count; r++) {
		uint64_t lo, hi;
		if (!clip_to_region(ctx, r, addr, end, &lo, &hi))
			continue;
		enum vm_status st = split_ends(ctx, r, lo, hi);
		if (st != VM_OK)
			return st;
		for (uint64_t a = lo; a < hi;) {
			struct vmm_extent extent;
			vmm_extent_within(ctx, r, a, (hi - a) / PAGE_SIZE, &extent);
			if (extent.state == VMM_RANGE_RESERVED) {
				st = vmm_release(ctx, a, extent.pages);
				MM_ASSERT(st == VM_OK, "vmm_release_range: reservation at %llx: %s",
					  (unsigned long long)a, vm_status_name(st));
			}
			a += extent.pages * PAGE_SIZE;
		}
	}
	return VM_OK;
}

/* True when every page of [lo, hi) in region r is reserved. */
static bool all_reserved(struct vmm_context *ctx, unsigned r, uint64_t lo, uint64_t hi)
{
	for (uint64_t a = lo; a < hi;) {
		struct vmm_extent extent;
		vmm_extent_within(ctx, r, a, (hi - a) / PAGE_SIZE, &extent);
		if (extent.state != VMM_RANGE_RESERVED)
			return false;
		a += extent.pages * PAGE_SIZE;
	}
	return true;
}

enum vm_status vmm_protect_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
				 unsigned access)
{
	if (!range_valid(addr, pages))
		return VM_ERR_INVALID;
	if ((access & PT_WRITE) && (access & PT_EXECUTE))
		return VM_ERR_WRITE_EXECUTE;
	uint64_t end = addr + pages * PAGE_SIZE, covered = 0;
	for (unsigned r = 0; r < ctx->region_count; r++) {
		uint64_t lo, hi;
		if (!clip_to_region(ctx, r, addr, end, &lo, &hi))
			continue;
		if (!all_reserved(ctx, r, lo, hi))
			return VM_ERR_NOT_RESERVED;
		covered += (hi - lo) / PAGE_SIZE;
	}
	if (covered != pages)
		return VM_ERR_NOT_RESERVED; /* part of the range lies outside every region */
	for (unsigned r = 0; r < ctx->region_count; r++) {
		uint64_t lo, hi;
		if (!clip_to_region(ctx, r, addr, end, &lo, &hi))
			continue;
		enum vm_status st = split_ends(ctx, r, lo, hi);
		if (st != VM_OK)
			return st;
		for (uint64_t a = lo; a < hi;) {
			struct vmm_extent extent;
			vmm_extent_within(ctx, r, a, (hi - a) / PAGE_SIZE, &extent);
			unsigned now = (access & (PT_READ | PT_WRITE | PT_EXECUTE)) |
				       (extent.access & VMM_ACCESS_SHARED);
			ctx->backend->set_access(ctx, &ctx->regions[r], a, extent.pages, now);
			st = pt_protect_mapped(&ctx->pt, a, extent.pages, vmm_access_prot(now));
			MM_ASSERT(st == VM_OK, "vmm_protect_range: pages at %llx: %s", (unsigned long long)a,
				  vm_status_name(st));
			a += extent.pages * PAGE_SIZE;
		}
	}
	return VM_OK;
}
