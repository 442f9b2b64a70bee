/* `scenario=`: every name of SCENARIO_LIST is accepted, `none` means none, anything else is refused
 * with the list of known names. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel/core/options.h"
#include "kernel/lib/testing.h"
#include "kernel/workload/scenario_list.h"

static char scenario_problems[1024];
static void collect(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t used = strlen(scenario_problems);
	vsnprintf(scenario_problems + used, sizeof(scenario_problems) - used, fmt, ap);
	va_end(ap);
}

TEST(scenario_option_accepts_every_listed_name_and_refuses_others)
{
	static const char *const names[] = {
#define SCENARIO_NAME(id, name, summary) name,
		SCENARIO_LIST(SCENARIO_NAME)
#undef SCENARIO_NAME
	};
	struct kernel_options o;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "scenario=%s seed=3", names[i]);
		scenario_problems[0] = '\0';
		options_parse(&o, line, collect);
		EXPECT_EQ(o.errors, 0);
		EXPECT_STREQ(o.scenario, names[i]);
		EXPECT_EQ(o.seed, 3);
		EXPECT_TRUE(strstr(scenario_names(), names[i]) != NULL);
	}
	scenario_problems[0] = '\0';
	options_parse(&o, "scenario=none", collect);
	EXPECT_EQ(o.errors, 0);
	EXPECT_STREQ(o.scenario, "");

	scenario_problems[0] = '\0';
	options_parse(&o, "scenario=kheaps", collect);
	EXPECT_EQ(o.errors, 1);
	EXPECT_STREQ(o.scenario, "");
	EXPECT_TRUE(strstr(scenario_problems, "expected none or one of kheap, procs, dma, fragment, "
						  "replay, all, trace-throughput") != NULL);
	EXPECT_FALSE(scenario_name_known("kheaps"));
	EXPECT_TRUE(scenario_name_known("trace-throughput"));
}
