/*
 * Who owns a used physical region. The tag is kept in the pmm's region record and travels into
 * trace events, so a trace can say not just "4 pages allocated" but "4 pages for page tables".
 * The values (enum mm_owner, MM_OWNER_*) and their names (mm_owner_name) are the `owner` group of
 * trace/events.def, which the analyzer reads too, so a new owner cannot drift.
 */
#ifndef PAGESCOPE_MM_OWNER_H
#define PAGESCOPE_MM_OWNER_H

#include "trace/trace_values.h"

/* Owner tags are below this; a tag at or above it is refused. */
#define MM_OWNER_COUNT TRACE_VALUE_LIMIT(mm_owner)

#endif
