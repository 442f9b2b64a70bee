/* Command-line word splitting; see cmdline.h. */
#include "cmdline.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

const char *cmdline_next(const char *p, struct cmdline_word *w)
{
	while (*p && is_space(*p))
		p++;
	if (!*p)
		return NULL;
	*w = (struct cmdline_word){ 0 };
	size_t n = 0;
	for (; *p && !is_space(*p) && *p != '='; p++) {
		if (n + 1 < sizeof(w->key))
			w->key[n++] = *p;
		else
			w->truncated = true;
	}
	if (*p == '=') {
		w->has_value = true;
		p++;
		n = 0;
		for (; *p && !is_space(*p); p++) {
			if (n + 1 < sizeof(w->value))
				w->value[n++] = *p;
			else
				w->truncated = true;
		}
	}
	return p;
}

bool cmdline_parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (d >= base || v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}
