/* The kernel's side of kernel/mm/mm_env.h. */
#include "kernel/mm/mm_env.h"
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/core/log.h"
#include "kernel/trace/tracer.h"

/* Until the direct map exists, the boot page tables show physical 0..4 GiB at the higher half. */
uintptr_t mm_phys_window = HIGHER_HALF_BASE;

void mm_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("\nmm: ");
	kvprintf(fmt, ap);
	va_end(ap);
	panic("memory manager invariant broken (see above)");
}

void mm_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

void mm_arch_invalidate_page(uintptr_t va)
{
	invlpg(va);
}

void mm_arch_activate_root(paddr_t root_table)
{
	write_cr3(root_table);
}

uint64_t mm_clock_ticks(void)
{
	return kernel_clock_now();
}
