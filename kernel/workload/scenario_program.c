/*
 * program: runs real static Linux programs (issue 18's user mode). The first multiboot2 module is
 * a newc cpio archive, the module filesystem (kernel/exec/cpio_newc.h), holding the programs and
 * their files. What to run is one of:
 *   - one run: `.argv` (NUL-terminated arguments; argv[0] is the path executed), optionally
 *     `.envp` and `.stdin`;
 *   - several runs, one after another in the same boot: `.runs` holds their names (each
 *     NUL-terminated, in order; letters, digits, '.', '_', '-'), and run NAME has `.argv.NAME`,
 *     optionally `.envp.NAME` and `.stdin.NAME`. A boot of many small runs costs one QEMU start
 *     instead of one each (`make test-programs`, `make report`).
 * A run's first process starts on a fresh demand-paged context of the chosen VMM backend and runs,
 * with whatever it forks and execs, until no process can run; what it left blocked is then killed
 * (process_end_leftovers), so the next run starts with no process. Every run starts from the same
 * random seed. Pids keep counting across runs, so each process of the boot has its own.
 *
 * The kernel log gets, per run, a summary (system calls by name, the unsupported ones, faults by
 * outcome, peak resident and reserved pages) and then its status: for one run `program: exit
 * status N` (what a shell reports: the exit code, or 128 + the signal that killed it); for runs,
 * `program: run NAME: exit status N, stdout S bytes, stderr E bytes`, S and E being what the run
 * wrote to the stdout and stderr ports, which carry the runs' bytes one run after another (the
 * host cuts them apart by these counts). Each named run is the phase "program:NAME" of the trace,
 * so the analyzer can take its events apart from the other runs'. A malformed archive is refused
 * (exit status 6) before anything runs; a run whose program cannot be loaded is reported
 * (`program: run NAME: refused: ...`), the others run, and the boot then exits with status 6.
 */
#include "scenario.h"
#include "kernel/core/boot.h"
#include "kernel/core/log.h"
#include "kernel/lib/format.h"
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

/* What one run is given, from the archive. */
struct run_spec {
	const char *name; /* NULL: the boot's only run (.argv) */
	struct cpio_entry argv, envp;
	bool has_envp, has_stdin;
	struct cpio_entry stdin_entry;
};

/* Parses a run's argv and envp into the given arrays (copies in the static buffers); false and a
 * refusal when malformed. */
static bool run_arguments(struct scenario_run *run, const struct run_spec *spec, const char **argv,
			  int *argc, const char **envp, int *envc)
{
	static char argv_copy[8192], envp_copy[8192];
	*argc = split_strings(&spec->argv, argv, argv_copy, sizeof(argv_copy));
	*envc = spec->has_envp ? split_strings(&spec->envp, envp, envp_copy, sizeof(envp_copy)) : 0;
	if (*argc <= 0 || *envc < 0) {
		scenario_refuse(run, "%s%s: .argv or .envp is not a list of NUL-terminated strings (at most %d)",
				spec->name ? "run " : "the run", spec->name ? spec->name : "", ARGS_MAX);
		return false;
	}
	return true;
}

/*
 * Runs one run to its end and prints its summary and status line; false when its program could
 * not be started (then only a `refused` line: for the only run, the scenario is refused).
 */
static bool run_one(struct scenario_run *run, const struct run_spec *spec)
{
	const char *argv[ARGS_MAX], *envp[ARGS_MAX];
	int argc, envc;
	if (!run_arguments(run, spec, argv, &argc, envp, &envc))
		return false;
	rng_seed(&program_rng, run->seed ^ 0x70726f6772616dull);
	memset(&program_counters, 0, sizeof(program_counters));
	program_world.has_stdin = spec->has_stdin;
	program_world.stdin_entry = spec->stdin_entry;
	char why[200];
	struct process *first = process_spawn(argv[0], argv, (unsigned)argc, envp, (unsigned)envc, why, sizeof(why));
	if (!first) {
		if (spec->name)
			kprintf("program: run %s: refused: cannot start %s: %s\n", spec->name, argv[0], why);
		else
			scenario_refuse(run, "cannot start %s: %s", argv[0], why);
		return false;
	}
	struct process_totals totals;
	process_run_all_until_done(first->pid, &totals);
	unsigned status = totals.first_status;
	unsigned shell_status = (status & 0x7F) ? 128 + (status & 0x7F) : (status >> 8) & 0xFF;
	print_summary(&totals);
	if (spec->name)
		kprintf("program: run %s: exit status %u, stdout %lu bytes, stderr %lu bytes\n", spec->name,
			shell_status, program_counters.stdout_bytes, program_counters.stderr_bytes);
	else
		kprintf("program: exit status %u\n", shell_status);
	run->requests++;
	return true;
}

