/*
 * The multiboot2 header and the 32-bit entry point: GRUB2 jumps here in 32-bit protected mode with
 * paging off, EAX = boot magic, EBX = physical address of the multiboot2 information, and no
 * valid stack, GDT or IDT. This stub checks the CPU, builds boot page tables, turns on long mode
 * (with NX enabled in EFER) and jumps to the higher-half 64-bit kernel.
 *
 * Boot page tables (replaced by the kernel's own once the direct map exists):
 *   PML4[0]   -> PDPT -> 4 page directories of 2 MiB pages: physical 0..4 GiB identity-mapped,
 *   PML4[256] -> the same PDPT: physical 0..4 GiB also at the higher half 0xFFFF800000000000,
 * so the scratchpad, the kernel image (higher half + 16 MiB) and anything GRUB put below 4 GiB
 * (multiboot info, modules) are reachable from the 64-bit kernel before it builds its own tables.
 * Everything here is linked and run at its physical address (see kernel.ld).
 */
#include "kernel/arch/amd64/vm.h"
#include "kernel/arch/amd64/qemu_exit.h"

#define MB2_HEADER_MAGIC 0xE85250D6
#define MB2_BOOT_MAGIC 0x36D76289
#define MB2_ARCH_I386 0
#define COM1_DATA 0x3F8
#define COM1_LINE_STATUS 0x3FD
#define LSR_TX_EMPTY 0x20

#define CPUID_EXT_MAX 0x80000000
#define CPUID_EXT_FEATURES 0x80000001
#define EXT_EDX_NX (1 << 20)
#define EXT_EDX_LONG_MODE (1 << 29)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)
#define CR4_PAE (1 << 5)
#define CR0_PG_WP 0x80010000
#define PDE_PRESENT_WRITABLE_LARGE 0x83
#define TABLE_PRESENT_WRITABLE 0x3

	.section .multiboot2, "a"
	.balign 8
