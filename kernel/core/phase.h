/*
 * Workload phases: named stretches of the kernel's life (a test, a scenario step). Each boundary
 * is a trace event framed by snapshots of allocator state (the pmm's free extents, and every live
 * context's free ranges per region), so the host can check its replay of the events in between.
 */
#ifndef PAGESCOPE_CORE_PHASE_H
#define PAGESCOPE_CORE_PHASE_H

/* Emits phase_begin(name), then the snapshots. */
void phase_begin(const char *name);
/* Emits the snapshots, then phase_end(name). */
void phase_end(const char *name);

#endif
