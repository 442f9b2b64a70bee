/*
 * Where amd64's physical zones end: the machine's half of the pmm's configuration (pmm_config's
 * zone_end). The pmm itself knows only that zones are address ranges, in the order of enum
 * pmm_zone (trace/events.def's `zone` group: DMA, DMA32, NORMAL); the ends are device facts:
 *
 *   - DMA ends at 16 MiB: the ISA DMA controller (8237) drives 24 address lines, so a legacy
 *     device (floppy, old sound cards) can only reach the first 16 MiB;
 *   - DMA32 ends at 4 GiB: a PCI device without 64-bit addressing (dual address cycles) drives
 *     32 address lines, so its buffers must lie below 4 GiB;
 *   - NORMAL takes the rest.
 *
 * kernel/core/memory.c hands these to pmm_init, and the pmm reports them in each pmm_snapshot, so
 * the analyzer learns them from the trace. Host tests and benchmarks that model the kernel's
 * machine include this header too; the arch-free core (kernel/mm) must not
 * (scripts/check-layering.sh).
 */
#ifndef PAGESCOPE_ARCH_AMD64_MEMORY_ZONES_H
#define PAGESCOPE_ARCH_AMD64_MEMORY_ZONES_H

#define MACHINE_ZONE_DMA_END (16ull << 20)
#define MACHINE_ZONE_DMA32_END (4ull << 30)

/* pmm_config.zone_end of this machine: `.zone_end = MACHINE_ZONE_ENDS`. */
#define MACHINE_ZONE_ENDS { MACHINE_ZONE_DMA_END, MACHINE_ZONE_DMA32_END }

#endif
