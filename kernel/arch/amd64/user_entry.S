/*
 * The ways into and out of user mode, and the switch between kernel stacks.
 *
 * syscall_entry: the `syscall` instruction lands here (LSTAR) with RCX = user RIP, R11 = user
 * RFLAGS, interrupts off (FMASK) and the user's RSP still loaded. It switches to the running
 * process's kernel stack (user_syscall_stack_top, the same top as TSS.RSP0), builds the very frame
 * an exception from user mode leaves there (struct exception_frame: SS, RSP, RFLAGS, CS, RIP, error
 * code 0, vector USER_SYSCALL_VECTOR, then the general registers), calls syscall_dispatch(frame)
 * and leaves through frame_return (isr.S), i.e. IRETQ: slower than SYSRET but one return path for
 * every way in, and no SYSRET pitfall with a non-canonical RCX. Single CPU, no interrupts in the
 * kernel: the scratch slot for the user RSP cannot be overwritten before it is pushed.
 *
 * context_switch(save, load): saves the callee-saved registers on the current kernel stack,
 * stores RSP in *save, loads `load` and pops the other side's registers (xv6's swtch).
 *
 * user_first_entry: where a new process's kernel stack "returns" to the first time it is switched
 * to; its user frame lies right above, so it leaves through frame_return into user mode.
 */
#include "user_vectors.h"

	.text
	.globl syscall_entry
syscall_entry:
	movq %rsp, user_rsp_scratch(%rip)
	movq user_syscall_stack_top(%rip), %rsp
	pushq $USER_DATA_SELECTOR
	pushq user_rsp_scratch(%rip)
	pushq %r11
	pushq $USER_CODE_SELECTOR
	pushq %rcx
	pushq $0
	pushq $USER_SYSCALL_VECTOR
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call syscall_dispatch
	jmp frame_return

	.globl context_switch
context_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

	.globl user_first_entry
user_first_entry:
	jmp frame_return

	.bss
	.balign 8
user_rsp_scratch:
	.quad 0
	.globl user_syscall_stack_top
user_syscall_stack_top:
	.quad 0
