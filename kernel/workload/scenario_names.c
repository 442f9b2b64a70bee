/* The scenarios' names, from SCENARIO_LIST, for the command line (arch-free: host tests use it). */
#include "scenario_list.h"
#include "kernel/lib/format.h"
#include "kernel/lib/string.h"

#define SCENARIO_NAME(id, name, summary) name,
static const char *const names[] = { SCENARIO_LIST(SCENARIO_NAME) };
#undef SCENARIO_NAME

bool scenario_name_known(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

const char *scenario_names(void)
{
	static char list[160];
	if (!list[0]) {
		size_t used = 0;
		for (size_t i = 0; i < ARRAY_SIZE(names) && used < sizeof(list); i++)
			used += ksnprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", names[i]);
	}
	return list;
}
