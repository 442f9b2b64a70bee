/*
 * The list backend's reservation hash: design, invariant and bound in vmm_list_hash.h, with the
 * lookup and the removal every release takes (inline there). The chains are linked through the
 * record's hash_next, and each entry knows what points at it (hash_link), so an entry leaves its
 * chain in O(1) without a walk. Here: insertion with its growth and drain, and the tables.
 */
#include "vmm_list_hash.h"

static void chain_push(struct range_record **head, struct range_record *r)
{
	r->hash_next = *head;
	if (r->hash_next)
		r->hash_next->hash_link = &r->hash_next;
	r->hash_link = head;
	*head = r;
}

static void hash_table_free(struct vmm_context *ctx, struct range_record ***table, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++)
		page_source_free(ctx->source, virt_to_phys(table[i]), 1);
	page_source_free(ctx->source, virt_to_phys(table), 1);
}

/* A directory and `pages` empty bucket pages, or NULL (nothing kept). */
static struct range_record ***hash_table_new(struct vmm_context *ctx, uint64_t pages)
{
	paddr_t pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
	if (pa == PAGE_SOURCE_FAILED)
		return NULL;
	struct range_record ***table = phys_to_virt(pa);
	for (uint64_t i = 0; i < pages; i++) {
		pa = page_source_alloc(ctx->source, 1, 1, MM_OWNER_MM_META);
		if (pa == PAGE_SOURCE_FAILED) {
			hash_table_free(ctx, table, i);
			return NULL;
		}
		table[i] = phys_to_virt(pa);
		memset(table[i], 0, PAGE_SIZE);
	}
	return table;
}

/* Moves up to HASH_DRAIN entries (or empty buckets) of the old table into the new one. */
static void hash_drain(struct vmm_context *ctx, struct reservation_hash *h)
{
	for (unsigned step = 0; step < HASH_DRAIN && h->old; step++) {
		ctx->backend_work++;
		struct range_record *r = *hash_bucket(h->old, h->old_next);
		if (r) {
			hash_chain_unlink(r);
			chain_push(hash_bucket_of(h->table, h->pages, r->start), r);
		} else if (++h->old_next == h->old_pages * HASH_BUCKETS_PER_PAGE) {
			hash_table_free(ctx, h->old, h->old_pages);
			h->old = NULL;
		}
	}
}

void vmm_list_hash_insert(struct vmm_context *ctx, struct reservation_hash *h, struct range_record *r)
{
	r->hash_link = NULL;
	if (++h->reservations < HASH_FROM_RESERVATIONS && !h->table)
		return;
	if (!h->table) {
		h->table = hash_table_new(ctx, 1);
		if (!h->table)
			return;
		h->pages = 1;
	}
	if (!h->old && h->entries >= 2 * h->pages * HASH_BUCKETS_PER_PAGE && h->entries >= h->grow_at &&
	    h->pages < HASH_MAX_PAGES) {
		struct range_record ***bigger = hash_table_new(ctx, 2 * h->pages);
		h->grow_at = bigger ? 0 : 2 * h->entries; /* no memory: not tried again at once */
		if (bigger) {
			h->old = h->table;
			h->old_pages = h->pages;
			h->old_next = 0;
			h->table = bigger;
			h->pages *= 2;
		}
	}
	ctx->backend_work++;
	chain_push(hash_bucket_of(h->table, h->pages, r->start), r);
	h->entries++;
	hash_drain(ctx, h);
}

void vmm_list_hash_emptied(struct vmm_context *ctx, struct reservation_hash *h)
{
	if (h->old)
		hash_table_free(ctx, h->old, h->old_pages);
	hash_table_free(ctx, h->table, h->pages);
	*h = (struct reservation_hash){ .reservations = h->reservations };
}

void vmm_list_hash_destroy(struct vmm_context *ctx, struct reservation_hash *h)
{
	if (h->table)
		hash_table_free(ctx, h->table, h->pages);
	if (h->old)
		hash_table_free(ctx, h->old, h->old_pages);
}

uint64_t vmm_list_hash_pages(const struct reservation_hash *h)
{
	return (h->table ? h->pages + 1 : 0) + (h->old ? h->old_pages + 1 : 0);
}
