/*
 * The one interface of the VMM's virtual-range bookkeeping. Two implementations:
 *   vmm_backend_pagetable.c - the state lives in the page-table entries (software bits)
 *   vmm_backend_list.c      - an ordered, indexed list of free/reserved ranges per region
 * The placement policy is not here: vmm.c asks a backend for the lowest free run of a length and
 * applies the policy itself, so both backends answer every request with the same address.
 *
 * Every operation adds what it looked at (entries or records visited) to ctx->backend_work, for
 * tracing; bookkeeping_bytes reports the memory the backend's state takes.
 */
#ifndef PAGESCOPE_MM_VMM_BACKEND_H
#define PAGESCOPE_MM_VMM_BACKEND_H

#include "pagetable.h"

struct vmm_context;
struct vmm_region;

/* A maximal run of free pages (clipped to its region). */
struct vmm_free_run {
	uint64_t start; /* address */
	uint64_t pages;
};

enum vmm_range_state { VMM_RANGE_FREE, VMM_RANGE_RESERVED };

/*
 * The access a reservation allows, kept by the backend with the reservation (what a page fault
 * asks: may this page be read, written, executed?): the PT_READ, PT_WRITE and PT_EXECUTE bits of
 * enum pt_prot, plus VMM_ACCESS_SHARED (its pages stay shared, not copied, across a fork: Linux's
 * MAP_SHARED). No READ = no access at all (a PROT_NONE reservation: a guard, or address space kept
 * for later). Every page of one reservation allows the same; vmm.c splits a reservation to change
 * part of it, as Linux splits a VMA. Backends keep it in 4 bits (vmm_access_pack).
 */
#define VMM_ACCESS_SHARED 64u
#define VMM_ACCESS_MASK (PT_READ | PT_WRITE | PT_EXECUTE | VMM_ACCESS_SHARED)

static inline unsigned vmm_access_pack(unsigned access)
{
	return (access & 7u) | ((access & VMM_ACCESS_SHARED) ? 8u : 0u);
}

static inline unsigned vmm_access_unpack(unsigned bits)
{
	return (bits & 7u) | ((bits & 8u) ? VMM_ACCESS_SHARED : 0u);
}

/* What covers one address: a maximal free run (clipped to the region) or one reservation. */
struct vmm_extent {
	enum vmm_range_state state;
	uint64_t start;
	uint64_t pages;
	unsigned access; /* reserved: the access it allows (VMM_ACCESS_MASK bits); free: 0 */
};

