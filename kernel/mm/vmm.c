/*
 * Virtual memory manager: contexts, regions, reservations and mappings on top of pagetable.c and
 * one bookkeeping backend (vmm_backend.h).
 *
 * Placement policy (the only one; both backends only answer "lowest free run of n pages"):
 *   lowest-address first fit within the region. Unaligned: the lowest free run of at least
 *   `pages` pages, at its start. Aligned (align > 1 page): the lowest free run of at least
 *   pages + align - 1 pages, at its first aligned address. Such a run always holds an aligned fit,
 *   so an aligned request is one search with the unaligned bound, whatever the layout (Linux's
 *   vm_unmapped_area pads the same way). The price, stated rather than hidden: a free run shorter
 *   than pages + align - 1 whose start happens to sit at or just before an aligned address is not
 *   used, so an aligned request can fail (VM_ERR_NO_SPACE) while such a run would hold it; in a
 *   virtual region the padding is at most align - 1 pages of address space, and a caller that
 *   knows the address asks vmm_reserve_at. (Finding those runs too would mean testing them one
 *   by one - linear in the runs, 8-17 ms over 100 000 misaligned holes - or keeping a summary per
 *   alignment in every table or record.) Because the policy lives here, both backends return the
 *   same address for the same request sequence; they differ in memory and work per operation.
 *
 * Invariants:
 *   - Every mapped page lies inside a reservation of the same context (vmm_map checks), so
 *     releasing a reservation is the one way to drop both.
 *   - The user heap is one reservation [brk region base, ALIGN_UP(brk)) backed by owned pages.
 *   - A context's shm attachments are listed in ctx->shm; each holds one reference.
 *   - All state lives in the contexts: what a family of contexts shares (the list of live
 *     contexts, trace ids, the active context) is kernel->family; there is no global.
 */
#include "vmm_internal.h"
#include "kernel/trace/tracepoints.h"

void vmm_for_each_context(struct vmm_context *kernel,
			  void (*visit)(void *cookie, struct vmm_context *ctx), void *cookie)
{
	struct list_node *node, *next;
	list_for_each_safe(node, next, &kernel->family.contexts)
		visit(cookie, container_of(node, struct vmm_context, family_link));
}

static uint8_t log2_of(uint64_t power_of_two)
{
	return (uint8_t)ilog2_u64(power_of_two);
}

uint64_t vmm_region_end(const struct vmm_region *region)
{
	return region->base + region->pages * PAGE_SIZE;
}

unsigned vmm_region_of(const struct vmm_context *ctx, uint64_t addr)
{
	for (unsigned i = 0; i < ctx->region_count; i++)
		if (addr >= ctx->regions[i].base && addr - ctx->regions[i].base < ctx->regions[i].pages * PAGE_SIZE)
			return i;
	return VMM_NO_REGION;
}

/* The region holding all of [addr, addr + pages), or VMM_NO_REGION. */
unsigned vmm_region_of_range(const struct vmm_context *ctx, uint64_t addr, uint64_t pages)
{
	unsigned r = vmm_region_of(ctx, addr);
	if (r == VMM_NO_REGION || !IS_ALIGNED(addr, PAGE_SIZE) || pages == 0 ||
	    pages > (vmm_region_end(&ctx->regions[r]) - addr) / PAGE_SIZE)
		return VMM_NO_REGION;
	return r;
}

/* Brackets each public call so last_work is the backend work of that call alone. */
uint64_t vmm_work_begin(struct vmm_context *ctx)
{
	return ctx->backend_work;
}

void vmm_work_end(struct vmm_context *ctx, uint64_t begin)
{
	ctx->last_work = ctx->backend_work - begin;
}

static bool regions_valid(const struct vmm_region *regions, unsigned count, enum vmm_context_kind kind)
{
	if (count == 0 || count > VMM_MAX_REGIONS)
		return false;
	for (unsigned i = 0; i < count; i++) {
		const struct vmm_region *r = &regions[i];
		bool upper = (r->base >> 63) != 0;
		if (!IS_ALIGNED(r->base, PAGE_SIZE) || r->pages == 0 ||
		    r->owner == MM_OWNER_NONE || (unsigned)r->owner >= MM_OWNER_COUNT ||
		    (kind == VMM_CONTEXT_USER && upper) ||
		    ((vmm_region_end(r) - 1) >> 63) != (r->base >> 63))
			return false;
	}
	return true;
}

