/*
 * The memory-map normaliser of the pmm: turns the firmware's list of typed byte ranges (unsorted,
 * overlapping, unaligned) into ascending, disjoint runs of whole usable pages.
 *
 * Method: a sweep over the entries' boundaries without any buffer. From a cursor, the next
 * boundary is the smallest entry start or end above it; the elementary interval between the two
 * takes the strictest type of the entries covering it. Consecutive available intervals join into
 * one run, and only then is the run shrunk to whole pages, so two adjacent unaligned entries do
 * not lose the page they share. Cost: at most 2n boundaries for n entries, each found and typed
 * by reading every entry twice, so at most (2n + 1) * 2n entry reads (counted in *work), with
 * n <= PMM_MEMORY_MAP_MAX_ENTRIES: a boot-time operation on a list that is a few dozen entries
 * long on real machines.
 */
#include "pmm.h"

/* How strict a type is: where entries overlap, the highest rank wins. */
static unsigned memory_type_rank(uint32_t type)
{
	switch (type) {
	case PMM_MEMORY_AVAILABLE:
		return 0;
	case PMM_MEMORY_ACPI_RECLAIMABLE:
		return 1;
	case PMM_MEMORY_ACPI_NVS:
		return 2;
	case PMM_MEMORY_BAD:
		return 4;
	default:
		return 3; /* reserved, and every type this code does not know */
	}
}

/* An entry clipped to [0, PMM_PHYS_LIMIT): so that every end fits in 64 bits. */
static bool entry_bounds(const struct pmm_memory_map_entry *entry, uint64_t *start, uint64_t *end)
{
	if (entry->length == 0 || entry->base >= PMM_PHYS_LIMIT)
		return false;
	*start = entry->base;
	*end = entry->length > PMM_PHYS_LIMIT - entry->base ? PMM_PHYS_LIMIT
							       : entry->base + entry->length;
	return true;
}

static enum pmm_status validate_entries(const struct pmm_memory_map_entry *entries, size_t count)
{
	if (count > PMM_MEMORY_MAP_MAX_ENTRIES) {
		mm_log("pmm: memory map has %zu entries, at most %u are supported\n", count,
		       PMM_MEMORY_MAP_MAX_ENTRIES);
		return PMM_ERR_MAP_TOO_LARGE;
	}
	for (size_t i = 0; i < count; i++) {
		const struct pmm_memory_map_entry *e = &entries[i];
		if (e->length == 0) {
			mm_log("pmm: memory map entry %zu (base %#llx type %u) has length 0, skipped\n",
			       i, (unsigned long long)e->base, e->type);
		} else if (e->length - 1 > UINT64_MAX - e->base) {
			mm_log("pmm: memory map entry %zu (base %#llx length %#llx) wraps past 2^64\n",
			       i, (unsigned long long)e->base, (unsigned long long)e->length);
			return PMM_ERR_MAP_ENTRY_WRAPS;
		}
	}
	return PMM_OK;
}

/* The smallest entry start or end strictly above `cursor`; false when there is none. */
static bool next_boundary(const struct pmm_memory_map_entry *entries, size_t count,
			  uint64_t cursor, bool cursor_valid, uint64_t *next, uint64_t *work)
{
	bool found = false;
	*work += count;
	for (size_t i = 0; i < count; i++) {
		uint64_t start, end;
		if (!entry_bounds(&entries[i], &start, &end))
			continue;
		uint64_t candidates[2] = { start, end };
		for (unsigned c = 0; c < 2; c++) {
			if (cursor_valid && candidates[c] <= cursor)
				continue;
			if (!found || candidates[c] < *next)
				*next = candidates[c];
			found = true;
		}
	}
	return found;
}

/* True when [from, ...) is covered by some entry and the strictest covering entry is available. */
static bool interval_is_available(const struct pmm_memory_map_entry *entries, size_t count,
				  uint64_t from, uint64_t *work)
{
	bool covered = false;
	*work += count;
	unsigned rank = 0;
	for (size_t i = 0; i < count; i++) {
		uint64_t start, end;
		if (!entry_bounds(&entries[i], &start, &end) || from < start || from >= end)
			continue;
		covered = true;
		rank = MAX(rank, memory_type_rank(entries[i].type));
	}
	return covered && rank == 0;
}

/* Hands the whole pages of the byte run [start, end) to the visitor, if there are any. */
static enum pmm_status emit_run(uint64_t start, uint64_t end, pmm_usable_range_fn visit, void *ctx)
{
	uint64_t first_page = ALIGN_UP(start, PAGE_SIZE) >> PAGE_SHIFT;
	uint64_t end_page = ALIGN_DOWN(end, PAGE_SIZE) >> PAGE_SHIFT;
	if (end_page <= first_page)
		return PMM_OK;
	return visit(ctx, first_page, end_page - first_page);
}

enum pmm_status pmm_memory_map_for_each_usable(const struct pmm_memory_map_entry *entries,
					       size_t count, pmm_usable_range_fn visit, void *ctx,
					       uint64_t *work)
{
	uint64_t ignored = 0;
	if (!work)
		work = &ignored;
	if (count > 0 && !entries)
		return PMM_ERR_INVALID_ARGUMENT;
	enum pmm_status status = validate_entries(entries, count);
	if (status != PMM_OK)
		return status;

	uint64_t cursor = 0, next = 0, run_start = 0, run_end = 0;
	bool cursor_valid = false, run_open = false;
	while (next_boundary(entries, count, cursor, cursor_valid, &next, work)) {
		/* The interval [cursor, next) has one type throughout. */
		bool available = cursor_valid && interval_is_available(entries, count, cursor, work);
		if (available) {
			if (!run_open)
				run_start = cursor;
			run_end = next;
			run_open = true;
		} else if (run_open) {
			status = emit_run(run_start, run_end, visit, ctx);
			if (status != PMM_OK)
				return status;
			run_open = false;
		}
		cursor = next;
		cursor_valid = true;
	}
	return run_open ? emit_run(run_start, run_end, visit, ctx) : PMM_OK;
}