struct vmm_backend_ops {
	const char *name;
	/* Sets up empty bookkeeping for every region of ctx. VM_OK or VM_ERR_NO_MEMORY (nothing kept). */
	enum vm_status (*init)(struct vmm_context *ctx);
	/* Returns every page the bookkeeping took (reservations still present are forgotten). */
	void (*destroy)(struct vmm_context *ctx);
	/*
	 * The lowest maximal free run of `region` that starts at or after `from` and has at least
	 * `min_pages` pages. `from` is the region base or the end of a run returned before. The run
	 * may be cut short once it has `enough_pages` (the policy needs no more to place the request,
	 * and a backend that finds run ends by scanning stops early). False when there is none.
	 */
	bool (*find_free_run)(struct vmm_context *ctx, const struct vmm_region *region, uint64_t from,
			      uint64_t min_pages, uint64_t enough_pages, struct vmm_free_run *out);
	/*
	 * Records [addr, addr + pages), which the caller knows to be free and inside `region`, as one
	 * reservation allowing `access` (VMM_ACCESS_MASK bits). VM_OK, or VM_ERR_NO_MEMORY with the
	 * state unchanged.
	 */
	enum vm_status (*mark_reserved)(struct vmm_context *ctx, const struct vmm_region *region,
					uint64_t addr, uint64_t pages, unsigned access);
	/*
	 * Optional (NULL: vmm.c calls find_free_run, then mark_reserved). vmm.c's placement in one
	 * call, with exactly the answer and the state those two calls would give: with padded =
	 * pages + align_pages - 1, the lowest maximal free run of `region` with at least `padded`
	 * pages (find_free_run from the region base, min_pages = enough_pages = padded); *addr = its
	 * start rounded up to align_pages pages; [*addr, *addr + pages) recorded as one reservation
	 * allowing `access`. align_pages is a power of two and padded <= region->pages (vmm.c checks
	 * both). VM_OK; VM_ERR_NO_SPACE (no such run) or VM_ERR_NO_MEMORY, the state unchanged.
	 * Work: within work_bound, as the two calls are.
	 */
	enum vm_status (*reserve_lowest)(struct vmm_context *ctx, const struct vmm_region *region,
					 uint64_t pages, uint64_t align_pages, unsigned access, uint64_t *addr);
	/*
	 * Frees the reservation that starts at addr and has exactly `pages` pages. Errors, with the
	 * state unchanged: VM_ERR_NOT_RESERVED (addr is free: never reserved or released twice),
	 * VM_ERR_NOT_RESERVATION_START, VM_ERR_WRONG_LENGTH.
	 */
	enum vm_status (*release)(struct vmm_context *ctx, const struct vmm_region *region,
				  uint64_t addr, uint64_t pages);
	/*
	 * Changes the length of the reservation at `start` from old_pages to new_pages (both > 0). For
	 * growth the caller has checked that the pages after it are free; they allow what the
	 * reservation allows. VM_OK, VM_ERR_NO_MEMORY or
	 * VM_ERR_BUSY (shrinking through a large page); the state is unchanged on error. Shrinking a
	 * reservation back to the length it had before a growth just made (undoing it) needs no
	 * memory and cannot fail: a growth keeps whatever the undo would need.
	 */
	enum vm_status (*resize)(struct vmm_context *ctx, const struct vmm_region *region,
				 uint64_t start, uint64_t old_pages, uint64_t new_pages);
	/*
	 * The extent covering addr, clipped to [lo, hi): lo <= addr < hi, both inside `region`
	 * (page-aligned). A backend that finds an extent's ends by scanning looks no further than
	 * the clip, so a caller that needs only part of the extent (is this range free? does this
	 * reservation cover it?) asks for that part and pays for that part.
	 */
	void (*query)(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr,
		      uint64_t lo, uint64_t hi, struct vmm_extent *out);
	/*
	 * What a page fault asks about the one page at addr: free or reserved, and (*access) what its
	 * reservation allows. The page-table backend reads the entry that decides the page, at the
	 * end of the walk the CPU made; the list backend descends its tree to the record. Work: at
	 * most one path (4 entries; H + 1 records), less when the backend's last lookups left part of
	 * the way at hand (page tables: the same leaf table, 1 entry, or level-1 table, 2; list: the
	 * same record, 0).
	 */
	enum vmm_range_state (*lookup)(struct vmm_context *ctx, const struct vmm_region *region,
				       uint64_t addr, unsigned *access);
	/*
	 * Makes addr, a page inside a reservation, the start of a reservation: [start, addr) and
	 * [addr, end) become two, allowing what the one allowed. VM_OK (also when addr already is a
	 * start), VM_ERR_NOT_RESERVED (addr is free), VM_ERR_NO_MEMORY or VM_ERR_BUSY (a large page
	 * straddles addr); the state is unchanged on error. Within work_bound(1).
	 */
	enum vm_status (*split)(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr);
	/*
	 * Sets the access the reservation [start, start + pages) allows (the caller knows it is exactly
	 * one reservation). Needs no memory; work at most one query plus the entries of the range.
	 */
	void (*set_access)(struct vmm_context *ctx, const struct vmm_region *region, uint64_t start,
			   uint64_t pages, unsigned access);
	/*
	 * Optional (NULL: the backend keeps no such mark and every release walks the page tables).
	 * A page is being mapped inside the reservation covering addr: the backend marks that
	 * reservation (a split passes the mark to both halves). Work: none when addr lies in the
	 * record the last search, query or lookup returned, else one lookup.
	 */
	void (*note_mapped)(struct vmm_context *ctx, const struct vmm_region *region, uint64_t addr);
	/*
	 * Optional, with note_mapped. Right after a successful release: true when note_mapped was
	 * never called for the reservation it freed, so its range holds no mapping (every mapping is
	 * made through vmm.c, which notes it first) and vmm_release need not walk the page tables.
	 * The page-table backend keeps no note: its release reads the range's entries anyway, and
	 * unmaps the reservation's pages itself before clearing them (a cleared entry may take a
	 * free-run tag, vmm_pt_leaf_tags.h); it answers whether a page is still mapped (a large
	 * page of a whole chunk released in its entry).
	 */
	bool (*released_unmapped)(const struct vmm_context *ctx);
	/*
	 * The most backend_work one find_free_run plus one mark_reserved, release or resize of at
	 * most `pages` pages may add in the current state: the bound the backend's header proves.
	 * Tests hold every operation to it.
	 */
	uint64_t (*work_bound)(const struct vmm_context *ctx, uint64_t pages);
	/* Bytes of memory holding the bookkeeping (see each backend for what it counts). */
	uint64_t (*bookkeeping_bytes)(const struct vmm_context *ctx);
	/*
	 * Recomputes everything the backend derives and keeps (summaries and hints, or subtree
	 * maxima, heights and links) from the primary state, the slow obvious way, and returns the
	 * number of places that disagree (each is mm_log'ged). For tests; adds nothing to
	 * backend_work.
	 */
	unsigned (*self_check)(struct vmm_context *ctx);
};

extern const struct vmm_backend_ops vmm_backend_pagetable;
extern const struct vmm_backend_ops vmm_backend_list;

#endif
