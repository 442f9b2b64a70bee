/*
 * The stack grows down on demand: 400 nested calls of 8 KiB frames (over 3 MiB below where main
 * started) each find their frame zero on first touch, then a 2 MiB alloca further down does too.
 * Linux grows the stack within its 8 MiB limit the same way. The first USED_BY_START_UP frames
 * are not checked: the libc's start-up code ran there before main.
 */
#include <alloca.h>
#include "check.h"

#define FRAME_BYTES 8192
#define DEPTH 400
#define USED_BY_START_UP 16

static int frames_zero = 1;

static __attribute__((noinline)) unsigned long descend(int depth)
{
	volatile unsigned char frame[FRAME_BYTES];
	if (depth < DEPTH - USED_BY_START_UP && !all_bytes_are(frame, FRAME_BYTES, 0))
		frames_zero = 0;
	for (int i = 0; i < FRAME_BYTES; i += 512)
		frame[i] = (unsigned char)depth;
	unsigned long below = depth > 0 ? descend(depth - 1) : 0;
	return below + frame[FRAME_BYTES / 2];
}

static __attribute__((noinline)) int deep_alloca(void)
{
	size_t bytes = 2ul << 20;
	volatile unsigned char *block = alloca(bytes);
	/* below everything descend() touched: these pages are new */
	int zero = all_bytes_are(block, bytes - 64 * 1024, 0);
	for (size_t i = 0; i < bytes; i += PAGE)
		block[i] = 1;
	return zero;
}

static __attribute__((noinline)) int below_descent(int depth)
{
	volatile unsigned char frame[FRAME_BYTES];
	frame[0] = 1;
	return depth > 0 ? below_descent(depth - 1) + frame[0] - 1 : deep_alloca();
}

int main(void)
{
	unsigned long sum = descend(DEPTH);
	check(frames_zero, "frames of 8 KiB below the start-up's read zero on first touch");
	say("sum of the frames' depths: %lu\n", sum);
	check(below_descent(DEPTH + 10), "a 2 MiB alloca below them reads zero");
	return finish();
}