mb2_header:
	.long MB2_HEADER_MAGIC
	.long MB2_ARCH_I386
	.long mb2_header_end - mb2_header
	.long 0x100000000 - (MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
	/* Information request (type 1): command line 1, modules 3, basic meminfo 4, memory map 6. */
	.balign 8
	.short 1, 0
	.long 8 + 4 * 4
	.long 1, 3, 4, 6
	/* Module alignment (type 6): modules start on page boundaries. */
	.balign 8
	.short 6, 0
	.long 8
	/* End tag. */
	.balign 8
	.short 0, 0
	.long 8
mb2_header_end:

	.section .boot.text, "ax"
	.code32
	.globl boot_entry32
boot_entry32:
	cli
	cld
	movl $boot_stack32_top, %esp
	movl %eax, boot_saved_magic
	movl %ebx, boot_saved_info
	/* The kernel's clock origin, read first (kernel_clock_origin in kernel/trace/tracer.h). */
	rdtsc
	movl %eax, boot_clock_origin
	movl %edx, boot_clock_origin + 4
	movl boot_saved_magic, %eax

	movl $msg_not_multiboot2, %esi
	cmpl $MB2_BOOT_MAGIC, %eax
	jne boot_fail

	movl $msg_no_long_mode, %esi
	movl $CPUID_EXT_MAX, %eax
	cpuid
	cmpl $CPUID_EXT_FEATURES, %eax
	jb boot_fail
	movl $CPUID_EXT_FEATURES, %eax
	cpuid
	testl $EXT_EDX_LONG_MODE, %edx
	jz boot_fail
	movl $msg_no_nx, %esi
	testl $EXT_EDX_NX, %edx
	jz boot_fail

	/* The 64-bit kernel's first stack is the top of the scratchpad; the boot information must
	 * not be there or the first push would overwrite it. */
	movl $msg_info_under_stack, %esi
	movl boot_saved_info, %eax
	movl (%eax), %ecx
	addl %eax, %ecx
	cmpl $SCRATCHPAD_SIZE, %eax
	jae 1f
	cmpl $KERNEL_STACK_PHYS_BASE, %ecx
	ja boot_fail
1:
	/* Page tables: zero all six pages, then link PML4 -> PDPT -> 4 PDs of 2 MiB pages. */
	movl $boot_pml4, %edi
	movl $(6 * 1024), %ecx
	xorl %eax, %eax
	rep stosl

	movl $(boot_pdpt + TABLE_PRESENT_WRITABLE), %eax
	movl %eax, boot_pml4
	movl %eax, boot_pml4 + 256 * 8

	movl $(boot_pd + TABLE_PRESENT_WRITABLE), %eax
	movl $boot_pdpt, %edi
	movl $4, %ecx
1:	movl %eax, (%edi)
	addl $4096, %eax
	addl $8, %edi
	loop 1b

	movl $PDE_PRESENT_WRITABLE_LARGE, %eax
	movl $boot_pd, %edi
	movl $2048, %ecx
1:	movl %eax, (%edi)
	addl $0x200000, %eax
	addl $8, %edi
	loop 1b

	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $(EFER_LME | EFER_NXE), %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PG_WP, %eax
	movl %eax, %cr0

	lgdt boot_gdt_descriptor
	ljmp $0x08, $boot_entry64

/* Prints "pagescope boot: <message at ESI>" on COM1 and ends the QEMU run. */
boot_fail:
	pushl %esi
	movl $msg_prefix, %esi
	call boot_serial_puts
	popl %esi
	call boot_serial_puts
	movw $QEMU_DEBUG_EXIT_PORT, %dx
	movl $(KERNEL_EXIT_MARKER | KERNEL_EXIT_UNSUPPORTED), %eax
	outl %eax, %dx
1:	hlt
	jmp 1b

/* Writes the NUL-terminated string at ESI to COM1, polling the transmitter. */
boot_serial_puts:
1:	movb (%esi), %bl
	testb %bl, %bl
	jz 3f
	movw $COM1_LINE_STATUS, %dx
2:	inb %dx, %al
	testb $LSR_TX_EMPTY, %al
	jz 2b
	movw $COM1_DATA, %dx
	movb %bl, %al
	outb %al, %dx
	incl %esi
	jmp 1b
3:	ret

	.code64
boot_entry64:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movabsq $KERNEL_STACK_TOP, %rsp
	movl boot_saved_magic(%rip), %edi
	movl boot_saved_info(%rip), %esi
	movq boot_clock_origin(%rip), %rdx
	movabsq $kernel_entry64, %rax
	jmp *%rax

	.section .boot.rodata, "a"
	.balign 8
boot_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF /* 0x08: 64-bit code, present, ring 0 */
	.quad 0x00CF92000000FFFF /* 0x10: data, present, writable */
boot_gdt_end:
boot_gdt_descriptor:
	.short boot_gdt_end - boot_gdt - 1
	.long boot_gdt

msg_prefix:		.asciz "pagescope boot: "
msg_not_multiboot2:	.asciz "not started by a multiboot2 loader (bad magic in EAX)\n"
msg_no_long_mode:	.asciz "this CPU has no long mode (64-bit); pagescope needs x86-64\n"
msg_no_nx:		.asciz "this CPU has no NX bit (CPUID 0x80000001 EDX.20); pagescope needs it\n"
msg_info_under_stack:	.asciz "the loader put the multiboot2 info under the boot stack (16 MiB - 64 KiB .. 16 MiB)\n"

	.section .boot.bss, "aw", @nobits
	.balign 4096
	.globl boot_pml4
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4 * 4096
boot_stack32:	.skip 1024
boot_stack32_top:
	.globl boot_saved_magic, boot_saved_info
boot_saved_magic:	.skip 4
	.balign 8
boot_clock_origin:	.skip 8
boot_saved_info:	.skip 4

	/*
	 * The 64-bit boot stack's memory (vm.h: the scratchpad's top, physical 16 MiB - 64 KiB ..
	 * 16 MiB), a loaded segment of its own (kernel.ld) so that GRUB, which places the multiboot2
	 * info and the modules anywhere outside the ELF's segments, never puts them there: the first
	 * push would overwrite them. Nothing here refers to it; the stack is used through
	 * KERNEL_STACK_TOP.
	 */
	.section .boot.stack, "aw", @nobits
	.skip KERNEL_STACK_SIZE
