/*
 * 16550 UART driver, polled: 115200 baud, 8N1, FIFOs on. COM1 (the console): newlines become
 * CR LF. COM2 / COM3 (a program's stdout / stderr): bytes as they are.
 */
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

#define COM2 0x2F8
#define COM3 0x3E8

static void port_init(uint16_t port)
{
	outb(port + REG_INTERRUPT_ENABLE, 0);
	outb(port + REG_LINE_CONTROL, LCR_DLAB);
	outb(port + REG_DIVISOR_LOW, 1); /* 115200 / 1 */
	outb(port + REG_DIVISOR_HIGH, 0);
	outb(port + REG_LINE_CONTROL, LCR_8N1);
	outb(port + REG_FIFO_CONTROL, 0xC7); /* enable and clear FIFOs, 14-byte threshold */
	outb(port + REG_MODEM_CONTROL, 0x03); /* DTR, RTS */
}

static void port_put(uint16_t port, uint8_t c)
{
	while (!(inb(port + REG_LINE_STATUS) & LSR_TX_EMPTY))
		;
	outb(port + REG_DATA, c);
}

void serial_init(void)
{
	port_init(COM1);
}

static void serial_put(char c)
{
	port_put(COM1, (uint8_t)c);
}

void serial_program_init(void)
{
	port_init(COM2);
	port_init(COM3);
}

void serial_program_write(enum serial_program_stream stream, const void *buf, size_t len)
{
	uint16_t port = stream == SERIAL_PROGRAM_STDOUT ? COM2 : COM3;
	for (size_t i = 0; i < len; i++)
		port_put(port, ((const uint8_t *)buf)[i]);
}

void serial_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			serial_put('\r');
		serial_put(s[i]);
	}
}