enum vm_status vmm_context_create(struct vmm_context *ctx, const struct vmm_config *config)
{
	struct vmm_context *kernel = config->kind == VMM_CONTEXT_KERNEL ? ctx : config->kernel;
	if (config->kind == VMM_CONTEXT_USER && (!kernel || kernel->kind != VMM_CONTEXT_KERNEL))
		return VM_ERR_INVALID;
	const struct vmm_region *regions = config->regions;
	unsigned count = config->region_count;
	if (!regions && config->kind == VMM_CONTEXT_USER) {
		regions = kernel->family.user_regions;
		count = kernel->family.user_region_count;
	}
	if (!regions || !regions_valid(regions, count, config->kind) ||
	    (config->kind == VMM_CONTEXT_KERNEL && config->user_regions &&
	     !regions_valid(config->user_regions, config->user_region_count, VMM_CONTEXT_USER)) ||
	    (config->brk_region != VMM_NO_REGION && config->brk_region >= count) ||
	    (config->shm_region != VMM_NO_REGION && config->shm_region >= count))
		return VM_ERR_INVALID;
	uint16_t trace_context = config->kind == VMM_CONTEXT_KERNEL ? 0 : kernel->family.next_trace_context;
	*ctx = (struct vmm_context){
		.pt.trace_context = trace_context,
		.kind = config->kind,
		.backend = config->backend == VMM_BACKEND_LIST ? &vmm_backend_list : &vmm_backend_pagetable,
		.source = config->source,
		.regions = regions,
		.region_count = count,
		.brk_region = config->brk_region,
		.shm_region = config->shm_region,
		.kernel = kernel,
		.demand_paged = config->demand_paged,
	};
	if (ctx->brk_region != VMM_NO_REGION)
		ctx->brk = regions[ctx->brk_region].base;
	enum vm_status st = config->kind == VMM_CONTEXT_KERNEL ?
				    pt_create_kernel(&ctx->pt, config->source) :
				    pt_create_user(&ctx->pt, config->source, &kernel->pt);
	if (st != VM_OK)
		return st;
	st = ctx->backend->init(ctx);
	if (st != VM_OK) {
		pt_destroy(&ctx->pt);
		return st;
	}
	if (config->kind == VMM_CONTEXT_KERNEL) {
		ctx->family = (struct vmm_family){
			.user_regions = config->user_regions,
			.user_region_count = config->user_region_count,
		};
		list_init(&ctx->family.contexts);
		page_share_init(&ctx->family.share, config->source);
	} else {
		ctx->pt.share = &kernel->family.share;
	}
	kernel->family.next_trace_context++;
	list_push_back(&kernel->family.contexts, &ctx->family_link);
	trace_context_create(ctx->pt.root, ctx->pt.trace_context);
	/* The replay's starting point: every region free (trace/FORMAT.md). */
	for (unsigned r = 0; r < count; r++)
		trace_vmm_region(regions[r].base, regions[r].pages, ctx->pt.trace_context, (uint8_t)r,
				 (uint8_t)regions[r].owner, regions[r].name);
	return VM_OK;
}

static void snapshot_free_run(void *cookie, uint64_t start, uint64_t pages)
{
	(void)cookie;
	trace_vmm_snapshot_add(start, pages);
}

void vmm_trace_snapshot(struct vmm_context *ctx)
{
	for (unsigned r = 0; r < ctx->region_count; r++) {
		trace_vmm_snapshot_begin(ctx->pt.trace_context, (uint8_t)r);
		vmm_for_each_free_run(ctx, r, snapshot_free_run, NULL);
		trace_vmm_snapshot_end();
	}
	trace_vmm_bookkeeping(vmm_bookkeeping_bytes(ctx), ctx->pt.trace_context);
}

