/*
 * The scenarios' one source of randomness: splitmix64 (Steele, Lea, Flood, OOPSLA 2014), a 64-bit
 * generator whose whole state is one counter, so a seed fully determines every request a scenario
 * makes. Nothing here depends on the allocators, which is what lets a run under vmm=pagetable and
 * one under vmm=list issue the identical request sequence.
 */
#ifndef PAGESCOPE_WORKLOAD_RNG_H
#define PAGESCOPE_WORKLOAD_RNG_H

#include "kernel/lib/compiler.h"

struct rng {
	uint64_t state;
};

static inline void rng_seed(struct rng *r, uint64_t seed)
{
	r->state = seed;
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. The modulo bias is below 2^-40 for the n used here. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/* Uniform in [lo, hi] (lo <= hi). */
static inline uint64_t rng_between(struct rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

/* True with probability percent / 100. */
static inline bool rng_percent(struct rng *r, unsigned percent)
{
	return rng_below(r, 100) < percent;
}

/*
 * Heavy-tailed in [lo, hi] (1 <= lo <= hi): the binary order of magnitude is uniform, then the
 * value is uniform inside it, so each doubling of size is as likely as the one before: many small
 * values, a few large ones.
 */
static inline uint64_t rng_log_uniform(struct rng *r, uint64_t lo, uint64_t hi)
{
	unsigned order = (unsigned)rng_between(r, ilog2_u64(lo), ilog2_u64(hi));
	uint64_t from = MAX(lo, (uint64_t)1 << order);
	uint64_t to = order >= 63 ? hi : MIN(hi, ((uint64_t)2 << order) - 1);
	return rng_between(r, from, to);
}

#endif
