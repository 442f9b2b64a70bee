/* The kernel's and the default user layout (vm.h) as VMM region tables; see vm_regions.h. */
#include "vm_regions.h"
#include "vm.h"

/* Owner tags: what vmm_map_anonymous backs each region with (the others are mapped explicitly). */
/* A region of vm.h under its trace name (the `kernel_region` / `user_region` groups). */
#define REGION(index, base, bytes, owner) \
	[index] = { TRACE_NAME(index), base, (bytes) / PAGE_SIZE, owner }

const struct vmm_region amd64_kernel_regions[AMD64_KERNEL_REGION_COUNT] = {
	REGION(VMM_KREGION_SCRATCHPAD, SCRATCHPAD_BASE, SCRATCHPAD_SIZE, MM_OWNER_KERNEL_IMAGE),
	REGION(VMM_KREGION_KERNEL_IMAGE, KERNEL_IMAGE_BASE, KERNEL_IMAGE_SIZE, MM_OWNER_KERNEL_IMAGE),
	REGION(VMM_KREGION_SLAB, SLAB_REGION_BASE, SLAB_REGION_SIZE, MM_OWNER_SLAB),
	REGION(VMM_KREGION_HEAP, KERNEL_HEAP_BASE, KERNEL_HEAP_SIZE, MM_OWNER_HEAP),
	REGION(VMM_KREGION_DIRECT_MAP, DIRECT_MAP_BASE, DIRECT_MAP_SIZE, MM_OWNER_HEAP),
};

const struct vmm_region amd64_user_regions[AMD64_USER_REGION_COUNT] = {
	REGION(VMM_UREGION_HEAP, USER_HEAP_BASE, USER_HEAP_SIZE, MM_OWNER_USER),
	REGION(VMM_UREGION_MMAP, USER_MMAP_BASE, USER_MMAP_SIZE, MM_OWNER_USER),
	REGION(VMM_UREGION_SHM, USER_SHM_BASE, USER_SHM_SIZE, MM_OWNER_USER),
	REGION(VMM_UREGION_LIBRARIES, USER_LIB_BASE, USER_LIB_SIZE, MM_OWNER_USER),
	REGION(VMM_UREGION_STACKS, USER_STACK_BASE, USER_STACK_SIZE, MM_OWNER_USER),
};
