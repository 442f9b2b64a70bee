/*
 * The machine side of user processes: ring 3 entry and exit, system-call MSRs, per-process kernel
 * stacks and FS base. The process layer (kernel/user/) uses only this header of the machine.
 */
#ifndef PAGESCOPE_ARCH_AMD64_USER_MODE_H
#define PAGESCOPE_ARCH_AMD64_USER_MODE_H

#include "exceptions.h"
#include "user_vectors.h"

/* Enables `syscall` (EFER.SCE) and points it at syscall_entry; the program serial ports. */
void user_mode_init(void);
/* Kernel stack of the process about to run: where exceptions (TSS.RSP0) and system calls land. */
void user_set_kernel_stack(uint64_t top);
void user_set_fs_base(uint64_t base);

/* The frame a user process's entry to the kernel leaves at the top of its kernel stack. */
static inline struct exception_frame *user_frame_of(uint64_t kstack_top)
{
	return (struct exception_frame *)(kstack_top - sizeof(struct exception_frame));
}
static inline bool frame_from_user(const struct exception_frame *f)
{
	return (f->cs & 3) == 3;
}
/* A user frame that enters `rip` with stack `rsp`, every other register 0, interrupts off. */
void user_frame_init(struct exception_frame *f, uint64_t rip, uint64_t rsp);
/* Makes RFLAGS safe to return to user mode with (no IF, IOPL 0, no trap flag). */
void user_frame_sanitize(struct exception_frame *f);

/*
 * Prepares a kernel stack whose user frame is already filled in, so that the first
 * context_switch to it enters user mode; returns the RSP to switch to.
 */
uint64_t user_stack_first_entry(uint64_t kstack_top);
void context_switch(uint64_t *save_rsp, uint64_t load_rsp);

/* The process layer's handlers, called from the entry paths (set by kernel/user/). */
void syscall_dispatch(struct exception_frame *frame);
extern void (*user_exception_handler)(struct exception_frame *frame);

/*
 * The FPU/SSE state of a user program (FXSAVE's 512 bytes): the kernel never touches it, so the
 * registers hold the running program's state, saved when it is switched out and restored when it
 * is switched in. user_fpu_reset loads the state a new program starts with.
 */
struct user_fpu_state {
	uint8_t bytes[512];
} __attribute__((aligned(16)));
void user_fpu_save(struct user_fpu_state *state);
void user_fpu_restore(const struct user_fpu_state *state);
void user_fpu_reset(void);

/* Clock ticks since the kernel started (kernel_clock_now: guest instructions under icount). */
uint64_t user_clock_ticks(void);

#endif
