/*
 * Static x86-64 ELF executables: what the loader needs to know about one, checked completely
 * before anything is mapped. Accepted: ELFCLASS64, little-endian, EM_X86_64, ET_EXEC, or ET_DYN
 * without PT_INTERP (static-PIE, placed at a load base the caller picks); every PT_LOAD inside
 * the file (p_offset + p_filesz), p_filesz <= p_memsz, p_vaddr and p_offset congruent modulo the
 * page, segments in ascending address order and not overlapping except within one page, user
 * addresses only, not writable and executable at once (the kernel's W^X). A dynamically linked
 * program (PT_INTERP) is refused with that reason: there is no dynamic loader in the filesystem.
 */
#ifndef PAGESCOPE_EXEC_ELF64_H
#define PAGESCOPE_EXEC_ELF64_H

#include "kernel/lib/compiler.h"

#define ELF_MAX_SEGMENTS 16

/* Segment permission bits as ELF stores them (p_flags). */
#define ELF_PF_X 1u
#define ELF_PF_W 2u
#define ELF_PF_R 4u

struct elf_segment {
	uint64_t vaddr;   /* after relocation by the load base */
	uint64_t memsz, filesz, offset;
	unsigned flags;   /* ELF_PF_* */
};

struct elf_image {
	bool position_independent; /* ET_DYN: addresses below are relative to the load base */
	uint64_t entry;
	uint64_t phdr_vaddr;       /* where the program headers are in memory (AT_PHDR), 0 unknown */
	unsigned phnum, phentsize;
	unsigned segment_count;
	struct elf_segment segments[ELF_MAX_SEGMENTS];
	uint64_t lowest, highest;  /* page-aligned span of the segments */
};

/*
 * Checks the executable in file[0, size) and describes it, relocated by load_base when it is
 * position independent (ignored otherwise). NULL, or a one-line reason for refusing it.
 */
const char *elf_check(const uint8_t *file, uint64_t size, uint64_t user_top, uint64_t load_base,
		      struct elf_image *out);

#endif