void vmm_context_destroy(struct vmm_context *ctx)
{
	MM_ASSERT(ctx->kind != VMM_CONTEXT_KERNEL ||
			  list_first(&ctx->family.contexts) == list_last(&ctx->family.contexts),
		  "vmm_context_destroy: kernel context destroyed before its user contexts");
	for (unsigned i = 0; i < VMM_MAX_SHM_ATTACHMENTS; i++)
		if (ctx->shm[i].shm)
			vmm_shm_detach(ctx, ctx->shm[i].addr);
	if (trace_enabled)
		vmm_trace_snapshot(ctx); /* the state it dies with, checked by the replay */
	ctx->backend->destroy(ctx);
	pt_destroy(&ctx->pt);
	if (ctx->kind == VMM_CONTEXT_KERNEL)
		page_share_destroy(&ctx->family.share);
	list_remove(&ctx->family_link);
	trace_context_destroy(ctx->pt.trace_context);
}

void vmm_context_activate(const struct vmm_context *ctx)
{
	struct vmm_family *family = &ctx->kernel->family;
	trace_context_switch(family->active_trace_context, ctx->pt.trace_context);
	family->active_trace_context = ctx->pt.trace_context;
	pt_activate(&ctx->pt);
}

/*
 * The placement policy (see the top of this file): one search, aligned or not, and the mark. A
 * backend that offers reserve_lowest does both in one call (vmm_backend.h: the same answer).
 */
static enum vm_status place_and_mark(struct vmm_context *ctx, const struct vmm_region *region,
				     uint64_t pages, uint64_t align_pages, unsigned access, uint64_t *addr)
{
	if (align_pages - 1 > region->pages - pages)
		return VM_ERR_NO_SPACE; /* the padded run would not fit in the region */
	if (ctx->backend->reserve_lowest)
		return ctx->backend->reserve_lowest(ctx, region, pages, align_pages, access, addr);
	uint64_t padded = pages + align_pages - 1;
	struct vmm_free_run run;
	if (!ctx->backend->find_free_run(ctx, region, region->base, padded, padded, &run))
		return VM_ERR_NO_SPACE;
	*addr = ALIGN_UP(run.start, align_pages * PAGE_SIZE);
	return ctx->backend->mark_reserved(ctx, region, *addr, pages, access);
}

enum vm_status vmm_reserve(struct vmm_context *ctx, unsigned region, uint64_t pages,
			   uint64_t align_pages, uint64_t *addr)
{
	return vmm_reserve_access(ctx, region, pages, align_pages, VMM_ACCESS_DEFAULT, addr);
}

enum vm_status vmm_reserve_access(struct vmm_context *ctx, unsigned region, uint64_t pages,
				  uint64_t align_pages, unsigned access, uint64_t *addr)
{
	uint64_t start = trace_cost_start();
	if (region >= ctx->region_count || pages == 0 || !IS_POW2(align_pages) ||
	    pages > ctx->regions[region].pages)
		return VM_ERR_INVALID;
	uint64_t work = vmm_work_begin(ctx);
	const struct vmm_region *r = &ctx->regions[region];
	enum vm_status st = place_and_mark(ctx, r, pages, align_pages, access, addr);
	vmm_work_end(ctx, work);
	if (st == VM_OK)
		ctx->reserved_pages += pages;
	if (st == VM_OK)
		trace_vmm_reserve(*addr, (uint32_t)pages, (uint32_t)ctx->last_work, ctx->pt.trace_context,
				  (uint8_t)region, log2_of(align_pages), trace_cost_since(start));
	else
		trace_vmm_reserve_fail((uint32_t)pages, (uint32_t)ctx->last_work, ctx->pt.trace_context,
				       (uint8_t)region, log2_of(align_pages));
	return st;
}

/* The extent covering addr in region r, seen only through [addr, addr + pages). */
void vmm_extent_within(struct vmm_context *ctx, unsigned r, uint64_t addr, uint64_t pages,
			  struct vmm_extent *out)
{
	ctx->backend->query(ctx, &ctx->regions[r], addr, addr, addr + pages * PAGE_SIZE, out);
}

