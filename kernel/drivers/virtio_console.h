/*
 * The virtio console (virtio-serial-pci in QEMU) as a one-way byte pipe to a host file: the
 * trace's transport. Port 0 only, polled, legacy interface (see virtio.h for why).
 */
#ifndef PAGESCOPE_DRIVERS_VIRTIO_CONSOLE_H
#define PAGESCOPE_DRIVERS_VIRTIO_CONSOLE_H

#include "pci.h"
#include "virtio.h"

#define VIRTIO_VENDOR 0x1AF4
#define VIRTIO_CONSOLE_TRANSITIONAL_ID 0x1003

struct virtio_console {
	struct pci_function pci;
	uint16_t io_base;
	struct virtq transmit; /* port 0's transmitq */
};

enum virtio_console_probe {
	VIRTIO_CONSOLE_READY,
	VIRTIO_CONSOLE_ABSENT,       /* no such PCI device */
	VIRTIO_CONSOLE_UNUSABLE,     /* present, but not through a legacy I/O BAR, or no usable queue */
};

/*
 * Finds the first virtio console and brings port 0 up for sending, with a transmit queue of at
 * least min_queue_size entries (so that many buffers may be in flight).
 */
enum virtio_console_probe virtio_console_init(struct virtio_console *c, uint16_t min_queue_size);

/* The transport as the tracer's sink: submit = queue a buffer, reclaim = finished buffers. */
void virtio_console_submit(void *console, const void *data, uint32_t len);
uint32_t virtio_console_reclaim(void *console, bool wait);

#endif
