/*
 * Virtual memory manager: address-space contexts, named regions, reservations, mappings, the user
 * heap (brk) and shared memory. Arch-free; page tables through pagetable.h, bookkeeping through
 * one of the two backends of vmm_backend.h, all memory from an injected page source.
 */
#ifndef PAGESCOPE_MM_VMM_H
#define PAGESCOPE_MM_VMM_H

#include "page_share.h"
#include "pagetable.h"
#include "vmm_backend.h"
#include "vmm_pt_caches.h"
#include "kernel/lib/list.h"

#define VMM_MAX_REGIONS 8
#define VMM_MAX_SHM_ATTACHMENTS 16
#define VMM_NO_REGION (~0u)

/*
 * A window of the address space in which reservations are placed. Region tables are machine
 * facts: the kernel's come from kernel/arch/amd64 (handed over by kernel/core/memory.c), host
 * tests build their own. A region is named by its index in its context's table; for the kernel's
 * and the default user layout, the trace names those indices (`kernel_region` and `user_region`
 * groups of trace/events.def: VMM_KREGION_*, VMM_UREGION_*).
 */
struct vmm_region {
	const char *name;    /* for logs; the machine's tables use the trace's names (TRACE_NAME) */
	uint64_t base;       /* page-aligned, canonical */
	uint64_t pages;
	enum mm_owner owner; /* tag of the pages vmm_map_anonymous backs it with; not NONE */
};

enum vmm_context_kind { VMM_CONTEXT_KERNEL, VMM_CONTEXT_USER };

struct vmm_config {
	enum vmm_context_kind kind;
	enum vmm_backend_kind backend;
	const struct page_source *source;
	/* This context's regions. A user context given NULL gets the kernel context's user_regions. */
	const struct vmm_region *regions;
	unsigned region_count;
	/* Kernel context only: the machine's default layout of user contexts (may be NULL). */
	const struct vmm_region *user_regions;
	unsigned user_region_count;
	unsigned brk_region;          /* region grown by vmm_brk; VMM_NO_REGION for none */
	/*
	 * Demand paging: vmm_brk only reserves (the first touch of a page faults it in, vmm_fault),
	 * and the context's pages may be shared copy-on-write with a fork (vmm_context_fork). Off:
	 * vmm_brk maps at once, as the kernel's own scenarios expect.
	 */
	bool demand_paged;
	unsigned shm_region;          /* region shared memory is attached in; VMM_NO_REGION for none */
	struct vmm_context *kernel;   /* user contexts: the kernel context whose half they share */
};

/*
 * What every context of one address-space family shares, kept in its kernel context: the VMM's
 * whole state outside the contexts themselves (there are no hidden globals, so two families, as
 * in host tests, never see each other and trace ids do not depend on what ran before).
 */
struct vmm_family {
	struct list_node contexts;             /* live contexts, creation order, the kernel's first */
	const struct vmm_region *user_regions; /* default regions of user contexts */
	unsigned user_region_count;
	uint16_t next_trace_context;           /* trace id of the next context (the kernel's is 0) */
	uint16_t active_trace_context;         /* whose tables are active, for context_switch */
	struct page_share share;               /* mapping counts of pages shared between contexts */
};

struct vmm_shm; /* below */

struct vmm_shm_attachment {
	struct vmm_shm *shm;
	uint64_t addr;
};

struct vmm_context {
	enum vmm_context_kind kind;
	const struct vmm_backend_ops *backend;
	void *backend_private;
	struct pagetable pt;
	struct pt_chunk_ops chunk_ops;
	const struct page_source *source;
	const struct vmm_region *regions;
	unsigned region_count;
	unsigned brk_region;
	unsigned shm_region;
	uint64_t backend_work;   /* cumulative entries/records visited by the backend */
	uint64_t last_work;      /* backend work of the last vmm_* call */
	struct vmm_pt_caches pt_caches; /* the page-table backend's caches (vmm_pt_caches.h) */
	uint64_t brk;            /* current break; the heap is [region base, ALIGN_UP(brk)) */
	bool demand_paged;       /* see vmm_config */
	uint64_t reserved_pages; /* pages in reservations, whatever is mapped */
	struct vmm_shm_attachment shm[VMM_MAX_SHM_ATTACHMENTS];
	struct vmm_context *kernel;   /* the family's kernel context (itself for the kernel's) */
	struct list_node family_link; /* in kernel->family.contexts */
	struct vmm_family family;     /* kernel context only */
};

