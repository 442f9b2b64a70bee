/* Checking a static x86-64 ELF executable (elf64.h). Bound: one pass over the program headers. */
#include "elf64.h"
#include "kernel/lib/string.h"

#define PAGE 4096ull
#define EI_NIDENT 16
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62
#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6
#define EHDR_BYTES 64
#define PHDR_BYTES 56

/* Little-endian reads at any alignment (the file is bytes in a module). */
static uint64_t le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = bytes; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

const char *elf_check(const uint8_t *file, uint64_t size, uint64_t user_top, uint64_t load_base,
		      struct elf_image *out)
{
	memset(out, 0, sizeof(*out));
	if (size < EHDR_BYTES || memcmp(file, "\177ELF", 4) != 0)
		return "not an ELF file (no \\177ELF magic)";
	if (file[4] != ELFCLASS64 || file[5] != ELFDATA2LSB)
		return "not a 64-bit little-endian ELF file";
	unsigned type = (unsigned)le(file + 16, 2), machine = (unsigned)le(file + 18, 2);
	if (machine != EM_X86_64)
		return "not an x86-64 program (e_machine)";
	if (type != ET_EXEC && type != ET_DYN)
		return "not an executable (e_type is neither ET_EXEC nor ET_DYN)";
	out->position_independent = type == ET_DYN;
	uint64_t base = out->position_independent ? load_base : 0;
	uint64_t phoff = le(file + 32, 8);
	out->phentsize = (unsigned)le(file + 54, 2);
	out->phnum = (unsigned)le(file + 56, 2);
	out->entry = le(file + 24, 8) + base;
	if (out->phentsize != PHDR_BYTES || out->phnum == 0 || phoff > size ||
	    (uint64_t)out->phnum * PHDR_BYTES > size - phoff)
		return "program headers missing or outside the file";
	uint64_t last_end = 0;
	for (unsigned i = 0; i < out->phnum; i++) {
		const uint8_t *ph = file + phoff + (uint64_t)i * PHDR_BYTES;
		unsigned ptype = (unsigned)le(ph, 4), flags = (unsigned)le(ph + 4, 4);
		uint64_t offset = le(ph + 8, 8), vaddr = le(ph + 16, 8), filesz = le(ph + 32, 8),
			 memsz = le(ph + 40, 8);
		if (ptype == PT_INTERP)
			return "dynamically linked (PT_INTERP): only static programs run here";
		if (ptype == PT_PHDR)
			out->phdr_vaddr = vaddr + base;
		if (ptype != PT_LOAD || memsz == 0)
			continue;
		if (out->segment_count == ELF_MAX_SEGMENTS)
			return "too many PT_LOAD segments";
		if (filesz > memsz || offset > size || filesz > size - offset)
			return "a PT_LOAD segment lies outside the file";
		if (vaddr % PAGE != offset % PAGE)
			return "a PT_LOAD segment's address and file offset differ modulo the page size";
		if ((flags & ELF_PF_W) && (flags & ELF_PF_X))
			return "a PT_LOAD segment is writable and executable (refused: W^X)";
		vaddr += base;
		if (vaddr < base || memsz > user_top || vaddr > user_top - memsz || vaddr < PAGE)
			return "a PT_LOAD segment lies outside the user address space";
		if (vaddr < last_end) /* sharing the previous segment's last page is allowed */
			return "PT_LOAD segments overlap or are not in address order";
		out->segments[out->segment_count++] = (struct elf_segment){ vaddr, memsz, filesz, offset, flags };
		if (out->phdr_vaddr == 0 && phoff >= offset && phoff - offset < filesz)
			out->phdr_vaddr = vaddr + (phoff - offset);
		last_end = vaddr + memsz;
	}
	if (out->segment_count == 0)
		return "no PT_LOAD segment";
	out->lowest = out->segments[0].vaddr & ~(PAGE - 1);
	out->highest = (last_end + PAGE - 1) & ~(PAGE - 1);
	bool entry_inside = false;
	for (unsigned i = 0; i < out->segment_count; i++) {
		const struct elf_segment *s = &out->segments[i];
		entry_inside |= (s->flags & ELF_PF_X) && out->entry >= s->vaddr && out->entry < s->vaddr + s->memsz;
	}
	if (!entry_inside)
		return "the entry point is not inside an executable segment";
	return NULL;
}
