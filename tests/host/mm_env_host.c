/*
 * The host's side of kernel/mm/mm_env.h: panics abort with the message, logs go to stderr, and
 * "physical memory" is an arena of host memory (host_phys_arena_create) so that page-table code
 * written for the kernel's direct map runs unchanged in tests and benchmarks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "kernel/mm/mm_env.h"
#include "tests/host/host_env.h"

uintptr_t mm_phys_window;
uint64_t host_invalidations;
paddr_t host_active_root;

void mm_arch_invalidate_page(uintptr_t va)
{
	(void)va;
	host_invalidations++;
}

void mm_arch_activate_root(paddr_t root_table)
{
	host_active_root = root_table;
}

uint64_t mm_clock_ticks(void)
{
	return __builtin_ia32_rdtsc();
}

void mm_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mm_panic: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

void mm_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void *host_phys_arena_create(paddr_t phys_base, uint64_t bytes)
{
	/* MAP_NORESERVE: a test may describe gigabytes of "RAM" and touch only a few pages of it. */
	void *arena = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED) {
		perror("host_phys_arena_create: mmap");
		abort();
	}
	mm_phys_window = (uintptr_t)arena - (uintptr_t)phys_base;
	return arena;
}

void host_phys_arena_destroy(void *arena, uint64_t bytes)
{
	munmap(arena, bytes);
	mm_phys_window = 0;
}
