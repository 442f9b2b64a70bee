/*
 * kheap: kmalloc/kfree churn shaped like a kernel's object traffic. Sizes are heavy-tailed (most
 * requests are slab-sized, 8..2048 bytes; some are pages; a few are hundreds of KiB, up to
 * 1/256 of memory); lifetimes too: most objects die within a few dozen requests, some live for
 * hundreds, some until the end of the scenario. So slab caches fill and drain, and the kernel
 * heap region and physical memory fragment around the long-lived objects.
 *
 * One object is requested per step; the objects whose lifetime ends at that step are freed first
 * (a timing wheel: a lifetime is shorter than the wheel, so each bucket holds exactly the objects
 * that expire at that step). Stages:
 *   fill   growth: more objects are long-lived
 *   churn  steady state: long-lived objects are rare
 *   drain  everything still live is freed, in slot order
 */
#include "scenario.h"
#include "kernel/core/memory.h"

#define KHEAP_SLOTS 4096
#define KHEAP_WHEEL 1024       /* a power of two; the longest lifetime is KHEAP_WHEEL - 1 */
#define KHEAP_NONE 0xFFFFu

struct kheap_object {
	void *ptr;
	uint16_t next; /* next in its wheel bucket, the long-lived list or the free list */
};

static struct kheap_object objects[KHEAP_SLOTS];
static uint16_t wheel[KHEAP_WHEEL];
static uint16_t long_lived, free_slots;

static void push(uint16_t *list, uint16_t slot)
{
	objects[slot].next = *list;
	*list = slot;
}

static uint16_t pop(uint16_t *list)
{
	uint16_t slot = *list;
	if (slot != KHEAP_NONE)
		*list = objects[slot].next;
	return slot;
}

static void reset(void)
{
	for (unsigned i = 0; i < KHEAP_WHEEL; i++)
		wheel[i] = KHEAP_NONE;
	long_lived = free_slots = KHEAP_NONE;
	for (unsigned i = KHEAP_SLOTS; i-- > 0;)
		push(&free_slots, (uint16_t)i);
}

static void free_list(struct scenario_run *run, uint16_t *list)
{
	for (uint16_t slot; (slot = pop(list)) != KHEAP_NONE;) {
		enum vm_status st = kfree(&kernel_heap, objects[slot].ptr);
		if (st != VM_OK)
			scenario_error(run, "kfree(%p): %s", objects[slot].ptr, vm_status_name(st));
		push(&free_slots, slot);
	}
}

static size_t object_size(struct scenario_run *run, uint64_t largest)
{
	unsigned kind = (unsigned)rng_below(&run->rng, 100);
	if (kind < 90)
		return rng_log_uniform(&run->rng, 8, 2048);
	if (kind < 99)
		return rng_log_uniform(&run->rng, 2049, 64 * 1024);
	return rng_log_uniform(&run->rng, 64 * 1024 + 1, largest);
}

static void steps(struct scenario_run *run, uint64_t first, uint64_t count, unsigned long_percent)
{
	uint64_t largest = MAX(128 * 1024, MIN(512 * 1024, run->memory_pages * PAGE_SIZE / 256));
	for (uint64_t step = first; step < first + count; step++) {
		free_list(run, &wheel[step % KHEAP_WHEEL]);
		size_t size = object_size(run, largest);
		unsigned kind = (unsigned)rng_below(&run->rng, 100);
		uint64_t lifetime = kind < long_percent ? 0
				    : kind < 75 ? rng_between(&run->rng, 1, 32)
						: rng_between(&run->rng, 33, KHEAP_WHEEL - 1);
		void *ptr = kmalloc(&kernel_heap, size);
		if (!scenario_outcome(run, ptr != NULL))
			continue;
		uint16_t slot = pop(&free_slots);
		if (slot == KHEAP_NONE) { /* more live objects than slots: this one dies at once */
			enum vm_status st = kfree(&kernel_heap, ptr);
			if (st != VM_OK)
				scenario_error(run, "kfree(%p): %s", ptr, vm_status_name(st));
			continue;
		}
		objects[slot].ptr = ptr;
		push(lifetime ? &wheel[(step + lifetime) % KHEAP_WHEEL] : &long_lived, slot);
	}
}

void scenario_kheap(struct scenario_run *run)
{
	/* Request counts do not grow with memory (they set the run time); sizes do. */
	const uint64_t fill_steps = 6000, churn_steps = 12000;
	reset();
	scenario_stage_begin(run, "fill");
	steps(run, 0, fill_steps, 10);
	scenario_stage_end(run, "fill");
	scenario_stage_begin(run, "churn");
	steps(run, fill_steps, churn_steps, 1);
	scenario_stage_end(run, "churn");
	scenario_stage_begin(run, "drain");
	for (unsigned i = 0; i < KHEAP_WHEEL; i++)
		free_list(run, &wheel[i]);
	free_list(run, &long_lived);
	scenario_stage_end(run, "drain");
}
