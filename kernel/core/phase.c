/* Phase boundaries and allocator snapshots; see phase.h. Nothing is done while tracing is off. */
#include "phase.h"
#include "memory.h"
#include "kernel/trace/tracepoints.h"

static bool snapshot_pmm_extent(void *cookie, const struct pmm_region_info *extent)
{
	(void)cookie;
	trace_pmm_snapshot_add(extent->base, extent->pages);
	return true;
}

static void snapshot_context(void *cookie, struct vmm_context *ctx)
{
	(void)cookie;
	vmm_trace_snapshot(ctx);
}

static void snapshot_allocators(void)
{
	if (!trace_enabled)
		return;
	struct pmm_stats stats;
	page_allocator_stats(&kernel_pmm, &stats);
	/* The zone ends travel with every snapshot, so the analyzer learns them from the trace. */
	trace_pmm_snapshot_begin(stats.free_pages, page_allocator_zone_end(&kernel_pmm, PMM_ZONE_DMA),
				 page_allocator_zone_end(&kernel_pmm, PMM_ZONE_DMA32));
	page_allocator_for_each_free_extent(&kernel_pmm, snapshot_pmm_extent, NULL);
	trace_pmm_snapshot_end();
	vmm_for_each_context(&kernel_vmm, snapshot_context, NULL);
}

void phase_begin(const char *name)
{
	trace_phase_begin(name);
	snapshot_allocators();
}

void phase_end(const char *name)
{
	snapshot_allocators();
	trace_phase_end(name);
}
