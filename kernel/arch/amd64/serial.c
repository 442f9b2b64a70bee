/* 16550 UART driver for COM1, polled: 115200 baud, 8N1, FIFOs on. Newlines become CR LF. */
#include "serial.h"
#include "io.h"

#define COM1 0x3F8
#define REG_DATA 0
#define REG_INTERRUPT_ENABLE 1
#define REG_DIVISOR_LOW 0
#define REG_DIVISOR_HIGH 1
#define REG_FIFO_CONTROL 2
#define REG_LINE_CONTROL 3
#define REG_MODEM_CONTROL 4
#define REG_LINE_STATUS 5
#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define LSR_TX_EMPTY 0x20

void serial_init(void)
{
	outb(COM1 + REG_INTERRUPT_ENABLE, 0);
	outb(COM1 + REG_LINE_CONTROL, LCR_DLAB);
	outb(COM1 + REG_DIVISOR_LOW, 1); /* 115200 / 1 */
	outb(COM1 + REG_DIVISOR_HIGH, 0);
	outb(COM1 + REG_LINE_CONTROL, LCR_8N1);
	outb(COM1 + REG_FIFO_CONTROL, 0xC7); /* enable and clear FIFOs, 14-byte threshold */
	outb(COM1 + REG_MODEM_CONTROL, 0x03); /* DTR, RTS */
}

static void serial_put(char c)
{
	while (!(inb(COM1 + REG_LINE_STATUS) & LSR_TX_EMPTY))
		;
	outb(COM1 + REG_DATA, (uint8_t)c);
}

void serial_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			serial_put('\r');
		serial_put(s[i]);
	}
}