#define RUNS_MAX 128
#define RUN_NAME_MAX 48

static bool run_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > RUN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* The runs `.runs` names, each checked whole before any runs; the count, or -1 (refused). */
static int read_runs(struct scenario_run *run, const struct cpio_entry *list, struct run_spec *specs)
{
	static char names[RUNS_MAX * (RUN_NAME_MAX + 1)];
	const char *name_of[RUNS_MAX];
	if (list->size > sizeof(names) || (list->size && list->data[list->size - 1] != 0)) {
		scenario_refuse(run, ".runs is not a list of NUL-terminated run names (at most %d of %d bytes)",
				RUNS_MAX, RUN_NAME_MAX);
		return -1;
	}
	memcpy(names, list->data, list->size);
	int count = 0;
	for (uint64_t i = 0; i < list->size; i += strlen(names + i) + 1) {
		if (count == RUNS_MAX) {
			scenario_refuse(run, ".runs names more than %d runs", RUNS_MAX);
			return -1;
		}
		name_of[count++] = names + i;
	}
	if (count == 0) {
		scenario_refuse(run, ".runs names no run");
		return -1;
	}
	for (int r = 0; r < count; r++) {
		struct run_spec *spec = &specs[r];
		memset(spec, 0, sizeof(*spec));
		spec->name = name_of[r];
		if (!run_name_ok(spec->name)) {
			scenario_refuse(run, ".runs: run %d's name is not 1-%d letters, digits, '.', '_' or '-'",
					r + 1, RUN_NAME_MAX);
			return -1;
		}
		for (int other = 0; other < r; other++)
			if (strcmp(name_of[other], spec->name) == 0) {
				scenario_refuse(run, ".runs names run %s twice", spec->name);
				return -1;
			}
		char entry[RUN_NAME_MAX + 16];
		ksnprintf(entry, sizeof(entry), ".argv.%s", spec->name);
		if (!cpio_find(&program_world.archive, entry, &spec->argv)) {
			scenario_refuse(run, "run %s has no %s (its arguments)", spec->name, entry);
			return -1;
		}
		ksnprintf(entry, sizeof(entry), ".envp.%s", spec->name);
		spec->has_envp = cpio_find(&program_world.archive, entry, &spec->envp);
		ksnprintf(entry, sizeof(entry), ".stdin.%s", spec->name);
		spec->has_stdin = cpio_find(&program_world.archive, entry, &spec->stdin_entry);
		const char *argv[ARGS_MAX], *envp[ARGS_MAX];
		int argc, envc;
		if (!run_arguments(run, spec, argv, &argc, envp, &envc))
			return -1;
	}
	return count;
}

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
	struct cpio_entry list;
	if (!cpio_find(&program_world.archive, ".runs", &list)) {
		struct run_spec only = { 0 };
		if (!cpio_find(&program_world.archive, ".argv", &only.argv)) {
			scenario_refuse(run, "the module filesystem has no .argv (the program's arguments) and no .runs");
			return;
		}
		only.has_envp = cpio_find(&program_world.archive, ".envp", &only.envp);
		only.has_stdin = cpio_find(&program_world.archive, ".stdin", &only.stdin_entry);
		process_system_init();
		run_one(run, &only);
		return;
	}
	static struct run_spec specs[RUNS_MAX];
	int count = read_runs(run, &list, specs);
	if (count < 0)
		return;
	process_system_init();
	int refused = 0;
	for (int r = 0; r < count; r++) {
		scenario_stage_begin(run, specs[r].name);
		refused += !run_one(run, &specs[r]);
		process_end_leftovers();
		scenario_stage_end(run, specs[r].name);
	}
	if (refused)
		scenario_refuse(run, "%d of %d runs could not start (their `program: run NAME: refused` lines say why)",
				refused, count);
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
