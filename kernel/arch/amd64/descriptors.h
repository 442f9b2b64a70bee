/* GDT, TSS and IDT setup. */
#ifndef PAGESCOPE_ARCH_AMD64_DESCRIPTORS_H
#define PAGESCOPE_ARCH_AMD64_DESCRIPTORS_H

#define GDT_KERNEL_CODE 0x08
#define GDT_KERNEL_DATA 0x10
#define GDT_USER_DATA 0x18
#define GDT_USER_CODE 0x20
#define GDT_TSS 0x28

/* Interrupt stack used for double faults and NMIs, so a blown kernel stack still gets reported. */
#define IST_EMERGENCY 1

void gdt_init(void);
void idt_init(void);

#endif
