/* qemu_exit: see qemu_exit.h for the status encoding. */
#include "qemu_exit.h"
#include "cpu.h"
#include "io.h"

void qemu_exit(int status)
{
	outl(QEMU_DEBUG_EXIT_PORT, KERNEL_EXIT_MARKER | ((unsigned)status & 0x0f));
	cpu_halt_forever();
}
