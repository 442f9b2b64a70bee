/*
 * kmalloc / kfree for any size: up to SLAB_MAX_OBJECT bytes from power-of-two slab size classes,
 * larger sizes as whole pages reserved in a heap region of the kernel context and backed by the
 * page source. Which regions is configuration (the kernel: VMM_KREGION_SLAB and _HEAP).
 * Pointers are kernel virtual addresses (see slab.h for reaching them from host tests).
 *
 * Cost (proof in kmalloc.c), in slab work (slabs->work) and VMM backend work (backend_work):
 *   kmalloc(<= 2048 B)   one slab_alloc: <= SLAB_ALLOC_WORK_BOUND of its class (<= 9), plus one
 *                        VMM reserve+map of one page when the class is full
 *   kmalloc(> 2048 B)    one VMM reserve+map of p = ceil(size / 4 KiB) pages: backend work
 *                        <= 2 * work_bound(p), plus p pages taken and mapped
 *   kfree (slab region)  <= KFREE_SMALL_WORK_BOUND = 3, plus one VMM release of a page that empties
 *   kfree (otherwise)    one vmm_query (<= work_bound(1)), plus one vmm_release (<= work_bound(p))
 *                        when the pointer is a live allocation's start
 */
#ifndef PAGESCOPE_MM_KMALLOC_H
#define PAGESCOPE_MM_KMALLOC_H

#include "slab.h"

#define KMALLOC_CLASSES 9 /* 8, 16, ..., 2048 bytes */
/* The most slab work one kfree of a slab-region pointer adds: cache lookup plus slab_free. */
#define KFREE_SMALL_WORK_BOUND (1u + SLAB_FREE_WORK_BOUND)

struct kmalloc_config {
	struct slab_arena *slabs; /* where the size classes place their slabs */
	unsigned heap_region;     /* region of slabs->kernel that holds large allocations */
};

struct kmalloc_heap {
	struct vmm_context *kernel;
	struct slab_arena *slabs;
	unsigned heap_region;
	struct slab_cache classes[KMALLOC_CLASSES];
	uint64_t large_allocations;
};

/*
 * Sets up the size classes in config->slabs and large allocations in config->heap_region.
 * VM_OK or VM_ERR_INVALID (no such region, or the heap region is the slab region). The heap must
 * not move while it lives.
 */
enum vm_status kmalloc_init(struct kmalloc_heap *heap, const struct kmalloc_config *config);
/* At least `size` bytes (8-byte aligned; page-aligned above 2 KiB), or NULL (size 0, no memory). */
void *kmalloc(struct kmalloc_heap *heap, size_t size);
/*
 * Frees a kmalloc pointer. VM_ERR_FOREIGN_POINTER (not from this heap, or inside an allocation)
 * or VM_ERR_DOUBLE_FREE, logged and without any change; VM_OK otherwise.
 */
enum vm_status kfree(struct kmalloc_heap *heap, void *ptr);
/* Where this build can touch the memory of a kmalloc pointer (the direct-map alias), or NULL. */
void *kmalloc_host_view(const struct kmalloc_heap *heap, const void *ptr);
/* Frees all slabs; returns the number of objects still allocated (logged). */
uint64_t kmalloc_destroy(struct kmalloc_heap *heap);

#endif
