/*
 * Wall-clock helpers the host benchmarks share. Nanoseconds are the secondary figure here (the
 * instruction counts from callgrind are the figure of record); these time repeats of a loop and
 * report their median, minimum and maximum.
 */
#ifndef PAGESCOPE_BENCHMARKS_TIMING_H
#define PAGESCOPE_BENCHMARKS_TIMING_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC, in nanoseconds. */
uint64_t bench_now_ns(void);

/* Sorts per-repeat samples in ascending order: [0] is the minimum, [count / 2] the median. */
void bench_sort_samples(double *samples, size_t count);

#endif