/*
 * Creates a context. A kernel context must exist before user contexts (they share its upper
 * half). VM_OK, VM_ERR_INVALID (bad config: no regions, a bad region table, a user context
 * without a kernel context) or VM_ERR_NO_MEMORY (nothing left allocated). The context must not
 * move while it lives (it is linked into its family).
 */
enum vm_status vmm_context_create(struct vmm_context *ctx, const struct vmm_config *config);
/*
 * Returns every page the context used to the page source: owned data pages, page-table pages,
 * bookkeeping; drops its shared-memory attachments. User contexts before their kernel context
 * (destroying a kernel context with live user contexts panics).
 */
void vmm_context_destroy(struct vmm_context *ctx);
void vmm_context_activate(const struct vmm_context *ctx);

/*
 * Reserves `pages` pages in region `region`, at an address that is a multiple of align_pages *
 * 4 KiB (a power of two): lowest-address first fit. Unaligned, the start of the lowest free run
 * of at least `pages` pages; aligned, the first aligned address of the lowest free run of at least
 * pages + align_pages - 1 pages (so shorter runs are not used even where one would hold the
 * request at an aligned address: see the placement policy in vmm.c; vmm_reserve_at places
 * exactly). VM_OK and *addr, VM_ERR_NO_SPACE, VM_ERR_NO_MEMORY (pagetable backend needs a table,
 * list backend a record) or VM_ERR_INVALID. Nothing changes on error. Work: one backend search
 * and one mark, within the backend's work_bound(), aligned or not.
 */
enum vm_status vmm_reserve(struct vmm_context *ctx, unsigned region, uint64_t pages,
			   uint64_t align_pages, uint64_t *addr);
/* Reserves exactly [addr, addr + pages); VM_ERR_EXISTS if any of it is reserved. */
enum vm_status vmm_reserve_at(struct vmm_context *ctx, uint64_t addr, uint64_t pages);
/*
 * The two above, for a reservation that allows `access` (VMM_ACCESS_MASK bits: what a page fault
 * in it may map; vmm_backend.h). The plain ones reserve VMM_ACCESS_DEFAULT.
 */
#define VMM_ACCESS_DEFAULT (PT_READ | PT_WRITE)
enum vm_status vmm_reserve_access(struct vmm_context *ctx, unsigned region, uint64_t pages,
				  uint64_t align_pages, unsigned access, uint64_t *addr);
enum vm_status vmm_reserve_at_access(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
				     unsigned access);
/*
 * Releases the reservation [addr, addr + pages), unmapping what is still mapped in it (owned
 * pages go back to the page source). Errors as vmm_backend_ops.release, plus VM_ERR_INVALID for
 * an address outside every region; nothing changes on error.
 */
enum vm_status vmm_release(struct vmm_context *ctx, uint64_t addr, uint64_t pages);

/*
 * Maps caller-owned physical memory into reserved, unmapped pages. VM_ERR_NOT_RESERVED when the
 * range is not inside one reservation; otherwise as pt_map (all or nothing).
 */
enum vm_status vmm_map(struct vmm_context *ctx, uint64_t va, paddr_t pa, uint64_t count,
		       enum pt_page_size size, unsigned prot);
/*
 * Backs reserved pages with fresh zeroed 4 KiB pages owned by the context. All or nothing: on
 * VM_ERR_NO_MEMORY (or any map error) the pages taken by this call are returned.
 */
enum vm_status vmm_map_anonymous(struct vmm_context *ctx, uint64_t va, uint64_t pages,
				 unsigned prot);
