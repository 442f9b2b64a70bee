/*
 * The environment of the arch-free memory-management core.
 *
 * Everything in kernel/mm/ is compiled twice from the same files: freestanding into the kernel,
 * and natively into host tests and benchmarks. It reaches the machine only through this header:
 *
 *   - mm_panic / MM_ASSERT: invariant violations (never used for recoverable errors such as out of
 *     memory, a double free or a bad argument: those are return values).
 *   - mm_log: human-readable diagnostics (serial console in the kernel, stderr on the host).
 *   - mm_arch_invalidate_page / mm_arch_activate_root: TLB invalidation and address-space switch.
 *   - phys_to_virt / virt_to_phys: in the kernel, the direct map of all physical memory at
 *     DIRECT_MAP_BASE (higher half + 4 TiB); on the host, an offset into a big arena that plays the
 *     part of physical memory. The same page-table code therefore runs in both.
 *
 * Each build provides the definitions: kernel/core/mm_env_kernel.c and tests/host/mm_env_host.c.
 */
#ifndef PAGESCOPE_MM_ENV_H
#define PAGESCOPE_MM_ENV_H

#include "../lib/compiler.h"
#include "../lib/string.h"

typedef uint64_t paddr_t; /* a physical address */

#define PAGE_SHIFT 12
#define PAGE_SIZE ((uint64_t)1 << PAGE_SHIFT)

void mm_panic(const char *fmt, ...) PRINTF_LIKE(1, 2) NORETURN;
void mm_log(const char *fmt, ...) PRINTF_LIKE(1, 2);

#define MM_ASSERT(cond, ...)                                            \
	do {                                                            \
		if (unlikely(!(cond)))                                  \
			mm_panic(__VA_ARGS__);                          \
	} while (0)

/*
 * Virtual address at which physical memory is visible: kernel = the direct map base (set once the
 * direct map exists; the boot identity/higher-half map before that), host = arena - arena_phys.
 */
extern uintptr_t mm_phys_window;

static inline void *phys_to_virt(paddr_t pa) { return (void *)(uintptr_t)(pa + mm_phys_window); }
static inline paddr_t virt_to_phys(const void *va) { return (paddr_t)((uintptr_t)va - mm_phys_window); }

/*
 * The machine operations page-table code needs. Kernel: invlpg and a CR3 load. Host: they
 * only count (tests check that an unmap or protect really asked for an invalidation).
 */
void mm_arch_invalidate_page(uintptr_t va);
void mm_arch_activate_root(paddr_t root_table);
/*
 * A cycle clock for measurements the core reports (the fault lookup's cost): the TSC in the
 * kernel (guest instructions under QEMU icount), the TSC on the host.
 */
uint64_t mm_clock_ticks(void);

#endif
