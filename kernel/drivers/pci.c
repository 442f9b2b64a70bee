/*
 * PCI configuration access mechanism #1: write bus/device/function/register to 0xCF8 with bit 31
 * set, then read or write the dword at 0xCFC (a 16-bit access goes to 0xCFC + (offset & 2)).
 * Enumeration is a brute-force scan of all 256 buses: function 0 of every slot, functions 1-7 only
 * when function 0 is multi-function (header type bit 7). An empty slot reads vendor 0xFFFF.
 */
#include "pci.h"
#include "kernel/arch/amd64/io.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA 0xCFC
#define PCI_VENDOR_NONE 0xFFFF
#define PCI_HEADER_TYPE 0x0E
#define PCI_HEADER_MULTIFUNCTION 0x80

static void select_register(struct pci_function f, uint8_t offset)
{
	outl(PCI_CONFIG_ADDRESS, 0x80000000u | (uint32_t)f.bus << 16 | (uint32_t)f.device << 11 |
					 (uint32_t)f.function << 8 | (offset & 0xFC));
}

uint32_t pci_read32(struct pci_function f, uint8_t offset)
{
	select_register(f, offset);
	return inl(PCI_CONFIG_DATA);
}

uint16_t pci_read16(struct pci_function f, uint8_t offset)
{
	select_register(f, offset);
	return inw(PCI_CONFIG_DATA + (offset & 2));
}

void pci_write16(struct pci_function f, uint8_t offset, uint16_t value)
{
	select_register(f, offset);
	outw(PCI_CONFIG_DATA + (offset & 2), value);
}

static bool matches(struct pci_function f, uint16_t vendor, uint16_t device)
{
	uint32_t id = pci_read32(f, 0);
	return (id & 0xFFFF) == vendor && (id >> 16) == device;
}

bool pci_find(uint16_t vendor, uint16_t device, struct pci_function *out)
{
	for (unsigned bus = 0; bus < 256; bus++) {
		for (uint8_t slot = 0; slot < 32; slot++) {
			struct pci_function f = { (uint8_t)bus, slot, 0 };
			if (pci_read16(f, 0) == PCI_VENDOR_NONE)
				continue;
			bool multi = pci_read32(f, PCI_HEADER_TYPE & 0xFC) >> 16 & PCI_HEADER_MULTIFUNCTION;
			for (f.function = 0; f.function < (multi ? 8 : 1); f.function++) {
				if (matches(f, vendor, device)) {
					*out = f;
					return true;
				}
			}
		}
	}
	return false;
}
