/* GDT, TSS and IDT setup. */
#ifndef PAGESCOPE_ARCH_AMD64_DESCRIPTORS_H
#define PAGESCOPE_ARCH_AMD64_DESCRIPTORS_H

#include "kernel/lib/compiler.h"

#define GDT_KERNEL_CODE 0x08
#define GDT_KERNEL_DATA 0x10
#define GDT_USER_DATA 0x18
#define GDT_USER_CODE 0x20
#define GDT_TSS 0x28

/* Interrupt stack used for double faults and NMIs, so a blown kernel stack still gets reported. */
#define IST_EMERGENCY 1

void gdt_init(void);
/* The stack the CPU switches to on an exception or interrupt from ring 3 (TSS.RSP0). */
void tss_set_kernel_stack(uint64_t top);
void idt_init(void);

#endif
