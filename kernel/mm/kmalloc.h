/*
 * kmalloc / kfree for any size: up to SLAB_MAX_OBJECT bytes from power-of-two slab size classes,
 * larger sizes as whole pages reserved in the kernel heap region and backed by the page source.
 * Pointers are kernel virtual addresses (see slab.h for reaching them from host tests).
 */
#ifndef PAGESCOPE_MM_KMALLOC_H
#define PAGESCOPE_MM_KMALLOC_H

#include "slab.h"

#define KMALLOC_CLASSES 9 /* 8, 16, ..., 2048 bytes */

struct kmalloc_heap {
	struct vmm_context *kernel;
	struct slab_cache classes[KMALLOC_CLASSES];
	uint64_t large_allocations;
};

/* Uses the kernel context's slab and heap regions. VM_OK or VM_ERR_INVALID. */
enum vm_status kmalloc_init(struct kmalloc_heap *heap, struct vmm_context *kernel);
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
