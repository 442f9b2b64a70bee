/*
 * The list backend's reservation hash (one per context): the filed reservations (those in the
 * reservation tree; pending ones are found in their region's pending set) by start address,
 * chained, so that a release finds its record without descending the reservation tree (vmem's
 * allocation hash). Kept from HASH_FROM_RESERVATIONS filed reservations on; below that the tree
 * is short and small contexts keep no table.
 *
 * A table is a directory page pointing at bucket pages (single pages of the source: no
 * contiguous run is needed), HASH_BUCKETS_PER_PAGE buckets each; it doubles when the entries
 * reach twice the buckets, and the old table is drained into the new one HASH_DRAIN entries per
 * insertion, so no single call rehashes it all. A lookup follows at most HASH_PROBES entries of
 * a chain in each table and otherwise returns NULL (the caller descends the tree): the hash only
 * ever saves work, and a table that cannot be had (out of memory) only costs the descent.
 *
 * Invariant: a reservation is in the hash (hash_link set, *hash_link == it) or in none of its
 * chains; entries counts those in it; a free record is in no chain. old's buckets below old_next
 * are empty. vmm_list_check.c recounts the entries and the links.
 * Bound: one call visits at most LIST_HASH_WORK entries (counted in backend_work): a lookup's
 * probes of both tables (2 HASH_PROBES), an insertion (1) and its drain (HASH_DRAIN).
 */
#ifndef PAGESCOPE_MM_VMM_LIST_HASH_H
#define PAGESCOPE_MM_VMM_LIST_HASH_H

#include "vmm_list_record.h"

#define HASH_BUCKETS_PER_PAGE (PAGE_SIZE / sizeof(struct range_record *))
#define HASH_FROM_RESERVATIONS 512 /* fewer: the tree is short, and small contexts keep no table */
#define HASH_PROBES 4
#define HASH_DRAIN 4
#define HASH_MAX_PAGES HASH_BUCKETS_PER_PAGE /* one directory page: 2^18 buckets; beyond, chains grow */
/* Hash entries one call visits at most: a lookup's probes of both tables, an insertion and its drain. */
#define LIST_HASH_WORK (2 * HASH_PROBES + 1 + HASH_DRAIN)

struct reservation_hash {
	struct range_record ***table, ***old; /* directories; old: NULL, or the table being drained */
	uint64_t pages, old_pages;            /* bucket pages of each */
	uint64_t old_next;                    /* old's buckets below this one are empty */
	uint64_t entries;
	uint64_t reservations;                /* filed reservations, hashed or not */
	uint64_t grow_at;                     /* entries at which growing is tried (again) */
};

/* Files reservation r by its start. Without a table (no memory) r stays out: the tree finds it. */
void vmm_list_hash_insert(struct vmm_context *ctx, struct reservation_hash *h, struct range_record *r);
/* Both tables back to the source (the context goes). */
void vmm_list_hash_destroy(struct vmm_context *ctx, struct reservation_hash *h);
/* Pages the tables hold: directories and bucket pages. */
uint64_t vmm_list_hash_pages(const struct reservation_hash *h);

/* --- inline: the steps every release takes -------------------------------------------------- */

static inline struct range_record **hash_bucket(struct range_record ***table, uint64_t index)
{
	return &table[index / HASH_BUCKETS_PER_PAGE][index % HASH_BUCKETS_PER_PAGE];
}

static inline struct range_record **hash_bucket_of(struct range_record ***table, uint64_t pages, uint64_t addr)
{
	uint64_t h = (addr / PAGE_SIZE) * 0x9E3779B97F4A7C15ull;
	return hash_bucket(table, (h >> 40) & (pages * HASH_BUCKETS_PER_PAGE - 1));
}

static inline void hash_chain_unlink(struct range_record *r)
{
	*r->hash_link = r->hash_next;
	if (r->hash_next)
		r->hash_next->hash_link = r->hash_link;
	r->hash_link = NULL;
}

/* The last entry is out: the tables go back to the source (as record pages go). */
void vmm_list_hash_emptied(struct vmm_context *ctx, struct reservation_hash *h);

/* Unfiles r; the last entry out takes the tables back to the source. */
static inline void vmm_list_hash_remove(struct vmm_context *ctx, struct reservation_hash *h,
					struct range_record *r)
{
	h->reservations--;
	if (!r->hash_link)
		return;
	hash_chain_unlink(r);
	if (--h->entries == 0)
		vmm_list_hash_emptied(ctx, h);
}

/* The reservation starting at addr if a short walk of its chains finds it, else NULL. */
static inline struct range_record *vmm_list_hash_find(struct vmm_context *ctx,
						      const struct reservation_hash *h, uint64_t addr)
{
	struct range_record ***tables[2] = { h->table, h->old };
	uint64_t pages[2] = { h->pages, h->old_pages };
	for (unsigned t = 0; t < 2 && tables[t]; t++) {
		struct range_record *r = *hash_bucket_of(tables[t], pages[t], addr);
		for (unsigned probe = 0; r && probe < HASH_PROBES; probe++, r = r->hash_next) {
			ctx->backend_work++;
			if (r->start == addr)
				return r;
		}
	}
	return NULL;
}

#endif