/* Unmaps (the reservation stays); as pt_unmap. */
enum vm_status vmm_unmap(struct vmm_context *ctx, uint64_t va, uint64_t pages);
enum vm_status vmm_protect(struct vmm_context *ctx, uint64_t va, uint64_t pages, unsigned prot);
/* vmm_reserve + vmm_map_anonymous, all or nothing. */
enum vm_status vmm_alloc(struct vmm_context *ctx, unsigned region, uint64_t pages, unsigned prot,
			 uint64_t *addr);

enum vmm_page_state { VMM_PAGE_OUTSIDE, VMM_PAGE_FREE, VMM_PAGE_RESERVED, VMM_PAGE_MAPPED };

struct vmm_query_result {
	enum vmm_page_state state; /* MAPPED: reserved and the page at addr is mapped */
	unsigned region;           /* VMM_NO_REGION when OUTSIDE */
	uint64_t start;            /* extent: the reservation, or the maximal free run in the region */
	uint64_t pages;
	unsigned access;           /* what the reservation allows (VMM_ACCESS_MASK bits); free: 0 */
};
void vmm_query(struct vmm_context *ctx, uint64_t addr, struct vmm_query_result *out);

/*
 * brk: the heap is [base, ALIGN_UP(break, 4 KiB)) of the brk region, one reservation backed by
 * owned user read/write pages. new_break == 0 asks for the current break. Growing maps zeroed
 * pages; shrinking unmaps and frees them. VM_OK and *break_out, or VM_ERR_INVALID (outside the
 * region), VM_ERR_NO_SPACE (pages after the heap are reserved), VM_ERR_NO_MEMORY; the break
 * does not move on error.
 */
enum vm_status vmm_brk(struct vmm_context *ctx, uint64_t new_break, uint64_t *break_out);

/*
 * Shared memory: a refcounted set of physical pages. The creator holds one reference
 * (vmm_shm_put drops it), each attachment one; the pages go back to the page source with the
 * last reference.
 */
struct vmm_shm {
	const struct page_source *source;
	paddr_t base;
	uint64_t pages;
	unsigned refs;
};
/* Zeroed pages; VM_OK or VM_ERR_NO_MEMORY. */
enum vm_status vmm_shm_create(struct vmm_shm *shm, const struct page_source *source, uint64_t pages);
void vmm_shm_put(struct vmm_shm *shm);
/* Reserves in the shm region and maps the object's pages; VM_OK and *addr, or an error. */
enum vm_status vmm_shm_attach(struct vmm_context *ctx, struct vmm_shm *shm, unsigned prot,
			      uint64_t *addr);
/* Unmaps and releases an attachment made by vmm_shm_attach; VM_ERR_NOT_MAPPED if none at addr. */
enum vm_status vmm_shm_detach(struct vmm_context *ctx, uint64_t addr);

/*
 * Calls `visit` for every maximal free run of `region` in address order (from the backend's
 * bookkeeping: what a trace snapshot records). O(extents in the region) backend queries.
 */
typedef void (*vmm_free_run_visitor)(void *cookie, uint64_t start, uint64_t pages);
void vmm_for_each_free_run(struct vmm_context *ctx, unsigned region, vmm_free_run_visitor visit,
			   void *cookie);
/* Emits one vmm_snapshot per region of ctx (its free runs); only when tracing is on. */
void vmm_trace_snapshot(struct vmm_context *ctx);
/* Calls `visit` for every live context of the kernel context's family, in creation order. */
void vmm_for_each_context(struct vmm_context *kernel,
			  void (*visit)(void *cookie, struct vmm_context *ctx), void *cookie);

/* Bytes of the backend's bookkeeping, and page-table pages, for benchmarks and traces. */
uint64_t vmm_bookkeeping_bytes(const struct vmm_context *ctx);
uint64_t vmm_page_table_pages(const struct vmm_context *ctx);

/* --- address-space operations of a user program (Linux semantics; vmm_ranges.c) -------------- */

