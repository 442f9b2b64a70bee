/*
 * The stack a Linux x86-64 program starts on (System V ABI, AMD64 supplement §3.4.1, as Linux's
 * binfmt_elf builds it), from the top down: the path executed, the environment and argument
 * strings, the platform string, the 16 AT_RANDOM bytes (between the strings and the tables, where
 * programs may check for them), padding to 16 bytes, then (growing down) the auxiliary vector
 * (type, value pairs ending with AT_NULL), a NULL, the environment pointers, a NULL, the argument
 * pointers and argc, which the initial RSP points at (16-byte aligned).
 *
 * The image is built in a kernel buffer whose last byte will sit at stack_top - 1; the caller
 * copies it into the program's stack. AT_RANDOM, AT_PLATFORM and AT_EXECFN are filled in here
 * (they point into the image); the other entries come from the caller.
 */
#ifndef PAGESCOPE_EXEC_INITIAL_STACK_H
#define PAGESCOPE_EXEC_INITIAL_STACK_H

#include "kernel/lib/compiler.h"

/* Auxiliary vector types (Linux's include/uapi/linux/auxvec.h, the ABI's values). */
enum {
	AT_NULL = 0, AT_PHDR = 3, AT_PHENT = 4, AT_PHNUM = 5, AT_PAGESZ = 6, AT_BASE = 7,
	AT_FLAGS = 8, AT_ENTRY = 9, AT_UID = 11, AT_EUID = 12, AT_GID = 13, AT_EGID = 14,
	AT_PLATFORM = 15, AT_HWCAP = 16, AT_CLKTCK = 17, AT_SECURE = 23, AT_RANDOM = 25,
	AT_HWCAP2 = 26, AT_EXECFN = 31,
};

struct auxv_entry {
	uint64_t type, value;
};

struct initial_stack_input {
	const char *const *argv; /* argc strings */
	unsigned argc;
	const char *const *envp; /* envc strings */
	unsigned envc;
	const uint8_t *random16; /* AT_RANDOM's bytes */
	const char *execfn;      /* AT_EXECFN: the path executed */
	const struct auxv_entry *auxv; /* without AT_NULL, AT_RANDOM, AT_PLATFORM, AT_EXECFN */
	unsigned auxc;
};

/*
 * Builds the image into buf[0, capacity): its bytes belong at [stack_top - *used, stack_top).
 * Returns the initial RSP, or 0 when it does not fit in `capacity` (E2BIG).
 */
uint64_t initial_stack_build(const struct initial_stack_input *in, uint64_t stack_top, uint8_t *buf,
			     uint64_t capacity, uint64_t *used);

#endif
