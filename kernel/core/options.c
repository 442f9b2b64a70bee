/*
 * The kernel command line: one table of known options, each with its own value parser. Unknown
 * keys and bad values are reported (never silently ignored) and counted.
 */
#include "options.h"
#include "kernel/boot/cmdline.h"
#include "kernel/lib/format.h"
#include "kernel/lib/string.h"
#include "kernel/workload/scenario_list.h"

struct kernel_options kernel_options;

/* Each parser returns NULL when the value was accepted, otherwise what was expected. */
struct option_spec {
	const char *key;
	const char *(*parse)(struct kernel_options *o, const struct cmdline_word *w);
	const char *help;
};

/* String values are copied here so they outlive the caller's buffer. */
static char test_filter_storage[CMDLINE_VALUE_MAX];
static char scenario_storage[CMDLINE_VALUE_MAX];

static const char *parse_test(struct kernel_options *o, const struct cmdline_word *w)
{
	if (w->has_value && !w->value[0])
		return "a test-name prefix (or `test` / `test=all` for every test)";
	o->run_tests = true;
	/* `all` is what options_describe prints for a full run, so it must mean one. */
	if (!strcmp(w->value, "all"))
		return NULL;
	memcpy(test_filter_storage, w->value, sizeof(w->value));
	o->test_filter = test_filter_storage;
	return NULL;
}

/*
 * Value names, indexed by the enum they set; also what options_describe prints. The backends'
 * names are the `vmm_backend` group of trace/events.def (vmm_backend_kind_name).
 */
static const char *const trace_names[] = { [TRACE_MODE_LOSSLESS] = "on", [TRACE_MODE_DROP] = "drop",
					   [TRACE_MODE_OFF] = "off" };
static const char *const fault_names[] = { [FAULT_TEST_NONE] = "none", [FAULT_TEST_READ] = "read",
					   [FAULT_TEST_WRITE] = "write", [FAULT_TEST_EXEC] = "exec",
					   [FAULT_TEST_TRIPLE] = "triple", [FAULT_TEST_HANG] = "hang" };

/* Sets *out to the index of `value` among `names` (from `first` on); false if it is none of them. */
static bool parse_enum(const char *value, const char *const *names, unsigned count, unsigned first,
		       unsigned *out)
{
	for (unsigned i = first; i < count; i++)
		if (!strcmp(names[i], value)) {
			*out = i;
			return true;
		}
	return false;
}

static const char *parse_vmm(struct kernel_options *o, const struct cmdline_word *w)
{
	unsigned v;
	for (v = 0; v < TRACE_VALUE_LIMIT(vmm_backend_kind); v++)
		if (!strcmp(vmm_backend_kind_name(v), w->value)) {
			o->vmm = (enum vmm_backend_kind)v;
			return NULL;
		}
	return "pagetable or list";
}

static const char *parse_pmm(struct kernel_options *o, const struct cmdline_word *w)
{
	static char expected[120];
	size_t used = ksnprintf(expected, sizeof(expected), "one of");
	for (unsigned a = 0; a < PMM_ALLOCATOR_COUNT; a++) {
		if (!strcmp(pmm_allocator_name(a), w->value)) {
			o->pmm = (enum pmm_allocator)a;
			return NULL;
		}
		used += ksnprintf(expected + used, sizeof(expected) - used, " %s",
				  pmm_allocator_name(a));
	}
	return expected;
}

static const char *parse_trace(struct kernel_options *o, const struct cmdline_word *w)
{
	unsigned v;
	if (!parse_enum(w->value, trace_names, ARRAY_SIZE(trace_names), 0, &v))
		return "on, drop or off";
	o->trace = (enum trace_mode)v;
	return NULL;
}

static const char *parse_fault(struct kernel_options *o, const struct cmdline_word *w)
{
	unsigned v;
	if (!parse_enum(w->value, fault_names, ARRAY_SIZE(fault_names), FAULT_TEST_NONE, &v))
		return "none, read, write, exec, triple or hang";
	o->fault = (enum fault_test)v;
	return NULL;
}

