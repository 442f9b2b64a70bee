/*
 * The list backend's pending set: design, invariants and bound in vmm_list_pending.h, with the
 * steps every carve and release takes (inline there). Here: filing the oldest record when the
 * set is full, and taking a filed record out of its tree.
 */
#include "vmm_list.h"

void vmm_list_unfile_filed(struct vmm_context *ctx, struct region_records *rr, struct range_record *r)
{
	if (is_free(r)) {
		vmm_list_settle(ctx, rr);
		if (r == rr->lowest)
			rr->lowest = record_of(avl_next(&r->node, &ctx->backend_work));
		avl_remove(&rr->free_tree, &r->node, &ctx->backend_work);
	} else {
		avl_remove(&rr->reservations, &r->node, &ctx->backend_work);
		vmm_list_hash_remove(ctx, &state_of(ctx)->hash, r);
	}
}

void vmm_list_file_oldest(struct vmm_context *ctx, struct region_records *rr)
{
	struct range_record *r = rr->pending[0];
	pending_drop_slot(rr, 0);
	r->node.word &= ~RECORD_PENDING_BIT;
	if (is_free(r)) {
		vmm_list_free_link(ctx, rr, r);
	} else {
		vmm_list_reservation_link(ctx, rr, r);
		vmm_list_hash_insert(ctx, &state_of(ctx)->hash, r);
	}
}
