/*
 * Legacy virtio-pci transport and polled split virtqueues (layout and reasons in virtio.h).
 * Ordering: x86 keeps stores in program order (TSO), so the only barriers needed are compiler
 * barriers: the descriptor and avail entry are written before avail->idx, and avail->idx before
 * the notify; the used entry is read after used->idx.
 */
#include "virtio.h"
#include "kernel/arch/amd64/cpu.h"
#include "kernel/arch/amd64/io.h"
#include "kernel/arch/amd64/vm.h"
#include "kernel/core/log.h"
#include "kernel/lib/string.h"

#define compiler_barrier() __asm__ volatile("" ::: "memory")

/*
 * A waiting reclaim looks at the device's status register once every this many polls (a port read
 * is an exit to the hypervisor; the used ring is plain memory).
 */
#define VIRTQ_STATUS_CHECK_INTERVAL (1u << 16)

extern char kernel_image_end[];

/* The queues and the buffers they carry live in the kernel image, loaded contiguously. */
static uint64_t image_phys(const void *p)
{
	uintptr_t v = (uintptr_t)p;
	if (v < KERNEL_IMAGE_BASE || v >= (uintptr_t)kernel_image_end)
		panic("virtio: buffer %p is outside the kernel image", p);
	return v - KERNEL_IMAGE_BASE + KERNEL_IMAGE_PHYS;
}

void virtio_legacy_begin(uint16_t io_base)
{
	outb(io_base + VIRTIO_PCI_STATUS, 0);
	outb(io_base + VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	outb(io_base + VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	(void)inl(io_base + VIRTIO_PCI_DEVICE_FEATURES);
	outl(io_base + VIRTIO_PCI_DRIVER_FEATURES, 0);
}

void virtio_legacy_fail(uint16_t io_base)
{
	outb(io_base + VIRTIO_PCI_STATUS, VIRTIO_STATUS_FAILED);
}

void virtio_legacy_driver_ok(uint16_t io_base)
{
	outb(io_base + VIRTIO_PCI_STATUS,
	     VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
}

bool virtq_init(struct virtq *q, uint16_t io_base, uint16_t index, void *memory)
{
	outw(io_base + VIRTIO_PCI_QUEUE_SELECT, index);
	uint16_t size = inw(io_base + VIRTIO_PCI_QUEUE_SIZE);
	if (size == 0 || size > VIRTQ_MAX_SIZE)
		return false;
	uint8_t *base = memory;
	KLIB(memset)(base, 0, VIRTQ_BYTES(size));
	*q = (struct virtq){ .io_base = io_base, .index = index, .size = size };
	q->desc = (struct virtq_desc *)base;
	q->avail_flags = (volatile uint16_t *)(base + 16ull * size);
	q->avail_idx = q->avail_flags + 1;
	q->avail_ring = q->avail_flags + 2;
	q->used_idx = (volatile uint16_t *)(base + VIRTQ_USED_OFFSET(size)) + 1;
	q->used_ring = (volatile struct virtq_used_elem *)(q->used_idx + 1);
	*q->avail_flags = VIRTQ_AVAIL_F_NO_INTERRUPT; /* we poll */
	outl(io_base + VIRTIO_PCI_QUEUE_PFN, (uint32_t)(image_phys(base) / VIRTQ_ALIGN));
	return true;
}

/* Marks what the used ring reports and returns how many of the oldest buffers are finished. */
static uint32_t collect(struct virtq *q)
{
	uint16_t used = *q->used_idx;
	compiler_barrier();
	for (; q->seen_used != used; q->seen_used++) {
		uint32_t id = q->used_ring[q->seen_used % q->size].id;
		if (id < q->size)
			q->finished[id] = true;
	}
	uint32_t count = 0;
	while (q->given_back != q->submitted && q->finished[q->given_back % q->size]) {
		q->finished[q->given_back % q->size] = false;
		q->given_back++;
		count++;
	}
	return count;
}

bool virtio_legacy_broken(uint16_t io_base)
{
	uint8_t status = inb(io_base + VIRTIO_PCI_STATUS);
	if (status == 0xFF) /* nothing answers at the port: the device is gone */
		return true;
	if (status & VIRTIO_STATUS_NEEDS_RESET)
		return true;
	return !(status & VIRTIO_STATUS_DRIVER_OK); /* reset under us: it will never finish a buffer */
}

uint32_t virtq_reclaim(struct virtq *q, bool wait)
{
	uint32_t count = collect(q);
	for (uint32_t polls = 1; wait && count == 0 && q->given_back != q->submitted; polls++) {
		if (polls % VIRTQ_STATUS_CHECK_INTERVAL == 0 && virtio_legacy_broken(q->io_base))
			return 0;
		cpu_pause();
		count = collect(q);
	}
	return count;
}

void virtq_send(struct virtq *q, const void *data, uint32_t len)
{
	/* Descriptor i carries buffer number i (mod size): one must come back before reuse. */
	if ((uint16_t)(q->submitted - q->given_back) == q->size)
		panic("virtq_send: queue %u full: the caller submitted without reclaiming", q->index);
	uint16_t id = q->submitted % q->size;
	q->desc[id] = (struct virtq_desc){ .addr = image_phys(data), .len = len, .flags = 0 };
	q->avail_ring[q->submitted % q->size] = id;
	compiler_barrier();
	q->submitted++;
	*q->avail_idx = q->submitted;
	compiler_barrier();
	outw(q->io_base + VIRTIO_PCI_QUEUE_NOTIFY, q->index);
}