/* True when [addr, addr + pages) of region r is free (the caller checked it lies inside r). */
bool vmm_range_is_free(struct vmm_context *ctx, unsigned r, uint64_t addr, uint64_t pages)
{
	struct vmm_extent extent;
	vmm_extent_within(ctx, r, addr, pages, &extent);
	return extent.state == VMM_RANGE_FREE && extent.pages == pages;
}

/* The extent covering addr, whole (clipped to its region only). */
void vmm_extent_at(struct vmm_context *ctx, unsigned r, uint64_t addr, struct vmm_extent *out)
{
	const struct vmm_region *region = &ctx->regions[r];
	ctx->backend->query(ctx, region, addr, region->base, vmm_region_end(region), out);
}

enum vm_status vmm_reserve_at(struct vmm_context *ctx, uint64_t addr, uint64_t pages)
{
	return vmm_reserve_at_access(ctx, addr, pages, VMM_ACCESS_DEFAULT);
}

enum vm_status vmm_reserve_at_access(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
				     unsigned access)
{
	uint64_t start = trace_cost_start();
	unsigned r = vmm_region_of_range(ctx, addr, pages);
	if (r == VMM_NO_REGION)
		return VM_ERR_INVALID;
	uint64_t work = vmm_work_begin(ctx);
	enum vm_status st = vmm_range_is_free(ctx, r, addr, pages) ?
				    ctx->backend->mark_reserved(ctx, &ctx->regions[r], addr, pages, access) :
				    VM_ERR_EXISTS;
	vmm_work_end(ctx, work);
	if (st == VM_OK)
		ctx->reserved_pages += pages;
	if (st == VM_OK)
		trace_vmm_reserve(addr, (uint32_t)pages, (uint32_t)ctx->last_work, ctx->pt.trace_context,
				  (uint8_t)r, 0, trace_cost_since(start));
	else
		trace_vmm_reserve_fail((uint32_t)pages, (uint32_t)ctx->last_work, ctx->pt.trace_context,
				       (uint8_t)r, 0);
	return st;
}

enum vm_status vmm_release(struct vmm_context *ctx, uint64_t addr, uint64_t pages)
{
	uint64_t start = trace_cost_start();
	unsigned r = vmm_region_of_range(ctx, addr, pages);
	if (r == VMM_NO_REGION)
		return VM_ERR_INVALID;
	uint64_t work = vmm_work_begin(ctx);
	enum vm_status st = ctx->backend->release(ctx, &ctx->regions[r], addr, pages);
	if (st == VM_OK) {
		/* A reservation nothing was ever mapped into has no entries to clear: no walk. */
		bool unmapped_already = ctx->backend->released_unmapped && ctx->backend->released_unmapped(ctx);
		enum vm_status unmapped = unmapped_already ? VM_OK : pt_unmap(&ctx->pt, addr, pages, NULL);
		MM_ASSERT(unmapped == VM_OK, "vmm_release: unmapping a released reservation failed: %s",
			  vm_status_name(unmapped));
		ctx->reserved_pages -= pages;
	}
	vmm_work_end(ctx, work);
	if (st == VM_OK)
		trace_vmm_release(addr, (uint32_t)pages, (uint32_t)ctx->last_work, ctx->pt.trace_context,
				  (uint8_t)r, trace_cost_since(start));
	return st;
}

/* VM_OK and *region when [va, va + pages) lies inside one reservation. */
static enum vm_status check_reserved(struct vmm_context *ctx, uint64_t va, uint64_t pages,
				     unsigned *region)
{
	unsigned r = vmm_region_of_range(ctx, va, pages);
	*region = r;
	if (r == VMM_NO_REGION)
		return VM_ERR_INVALID;
	struct vmm_extent extent; /* one reservation covers the range iff it spans the window */
	vmm_extent_within(ctx, r, va, pages, &extent);
	if (extent.state != VMM_RANGE_RESERVED || extent.pages != pages)
		return VM_ERR_NOT_RESERVED;
	return VM_OK;
}

