/*
 * CPU exceptions: a readable report (vector, error code, RIP, CR2 with the page-fault reason
 * decoded, all registers, the running test) and then a stop with KERNEL_EXIT_FAULT. A test may
 * instead catch one expected fault with fault_catch().
 */
#include "exceptions.h"
#include "cpu.h"
#include "qemu_exit.h"
#include "user_mode.h"
#include "kernel/core/log.h"
#include "kernel/lib/format.h"

struct fault_jump {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

bool fault_try(void (*fn)(void *), void *arg, struct fault_jump *jump);

static struct {
	bool armed;
	struct fault_jump jump;
	struct fault_record *record;
} catcher;

static const char *const vector_names[32] = {
	"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range exceeded",
	"invalid opcode", "device not available", "double fault", "coprocessor segment overrun",
	"invalid TSS", "segment not present", "stack-segment fault", "general protection fault",
	"page fault", "reserved", "x87 floating-point error", "alignment check", "machine check",
	"SIMD floating-point error", "virtualization exception", "control protection exception",
	"reserved", "reserved", "reserved", "reserved", "reserved", "reserved",
	"hypervisor injection", "VMM communication", "security exception", "reserved",
};

bool fault_catch(void (*fn)(void *), void *arg, struct fault_record *fault)
{
	catcher.record = fault;
	catcher.armed = true;
	bool faulted = fault_try(fn, arg, &catcher.jump);
	catcher.armed = false;
	return faulted;
}

void page_fault_describe(uint64_t code, char *buf, unsigned long size)
{
	const char *access = (code & PF_INSTRUCTION_FETCH) ? "instruction fetch from"
			     : (code & PF_WRITE)           ? "write to"
							   : "read from";
	ksnprintf(buf, size, "%s mode %s a %s page%s%s", (code & PF_USER) ? "user" : "kernel", access,
		  (code & PF_PRESENT) ? "present (protection violation)" : "non-present",
		  (code & PF_RESERVED_BIT) ? ", reserved bit set in a page-table entry" : "",
		  (code & PF_PROTECTION_KEY) ? ", protection key" : "");
}

/* Resumes at fault_catch's call site as if fault_try returned true. */
static void resume_at_catcher(struct exception_frame *f)
{
	struct fault_jump *j = &catcher.jump;
	*catcher.record = (struct fault_record){ (unsigned)f->vector, f->error_code, f->rip, read_cr2() };
	catcher.armed = false;
	f->rbx = j->rbx;
	f->rbp = j->rbp;
	f->r12 = j->r12;
	f->r13 = j->r13;
	f->r14 = j->r14;
	f->r15 = j->r15;
	f->rsp = j->rsp;
	f->rip = j->rip;
	f->rax = 1;
}

static void report(const struct exception_frame *f)
{
	unsigned v = (unsigned)f->vector;
	kprintf("\n*** CPU exception %u: %s, error code 0x%lx\n", v, v < 32 ? vector_names[v] : "?",
		f->error_code);
	kprintf("    RIP %016lx  CS %04lx  RFLAGS %016lx\n", f->rip, f->cs, f->rflags);
	kprintf("    RSP %016lx  SS %04lx\n", f->rsp, f->ss);
	if (v == VECTOR_PAGE_FAULT) {
		char reason[160];
		page_fault_describe(f->error_code, reason, sizeof(reason));
		kprintf("    CR2 %016lx  page fault: %s\n", read_cr2(), reason);
	}
	kprintf("    RAX %016lx  RBX %016lx  RCX %016lx  RDX %016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
	kprintf("    RSI %016lx  RDI %016lx  RBP %016lx\n", f->rsi, f->rdi, f->rbp);
	kprintf("    R8  %016lx  R9  %016lx  R10 %016lx  R11 %016lx\n", f->r8, f->r9, f->r10, f->r11);
	kprintf("    R12 %016lx  R13 %016lx  R14 %016lx  R15 %016lx\n", f->r12, f->r13, f->r14, f->r15);
	kprintf("    CR0 %016lx  CR3 %016lx  CR4 %016lx\n", read_cr0(), read_cr3(), read_cr4());
}

void exception_dispatch(struct exception_frame *frame)
{
	/* A user process's exception is the process layer's to resolve or to kill it for. */
	if (frame_from_user(frame) && user_exception_handler) {
		user_exception_handler(frame);
		return;
	}
	if (catcher.armed && frame->vector != 2 && frame->vector != 8) {
		resume_at_catcher(frame);
		return;
	}
	report(frame);
	kprintf("*** stopping (exit status %d)\n", KERNEL_EXIT_FAULT);
	qemu_exit(KERNEL_EXIT_FAULT);
}
