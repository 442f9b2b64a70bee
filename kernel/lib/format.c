/* printf-style formatting into a sink; see format.h for the supported subset. */
#include "format.h"
#include "string.h"

#include <stdint.h>

struct spec {
	bool left, zero, plus, space, alt;
	int width;
	int precision; /* -1: none */
	int length;    /* bytes of the argument: 1, 2, 4 or 8 */
};

static void emit_repeat(format_sink_fn sink, void *ctx, char c, int n, size_t *count)
{
	char chunk[16];
	KLIB(memset)(chunk, c, sizeof(chunk));
	while (n > 0) {
		int k = n < (int)sizeof(chunk) ? n : (int)sizeof(chunk);
		sink(ctx, chunk, (size_t)k);
		*count += (size_t)k;
		n -= k;
	}
}

static void emit(format_sink_fn sink, void *ctx, const char *s, size_t n, size_t *count)
{
	if (n) {
		sink(ctx, s, n);
		*count += n;
	}
}

/* Pads and emits one converted field: [sign/prefix][zeros][digits], padded to the width. */
static void emit_field(format_sink_fn sink, void *ctx, const struct spec *sp, const char *prefix,
		       const char *digits, size_t ndigits, size_t *count)
{
	size_t nprefix = KLIB(strlen)(prefix);
	int min_digits = sp->precision > (int)ndigits ? sp->precision : (int)ndigits;
	int body = (int)nprefix + min_digits;
	int pad = sp->width > body ? sp->width - body : 0;
	int zeros = min_digits - (int)ndigits;

	if (sp->zero && !sp->left && sp->precision < 0) {
		zeros += pad;
		pad = 0;
	}
	if (!sp->left)
		emit_repeat(sink, ctx, ' ', pad, count);
	emit(sink, ctx, prefix, nprefix, count);
	emit_repeat(sink, ctx, '0', zeros, count);
	emit(sink, ctx, digits, ndigits, count);
	if (sp->left)
		emit_repeat(sink, ctx, ' ', pad, count);
}

static void format_integer(format_sink_fn sink, void *ctx, const struct spec *sp, uint64_t value,
			   bool negative, unsigned base, bool upper, bool is_pointer, size_t *count)
{
	const char *digit_chars = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char digits[24];
	size_t n = 0;
	char prefix[3] = "";

	/* Digits are produced least significant first into the end of the buffer. */
	char *end = digits + sizeof(digits);
	char *p = end;
	if (value == 0 && sp->precision == 0) {
		/* C: zero with precision 0 prints no digits. */
	} else {
		do {
			*--p = digit_chars[value % base];
			value /= base;
		} while (value);
	}
	n = (size_t)(end - p);

	if (negative)
		prefix[0] = '-';
	else if (sp->plus && base == 10 && !is_pointer)
		prefix[0] = '+';
	else if (sp->space && base == 10 && !is_pointer)
		prefix[0] = ' ';
	if ((sp->alt || is_pointer) && base == 16) {
		prefix[0] = '0';
		prefix[1] = upper ? 'X' : 'x';
	} else if (sp->alt && base == 8 && (n == 0 || *p != '0')) {
		prefix[0] = '0';
	}
	emit_field(sink, ctx, sp, prefix, p, n, count);
}

static const char *parse_number(const char *f, int *out)
{
	int v = 0;
	while (*f >= '0' && *f <= '9')
		v = v * 10 + (*f++ - '0');
	*out = v;
	return f;
}

size_t format_to_sink(format_sink_fn sink, void *ctx, const char *fmt, va_list ap)
{
	size_t count = 0;
	const char *f = fmt;
	va_list args;
	va_copy(args, ap);

	while (*f) {
		const char *run = f;
		while (*f && *f != '%')
			f++;
		emit(sink, ctx, run, (size_t)(f - run), &count);
		if (!*f)
			break;

		const char *conv_start = f++;
		struct spec sp = { .precision = -1, .length = 4 };
		for (;; f++) {
			if (*f == '-')
				sp.left = true;
			else if (*f == '0')
				sp.zero = true;
			else if (*f == '+')
				sp.plus = true;
			else if (*f == ' ')
				sp.space = true;
			else if (*f == '#')
				sp.alt = true;
			else
				break;
		}
		if (*f == '*') {
			sp.width = va_arg(args, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = -sp.width;
			}
			f++;
		} else {
			f = parse_number(f, &sp.width);
		}
		if (*f == '.') {
			f++;
			if (*f == '*') {
				sp.precision = va_arg(args, int);
				if (sp.precision < 0)
					sp.precision = -1;
				f++;
			} else {
				f = parse_number(f, &sp.precision);
			}
		}
		if (f[0] == 'h' && f[1] == 'h') {
			sp.length = 1;
			f += 2;
		} else if (*f == 'h') {
			sp.length = 2;
			f++;
		} else if (f[0] == 'l' && f[1] == 'l') {
			sp.length = 8;
			f += 2;
		} else if (*f == 'l' || *f == 'z' || *f == 't' || *f == 'j') {
			sp.length = 8;
			f++;
		}

		char conv = *f;
		if (conv)
			f++;
		switch (conv) {
		case 'd':
		case 'i': {
			int64_t v = sp.length == 8 ? va_arg(args, int64_t) : va_arg(args, int);
			if (sp.length == 1)
				v = (int8_t)v;
			else if (sp.length == 2)
				v = (int16_t)v;
			uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			format_integer(sink, ctx, &sp, mag, v < 0, 10, false, false, &count);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uint64_t v = sp.length == 8 ? va_arg(args, uint64_t) : va_arg(args, unsigned);
			if (sp.length == 1)
				v = (uint8_t)v;
			else if (sp.length == 2)
				v = (uint16_t)v;
			unsigned base = conv == 'u' ? 10 : conv == 'o' ? 8 : 16;
			format_integer(sink, ctx, &sp, v, false, base, conv == 'X', false, &count);
			break;
		}
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(args, void *);
			format_integer(sink, ctx, &sp, v, false, 16, false, true, &count);
			break;
		}
		case 'c': {
			char c = (char)va_arg(args, int);
			emit_field(sink, ctx, &(struct spec){ .left = sp.left, .width = sp.width, .precision = -1 },
				   "", &c, 1, &count);
			break;
		}
		case 's': {
			const char *s = va_arg(args, const char *);
			if (!s)
				s = "(null)";
			size_t n = sp.precision >= 0 ? KLIB(strnlen)(s, (size_t)sp.precision) : KLIB(strlen)(s);
			emit_field(sink, ctx, &(struct spec){ .left = sp.left, .width = sp.width, .precision = -1 },
				   "", s, n, &count);
			break;
		}
		case '%':
			emit(sink, ctx, "%", 1, &count);
			break;
		default:
			/* Unknown conversion: print it as written so the mistake shows in the log. */
			emit(sink, ctx, conv_start, (size_t)(f - conv_start), &count);
			break;
		}
	}
	va_end(args);
	return count;
}

struct buffer_sink {
	char *buf;
	size_t size;
	size_t used;
};

static void buffer_sink_write(void *ctx, const char *chars, size_t len)
{
	struct buffer_sink *b = ctx;
	for (size_t i = 0; i < len; i++, b->used++)
		if (b->used + 1 < b->size)
			b->buf[b->used] = chars[i];
}

size_t kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct buffer_sink b = { buf, size, 0 };
	size_t n = format_to_sink(buffer_sink_write, &b, fmt, ap);
	if (size)
		buf[b.used < size ? b.used : size - 1] = '\0';
	return n;
}

size_t ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
