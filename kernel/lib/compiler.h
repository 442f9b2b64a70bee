/* Compiler helpers shared by the kernel and the host builds of arch-free code. */
#ifndef PAGESCOPE_LIB_COMPILER_H
#define PAGESCOPE_LIB_COMPILER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#define NORETURN __attribute__((noreturn))
/* For a hot path split into functions for reading, not for calling: inlined whatever -O says. */
#define ALWAYS_INLINE inline __attribute__((always_inline))
/* A rare path kept out of a hot caller, so the caller saves fewer registers. */
#define NOINLINE __attribute__((noinline))
#define STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Power-of-two alignment; 'a' must be a power of two. */
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define ALIGN_UP(x, a) ALIGN_DOWN((x) + ((__typeof__(x))(a) - 1), (a))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define IS_POW2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* floor(log2(x)) for x > 0. */
static inline unsigned ilog2_u64(uint64_t x) { return 63u - (unsigned)__builtin_clzll(x); }

#endif
