/*
 * Virtio over PCI, legacy interface (virtio spec 1.x §4.1.4.8, "Legacy Interfaces"), and split
 * virtqueues driven by polling, for devices that only need to send buffers (the trace console).
 *
 * Why legacy: QEMU's transitional devices (id 0x1000 + type, here 0x1003) expose it in I/O BAR0,
 * so the driver needs port I/O only: no MMIO mapping of modern capability BARs, and no page-table
 * work before the kernel's own memory manager is up. It also fixes the queue layout below.
 *
 * Split virtqueue of N entries in one physically contiguous, page-aligned block (legacy layout):
 *
 *   +0                    descriptors   N x 16   { le64 addr, le32 len, le16 flags, le16 next }
 *   +16N                  avail ring    6 + 2N   { le16 flags, le16 idx, le16 ring[N], le16 pad }
 *   +align4096(18N + 6)   used ring     6 + 8N   { le16 flags, le16 idx, {le32 id, le32 len}[N],
 *                                                  le16 pad }
 *
 * The device learns the block's page frame number and reads the rest from N. The driver only
 * adds to the avail ring and only reads the used ring; both indices run freely modulo 2^16.
 */
#ifndef PAGESCOPE_DRIVERS_VIRTIO_H
#define PAGESCOPE_DRIVERS_VIRTIO_H

#include "kernel/lib/compiler.h"

/* Legacy virtio-pci registers, offsets in I/O BAR0. */
#define VIRTIO_PCI_DEVICE_FEATURES 0x00 /* 32 */
#define VIRTIO_PCI_DRIVER_FEATURES 0x04 /* 32 */
#define VIRTIO_PCI_QUEUE_PFN 0x08       /* 32: physical address >> 12 */
#define VIRTIO_PCI_QUEUE_SIZE 0x0C      /* 16, read-only in legacy */
#define VIRTIO_PCI_QUEUE_SELECT 0x0E    /* 16 */
#define VIRTIO_PCI_QUEUE_NOTIFY 0x10    /* 16 */
#define VIRTIO_PCI_STATUS 0x12          /* 8 */

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_ALIGN 4096
/* The largest queue the static storage below is sized for; QEMU's console queues have 128. */
#define VIRTQ_MAX_SIZE 256

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/*
 * A send-only virtqueue. Descriptors are used round-robin in submission order and are given
 * back strictly in that order (a finished buffer behind an unfinished one waits), so the caller
 * may treat completions as a FIFO even if the device finishes out of order.
 */
struct virtq {
	uint16_t io_base, index, size;
	struct virtq_desc *desc;
	volatile uint16_t *avail_flags, *avail_idx, *avail_ring;
	volatile uint16_t *used_idx;
	volatile struct virtq_used_elem *used_ring;
	uint16_t submitted;  /* buffers ever submitted (mod 2^16) = next avail index */
	uint16_t seen_used;  /* used ring entries consumed */
	uint16_t given_back; /* buffers returned to the caller, oldest first */
	bool finished[VIRTQ_MAX_SIZE];
};

/* Resets the device and acknowledges it (status ACKNOWLEDGE | DRIVER); features are left 0. */
void virtio_legacy_begin(uint16_t io_base);
/* Tells the device the driver gave up on it (status FAILED). */
void virtio_legacy_fail(uint16_t io_base);
/* Sets DRIVER_OK: the device may now use the queues. */
void virtio_legacy_driver_ok(uint16_t io_base);
/*
 * True when the device says it cannot go on: its status reads all ones (no device answers),
 * NEEDS_RESET is set, or DRIVER_OK was cleared (the device was reset).
 */
bool virtio_legacy_broken(uint16_t io_base);

/* The layout above: where the used ring starts, and the whole block, for a queue of n entries. */
#define VIRTQ_USED_OFFSET(n) ALIGN_UP(18ull * (n) + 6, (unsigned long long)VIRTQ_ALIGN)
#define VIRTQ_BYTES(n) (VIRTQ_USED_OFFSET(n) + ALIGN_UP(6 + 8ull * (n), (unsigned long long)VIRTQ_ALIGN))

/*
 * Sets up queue `index` of the device in `memory` (VIRTQ_ALIGN-aligned, VIRTQ_BYTES(
 * VIRTQ_MAX_SIZE) bytes, inside the kernel image). Returns false when the device has no such
 * queue or it is bigger than VIRTQ_MAX_SIZE.
 */
bool virtq_init(struct virtq *q, uint16_t io_base, uint16_t index, void *memory);

/* Device-readable buffer (inside the kernel image) of len bytes; notifies the device. */
void virtq_send(struct virtq *q, const void *data, uint32_t len);
/*
 * Buffers the device finished since the last call, oldest first. With wait, polls until one is,
 * however long that takes (a slow host only makes a healthy device slow, and the trace's lossless
 * mode must then wait, not drop); it gives up (returns 0) only when virtio_legacy_broken says the
 * device failed. A device that stops silently leaves the kernel waiting: the kernel then prints
 * nothing and writes no trace, which scripts/qemu-run.sh reports as a hang (status 124).
 */
uint32_t virtq_reclaim(struct virtq *q, bool wait);

#endif