enum vm_status vmm_map(struct vmm_context *ctx, uint64_t va, paddr_t pa, uint64_t count,
		       enum pt_page_size size, unsigned prot)
{
	if ((unsigned)size > PT_PAGE_1G || count == 0 || count > (UINT64_MAX >> 30))
		return VM_ERR_INVALID;
	uint64_t work = vmm_work_begin(ctx);
	unsigned region;
	enum vm_status st = check_reserved(ctx, va, count << (9 * (unsigned)size), &region);
	if (st == VM_OK) {
		vmm_note_mapped(ctx, region, va);
		st = pt_map(&ctx->pt, va, pa, count, size, prot, PT_DATA_BORROWED);
	}
	vmm_work_end(ctx, work);
	return st;
}

void vmm_note_mapped(struct vmm_context *ctx, unsigned r, uint64_t va)
{
	if (ctx->backend->note_mapped)
		ctx->backend->note_mapped(ctx, &ctx->regions[r], va);
}

enum vm_status vmm_map_fresh_page(struct vmm_context *ctx, unsigned region, uint64_t va, unsigned prot)
{
	paddr_t pa = page_source_alloc(ctx->source, 1, 1, ctx->regions[region].owner);
	if (pa == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	memset(phys_to_virt(pa), 0, PAGE_SIZE);
	vmm_note_mapped(ctx, region, va);
	enum vm_status st = pt_map(&ctx->pt, va, pa, 1, PT_PAGE_4K, prot, PT_DATA_OWNED);
	if (st != VM_OK)
		page_source_free(ctx->source, pa, 1);
	return st;
}

enum vm_status vmm_map_anonymous(struct vmm_context *ctx, uint64_t va, uint64_t pages, unsigned prot)
{
	uint64_t work = vmm_work_begin(ctx);
	unsigned region;
	enum vm_status st = check_reserved(ctx, va, pages, &region);
	for (uint64_t i = 0; st == VM_OK && i < pages; i++) {
		st = vmm_map_fresh_page(ctx, region, va + i * PAGE_SIZE, prot);
		if (st != VM_OK && i > 0)
			pt_unmap(&ctx->pt, va, i, NULL);
	}
	vmm_work_end(ctx, work);
	return st;
}

enum vm_status vmm_unmap(struct vmm_context *ctx, uint64_t va, uint64_t pages)
{
	if (vmm_region_of_range(ctx, va, pages) == VMM_NO_REGION)
		return VM_ERR_INVALID;
	return pt_unmap(&ctx->pt, va, pages, NULL);
}

enum vm_status vmm_protect(struct vmm_context *ctx, uint64_t va, uint64_t pages, unsigned prot)
{
	if (vmm_region_of_range(ctx, va, pages) == VMM_NO_REGION)
		return VM_ERR_INVALID;
	return pt_protect(&ctx->pt, va, pages, prot);
}

enum vm_status vmm_alloc(struct vmm_context *ctx, unsigned region, uint64_t pages, unsigned prot,
			 uint64_t *addr)
{
	if ((prot & PT_WRITE) && (prot & PT_EXECUTE))
		return VM_ERR_WRITE_EXECUTE;
	enum vm_status st = vmm_reserve(ctx, region, pages, 1, addr);
	if (st != VM_OK)
		return st;
	uint64_t work = ctx->last_work;
	st = vmm_map_anonymous(ctx, *addr, pages, prot);
	if (st != VM_OK)
		vmm_release(ctx, *addr, pages);
	ctx->last_work += work;
	return st;
}

void vmm_query(struct vmm_context *ctx, uint64_t addr, struct vmm_query_result *out)
{
	uint64_t work = vmm_work_begin(ctx);
	unsigned r = vmm_region_of(ctx, addr);
	*out = (struct vmm_query_result){ .state = VMM_PAGE_OUTSIDE, .region = r };
	if (r != VMM_NO_REGION) {
		struct vmm_extent extent;
		struct pt_translation t;
		vmm_extent_at(ctx, r, ALIGN_DOWN(addr, PAGE_SIZE), &extent);
		out->start = extent.start;
		out->pages = extent.pages;
		out->access = extent.access;
		out->state = extent.state == VMM_RANGE_FREE ? VMM_PAGE_FREE :
			     pt_translate(&ctx->pt, addr, &t) == VM_OK ? VMM_PAGE_MAPPED :
									 VMM_PAGE_RESERVED;
	}
	vmm_work_end(ctx, work);
}

/* --- brk ------------------------------------------------------------------------------------ */

static enum vm_status heap_grow(struct vmm_context *ctx, const struct vmm_region *region,
				uint64_t old_pages, uint64_t new_pages)
{
	uint64_t end = region->base + old_pages * PAGE_SIZE;
	uint64_t more = new_pages - old_pages;
	if (!vmm_range_is_free(ctx, ctx->brk_region, end, more))
		return VM_ERR_NO_SPACE;
	enum vm_status st = old_pages == 0 ?
				    ctx->backend->mark_reserved(ctx, region, region->base, new_pages,
								VMM_ACCESS_DEFAULT) :
				    ctx->backend->resize(ctx, region, region->base, old_pages, new_pages);
	if (st != VM_OK)
		return st;
	if (ctx->demand_paged)
		return VM_OK; /* the first touch of each page faults it in */
	st = vmm_map_anonymous(ctx, end, more, PT_READ | PT_WRITE | PT_USER);
	if (st == VM_OK)
		return VM_OK;
	/* Needs no memory (vmm_backend.h: a growth keeps what shrinking it back needs), so cannot fail. */
	enum vm_status undo = old_pages == 0 ?
				      ctx->backend->release(ctx, region, region->base, new_pages) :
				      ctx->backend->resize(ctx, region, region->base, new_pages, old_pages);
	MM_ASSERT(undo == VM_OK, "heap_grow: undoing the growth failed: %s", vm_status_name(undo));
	return st;
}

static enum vm_status heap_shrink(struct vmm_context *ctx, const struct vmm_region *region,
				  uint64_t old_pages, uint64_t new_pages)
{
	uint64_t end = region->base + new_pages * PAGE_SIZE;
	enum vm_status st = new_pages == 0 ?
				    ctx->backend->release(ctx, region, region->base, old_pages) :
				    ctx->backend->resize(ctx, region, region->base, old_pages, new_pages);
	if (st != VM_OK)
		return st;
	st = pt_unmap(&ctx->pt, end, old_pages - new_pages, NULL);
	MM_ASSERT(st == VM_OK, "heap_shrink: unmapping the heap tail failed: %s", vm_status_name(st));
	return VM_OK;
}

/*
 * brk of a demand-paged context: a program may mprotect or munmap part of its heap (musl's malloc
 * puts PROT_NONE guard pages in it), so the heap [base, break) is any run of reservations, as in
 * Linux. Growing extends the last one when it ends at the break and allows read and write (traced
 * as a vmm_brk of that reservation plus the vmm_reserve of the difference), else reserves the new
 * pages on their own (a vmm_reserve); shrinking is a munmap of [new break, old break)
 * (vmm_release_range: splits and releases). Nothing is mapped: pages come with their first touch.
 */
static enum vm_status demand_brk(struct vmm_context *ctx, const struct vmm_region *region,
				 uint64_t old_pages, uint64_t new_pages, uint64_t start)
{
	uint64_t old_end = region->base + old_pages * PAGE_SIZE;
	if (new_pages < old_pages)
		return vmm_release_range(ctx, region->base + new_pages * PAGE_SIZE, old_pages - new_pages);
	uint64_t more = new_pages - old_pages;
	if (!vmm_range_is_free(ctx, ctx->brk_region, old_end, more))
		return VM_ERR_NO_SPACE;
	struct vmm_extent last = { .state = VMM_RANGE_FREE };
	if (old_pages > 0)
		vmm_extent_at(ctx, ctx->brk_region, old_end - PAGE_SIZE, &last);
	bool extend = last.state == VMM_RANGE_RESERVED && last.access == VMM_ACCESS_DEFAULT;
	enum vm_status st = extend ? ctx->backend->resize(ctx, region, last.start, last.pages, last.pages + more) :
				     ctx->backend->mark_reserved(ctx, region, old_end, more, VMM_ACCESS_DEFAULT);
	if (st != VM_OK)
		return st;
	ctx->reserved_pages += more;
	if (extend)
		trace_vmm_brk(last.start, (uint32_t)last.pages, (uint32_t)(last.pages + more),
			      ctx->pt.trace_context, (uint8_t)ctx->brk_region);
	trace_vmm_reserve(old_end, (uint32_t)more, (uint32_t)ctx->last_work, ctx->pt.trace_context,
			  (uint8_t)ctx->brk_region, 0, trace_cost_since(start));
	return VM_OK;
}

enum vm_status vmm_brk(struct vmm_context *ctx, uint64_t new_break, uint64_t *break_out)
{
	uint64_t start = trace_cost_start();
	if (ctx->brk_region == VMM_NO_REGION)
		return VM_ERR_INVALID;
	const struct vmm_region *region = &ctx->regions[ctx->brk_region];
	if (new_break == 0) {
		*break_out = ctx->brk;
		return VM_OK;
	}
	if (new_break < region->base || new_break > vmm_region_end(region))
		return VM_ERR_INVALID;
	if (ctx->demand_paged) {
		uint64_t old_pages = (ALIGN_UP(ctx->brk, PAGE_SIZE) - region->base) / PAGE_SIZE;
		uint64_t new_pages = (ALIGN_UP(new_break, PAGE_SIZE) - region->base) / PAGE_SIZE;
		enum vm_status st = new_pages == old_pages ? VM_OK : demand_brk(ctx, region, old_pages, new_pages, start);
		if (st == VM_OK)
			ctx->brk = new_break;
		else if (new_pages > old_pages)
			trace_vmm_reserve_fail((uint32_t)(new_pages - old_pages), 0, ctx->pt.trace_context,
					       (uint8_t)ctx->brk_region, 0);
		*break_out = ctx->brk;
		return st;
	}
	uint64_t work = vmm_work_begin(ctx);
	uint64_t old_pages = (ALIGN_UP(ctx->brk, PAGE_SIZE) - region->base) / PAGE_SIZE;
	uint64_t new_pages = (ALIGN_UP(new_break, PAGE_SIZE) - region->base) / PAGE_SIZE;
	enum vm_status st = VM_OK;
	if (new_pages > old_pages)
		st = heap_grow(ctx, region, old_pages, new_pages);
	else if (new_pages < old_pages)
		st = heap_shrink(ctx, region, old_pages, new_pages);
	if (st == VM_OK) {
		ctx->brk = new_break;
		ctx->reserved_pages = ctx->reserved_pages + new_pages - old_pages;
	}
	*break_out = ctx->brk;
	vmm_work_end(ctx, work);
	/* The heap reservation grows or shrinks at its end: traced as a reserve or release of the delta. */
	uint64_t delta_start = region->base + MIN(old_pages, new_pages) * PAGE_SIZE;
	uint32_t delta_pages = (uint32_t)(old_pages > new_pages ? old_pages - new_pages : new_pages - old_pages);
	if (st == VM_OK && new_pages != old_pages)
		trace_vmm_brk(region->base, (uint32_t)old_pages, (uint32_t)new_pages, ctx->pt.trace_context,
			      (uint8_t)ctx->brk_region);
	if (st == VM_OK && new_pages > old_pages)
		trace_vmm_reserve(delta_start, delta_pages, (uint32_t)ctx->last_work, ctx->pt.trace_context,
				  (uint8_t)ctx->brk_region, 0, trace_cost_since(start));
	else if (st == VM_OK && new_pages < old_pages)
		trace_vmm_release(delta_start, delta_pages, (uint32_t)ctx->last_work, ctx->pt.trace_context,
				  (uint8_t)ctx->brk_region, trace_cost_since(start));
	else if (st != VM_OK && new_pages > old_pages)
		trace_vmm_reserve_fail(delta_pages, (uint32_t)ctx->last_work, ctx->pt.trace_context,
				       (uint8_t)ctx->brk_region, 0);
	return st;
}

void vmm_for_each_free_run(struct vmm_context *ctx, unsigned region, vmm_free_run_visitor visit,
			   void *cookie)
{
	const struct vmm_region *r = &ctx->regions[region];
	uint64_t end = vmm_region_end(r);
	for (uint64_t addr = r->base; addr < end && addr >= r->base;) {
		struct vmm_extent extent;
		ctx->backend->query(ctx, r, addr, r->base, end, &extent);
		MM_ASSERT(extent.pages > 0 && extent.start <= addr,
			  "vmm_for_each_free_run: backend returned an empty extent at %#llx",
			  (unsigned long long)addr);
		if (extent.state == VMM_RANGE_FREE)
			visit(cookie, extent.start, extent.pages);
		addr = extent.start + extent.pages * PAGE_SIZE;
	}
}

/* --- shared memory -------------------------------------------------------------------------- */

enum vm_status vmm_shm_create(struct vmm_shm *shm, const struct page_source *source, uint64_t pages)
{
	if (pages == 0)
		return VM_ERR_INVALID;
	paddr_t base = page_source_alloc(source, pages, 1, MM_OWNER_USER);
	if (base == PAGE_SOURCE_FAILED)
		return VM_ERR_NO_MEMORY;
	memset(phys_to_virt(base), 0, pages * PAGE_SIZE);
	*shm = (struct vmm_shm){ .source = source, .base = base, .pages = pages, .refs = 1 };
	return VM_OK;
}

void vmm_shm_put(struct vmm_shm *shm)
{
	MM_ASSERT(shm->refs > 0, "vmm_shm_put: object already freed");
	if (--shm->refs == 0)
		page_source_free(shm->source, shm->base, shm->pages);
}

enum vm_status vmm_shm_attach(struct vmm_context *ctx, struct vmm_shm *shm, unsigned prot,
			      uint64_t *addr)
{
	if (ctx->shm_region == VMM_NO_REGION || shm->refs == 0)
		return VM_ERR_INVALID;
	unsigned slot = 0;
	while (slot < VMM_MAX_SHM_ATTACHMENTS && ctx->shm[slot].shm)
		slot++;
	if (slot == VMM_MAX_SHM_ATTACHMENTS)
		return VM_ERR_NO_SPACE;
	enum vm_status st = vmm_reserve(ctx, ctx->shm_region, shm->pages, 1, addr);
	if (st != VM_OK)
		return st;
	st = vmm_map(ctx, *addr, shm->base, shm->pages, PT_PAGE_4K, prot);
	if (st != VM_OK) {
		vmm_release(ctx, *addr, shm->pages);
		return st;
	}
	shm->refs++;
	ctx->shm[slot] = (struct vmm_shm_attachment){ .shm = shm, .addr = *addr };
	return VM_OK;
}

enum vm_status vmm_shm_detach(struct vmm_context *ctx, uint64_t addr)
{
	for (unsigned i = 0; i < VMM_MAX_SHM_ATTACHMENTS; i++) {
		struct vmm_shm *shm = ctx->shm[i].shm;
		if (!shm || ctx->shm[i].addr != addr)
			continue;
		enum vm_status st = vmm_release(ctx, addr, shm->pages);
		MM_ASSERT(st == VM_OK, "vmm_shm_detach: attachment reservation lost: %s",
			  vm_status_name(st));
		ctx->shm[i].shm = NULL;
		vmm_shm_put(shm);
		return VM_OK;
	}
	return VM_ERR_NOT_MAPPED;
}

uint64_t vmm_bookkeeping_bytes(const struct vmm_context *ctx)
{
	return ctx->backend->bookkeeping_bytes(ctx);
}

uint64_t vmm_page_table_pages(const struct vmm_context *ctx)
{
	return ctx->pt.table_pages;
}
