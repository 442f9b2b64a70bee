/*
 * First higher-half code: boot/multiboot2.S jumps here in long mode with RSP at the top of the
 * scratchpad (KERNEL_STACK_TOP), EDI = multiboot2 boot magic, ESI = physical address of the boot
 * information, RDX = the timestamp counter at the 32-bit entry. Clears .bss (the kernel does not
 * rely on the loader for that) and calls kmain(magic, info, clock origin).
 */
	.text
	.globl kernel_entry64
kernel_entry64:
	movq %rdi, %r12
	movq %rsi, %r13
	movq %rdx, %r14
	leaq kernel_bss_start(%rip), %rdi
	leaq kernel_bss_end(%rip), %rcx
	subq %rdi, %rcx
	shrq $3, %rcx
	xorl %eax, %eax
	rep stosq
	movq %r12, %rdi
	movq %r13, %rsi
	movq %r14, %rdx
	xorl %ebp, %ebp
	call kmain
1:	cli
	hlt
	jmp 1b