static const char *parse_scenario(struct kernel_options *o, const struct cmdline_word *w)
{
	if (!strcmp(w->value, "none")) /* what options_describe prints when no scenario runs */
		return NULL;
	/* Only a scenario of the list (kernel/workload/scenario_list.h): a typo is refused. */
	if (!scenario_name_known(w->value)) {
		static char expected[200];
		ksnprintf(expected, sizeof(expected), "none or one of %s", scenario_names());
		return expected;
	}
	memcpy(scenario_storage, w->value, sizeof(w->value));
	o->scenario = scenario_storage;
	return NULL;
}

static const char *parse_seed(struct kernel_options *o, const struct cmdline_word *w)
{
	return cmdline_parse_u64(w->value, &o->seed) ? NULL : "a decimal or 0x-hex number";
}

static const struct option_spec option_table[] = {
	{ "test", parse_test, "run in-kernel tests (test=PREFIX runs those whose name starts so; test=all every one)" },
	{ "vmm", parse_vmm, "virtual-memory bookkeeping backend: pagetable (default) or list" },
	{ "pmm", parse_pmm, "physical page allocator: regions (default), buddy, tlsf or firstfit" },
	{ "trace", parse_trace, "event tracing: on (lossless, default), drop, off" },
	{ "fault", parse_fault, "test-only: a deliberate page fault (read, write, exec), triple fault or hang; none (default)" },
	{ "scenario", parse_scenario, "workload scenario to run; none (default)" },
	{ "seed", parse_seed, "seed for workload generators" },
};

static void set_defaults(struct kernel_options *o)
{
	*o = (struct kernel_options){ .test_filter = "", .scenario = "", .seed = 1 };
}

void options_parse(struct kernel_options *o, const char *cmdline, void (*report)(const char *fmt, ...))
{
	set_defaults(o);
	bool given[ARRAY_SIZE(option_table)] = { false };
	struct cmdline_word w;
	for (const char *p = cmdline; (p = cmdline_next(p, &w));) {
		const struct option_spec *spec = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(option_table); i++)
			if (!strcmp(option_table[i].key, w.key))
				spec = &option_table[i];
		/* Which of two values was meant cannot be known; taking the last would be a guess. */
		if (spec && given[spec - option_table]) {
			report("cmdline: option '%s' given more than once; give each option once\n", w.key);
			o->errors++;
			continue;
		}
		if (spec)
			given[spec - option_table] = true;
		if (!spec) {
			report("cmdline: unknown option '%s'; known options:\n", w.key);
			for (size_t i = 0; i < ARRAY_SIZE(option_table); i++)
				report("cmdline:   %-9s %s\n", option_table[i].key, option_table[i].help);
			o->errors++;
			continue;
		}
		if (w.truncated) {
			report("cmdline: option '%s': value too long\n", w.key);
			o->errors++;
			continue;
		}
		const char *expected = spec->parse(o, &w);
		if (expected) {
			report("cmdline: option '%s=%s' not understood: expected %s\n", w.key, w.value,
			       expected);
			o->errors++;
		}
	}
}

/* The result is itself a command line that options_parse accepts and that means the same. */
void options_describe(const struct kernel_options *o, char *buf, unsigned long size)
{
	ksnprintf(buf, size, "%s%s%svmm=%s pmm=%s trace=%s fault=%s scenario=%s seed=%lu",
		  o->run_tests ? "test=" : "", !o->run_tests ? "" : o->test_filter[0] ? o->test_filter : "all",
		  o->run_tests ? " " : "", vmm_backend_kind_name(o->vmm), pmm_allocator_name(o->pmm),
		  trace_names[o->trace],
		  fault_names[o->fault],
		  o->scenario[0] ? o->scenario : "none", (unsigned long)o->seed);
}
