/*
 * virtio console driver, port 0 transmit only (virtio spec §5.3).
 *
 * Why port 0 without negotiation is enough, and why nothing is lost on the way to the file:
 *   - scripts/qemu-run.sh --trace-out creates `virtio-serial-pci,max_ports=1` with one
 *     `virtconsole`. With max_ports = 1 QEMU does not offer VIRTIO_CONSOLE_F_MULTIPORT, so there
 *     is no control queue and no PORT_OPEN handshake: port 0 uses queues 0 (receive) and
 *     1 (transmit), and QEMU counts it as open by the guest as soon as the driver sets DRIVER_OK.
 *   - A virtconsole does not throttle: whatever its chardev does not accept in one write is
 *     dropped. Its chardev is a `file` backend, which always takes the whole write, so here no
 *     data can be dropped; a short transfer would show up as a seq gap in the analyzer anyway.
 *   - We never post receive buffers: the host has nothing to say to us.
 */
#include "virtio_console.h"

#define PORT0_TRANSMIT_QUEUE 1

static uint8_t transmit_queue_memory[VIRTQ_BYTES(VIRTQ_MAX_SIZE)]
	__attribute__((aligned(VIRTQ_ALIGN)));

enum virtio_console_probe virtio_console_init(struct virtio_console *c, uint16_t min_queue_size)
{
	if (!pci_find(VIRTIO_VENDOR, VIRTIO_CONSOLE_TRANSITIONAL_ID, &c->pci))
		return VIRTIO_CONSOLE_ABSENT;
	uint32_t bar0 = pci_read32(c->pci, PCI_BAR0);
	if (!(bar0 & PCI_BAR_IS_IO))
		return VIRTIO_CONSOLE_UNUSABLE;
	c->io_base = (uint16_t)(bar0 & ~3u);
	uint16_t command = pci_read16(c->pci, PCI_COMMAND);
	pci_write16(c->pci, PCI_COMMAND, command | PCI_COMMAND_IO_SPACE | PCI_COMMAND_BUS_MASTER);

	virtio_legacy_begin(c->io_base);
	if (!virtq_init(&c->transmit, c->io_base, PORT0_TRANSMIT_QUEUE, transmit_queue_memory) ||
	    c->transmit.size < min_queue_size) {
		virtio_legacy_fail(c->io_base);
		return VIRTIO_CONSOLE_UNUSABLE;
	}
	virtio_legacy_driver_ok(c->io_base);
	return VIRTIO_CONSOLE_READY;
}

void virtio_console_submit(void *console, const void *data, uint32_t len)
{
	struct virtio_console *c = console;
	virtq_send(&c->transmit, data, len);
}

uint32_t virtio_console_reclaim(void *console, bool wait)
{
	struct virtio_console *c = console;
	return virtq_reclaim(&c->transmit, wait);
}
