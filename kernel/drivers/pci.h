/*
 * PCI configuration space through the legacy I/O mechanism (ports 0xCF8 address / 0xCFC data),
 * enough to find a device by vendor and device id and to read its BARs. No ECAM, no interrupts.
 */
#ifndef PAGESCOPE_DRIVERS_PCI_H
#define PAGESCOPE_DRIVERS_PCI_H

#include "kernel/lib/compiler.h"

struct pci_function {
	uint8_t bus, device, function;
};

#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO_SPACE 0x0001
#define PCI_COMMAND_BUS_MASTER 0x0004 /* QEMU refuses a device's DMA without it */
#define PCI_BAR0 0x10
#define PCI_BAR_IS_IO 0x1

uint32_t pci_read32(struct pci_function f, uint8_t offset);
uint16_t pci_read16(struct pci_function f, uint8_t offset);
void pci_write16(struct pci_function f, uint8_t offset, uint16_t value);

/*
 * Scans every bus for the first function with this vendor and device id. Returns false when none
 * exists (then *out is untouched).
 */
bool pci_find(uint16_t vendor, uint16_t device, struct pci_function *out);

#endif
