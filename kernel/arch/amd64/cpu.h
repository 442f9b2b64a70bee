/* x86-64 CPU access: CPUID feature detection, control registers, MSRs, TSC, TLB. */
#ifndef PAGESCOPE_ARCH_AMD64_CPU_H
#define PAGESCOPE_ARCH_AMD64_CPU_H

#include "kernel/lib/compiler.h"

struct cpu_features {
	char vendor[13];
	char brand[49];
	bool long_mode, nx, pages_1g, pge, pat, invariant_tsc, pke;
	unsigned phys_addr_bits, virt_addr_bits;
};

extern struct cpu_features cpu_features;

/* Fills cpu_features from CPUID. */
void cpu_detect(void);

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

#define CPU_READ_CR(n)                                                  \
	static inline uint64_t read_cr##n(void)                         \
	{                                                               \
		uint64_t v;                                             \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));       \
		return v;                                               \
	}                                                               \
	static inline void write_cr##n(uint64_t v)                      \
	{                                                               \
		__asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); \
	}
CPU_READ_CR(0)
CPU_READ_CR(2)
CPU_READ_CR(3)
CPU_READ_CR(4)
#undef CPU_READ_CR

#define CR4_PGE (1ull << 7)
#define MSR_EFER 0xC0000080u
#define EFER_NXE (1ull << 11)

/* Time-stamp counter. Under QEMU -icount shift=0 it counts guest instructions (1 per ns). */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void invlpg(uintptr_t va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause"); }
NORETURN static inline void cpu_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

#endif
