/*
 * Kernel command-line options (key=value words, see README "Kernel command line"). Parsed once at
 * boot into `kernel_options`; unknown keys and bad values are reported on the console.
 */
#ifndef PAGESCOPE_CORE_OPTIONS_H
#define PAGESCOPE_CORE_OPTIONS_H

#include "kernel/lib/compiler.h"
#include "trace/trace_values.h" /* enum vmm_backend_kind: the `vmm_backend` group */
#include "kernel/mm/pmm_placement.h" /* enum pmm_allocator: PMM_ALLOCATOR_LIST */
enum trace_mode { TRACE_MODE_LOSSLESS = 0, TRACE_MODE_DROP = 1, TRACE_MODE_OFF = 2 };
enum fault_test {
	FAULT_TEST_NONE = 0,
	FAULT_TEST_READ,
	FAULT_TEST_WRITE,
	FAULT_TEST_EXEC,
	FAULT_TEST_TRIPLE, /* proves the harness fails a triple fault */
	FAULT_TEST_HANG,   /* proves the harness fails a hang (timeout) */
};

struct kernel_options {
	bool run_tests;            /* `test` or `test=PREFIX`: run in-kernel tests, then exit */
	const char *test_filter;   /* PREFIX of test names to run; "" = all */
	enum vmm_backend_kind vmm; /* `vmm=pagetable|list` */
	enum pmm_allocator pmm;    /* `pmm=regions|buddy|tlsf|firstfit` (PMM_ALLOCATOR_LIST) */
	enum trace_mode trace;     /* `trace=on|drop|off` */
	enum fault_test fault;     /* `fault=read|write|exec|triple|hang`: test-only failures */
	const char *scenario;      /* `scenario=NAME`: workload to run (empty = none) */
	uint64_t seed;             /* `seed=N`: seed for workload generators */
	unsigned errors;           /* unknown keys or bad values seen while parsing */
};

extern struct kernel_options kernel_options;

/*
 * Parses a command line into `opts` (defaults first). Words are separated by spaces; each is
 * `key` or `key=value`. Problems are reported through `report` and counted in opts->errors. The
 * string is copied, so `cmdline` need not outlive the call.
 */
void options_parse(struct kernel_options *opts, const char *cmdline,
		   void (*report)(const char *fmt, ...));
/*
 * One line naming every option's current value, for the boot log and the trace header. It is a
 * command line that means the same configuration (`test=...` only when tests run).
 */
void options_describe(const struct kernel_options *opts, char *buf, unsigned long size);

#endif
