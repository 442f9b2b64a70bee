/* Wall-clock helpers the host benchmarks share (timing.h). */
#include <stdlib.h>
#include <time.h>

#include "benchmarks/timing.h"

uint64_t bench_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void bench_sort_samples(double *samples, size_t count)
{
	qsort(samples, count, sizeof(samples[0]), compare_double);
}
