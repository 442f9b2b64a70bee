/*
 * The kernel's GDT (flat 64-bit segments for ring 0 and ring 3 plus a TSS) and IDT (the 32 CPU
 * exception vectors, all routed to exception_dispatch through the stubs in isr.S). Double fault
 * and NMI run on their own interrupt stack (IST1) so a stack overflow still produces a report.
 */
#include "descriptors.h"
#include "kernel/lib/compiler.h"
#include "kernel/lib/string.h"

struct __attribute__((packed)) tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};

struct __attribute__((packed)) table_pointer {
	uint16_t limit;
	uint64_t base;
};

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t zero;
};

#define GDT_ENTRIES 7 /* null, kcode, kdata, udata, ucode, tss (two slots) */
#define IDT_VECTORS 32
#define GATE_INTERRUPT_PRESENT 0x8E

static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static uint8_t emergency_stack[16384] __attribute__((aligned(16)));
static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));

extern const uint64_t isr_stub_table[IDT_VECTORS];

static uint64_t segment(uint8_t access, uint8_t flags)
{
	/* Base and limit are ignored in long mode except for the TSS. */
	return ((uint64_t)flags << 52) | ((uint64_t)access << 40) | 0xFFFF | (0xFull << 48);
}

void gdt_init(void)
{
	gdt[0] = 0;
	gdt[GDT_KERNEL_CODE / 8] = segment(0x9A, 0xA); /* present, ring 0, code; L=1 */
	gdt[GDT_KERNEL_DATA / 8] = segment(0x92, 0xC);
	gdt[GDT_USER_DATA / 8] = segment(0xF2, 0xC);   /* ring 3 */
	gdt[GDT_USER_CODE / 8] = segment(0xFA, 0xA);

	memset(&tss, 0, sizeof(tss));
	tss.ist[IST_EMERGENCY - 1] = (uint64_t)(emergency_stack + sizeof(emergency_stack));
	tss.iomap_base = sizeof(tss);
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	gdt[GDT_TSS / 8] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) |
			   (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
	gdt[GDT_TSS / 8 + 1] = base >> 32;

	struct table_pointer ptr = { sizeof(gdt) - 1, (uint64_t)gdt };
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movw %w2, %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "movw %%ax, %%es\n\t"
			 "movw %%ax, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(ptr), "i"(GDT_KERNEL_CODE), "r"(GDT_KERNEL_DATA), "r"(GDT_TSS)
			 : "rax", "memory");
}

void tss_set_kernel_stack(uint64_t top)
{
	tss.rsp[0] = top;
}

void idt_init(void)
{
	for (unsigned v = 0; v < IDT_VECTORS; v++) {
		uint64_t handler = isr_stub_table[v];
		idt[v] = (struct idt_gate){
			.offset_low = handler & 0xFFFF,
			.selector = GDT_KERNEL_CODE,
			.ist = (v == 2 || v == 8) ? IST_EMERGENCY : 0, /* NMI, double fault */
			.type_attr = GATE_INTERRUPT_PRESENT,
			.offset_mid = (handler >> 16) & 0xFFFF,
			.offset_high = (uint32_t)(handler >> 32),
		};
	}
	struct table_pointer ptr = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" : : "m"(ptr));
}
