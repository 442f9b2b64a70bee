/*
 * Time and randomness: clock_gettime (monotonic never goes back), gettimeofday and time agree,
 * getrandom fills what it was asked for and two draws differ. With argument "print" it prints
 * 32 random bytes in hex instead: the boot test compares two boots' bytes (pagescope seeds its
 * generator, so the same boot gives the same bytes; the host's differ every run).
 */
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include "check.h"

int main(int argc, char **argv)
{
	unsigned char bytes[32], more[32];
	if (argc > 1 && strcmp(argv[1], "print") == 0) {
		if (syscall(SYS_getrandom, bytes, sizeof bytes, 0) != sizeof bytes)
			return 1;
		for (size_t i = 0; i < sizeof bytes; i++)
			say("%02x", bytes[i]);
		say("\n");
		return 0;
	}
	struct timespec earlier, later, wall;
	int ok = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &earlier) == 0;
	for (volatile int spin = 0; spin < 100000; spin++)
		;
	ok = ok && syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &later) == 0;
	check(ok && (later.tv_sec > earlier.tv_sec ||
		     (later.tv_sec == earlier.tv_sec && later.tv_nsec >= earlier.tv_nsec)),
	      "clock_gettime(CLOCK_MONOTONIC) does not go back");
	check(earlier.tv_nsec >= 0 && earlier.tv_nsec < 1000000000, "tv_nsec is below 10^9");
	check(syscall(SYS_clock_gettime, CLOCK_REALTIME, &wall) == 0, "clock_gettime(CLOCK_REALTIME)");
	struct timeval tv;
	check(syscall(SYS_gettimeofday, &tv, NULL) == 0 && tv.tv_usec >= 0 && tv.tv_usec < 1000000,
	      "gettimeofday");
	long seconds = syscall(SYS_time, NULL);
	/* Linux's time() reads the coarse second the last tick stored, which lags gettimeofday's
	 * clocksource reading by up to a tick just after a second boundary: one second behind is
	 * agreement too (a loaded host CI hit it). */
	check(seconds >= tv.tv_sec - 1 && seconds <= tv.tv_sec + 1, "time agrees with gettimeofday");

	check(syscall(SYS_getrandom, bytes, sizeof bytes, 0) == sizeof bytes, "getrandom 32 bytes");
	check(syscall(SYS_getrandom, more, sizeof more, GRND_NONBLOCK) == sizeof more,
	      "getrandom with GRND_NONBLOCK");
	check(memcmp(bytes, more, sizeof bytes) != 0, "two draws differ");
	return finish();
}
