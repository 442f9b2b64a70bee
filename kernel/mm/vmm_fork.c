/*
 * Copy-on-write fork of a demand-paged user context. The child gets the parent's regions, its
 * reservations (same addresses, same access) and its break; no page is copied. Every mapped page
 * becomes shared (page_share.h counts its mappings): pages of VMM_ACCESS_SHARED reservations stay
 * writable in both (MAP_SHARED), private pages are marked copy-on-write and lose write in both, so
 * the first write on either side faults and vmm_fault copies the page, or reuses it when it is the
 * last mapping. Pages the context does not own (borrowed: shared-memory attachments) are mapped
 * in the child as they are, and each attachment gains a reference.
 *
 * Work: one backend query per reservation and one lookup per mapped page, one mark per
 * reservation; the page-table work is a walk of the parent's user half and one map per mapped
 * page.
 */
#include "vmm_internal.h"

struct fork_walk {
	struct vmm_context *parent, *child;
	enum vm_status status;
};

static enum vm_status copy_reservations(struct vmm_context *child, struct vmm_context *parent)
{
	for (unsigned r = 0; r < parent->region_count; r++) {
		const struct vmm_region *region = &parent->regions[r];
		uint64_t end = vmm_region_end(region);
		for (uint64_t a = region->base; a < end;) {
			struct vmm_extent extent;
			vmm_extent_at(parent, r, a, &extent);
			if (extent.state == VMM_RANGE_RESERVED) {
				enum vm_status st = vmm_reserve_at_access(child, extent.start, extent.pages,
									  extent.access);
				if (st != VM_OK)
					return st;
			}
			a = extent.start + extent.pages * PAGE_SIZE;
		}
	}
	return VM_OK;
}

static enum vm_status share_page(struct fork_walk *w, uint64_t va, const struct pt_translation *t)
{
	struct vmm_context *parent = w->parent, *child = w->child;
	unsigned r = vmm_region_of(parent, va), access;
	vmm_note_mapped(child, vmm_region_of(child, va), va); /* the child has the parent's reservations */
	if (t->ownership != PT_DATA_OWNED)
		return pt_map(&child->pt, va, t->pa, 1, t->size, t->prot, PT_DATA_BORROWED);
	MM_ASSERT(t->size == PT_PAGE_4K, "vmm_context_fork: owned large page at %llx",
		  (unsigned long long)va);
	parent->backend->lookup(parent, &parent->regions[r], va, &access);
	enum vm_status st = page_share_add(parent->pt.share, t->pa, child->pt.trace_context);
	if (st != VM_OK)
		return st;
	bool shared = (access & VMM_ACCESS_SHARED) != 0;
	if (!shared && !t->copy_on_write) {
		st = pt_set_copy_on_write(&parent->pt, va, true, t->prot);
		MM_ASSERT(st == VM_OK, "vmm_context_fork: marking %llx: %s", (unsigned long long)va,
			  vm_status_name(st));
	}
	unsigned prot = shared ? t->prot : t->prot & ~(unsigned)PT_WRITE;
	st = pt_map(&child->pt, va, t->pa, 1, PT_PAGE_4K, prot, PT_DATA_OWNED);
	if (st != VM_OK) {
		page_share_drop(parent->pt.share, t->pa, child->pt.trace_context);
		return st;
	}
	if (!shared) {
		st = pt_set_copy_on_write(&child->pt, va, true, prot);
		MM_ASSERT(st == VM_OK, "vmm_context_fork: marking the child's %llx: %s",
			  (unsigned long long)va, vm_status_name(st));
	}
	return VM_OK;
}

static void share_leaf(void *cookie, uint64_t va, const struct pt_translation *t)
{
	struct fork_walk *w = cookie;
	if (w->status == VM_OK)
		w->status = share_page(w, va, t);
}

enum vm_status vmm_context_fork(struct vmm_context *child, struct vmm_context *parent,
				const struct vmm_region *child_regions)
{
	MM_ASSERT(parent->kind == VMM_CONTEXT_USER && parent->demand_paged,
		  "vmm_context_fork: only demand-paged user contexts fork");
	struct vmm_config config = {
		.kind = VMM_CONTEXT_USER,
		.backend = parent->backend == &vmm_backend_list ? VMM_BACKEND_LIST : VMM_BACKEND_PAGETABLE,
		.source = parent->source,
		.regions = child_regions ? child_regions : parent->regions,
		.region_count = parent->region_count,
		.brk_region = parent->brk_region,
		.shm_region = parent->shm_region,
		.kernel = parent->kernel,
		.demand_paged = true,
	};
	enum vm_status st = vmm_context_create(child, &config);
	if (st != VM_OK)
		return st;
	st = copy_reservations(child, parent);
	if (st == VM_OK) {
		struct fork_walk w = { parent, child, VM_OK };
		pt_for_each_leaf(&parent->pt, PT_HALF_USER, share_leaf, &w);
		st = w.status;
	}
	if (st != VM_OK) {
		vmm_context_destroy(child);
		return st;
	}
	child->brk = parent->brk;
	for (unsigned i = 0; i < VMM_MAX_SHM_ATTACHMENTS; i++)
		if (parent->shm[i].shm) {
			child->shm[i] = parent->shm[i];
			child->shm[i].shm->refs++;
		}
	return VM_OK;
}
