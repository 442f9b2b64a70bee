/*
 * The list backend's pending set: design, invariants and bound in vmm_list_pending.h, with the
 * steps every carve and release takes (inline there). Here: filing the oldest record when the
 * set is full.
 */
#include "vmm_list.h"

void vmm_list_file_oldest(struct vmm_context *ctx, struct region_records *rr)
{
	struct range_record *r = rr->pending[0];
	pending_drop_slot(rr, 0);
	r->node.payload &= ~RECORD_PENDING_BIT;
	if (is_free(r)) {
		vmm_list_free_link(ctx, rr, r);
	} else {
		vmm_list_reservation_link(ctx, rr, r);
		vmm_list_hash_insert(ctx, &state_of(ctx)->hash, r);
	}
}
