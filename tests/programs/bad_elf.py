#!/usr/bin/python3
"""Writes the ELF loader's bad inputs, each made from one good static x86-64 executable by a single
change, so the one thing wrong with it is known:

    bad_elf.py GOOD_ELF OUT_DIR

  truncated      the file cut in half: the loadable segments reach past its end
  corrupt        e_phoff points past the end of the file: the program header table is not there
  other-machine  e_machine = EM_AARCH64 (183): a valid ELF for another machine
  dynamic        a PT_INTERP header (the PT_GNU_STACK entry, retyped) naming an interpreter
                 appended to the file: a dynamically linked program, which needs ld.so
  not-an-elf     a shell script

The ELF64 header fields used here (offsets into the file, little endian): e_machine u16 at 18,
e_phoff u64 at 32, e_phentsize u16 at 54, e_phnum u16 at 56; a program header is p_type u32 at
0, p_offset u64 at 8, p_vaddr u64 at 16, p_paddr u64 at 24, p_filesz u64 at 32, p_memsz u64 at 40.
Exit status 0 written; 2 the good input is not a static x86-64 ELF64 executable or cannot be read.
Each output is written under a temporary name and renamed.
"""

import os
import struct
import sys
from pathlib import Path

EM_X86_64, EM_AARCH64 = 62, 183
PT_INTERP, PT_GNU_STACK = 3, 0x6474E551
INTERPRETER = b"/lib/ld-musl-x86_64.so.1\0"


class BadInput(Exception):
    pass


def program_headers(elf):
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    return [(phoff + i * phentsize, struct.unpack_from("<I", elf, phoff + i * phentsize)[0])
            for i in range(phnum)]


def check_good(elf, path):
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise BadInput(f"{path}: not a little-endian ELF64 file")
    if struct.unpack_from("<H", elf, 18)[0] != EM_X86_64:
        raise BadInput(f"{path}: not an x86-64 executable")
    types = [t for _, t in program_headers(elf)]
    if PT_INTERP in types:
        raise BadInput(f"{path}: already dynamic (has PT_INTERP)")
    if PT_GNU_STACK not in types:
        raise BadInput(f"{path}: has no PT_GNU_STACK header to turn into PT_INTERP")


def variants(elf):
    """{name: bytes} of every bad input made from the good executable `elf`."""
    out = {"truncated": elf[:len(elf) // 2]}
    corrupt = bytearray(elf)
    struct.pack_into("<Q", corrupt, 32, len(elf) + 4096)
    out["corrupt"] = bytes(corrupt)
    other = bytearray(elf)
    struct.pack_into("<H", other, 18, EM_AARCH64)
    out["other-machine"] = bytes(other)
    dynamic = bytearray(elf)
    interp_offset = len(dynamic)
    dynamic += INTERPRETER
    header = next(offset for offset, kind in program_headers(elf) if kind == PT_GNU_STACK)
    struct.pack_into("<IIQQQQQQ", dynamic, header, PT_INTERP, 4, interp_offset, 0, 0,
                     len(INTERPRETER), len(INTERPRETER), 1)
    out["dynamic"] = bytes(dynamic)
    out["not-an-elf"] = b"#!/bin/sh\necho this is a shell script\n"
    return out


def main(argv):
    if len(argv) != 2:
        print("usage: bad_elf.py GOOD_ELF OUT_DIR", file=sys.stderr)
        return 2
    good, out_dir = Path(argv[0]), Path(argv[1])
    try:
        elf = good.read_bytes()
    except OSError as error:
        print(f"bad_elf: {good}: cannot read it: {error.strerror}", file=sys.stderr)
        return 2
    try:
        check_good(elf, good)
    except BadInput as error:
        print(f"bad_elf: {error}", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in variants(elf).items():
        temporary = out_dir / f".{name}.tmp"
        try:
            temporary.write_bytes(data)
            os.replace(temporary, out_dir / name)
        except OSError as error:
            print(f"bad_elf: {out_dir / name}: cannot write it: {error.strerror}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
