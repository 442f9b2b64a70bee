/*
 * The scenario table (built from SCENARIO_LIST) and what every scenario shares: seeding, stage phases, counting, and the
 * `all` scenario (kheap, procs, dma and fragment in sequence, each with its own seed stream, so a
 * scenario issues the same requests inside `all` as alone).
 */
#include "scenario.h"
#include "kernel/arch/amd64/qemu_exit.h"
#include "kernel/core/log.h"
#include "kernel/core/memory.h"
#include "kernel/core/phase.h"
#include "kernel/lib/format.h"
#include "kernel/lib/string.h"

#define SCENARIO_ROW(id, name, summary) { name, summary, scenario_##id },
const struct scenario scenario_table[] = { SCENARIO_LIST(SCENARIO_ROW) };
#undef SCENARIO_ROW
const unsigned scenario_count = ARRAY_SIZE(scenario_table);

/* What `all` runs, in order. */
static const char *const all_members[] = { "kheap", "procs", "dma", "fragment" };

const struct scenario *scenario_find(const char *name)
{
	for (unsigned i = 0; i < scenario_count; i++)
		if (!strcmp(scenario_table[i].name, name))
			return &scenario_table[i];
	return NULL;
}

/* FNV-1a of the name: each scenario draws from its own stream of the seed. */
static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 0x100000001b3ull;
	return h;
}

static void phase_name(char *buf, size_t size, const struct scenario_run *run, const char *stage)
{
	ksnprintf(buf, size, "%s:%s", run->name, stage);
}

void scenario_stage_begin(struct scenario_run *run, const char *stage)
{
	char name[64];
	phase_name(name, sizeof(name), run, stage);
	phase_begin(name);
}

void scenario_stage_end(struct scenario_run *run, const char *stage)
{
	char name[64];
	phase_name(name, sizeof(name), run, stage);
	phase_end(name);
}

void scenario_error(struct scenario_run *run, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("scenario %s: error: ", run->name);
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	run->errors++;
}

void scenario_refuse(struct scenario_run *run, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("scenario %s: refused: ", run->name);
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	run->refused = true;
}

static void run_one(const struct scenario *s, uint64_t seed, struct scenario_run *total)
{
	struct pmm_stats stats;
	page_allocator_stats(&kernel_pmm, &stats);
	struct scenario_run run = { .name = s->name, .seed = seed, .memory_pages = stats.total_pages };
	rng_seed(&run.rng, seed ^ name_hash(s->name));
	phase_begin(s->name);
	s->run(&run);
	phase_end(s->name);
	if (s->run != scenario_all)
		kprintf("scenario %s: %lu requests, %lu refused (out of memory or space), %lu errors\n",
			s->name, run.requests, run.failures, run.errors);
	total->requests += run.requests;
	total->failures += run.failures;
	total->errors += run.errors;
	total->refused |= run.refused;
}

void scenario_all(struct scenario_run *run)
{
	for (unsigned i = 0; i < ARRAY_SIZE(all_members); i++)
		run_one(scenario_find(all_members[i]), run->seed, run);
}

int scenario_run_by_name(const char *name, uint64_t seed)
{
	const struct scenario *s = scenario_find(name);
	if (!s) /* options.c accepts only names of the table */
		panic("scenario_run_by_name: unknown scenario '%s'", name);
	struct pmm_stats stats;
	page_allocator_stats(&kernel_pmm, &stats);
	kprintf("scenario %s: seed %lu, %lu MiB managed\n", name, seed, stats.total_pages >> 8);
	struct scenario_run total = { .name = name };
	run_one(s, seed, &total);
	if (s->run == scenario_all)
		kprintf("scenario all: %lu requests, %lu refused (out of memory or space), %lu errors\n",
			total.requests, total.failures, total.errors);
	if (total.refused)
		return KERNEL_EXIT_BAD_INPUT;
	return total.errors ? KERNEL_EXIT_TEST_FAILED : KERNEL_EXIT_SUCCESS;
}
