/*
 * program: runs a real static Linux program (issue 18's user mode). The first multiboot2 module is
 * a newc cpio archive, the module filesystem (kernel/exec/cpio_newc.h), holding the program and
 * its files, `.argv` (NUL-terminated arguments; argv[0] is the path executed), optionally `.envp`
 * and `.stdin`. The program runs as pid 1 on a demand-paged context of the chosen VMM backend,
 * with whatever it forks and execs, until no process can run.
 *
 * The kernel log gets `program: exit status N` (what a shell reports: the exit code, or 128 + the
 * signal that killed it) and a summary: system calls by name, the unsupported ones, faults by
 * outcome, peak resident and reserved pages. A malformed archive or a program that cannot be
 * loaded is refused (exit status 6) with the reason.
 */
#include "scenario.h"
#include "kernel/core/boot.h"
#include "kernel/core/log.h"
#include "kernel/user/process.h"

#define ARGS_MAX 64

static struct rng program_rng;

void program_random_bytes(void *buf, uint64_t len)
{
	uint8_t *out = buf;
	for (uint64_t i = 0; i < len; i++)
		out[i] = (uint8_t)rng_next(&program_rng);
}

/* Splits NUL-terminated strings into `out`; the count, or -1 when malformed or too many. */
static int split_strings(const struct cpio_entry *e, const char **out, char *copy, uint64_t copy_size)
{
	if (e->size == 0)
		return 0;
	if (e->size >= copy_size || e->data[e->size - 1] != 0)
		return -1;
	memcpy(copy, e->data, e->size);
	int count = 0;
	for (uint64_t i = 0; i < e->size; i += strlen(copy + i) + 1) {
		if (count == ARGS_MAX)
			return -1;
		out[count++] = copy + i;
	}
	return count;
}

static const char *syscall_name(unsigned number)
{
	switch (number) {
#define SYSCALL(n, name) \
	case n:          \
		return #name;
#include "trace/linux_syscalls.def"
#undef SYSCALL
	}
	return "?";
}

static void print_summary(const struct process_totals *t);

void scenario_program(struct scenario_run *run)
{
	if (boot_info.module_count == 0) {
		scenario_refuse(run, "no module filesystem: boot with a cpio archive (make run-program PROG=FILE)");
		return;
	}
	const struct boot_module *m = &boot_info.modules[0];
	uint64_t bad_offset;
	const char *problem = cpio_check(phys_to_virt(m->start), m->end - m->start, &program_world.archive,
					 &bad_offset);
	if (problem) {
		scenario_refuse(run, "module %s is not a usable cpio archive at byte %lu: %s", m->name,
				bad_offset, problem);
		return;
	}
	struct cpio_entry argv_entry, envp_entry = { 0 };
	program_world.has_stdin = cpio_find(&program_world.archive, ".stdin", &program_world.stdin_entry);
	if (!cpio_find(&program_world.archive, ".argv", &argv_entry)) {
		scenario_refuse(run, "the module filesystem has no .argv (the program's arguments)");
		return;
	}
	cpio_find(&program_world.archive, ".envp", &envp_entry);
	static char argv_copy[8192], envp_copy[8192];
	const char *argv[ARGS_MAX], *envp[ARGS_MAX];
	int argc = split_strings(&argv_entry, argv, argv_copy, sizeof(argv_copy));
	int envc = envp_entry.data ? split_strings(&envp_entry, envp, envp_copy, sizeof(envp_copy)) : 0;
	if (argc <= 0 || envc < 0) {
		scenario_refuse(run, ".argv or .envp is not a list of NUL-terminated strings (at most %d)", ARGS_MAX);
		return;
	}
	rng_seed(&program_rng, run->seed ^ 0x70726f6772616dull);
	memset(&program_counters, 0, sizeof(program_counters));
	process_system_init();
	char why[200];
	struct process *first = process_spawn(argv[0], argv, (unsigned)argc, envp, (unsigned)envc, why, sizeof(why));
	if (!first) {
		scenario_refuse(run, "cannot start %s: %s", argv[0], why);
		return;
	}
	uint32_t first_pid = first->pid;
	struct process_totals totals;
	process_run_all_until_done(first_pid, &totals);
	unsigned status = totals.first_status;
	unsigned shell_status = (status & 0x7F) ? 128 + (status & 0x7F) : (status >> 8) & 0xFF;
	print_summary(&totals);
	kprintf("program: exit status %u\n", shell_status);
	run->requests++;
}

static void print_summary(const struct process_totals *t)
{
	kprintf("program: %u processes, peak resident %lu pages, peak reserved %lu pages (of any one process)\n",
		t->processes, t->peak_resident, t->peak_reserved);
	kprintf("program: system calls:");
	for (unsigned n = 0; n < ARRAY_SIZE(program_counters.syscalls); n++)
		if (program_counters.syscalls[n])
			kprintf(" %s=%lu", syscall_name(n), program_counters.syscalls[n]);
	kprintf("\nprogram: unsupported (returned -ENOSYS):");
	bool any = false;
	for (unsigned n = 0; n < ARRAY_SIZE(program_counters.unsupported); n++)
		if (program_counters.unsupported[n]) {
			kprintf(" %s=%lu", syscall_name(n), program_counters.unsupported[n]);
			any = true;
		}
	kprintf("%s\nprogram: faults:", any ? "" : " none");
	for (unsigned o = 0; o < ARRAY_SIZE(program_counters.faults); o++)
		if (program_counters.faults[o])
			kprintf(" %s=%lu", vmm_fault_outcome_name(o), program_counters.faults[o]);
	kprintf("\n");
}
