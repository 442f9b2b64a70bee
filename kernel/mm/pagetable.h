/*
 * Four-level page tables, arch-free: map / unmap / protect / translate with neutral flags. The bit
 * encoding lives in the machine layer (<machine/pte.h>); this interface never exposes it except for the few
 * table helpers at the bottom, which the pagetable bookkeeping backend uses to keep its state in
 * the entries themselves.
 */
#ifndef PAGESCOPE_MM_PAGETABLE_H
#define PAGESCOPE_MM_PAGETABLE_H

#include "mm_env.h"
#include "page_source.h"
#include "vm_status.h"

/*
 * Neutral protection flags (enum pt_prot: PT_READ, PT_WRITE, PT_EXECUTE, PT_USER, PT_GLOBAL,
 * PT_UNCACHED; READ is implied by any mapping) and page sizes (enum pt_page_size: PT_PAGE_4K,
 * PT_PAGE_2M, PT_PAGE_1G, valued as the level of the leaf entry) are the `vm_flag` and
 * `page_size` groups of trace/events.def, so a trace names them as C does.
 */

enum pt_half { PT_HALF_USER, PT_HALF_KERNEL };

/* Owned data pages go back to the page source when unmapped; borrowed ones stay the caller's. */
enum pt_data_ownership { PT_DATA_BORROWED, PT_DATA_OWNED };

/*
 * Lets a bookkeeping backend store "this whole chunk is reserved" in one non-present upper-level
 * entry. When a map has to descend through such an entry, the page-table code creates the table
 * below and asks the backend what each child and the new pointer's software field should be.
 */
struct pt_chunk_ops {
	uint64_t (*split)(void *cookie, uint64_t chunk_entry, unsigned child_level, unsigned index);
	uint64_t (*summarize)(void *cookie, uint64_t *table, unsigned level);
	/*
	 * When set, tables of 4 KiB entries keep no used-entry count (their count stripe holds no
	 * meaning and is never read) and this says whether one has no used entry; the backend's
	 * writes of those entries need not move the count (pt_slots_rewrite, plain stores).
	 */
	bool (*leaf_empty)(const uint64_t *table);
	void *cookie;
};

struct page_share;

struct pagetable {
	paddr_t root;
	uint16_t trace_context; /* the context id in trace events; kept by pt_create_* (vmm.c sets it) */
	const struct page_source *source;
	/* The kernel's table whose upper half this one shares; NULL for the kernel's own. */
	const struct pagetable *kernel;
	const struct pt_chunk_ops *chunk_ops; /* NULL: no backend keeps marks in entries */
	/* Mapping counts of shared pages (NULL: none is shared): an owned page that is still mapped
	 * elsewhere is not freed when unmapped here, only its count drops (page_share.h). */
	struct page_share *share;
	uint64_t table_pages;                 /* page-table pages this table owns, root included */
	uint64_t tables_freed;                /* table pages freed so far (a table lives at one place
						 * until freed: a reader may keep a pointer until this moves) */
	uint64_t mapped_pages;                /* 4 KiB pages currently mapped (a 2 MiB page = 512) */
	uint64_t owned_data_pages;            /* data pages owned (freed at unmap or destroy) */
};

struct pt_translation {
	paddr_t pa;
	unsigned prot; /* enum pt_prot bits */
	enum pt_page_size size;
	enum pt_data_ownership ownership;
	bool copy_on_write; /* an owned page shared since a fork: write stays off until a fault */
};

/*
 * The kernel's table: a root plus the 256 upper-half level-2 tables (PDPTs) it points to, allocated
 * now so that copying the 256 root entries into every user table shares the kernel half forever.
 * Returns VM_OK or VM_ERR_NO_MEMORY (nothing left allocated).
 */
enum vm_status pt_create_kernel(struct pagetable *pt, const struct page_source *source);
/* A user table: a fresh root whose upper half is copied from `kernel`. VM_OK or VM_ERR_NO_MEMORY. */
enum vm_status pt_create_user(struct pagetable *pt, const struct page_source *source,
			      const struct pagetable *kernel);
/*
 * Frees every page-table page this table owns and every owned data page still mapped; a user
 * table leaves the shared kernel half alone. Destroy user tables before the kernel's.
 */
void pt_destroy(struct pagetable *pt);
/* Makes `root` the active address space (CR3 in the kernel). */
void pt_activate(const struct pagetable *pt);

/*
 * Maps `count` pages of `size` from va to pa (both aligned to the size). Refuses WRITE|EXECUTE
 * (VM_ERR_WRITE_EXECUTE), USER in the kernel half or any kernel-half change through a user table
 * (VM_ERR_INVALID), a page already mapped (VM_ERR_EXISTS), a large page over a table or a small
 * page under a large one (VM_ERR_BUSY), and VM_ERR_NO_MEMORY when a table cannot be allocated.
 * All or nothing: on any error the pages mapped by this call are unmapped again (owned data is
 * not freed by that rollback: it is still the caller's), so the state is as before the call.
 * Software bits already in an entry (a bookkeeping backend's marks) are kept.
 */
