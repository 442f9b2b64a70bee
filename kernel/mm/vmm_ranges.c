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

/* Sees one extent (clipped to the range) of region r; false stops the walk. */
typedef bool (*extent_visitor)(struct vmm_context *ctx, unsigned r, const struct vmm_extent *e,
			       void *cookie);

/*
 * The one walk of the range operations: over every region [addr, end) crosses, splits the
 * reservations at the part's ends (when `split`), then visits the part's extents in address
 * order. VM_OK, a split's error, or VM_ERR_NOT_RESERVED when a visitor stopped the walk.
 */
static enum vm_status for_each_extent(struct vmm_context *ctx, uint64_t addr, uint64_t end, bool split,
				      extent_visitor visit, void *cookie)
{
	for (unsigned r = 0; r < ctx->region_count; r++) {
		const struct vmm_region *region = &ctx->regions[r];
		uint64_t lo = MAX(addr, region->base), hi = MIN(end, vmm_region_end(region));
		if (lo >= hi)
			continue;
		enum vm_status st = split ? split_ends(ctx, r, lo, hi) : VM_OK;
		if (st != VM_OK)
			return st;
		for (uint64_t a = lo; a < hi;) {
			struct vmm_extent extent;
			vmm_extent_within(ctx, r, a, (hi - a) / PAGE_SIZE, &extent);
			if (!visit(ctx, r, &extent, cookie))
				return VM_ERR_NOT_RESERVED;
			a += extent.pages * PAGE_SIZE;
		}
	}
	return VM_OK;
}

static bool release_reserved(struct vmm_context *ctx, unsigned r, const struct vmm_extent *e, void *cookie)
{
	(void)r;
	(void)cookie;
	if (e->state == VMM_RANGE_RESERVED) {
		enum vm_status st = vmm_release(ctx, e->start, e->pages);
		MM_ASSERT(st == VM_OK, "vmm_release_range: reservation at %llx: %s",
			  (unsigned long long)e->start, vm_status_name(st));
	}
	return true;
}

enum vm_status vmm_release_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages)
{
	if (!range_valid(addr, pages))
		return VM_ERR_INVALID;
	return for_each_extent(ctx, addr, addr + pages * PAGE_SIZE, true, release_reserved, NULL);
}

/* Counts reserved pages into *cookie; a free extent stops the walk. */
static bool count_reserved(struct vmm_context *ctx, unsigned r, const struct vmm_extent *e, void *cookie)
{
	(void)ctx;
	(void)r;
	*(uint64_t *)cookie += e->pages;
	return e->state == VMM_RANGE_RESERVED;
}

static bool set_access(struct vmm_context *ctx, unsigned r, const struct vmm_extent *e, void *cookie)
{
	unsigned now = (*(const unsigned *)cookie & (PT_READ | PT_WRITE | PT_EXECUTE)) |
		       (e->access & VMM_ACCESS_SHARED);
	ctx->backend->set_access(ctx, &ctx->regions[r], e->start, e->pages, now);
	enum vm_status st = pt_protect_mapped(&ctx->pt, e->start, e->pages, vmm_access_prot(now));
	MM_ASSERT(st == VM_OK, "vmm_protect_range: pages at %llx: %s", (unsigned long long)e->start,
		  vm_status_name(st));
	return true;
}

enum vm_status vmm_protect_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
				 unsigned access)
{
	if (!range_valid(addr, pages))
		return VM_ERR_INVALID;
	if ((access & PT_WRITE) && (access & PT_EXECUTE))
		return VM_ERR_WRITE_EXECUTE;
	uint64_t end = addr + pages * PAGE_SIZE, reserved = 0;
	enum vm_status st = for_each_extent(ctx, addr, end, false, count_reserved, &reserved);
	if (st != VM_OK || reserved != pages)
		return VM_ERR_NOT_RESERVED; /* a free page, or a part outside every region */
	return for_each_extent(ctx, addr, end, true, set_access, &access);
}
