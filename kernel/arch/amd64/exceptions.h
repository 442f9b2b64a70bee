/* CPU exception reporting, and a test-only way to run code that is expected to fault. */
#ifndef PAGESCOPE_ARCH_AMD64_EXCEPTIONS_H
#define PAGESCOPE_ARCH_AMD64_EXCEPTIONS_H

#include "kernel/lib/compiler.h"

/* What isr.S pushes, lowest address first. */
struct exception_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

#define VECTOR_PAGE_FAULT 14

/* Page-fault error code bits. */
#define PF_PRESENT (1u << 0)
#define PF_WRITE (1u << 1)
#define PF_USER (1u << 2)
#define PF_RESERVED_BIT (1u << 3)
#define PF_INSTRUCTION_FETCH (1u << 4)
#define PF_PROTECTION_KEY (1u << 5)

struct fault_record {
	unsigned vector;
	uint64_t error_code;
	uint64_t rip;
	uint64_t cr2;
};

/*
 * Test-only: runs fn(arg) and catches the first CPU exception it raises instead of stopping the
 * kernel. Returns true and fills *fault when an exception happened (execution resumes here, fn
 * is abandoned), false when fn returned normally. Not reentrant; must not be nested.
 */
bool fault_catch(void (*fn)(void *), void *arg, struct fault_record *fault);

/* Writes a human-readable decoding of a page-fault error code, e.g. "write to a present page". */
void page_fault_describe(uint64_t error_code, char *buf, unsigned long size);

void exception_dispatch(struct exception_frame *frame);

#endif
