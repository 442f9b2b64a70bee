/*
 * The initial stack as Linux builds it: argc, argv, envp and the auxiliary vector, in that order
 * and contiguous; the argv then envp strings packed one after the other; AT_PHDR, AT_PHNUM,
 * AT_ENTRY and AT_PAGESZ describing this very executable; AT_RANDOM pointing at 16 bytes.
 * Prints every argument and environment string with bytes outside printable ASCII escaped.
 */
#include <elf.h>
#include <sys/auxv.h>
#include "check.h"

extern const Elf64_Ehdr __ehdr_start; /* the linker's symbol for the loaded ELF header */
extern char _start[];

static void print_escaped(const char *label, int index, const char *s)
{
	char text[900];
	size_t used = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && used + 5 < sizeof text; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			text[used++] = (char)*p;
		else
			used += (size_t)snprintf(text + used, sizeof text - used, "\\x%02x", *p);
	}
	text[used] = 0;
	say("%s[%d] = \"%s\"\n", label, index, text);
}

int main(int argc, char **argv, char **envp)
{
	say("argc = %d\n", argc);
	for (int i = 0; i < argc; i++)
		print_escaped("argv", i, argv[i]);
	int envc = 0;
	while (envp[envc])
		print_escaped("envp", envc, envp[envc]), envc++;
	check(argv[argc] == NULL, "argv ends with NULL");
	check(envp == argv + argc + 1, "envp follows argv's NULL");

	int packed = 1;
	const char *last = NULL;
	for (int i = 0; i < argc; i++) {
		if (last && argv[i] != last + strlen(last) + 1)
			packed = 0;
		last = argv[i];
	}
	for (int i = 0; i < envc; i++) {
		if (last && envp[i] != last + strlen(last) + 1)
			packed = 0;
		last = envp[i];
	}
	check(packed, "argv then envp strings are packed in order");

	Elf64_auxv_t *auxv = (Elf64_auxv_t *)(envp + envc + 1);
	unsigned long phdr = 0, phnum = 0, pagesz = 0, entry = 0, random = 0;
	int entries = 0;
	for (Elf64_auxv_t *a = auxv; a->a_type != AT_NULL; a++, entries++) {
		switch (a->a_type) {
		case AT_PHDR: phdr = a->a_un.a_val; break;
		case AT_PHNUM: phnum = a->a_un.a_val; break;
		case AT_PAGESZ: pagesz = a->a_un.a_val; break;
		case AT_ENTRY: entry = a->a_un.a_val; break;
		case AT_RANDOM: random = a->a_un.a_val; break;
		}
	}
	const char *auxv_end = (const char *)(auxv + entries + 1);
	check(phdr == (unsigned long)&__ehdr_start + __ehdr_start.e_phoff,
	      "AT_PHDR is the address of this program's headers");
	check(phnum == __ehdr_start.e_phnum, "AT_PHNUM is the ELF header's e_phnum");
	check(pagesz == 4096, "AT_PAGESZ is 4096");
	check(entry == (unsigned long)_start && entry == __ehdr_start.e_entry,
	      "AT_ENTRY is _start and e_entry");
	check(getauxval(AT_PAGESZ) == 4096, "getauxval(AT_PAGESZ) agrees");
	int random_ok = random != 0 && (const char *)random >= auxv_end;
	if (random_ok) {
		const unsigned char *bytes = (const unsigned char *)random;
		random_ok = !all_bytes_are(bytes, 16, 0) && (const char *)bytes + 16 <= argv[0];
	}
	check(random_ok, "AT_RANDOM: 16 bytes, not all zero, between the auxv and the strings");
	return finish();
}
