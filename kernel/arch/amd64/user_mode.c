/* Ring-3 support (user_mode.h): syscall MSRs, kernel stacks, FS base, the first entry. */
#include "user_mode.h"
#include "cpu.h"
#include "descriptors.h"
#include "serial.h"
#include "kernel/lib/string.h"
#include "kernel/trace/tracer.h"

#define MSR_STAR 0xC0000081
#define MSR_LSTAR 0xC0000082
#define MSR_FMASK 0xC0000084
#define MSR_FS_BASE 0xC0000100
#define EFER_SCE 1u

#define RFLAGS_FIXED 0x2u          /* bit 1 always reads 1 */
#define RFLAGS_USER_MASK 0xCD5u    /* CF PF AF ZF SF DF OF: what a program may set */
#define FMASK_CLEARED 0x47700u     /* TF IF DF IOPL NT AC cleared on entry */

extern void syscall_entry(void);
extern void user_first_entry(void);
extern uint64_t user_syscall_stack_top;

void (*user_exception_handler)(struct exception_frame *frame);

#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define MXCSR_DEFAULT 0x1F80u

static struct user_fpu_state initial_fpu;

void user_fpu_save(struct user_fpu_state *state)
{
	__asm__ volatile("fxsave64 %0" : "=m"(*state));
}

void user_fpu_restore(const struct user_fpu_state *state)
{
	__asm__ volatile("fxrstor64 %0" : : "m"(*state));
}

void user_fpu_reset(void)
{
	user_fpu_restore(&initial_fpu);
}

void user_mode_init(void)
{
	/* SSE for programs (the x86-64 ABI assumes it): no emulation, FXSAVE and SIMD exceptions on. */
	write_cr0((read_cr0() & ~(uint64_t)(CR0_EM | CR0_TS)) | CR0_MP);
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	uint32_t mxcsr = MXCSR_DEFAULT;
	__asm__ volatile("fninit\n\tldmxcsr %0" : : "m"(mxcsr));
	user_fpu_save(&initial_fpu);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	/* SYSCALL loads CS = STAR[47:32], SS = +8; SYSRET (unused) would take STAR[63:48] + 16 / + 8. */
	wrmsr(MSR_STAR, ((uint64_t)0x10 << 48) | ((uint64_t)GDT_KERNEL_CODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
	wrmsr(MSR_FMASK, FMASK_CLEARED);
	serial_program_init();
}

void user_set_kernel_stack(uint64_t top)
{
	tss_set_kernel_stack(top);
	user_syscall_stack_top = top;
}

void user_set_fs_base(uint64_t base)
{
	wrmsr(MSR_FS_BASE, base);
}

void user_frame_init(struct exception_frame *f, uint64_t rip, uint64_t rsp)
{
	memset(f, 0, sizeof(*f));
	f->rip = rip;
	f->rsp = rsp;
	f->cs = USER_CODE_SELECTOR;
	f->ss = USER_DATA_SELECTOR;
	f->rflags = RFLAGS_FIXED;
	f->vector = USER_SYSCALL_VECTOR;
}

void user_frame_sanitize(struct exception_frame *f)
{
	f->rflags = (f->rflags & RFLAGS_USER_MASK) | RFLAGS_FIXED;
	f->cs = USER_CODE_SELECTOR;
	f->ss = USER_DATA_SELECTOR;
}

uint64_t user_stack_first_entry(uint64_t kstack_top)
{
	uint64_t *sp = (uint64_t *)user_frame_of(kstack_top);
	*--sp = (uint64_t)user_first_entry;
	for (unsigned i = 0; i < 6; i++) /* rbp rbx r12 r13 r14 r15, popped by context_switch */
		*--sp = 0;
	return (uint64_t)sp;
}

uint64_t user_clock_ticks(void)
{
	return kernel_clock_now();
}