/*
 * Makes addr the start of a reservation (splitting the one around it) and returns VM_OK; VM_OK
 * too when addr is free or already a start. VM_ERR_NO_MEMORY / VM_ERR_BUSY as the backend's split.
 */
enum vm_status vmm_split(struct vmm_context *ctx, uint64_t addr);
/*
 * munmap: releases every reserved page of [addr, addr + pages), splitting the reservations it
 * cuts, unmapping (and freeing, or unsharing) what is mapped there. Free pages in the range are
 * skipped. VM_OK, VM_ERR_INVALID (outside every region or misaligned) or VM_ERR_NO_MEMORY (a
 * split needed a record: nothing released).
 */
enum vm_status vmm_release_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages);
/*
 * mprotect: every page of [addr, addr + pages) must be reserved (VM_ERR_NOT_RESERVED otherwise,
 * nothing changed); the reservations are split at both ends and each allows `access` afterwards
 * (VMM_ACCESS_SHARED is kept as it was); mapped pages get the matching protection (no PT_READ:
 * mapped without PT_USER, so user access faults; a copy-on-write page keeps write off).
 * VM_ERR_WRITE_EXECUTE for write with execute.
 */
enum vm_status vmm_protect_range(struct vmm_context *ctx, uint64_t addr, uint64_t pages,
				 unsigned access);
/* The page protection a user mapping that allows `access` gets (PT_USER unless no access). */
unsigned vmm_access_prot(unsigned access);

/* --- page faults (vmm_fault.c) -------------------------------------------------------------- */

/* A stack that grows down on a fault below it, as Linux's VM_GROWSDOWN mappings do. */
struct vmm_stack {
	uint64_t bottom; /* its lowest reserved page now (moves down as it grows) */
	uint64_t limit;  /* the lowest address it may grow to (top - RLIMIT_STACK) */
	unsigned access;
};

enum vmm_fault_kind { VMM_FAULT_READ, VMM_FAULT_WRITE, VMM_FAULT_EXECUTE };

struct vmm_fault_result {
	enum vmm_fault_outcome outcome; /* the `fault_outcome` group of trace/events.def */
	enum vmm_page_state state;      /* what the bookkeeping said the page was */
	unsigned access;                /* what its reservation allows (0 when not reserved) */
	unsigned region;
	uint64_t lookup_work;           /* backend entries or records read to classify the address */
	uint64_t lookup_ticks;          /* mm_clock_ticks() around the backend's lookup call (vmm_fault.c) */
};

/*
 * Resolves a user-mode page fault at addr: asks the backend what the page is (one query of one
 * page: under vmm=pagetable the entry the CPU's walk reached, under vmm=list the record) and then
 * maps a zeroed page (ZERO_FILL), grows `stack` (STACK_GROW; may be NULL), copies or reuses a
 * copy-on-write page (COW_COPY, COW_REUSE), or refuses (REFUSED_OUTSIDE: no region;
 * REFUSED_FREE: not reserved; REFUSED_PROTECTION: the reservation does not allow the access, or
 * the page is mapped and allows it already = SPURIOUS) or runs out (OUT_OF_MEMORY: nothing
 * changed). Only for demand-paged user contexts.
 */
void vmm_fault(struct vmm_context *ctx, uint64_t addr, enum vmm_fault_kind kind,
	       struct vmm_stack *stack, struct vmm_fault_result *out);

/* --- fork (vmm_fork.c) ---------------------------------------------------------------------- */

/*
 * Creates `child` as a copy of demand-paged user context `parent`: the same regions (read from
 * child_regions, a copy the child keeps, or the parent's table when NULL), the same
 * reservations (same access), the same break; every mapped page is shared: VMM_ACCESS_SHARED
 * reservations as they are, private pages copy-on-write (read-only in both until a write fault).
 * VM_OK, or VM_ERR_NO_MEMORY with the child destroyed (the parent keeps its pages; some may stay
 * marked copy-on-write, which a write fault resolves by reuse).
 */
enum vm_status vmm_context_fork(struct vmm_context *child, struct vmm_context *parent,
				const struct vmm_region *child_regions);

#endif
