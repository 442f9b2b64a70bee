/*
 * The kernel's virtual memory map (the seed's map, shared/seed/mm_notes.md), x86-64 with 4-level
 * paging (48-bit addresses). Offsets are from the start of the higher half, 0xFFFF800000000000.
 *
 *   offset        size     address               use
 *   0             16 MiB   0xFFFF800000000000    scratchpad prepared by the loader (= physical
 *                                                 0..16 MiB); the boot kernel stack at its top
 *   16 MiB        128 MiB  0xFFFF800001000000    kernel binary (loaded at physical 16 MiB), loader
 *                                                 data: multiboot info, memory map, modules
 *   144 MiB       112 MiB  0xFFFF800009000000    slab allocator, 4 KiB slabs
 *   256 MiB       768 MiB  0xFFFF800010000000    unused
 *   1 GiB         31 GiB   0xFFFF800040000000    kernel heap (kmalloc of large sizes)
 *   32 GiB        992 GiB  0xFFFF800800000000    unused
 *   1 TiB         3 TiB    0xFFFF810000000000    unused
 *   4 TiB         4 TiB    0xFFFF840000000000    direct map of all physical memory
 *
 * The lower half (0 .. 0x00007FFFFFFFFFFF) belongs to user contexts; its regions are defined below.
 * Usable by assembly too (no C in the first part).
 */
#ifndef PAGESCOPE_ARCH_AMD64_VM_H
#define PAGESCOPE_ARCH_AMD64_VM_H

#ifdef __ASSEMBLY__
#define VM_U64(x) x
#else
#define VM_U64(x) x##ULL
#endif

#define KiB VM_U64(0x400)
#define MiB VM_U64(0x100000)
#define GiB VM_U64(0x40000000)
#define TiB VM_U64(0x10000000000)

#define HIGHER_HALF_BASE VM_U64(0xFFFF800000000000)

/* Scratchpad: physical 0..16 MiB, seen at the start of the higher half. */
#define SCRATCHPAD_BASE HIGHER_HALF_BASE
#define SCRATCHPAD_SIZE (16 * MiB)
/* The boot kernel stack occupies the top of the scratchpad (physical 16 MiB - 64 KiB .. 16 MiB). */
#define KERNEL_STACK_SIZE (64 * KiB)
#define KERNEL_STACK_TOP (SCRATCHPAD_BASE + SCRATCHPAD_SIZE)
#define KERNEL_STACK_PHYS_BASE (SCRATCHPAD_SIZE - KERNEL_STACK_SIZE)

/* Kernel binary: linked at higher half + 16 MiB, loaded at physical 16 MiB. */
#define KERNEL_IMAGE_PHYS (16 * MiB)
#define KERNEL_IMAGE_BASE (HIGHER_HALF_BASE + KERNEL_IMAGE_PHYS)
#define KERNEL_IMAGE_SIZE (128 * MiB)

/* Slab allocator: 4 KiB slabs for fixed-size kernel objects. */
#define SLAB_REGION_BASE (HIGHER_HALF_BASE + 144 * MiB)
#define SLAB_REGION_SIZE (112 * MiB)

/* Kernel heap: large kmalloc allocations, backed page by page by the VMM and PMM. */
#define KERNEL_HEAP_BASE (HIGHER_HALF_BASE + 1 * GiB)
#define KERNEL_HEAP_SIZE (31 * GiB)

/*
 * The seed's unused 1..4 TiB range: nothing is ever mapped there, so the test-only deliberate
 * faults and the in-kernel fault tests use addresses from it.
 */
#define NEVER_MAPPED_BASE (HIGHER_HALF_BASE + 1 * TiB)

/* Direct map: physical address p is visible at DIRECT_MAP_BASE + p, for up to 4 TiB of RAM. */
#define DIRECT_MAP_BASE (HIGHER_HALF_BASE + 4 * TiB)
#define DIRECT_MAP_SIZE (4 * TiB)

/*
 * User half, per context. Regions are placed so each can grow without meeting the next:
 *   0x0000000000400000  user heap (brk): starts here, grows up, at most 64 GiB
 *   0x0000100000000000  anonymous mappings (mmap), 16 TiB
 *   0x0000200000000000  shared memory objects, 16 TiB
 *   0x0000300000000000  shared libraries, 16 TiB
 *   0x00007F0000000000  stacks, 1 TiB, ending one guard page below the canonical hole
 * The first 4 MiB are never mapped so that null-pointer dereferences fault.
 */
#define USER_BASE VM_U64(0x0000000000400000)
#define USER_HEAP_BASE USER_BASE
#define USER_HEAP_SIZE (64 * GiB)
#define USER_MMAP_BASE VM_U64(0x0000100000000000)
#define USER_MMAP_SIZE (16 * TiB)
#define USER_SHM_BASE VM_U64(0x0000200000000000)
#define USER_SHM_SIZE (16 * TiB)
#define USER_LIB_BASE VM_U64(0x0000300000000000)
#define USER_LIB_SIZE (16 * TiB)
#define USER_STACK_BASE VM_U64(0x00007F0000000000)
#define USER_STACK_SIZE (1 * TiB - 4 * KiB)
#define USER_TOP VM_U64(0x0000800000000000)

#endif
