/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * COM1 (the 16550 UART at 0x3f8), polled.  No interrupts are ever enabled
 * in this guest, so transmission waits on the line status register.  If the
 * machine has no UART, LSR reads back 0xff: "transmitter empty" is then
 * always set and output silently goes nowhere instead of hanging us.
 */
#include "serial.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "io.h"

#define COM1 0x3f8
#define UART_THR 0 /* transmit holding register (DLAB=0) */
#define UART_DLL 0 /* divisor latch low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_RBR 0

void
serial_init(void)
{
    outb(COM1 + UART_IER, 0x00); /* we poll; no interrupts */
    outb(COM1 + UART_LCR, 0x80); /* DLAB on to reach the divisor */
    outb(COM1 + UART_DLL, 0x01); /* 115200 baud: QEMU ignores it, hardware would not */
    outb(COM1 + UART_DLM, 0x00);
    outb(COM1 + UART_LCR, 0x03); /* 8N1, DLAB off */
    outb(COM1 + UART_FCR, 0xc7); /* FIFO on and cleared */
    outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
}

void
serial_putc(char c)
{
    /* Terminals and log files both want CRLF; the host parser accepts either. */
    if (c == '\n')
        serial_putc('\r');
    while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE))
        ;
    outb(COM1 + UART_THR, (uint8_t)c);
}

int
serial_poll(void)
{
    if (!(inb(COM1 + UART_LSR) & UART_LSR_DR))
        return -1;
    return inb(COM1 + UART_RBR);
}

bool
serial_stop_requested(void)
{
    int c;

    while ((c = serial_poll()) >= 0)
        if (c == 'q' || c == 'Q')
            return true;
    return false;
}

void
serial_puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

static void
put_number(uint64_t v, uint32_t base, unsigned width, char pad)
{
    static const char digits[] = "0123456789abcdef";
    char buf[24];
    unsigned n = 0;

    do {
        uint32_t digit;

        v = div_u64_u32(v, base, &digit);
        buf[n++] = digits[digit];
    } while (v != 0);
    while (n < width && n < sizeof(buf))
        buf[n++] = pad;
    while (n > 0)
        serial_putc(buf[--n]);
}

void
serial_printf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        char pad = ' ';
        unsigned width = 0;
        bool is_long_long = false;

        if (*fmt != '%') {
            serial_putc(*fmt);
            continue;
        }
        fmt++;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned)(*fmt++ - '0');
        if (fmt[0] == 'l' && fmt[1] == 'l') {
            is_long_long = true;
            fmt += 2;
        }
        switch (*fmt) {
        case 's':
            serial_puts(va_arg(ap, const char *));
            break;
        case 'c':
            serial_putc((char)va_arg(ap, int));
            break;
        case 'u':
        case 'x': {
            uint64_t v = is_long_long ? va_arg(ap, unsigned long long)
                                      : va_arg(ap, unsigned int);

            put_number(v, *fmt == 'u' ? 10 : 16, width, pad);
            break;
        }
        case '%':
            serial_putc('%');
            break;
        case '\0':
            fmt--; /* a lone trailing '%': stop at the terminator */
            break;
        default:
            serial_putc('%');
            serial_putc(*fmt);
            break;
        }
    }
    va_end(ap);
}
