/* CPUID feature detection: what the kernel may use (1 GiB pages, global pages, PAT, PKE). */
#include "cpu.h"
#include "kernel/lib/string.h"

struct cpu_features cpu_features;

static void copy_regs(char *dst, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	memcpy(dst, &a, 4);
	memcpy(dst + 4, &b, 4);
	memcpy(dst + 8, &c, 4);
	memcpy(dst + 12, &d, 4);
}

void cpu_detect(void)
{
	struct cpu_features *f = &cpu_features;
	uint32_t a, b, c, d, max_leaf, max_ext;

	cpuid(0, 0, &max_leaf, &b, &c, &d);
	memcpy(f->vendor, &b, 4);
	memcpy(f->vendor + 4, &d, 4);
	memcpy(f->vendor + 8, &c, 4);
	f->vendor[12] = '\0';

	cpuid(1, 0, &a, &b, &c, &d);
	f->pge = d & (1u << 13);
	f->pat = d & (1u << 16);
	if (max_leaf >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		f->pke = c & (1u << 3);
	}

	cpuid(0x80000000, 0, &max_ext, &b, &c, &d);
	if (max_ext >= 0x80000001) {
		cpuid(0x80000001, 0, &a, &b, &c, &d);
		f->nx = d & (1u << 20);
		f->pages_1g = d & (1u << 26);
		f->long_mode = d & (1u << 29);
	}
	if (max_ext >= 0x80000004) {
		for (uint32_t i = 0; i < 3; i++) {
			cpuid(0x80000002 + i, 0, &a, &b, &c, &d);
			copy_regs(f->brand + 16 * i, a, b, c, d);
		}
		f->brand[48] = '\0';
	}
	if (max_ext >= 0x80000007) {
		cpuid(0x80000007, 0, &a, &b, &c, &d);
		f->invariant_tsc = d & (1u << 8);
	}
	f->phys_addr_bits = 36;
	f->virt_addr_bits = 48;
	if (max_ext >= 0x80000008) {
		cpuid(0x80000008, 0, &a, &b, &c, &d);
		f->phys_addr_bits = a & 0xff;
		f->virt_addr_bits = (a >> 8) & 0xff;
	}
}
