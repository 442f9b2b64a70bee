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

/* What covers one address: a maximal free run (clipped to the region) or one reservation. */
struct vmm_extent {
	enum vmm_range_state state;
	uint64_t start;
	uint64_t pages;
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
	 * reservation. VM_OK, or VM_ERR_NO_MEMORY with the state unchanged.
	 */
	enum vm_status (*mark_reserved)(struct vmm_context *ctx, const struct vmm_region *region,
					uint64_t addr, uint64_t pages);
	/*
	 * Frees the reservation that starts at addr and has exactly `pages` pages. Errors, with the
	 * state unchanged: VM_ERR_NOT_RESERVED (addr is free: never reserved or released twice),
	 * VM_ERR_NOT_RESERVATION_START, VM_ERR_WRONG_LENGTH.
	 */
	enum vm_status (*release)(struct vmm_context *ctx, const struct vmm_region *region,
				  uint64_t addr, uint64_t pages);
	/*
	 * Changes the length of the reservation at `start` from old_pages to new_pages (both > 0). For
	 * growth the caller has checked that the pages after it are free. VM_OK, VM_ERR_NO_MEMORY or
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
