/*
 * A range allocator after the design of Bonwick & Adams, "Magazines and Vmem" (USENIX 2001): the
 * yardstick the VMM's list backend is measured against (benchmarks/bench_vmm_layouts.c). Written
 * for this project from the paper's description; host only (it takes its segment records from
 * malloc), not part of the kernel.
 *
 *   reserve(pages, align) -> address, or VMEM_PEER_FAILED
 *   release(address)      -> the reservation starting there goes back (its length is remembered)
 *
 * Placement is vmem's instant fit, not pagescope's lowest first fit: any segment of the first
 * non-empty power-of-two free list that guarantees the length, so the two place the same request
 * at different addresses (the benchmark compares cost, not placement; tests/host/test_vmem_peer.c
 * checks the peer against a page model).
 */
#ifndef PAGESCOPE_BENCHMARKS_PEERS_VMEM_H
#define PAGESCOPE_BENCHMARKS_PEERS_VMEM_H

#include <stdbool.h>
#include <stdint.h>

#define VMEM_PEER_FAILED UINT64_MAX
#define VMEM_PEER_CLASSES 64 /* free list k holds segments of [2^k, 2^(k+1)) pages */

struct vmem_segment;

struct vmem_peer {
	uint64_t base, pages;   /* the one span: [base, base + pages * page size) */
	uint64_t free_map;      /* bit k set: free list k is not empty */
	struct vmem_segment *free_lists[VMEM_PEER_CLASSES];
	struct vmem_segment *first; /* the address-ordered segment list (boundary tags) */
	struct vmem_segment **hash; /* allocated segments by start address, chained */
	uint64_t hash_mask;         /* buckets - 1 */
	uint64_t allocated;         /* segments in the hash */
	struct vmem_segment *spare_segments; /* records not in use, chained */
	struct vmem_chunk *chunks;  /* where the records came from, to give back */
	uint64_t segments_in_use;
};

/* Sets up one free span; false when no memory for its first records. */
bool vmem_peer_init(struct vmem_peer *v, uint64_t base, uint64_t pages);
void vmem_peer_destroy(struct vmem_peer *v);

/* An address of `pages` free pages aligned to `align_pages` (a power of two), now reserved. */
uint64_t vmem_peer_reserve(struct vmem_peer *v, uint64_t pages, uint64_t align_pages);

/* Frees the reservation that starts at addr; false (nothing changed) when none starts there. */
bool vmem_peer_release(struct vmem_peer *v, uint64_t addr);

/* Calls visit for every free segment in address order (tests compare it with their model). */
void vmem_peer_for_each_free(const struct vmem_peer *v,
			     void (*visit)(void *cookie, uint64_t addr, uint64_t pages), void *cookie);

/* Bytes of its records (every chunk taken, in use or spare) and of its hash table. */
uint64_t vmem_peer_bookkeeping_bytes(const struct vmem_peer *v);

/* Recounts the structure; returns the number of broken invariants (tests only). */
unsigned vmem_peer_check(const struct vmem_peer *v);

#endif
