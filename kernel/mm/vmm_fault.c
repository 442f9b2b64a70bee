/*
 * Page faults of demand-paged user contexts: the case the page-table bookkeeping exists for. A
 * reserved page that was never touched is not mapped; its first access faults, and the handler
 * must learn what the address is before it can map anything. It asks the backend about exactly
 * one page (vmm_backend_ops.lookup): the page-table backend reads the entry the CPU's walk stopped
 * at (its RES bit and the reservation's access bits), the list backend descends its tree to the
 * record. That lookup's work and clock ticks are what the page_fault event reports.
 *
 * Rules, in order (Linux's, for anonymous memory):
 *   no region                               -> REFUSED_OUTSIDE
 *   free page, in [stack->limit, stack->bottom) -> reserve [page, bottom) for the stack, then as a
 *                                              first touch (STACK_GROW)
 *   free page otherwise                     -> REFUSED_FREE
 *   the reservation does not allow the access (no READ allows nothing) -> REFUSED_PROTECTION
 *   not mapped                              -> a zeroed page, mapped as the reservation allows
 *                                              (ZERO_FILL)
 *   mapped, copy-on-write, a write          -> the last mapping reuses the page (COW_REUSE),
 *                                              otherwise a copy replaces it (COW_COPY)
 *   mapped and allowing the access already  -> SPURIOUS (nothing to do)
 * Out of memory changes nothing and reports OUT_OF_MEMORY. W^X holds: a reservation allowing
 * write and execute cannot be mapped (REFUSED_PROTECTION on its first touch).
 */
#include "vmm_internal.h"

static unsigned needed_access(enum vmm_fault_kind kind)
{
	switch (kind) {
	case VMM_FAULT_WRITE:
		return PT_WRITE;
	case VMM_FAULT_EXECUTE:
		return PT_EXECUTE;
	case VMM_FAULT_READ:
		break;
	}
	return PT_READ;
}

/* A zeroed page at `page`, owned by the context. */
static enum vmm_fault_outcome zero_fill(struct vmm_context *ctx, unsigned r, uint64_t page,
					unsigned access, enum vmm_fault_outcome success)
{
	enum vm_status st = vmm_map_fresh_page(ctx, r, page, vmm_access_prot(access));
	if (st == VM_OK)
		return success;
	return st == VM_ERR_NO_MEMORY ? VMM_FAULT_OUT_OF_MEMORY : VMM_FAULT_REFUSED_PROTECTION;
}

/* A write to a copy-on-write page: reuse it when this is its last mapping, else copy it. */
static enum vmm_fault_outcome copy_on_write(struct vmm_context *ctx, unsigned r, uint64_t page,
					    unsigned access, const struct pt_translation *t)
{
	unsigned prot = vmm_access_prot(access);
	if (page_share_mappings(ctx->pt.share, t->pa) == 1) {
		enum vm_status st = pt_set_copy_on_write(&ctx->pt, page, false, prot);
		MM_ASSERT(st == VM_OK, "vmm_fault: reusing %llx: %s", (unsigned long long)page,
			  vm_status_name(st));
		return VMM_FAULT_COW_REUSE;
	}
	paddr_t copy = page_source_alloc(ctx->source, 1, 1, ctx->regions[r].owner);
	if (copy == PAGE_SOURCE_FAILED)
		return VMM_FAULT_OUT_OF_MEMORY;
	memcpy(phys_to_virt(copy), phys_to_virt(t->pa), PAGE_SIZE);
	/* In place: no table is freed or needed, so nothing can fail once the copy exists. */
	enum vm_status st = pt_replace_owned(&ctx->pt, page, copy, prot);
	MM_ASSERT(st == VM_OK, "vmm_fault: replacing %llx: %s", (unsigned long long)page, vm_status_name(st));
	return VMM_FAULT_COW_COPY;
}

/* A fault below the stack, inside its limit: the stack reservation grows down to the page. */
static enum vmm_fault_outcome grow_stack(struct vmm_context *ctx, unsigned r, uint64_t page,
					 struct vmm_stack *stack)
{
	uint64_t pages = (stack->bottom - page) / PAGE_SIZE;
	if (!vmm_range_is_free(ctx, r, page, pages))
		return VMM_FAULT_REFUSED_FREE; /* another reservation lies in the way */
	enum vm_status st = vmm_reserve_at_access(ctx, page, pages, stack->access);
	if (st != VM_OK)
		return st == VM_ERR_NO_MEMORY ? VMM_FAULT_OUT_OF_MEMORY : VMM_FAULT_REFUSED_FREE;
	enum vmm_fault_outcome outcome = zero_fill(ctx, r, page, stack->access, VMM_FAULT_STACK_GROW);
	if (outcome != VMM_FAULT_STACK_GROW) {
		vmm_release(ctx, page, pages); /* nothing changed, as promised */
		return outcome;
	}
	stack->bottom = page;
	return outcome;
}

void vmm_fault(struct vmm_context *ctx, uint64_t addr, enum vmm_fault_kind kind,
	       struct vmm_stack *stack, struct vmm_fault_result *out)
{
	uint64_t page = ALIGN_DOWN(addr, PAGE_SIZE);
	unsigned r = vmm_region_of(ctx, page);
	*out = (struct vmm_fault_result){ .outcome = VMM_FAULT_REFUSED_OUTSIDE, .state = VMM_PAGE_OUTSIDE,
					  .region = r };
	if (r == VMM_NO_REGION)
		return;
	/*
	 * Only the lookup between the clock readings: everything it takes is ready before. What the
	 * window adds to the lookup itself (the readings' own instructions and the call) is the same
	 * for both backends: 14 guest instructions in the kernel at commit 4d7f8eb (its disassembly:
	 * the list's lookup runs 36 instructions when its last record covers the page, and its
	 * lookup_ticks read 50 under icount).
	 */
	const struct vmm_region *region = &ctx->regions[r];
	struct vmm_extent extent = { .start = page, .pages = 1 };
	uint64_t work = vmm_work_begin(ctx), start = mm_clock_ticks();
	extent.state = ctx->backend->lookup(ctx, region, page, &extent.access);
	out->lookup_ticks = mm_clock_ticks() - start;
	vmm_work_end(ctx, work);
	out->lookup_work = ctx->last_work;
	if (extent.state == VMM_RANGE_FREE) {
		out->state = VMM_PAGE_FREE;
		bool below_stack = stack && page >= stack->limit && page < stack->bottom &&
				   vmm_region_of(ctx, stack->bottom - PAGE_SIZE) == r;
		out->outcome = below_stack ? grow_stack(ctx, r, page, stack) : VMM_FAULT_REFUSED_FREE;
		if (out->outcome == VMM_FAULT_STACK_GROW) {
			out->state = VMM_PAGE_MAPPED;
			out->access = stack->access;
		}
		return;
	}
	out->access = extent.access;
	unsigned need = needed_access(kind);
	struct pt_translation t;
	bool mapped = pt_translate(&ctx->pt, page, &t) == VM_OK;
	out->state = mapped ? VMM_PAGE_MAPPED : VMM_PAGE_RESERVED;
	if (!(extent.access & PT_READ) || !(extent.access & need)) {
		out->outcome = VMM_FAULT_REFUSED_PROTECTION;
		return;
	}
	if (!mapped)
		out->outcome = zero_fill(ctx, r, page, extent.access, VMM_FAULT_ZERO_FILL);
	else if (kind == VMM_FAULT_WRITE && t.copy_on_write)
		out->outcome = copy_on_write(ctx, r, page, extent.access, &t);
	else
		out->outcome = VMM_FAULT_SPURIOUS;
}
