/*
 * The regions of vm.h as VMM region tables: the machine's half of the VMM's configuration.
 * kernel/core/memory.c hands both to the kernel context (vmm_config.regions and .user_regions);
 * the indices are the trace's VMM_KREGION_* and VMM_UREGION_* (trace/events.def).
 */
#ifndef PAGESCOPE_ARCH_AMD64_VM_REGIONS_H
#define PAGESCOPE_ARCH_AMD64_VM_REGIONS_H

#include "kernel/mm/vmm.h"

#define AMD64_KERNEL_REGION_COUNT TRACE_VALUE_LIMIT(vmm_kernel_region)
/* The default layout of a user context; a program adds VMM_UREGION_PROGRAM (program_load.c). */
#define AMD64_USER_REGION_COUNT (VMM_UREGION_STACKS + 1)

extern const struct vmm_region amd64_kernel_regions[AMD64_KERNEL_REGION_COUNT];
extern const struct vmm_region amd64_user_regions[AMD64_USER_REGION_COUNT];

#endif