enum vm_status pt_map(struct pagetable *pt, uint64_t va, paddr_t pa, uint64_t count,
		      enum pt_page_size size, unsigned prot, enum pt_data_ownership ownership);
/*
 * Unmaps whatever is mapped in [va, va + pages * 4 KiB), frees owned data pages, invalidates each
 * removed leaf, frees page-table pages that become empty, keeps bookkeeping bits. A large page
 * only partly inside the range is VM_ERR_BUSY and nothing changes. *unmapped (may be NULL)
 * receives the number of 4 KiB pages that were mapped.
 */
enum vm_status pt_unmap(struct pagetable *pt, uint64_t va, uint64_t pages, uint64_t *unmapped);
/*
 * Changes the protection of every mapping in the range; every page must be mapped
 * (VM_ERR_NOT_MAPPED) and large pages wholly inside (VM_ERR_BUSY); W^X as for map. Checked
 * before anything changes: all or nothing. Invalidates each changed leaf.
 */
enum vm_status pt_protect(struct pagetable *pt, uint64_t va, uint64_t pages, unsigned prot);
/*
 * Changes the protection of the mapped pages of the range and leaves its unmapped pages alone
 * (mprotect over pages a program has only partly touched). W^X and large pages as pt_protect.
 */
enum vm_status pt_protect_mapped(struct pagetable *pt, uint64_t va, uint64_t pages, unsigned prot);
/*
 * Marks the 4 KiB leaf at va copy-on-write (or clears the mark) and gives it `prot`; a marked leaf
 * never gets PT_WRITE (neither here nor from pt_protect): the fault that finds it decides. Traced
 * as a vmm_protect. VM_OK, VM_ERR_NOT_MAPPED, VM_ERR_BUSY (a large page) or W^X as pt_map.
 */
enum vm_status pt_set_copy_on_write(struct pagetable *pt, uint64_t va, bool copy_on_write,
				    unsigned prot);
/*
 * Replaces the owned 4 KiB page mapped at va by the page at pa (a copy made for copy-on-write),
 * mapped with `prot`, owned and not copy-on-write; the old page is dropped as an unmap drops it
 * (freed, or its share count lowered). Needs no memory. Traced as vmm_unmap + vmm_map.
 * VM_OK, VM_ERR_NOT_MAPPED, VM_ERR_BUSY (a large page) or VM_ERR_INVALID (not owned).
 */
enum vm_status pt_replace_owned(struct pagetable *pt, uint64_t va, paddr_t pa, unsigned prot);
/* VM_OK and *out filled, or VM_ERR_NOT_MAPPED. */
enum vm_status pt_translate(const struct pagetable *pt, uint64_t va, struct pt_translation *out);

/* Calls `visit` for every leaf of `half` in address order (tests use this to audit tables). */
typedef void (*pt_leaf_visitor)(void *cookie, uint64_t va, const struct pt_translation *leaf);
void pt_for_each_leaf(const struct pagetable *pt, enum pt_half half, pt_leaf_visitor visit,
		      void *cookie);

/* Range walks over entries (the walkers here and the bookkeeping backend's) are pt_walk.h's. */

/* --- table helpers for the pagetable bookkeeping backend ------------------------------------ */

static inline uint64_t *pt_table(paddr_t table) { return (uint64_t *)phys_to_virt(table); }
/* Writes of entries that keep the used-entry count: pt_slots.h. Number of used entries in a table: */
unsigned pt_table_used(const uint64_t *table);
/*
 * Allocates a zeroed table and points entry `index` of `parent` (at `level`) at it, with
 * `software` in the pointer's software field. The entry must be unused. VM_OK or VM_ERR_NO_MEMORY.
 */
enum vm_status pt_install_table(struct pagetable *pt, uint64_t *parent, unsigned level,
				unsigned index, uint64_t software);
/*
 * Turns the chunk mark at entry `index` of `parent` (at `level`) into a table of 512 children that
 * say the same thing (pt_chunk_ops.split, .summarize), so a map or the backend can go below it.
 * VM_OK, or VM_ERR_NO_MEMORY with the entry unchanged.
 */
enum vm_status pt_split_chunk(struct pagetable *pt, uint64_t *parent, unsigned level, unsigned index);
/*
 * If the table under entry `index` of `parent` has no used entry (and is not one of the kernel's
 * pinned upper-half tables), frees it and clears the entry. Returns true when it did.
 */
bool pt_free_table_if_empty(struct pagetable *pt, uint64_t *parent, unsigned level, unsigned index);
/* Whether `table`, whose entries are at `table_level`, has no used entry (its count, or for a
 * leaf of a backend with pt_chunk_ops.leaf_empty, the backend's test). */
bool pt_table_empty(const struct pagetable *pt, const uint64_t *table, unsigned table_level);

#endif
