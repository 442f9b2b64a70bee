/*
 * Region tables for host tests and benchmarks (the machine layer's tables are kernel-only): the
 * layout of kernel/arch/amd64/vm.h, indexed by the trace's VMM_KREGION_* / VMM_UREGION_*, so host
 * runs exercise the same huge sparse regions the kernel has. A kernel context built over
 * host_kernel_regions gets host_user_regions as its user layout.
 */
#ifndef PAGESCOPE_TESTS_HOST_HOST_REGIONS_H
#define PAGESCOPE_TESTS_HOST_HOST_REGIONS_H

#include "kernel/mm/vmm.h"

#define HOST_KERNEL_REGION_COUNT TRACE_VALUE_LIMIT(vmm_kernel_region)
#define HOST_USER_REGION_COUNT (VMM_UREGION_STACKS + 1) /* the default layout, as the kernel's */
extern const struct vmm_region host_kernel_regions[HOST_KERNEL_REGION_COUNT];
extern const struct vmm_region host_user_regions[HOST_USER_REGION_COUNT];

#endif
