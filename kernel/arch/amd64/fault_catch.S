/*
 * bool fault_try(void (*fn)(void *), void *arg, struct fault_jump *jump)
 *
 * Saves the callee-saved registers, the stack pointer and the return address in *jump, then calls
 * fn(arg) and returns 0. When fn faults, exception_dispatch restores those registers into the
 * exception frame and "returns" 1 from fault_try at the saved return address (a longjmp done by
 * iretq). Layout of struct fault_jump: rbx rbp r12 r13 r14 r15 rsp rip (8 bytes each).
 */
	.text
	.globl fault_try
fault_try:
	movq %rbx, 0(%rdx)
	movq %rbp, 8(%rdx)
	movq %r12, 16(%rdx)
	movq %r13, 24(%rdx)
	movq %r14, 32(%rdx)
	movq %r15, 40(%rdx)
	leaq 8(%rsp), %rax
	movq %rax, 48(%rdx)
	movq (%rsp), %rax
	movq %rax, 56(%rdx)
	movq %rdi, %rax
	movq %rsi, %rdi
	subq $8, %rsp
	call *%rax
	addq $8, %rsp
	xorl %eax, %eax
	ret
