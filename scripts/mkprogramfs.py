#!/usr/bin/python3
"""Builds the module filesystem of a user-program boot: one cpio archive in the "newc" format.

    scripts/mkprogramfs.py -o OUT.cpio --program PROG [--file F]... [--stdin F] [--env K=V]...
                           [-- ARG...]

The archive holds, each at the root under a name without any directory part (the kernel sees
`/NAME`; the protocol is in README.md, "Running programs"):
  - the program and every --file, under their base names;
  - `.argv`: argv[0] = "/" + the program's base name (the path the kernel executes), then every
    ARG, each followed by a NUL byte. An ARG may hold any byte but NUL (the kernel command line
    never sees it), so a word with spaces, quotes or bytes above 0x7f arrives as it was given;
  - `.envp` when --env was given: each K=V followed by a NUL byte;
  - `.stdin` when --stdin was given: its bytes, which the program reads on fd 0.

newc, byte by byte: per entry a 110-byte ASCII header, "070701" then 13 fields of 8 hex digits
(inode, mode, uid, gid, nlink, mtime, file size, dev major, dev minor, rdev major, rdev minor,
name size including its NUL, checksum 0), the name and its NUL padded with NULs to a multiple of 4
bytes (counting from the header's start), the data padded likewise; the archive ends with an entry
named "TRAILER!!!". Every field but the name, size and mode is fixed (inode = position, times and
owners 0), so the same inputs always give the same bytes and a boot under icount repeats exactly.

Bounds: a file of 4 GiB or more cannot be described (the size field has 8 hex digits) and is
refused, as are two entries with the same name and names the protocol reserves (.argv, .envp,
.stdin). Exit status: 0 written; 2 bad usage or a refused input (one line `mkprogramfs: ...`
naming the file and whether reading or writing it failed). The archive is written under a
temporary name and renamed when complete, so a failure leaves no partial archive.
"""

import argparse
import os
import stat
import sys
from pathlib import Path

MAGIC = b"070701"
TRAILER = b"TRAILER!!!"
RESERVED_NAMES = {b".argv", b".envp", b".stdin"}
MAX_FILE_BYTES = 0xFFFFFFFF
REGULAR_FILE = stat.S_IFREG
EXECUTABLE_MODE = 0o755
DATA_MODE = 0o644


class Refused(Exception):
    """An input that cannot go into the archive; the message names it."""


def _padding(length):
    return b"\0" * (-length % 4)


def newc_entry(inode, name, data, mode):
    """The bytes of one newc entry: header, NUL-terminated name, data, each padded to 4 bytes."""
    if len(data) > MAX_FILE_BYTES:
        raise Refused(f"{os.fsdecode(name)}: {len(data)} bytes is too large for a newc archive")
    fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
    header = MAGIC + b"".join(b"%08X" % value for value in fields)
    named = header + name + b"\0"
    return named + _padding(len(named)) + data + _padding(len(data))


def newc_archive(entries):
    """entries: (name bytes, data bytes, permission bits) in order; returns the whole archive."""
    parts = [newc_entry(inode, name, data, REGULAR_FILE | perm)
             for inode, (name, data, perm) in enumerate(entries, start=1)]
    parts.append(newc_entry(0, TRAILER, b"", 0))
    return b"".join(parts)


def _read(path):
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise Refused(f"{path}: cannot read it: {error.strerror}") from None


def _file_entry(path):
    name = os.fsencode(os.path.basename(path))
    if not name or name in (b".", b".."):
        raise Refused(f"{path}: has no file name to put at the root of the filesystem")
    executable = os.access(path, os.X_OK)
    return name, _read(path), EXECUTABLE_MODE if executable else DATA_MODE


def _nul_terminated(words):
    for word in words:
        if b"\0" in word:
            raise Refused(f"an argument or environment string holds a NUL byte: {word!r}")
    return b"".join(word + b"\0" for word in words)


def program_filesystem(program, files=(), stdin=None, env=None, args=()):
    """The archive's entries for a boot running `program` with `args` (bytes words)."""
    program_entry = _file_entry(program)
    entries = [program_entry, *[_file_entry(f) for f in files]]
    argv = [b"/" + program_entry[0], *args]
    entries.append((b".argv", _nul_terminated(argv), DATA_MODE))
    if env is not None:
        entries.append((b".envp", _nul_terminated(env), DATA_MODE))
    if stdin is not None:
        entries.append((b".stdin", _read(stdin), DATA_MODE))
    seen = set()
    for name, _, _ in entries[:len(files) + 1]:
        if name in RESERVED_NAMES:
            raise Refused(f"{os.fsdecode(name)}: this name is reserved for the boot protocol")
        if name in seen:
            raise Refused(f"{os.fsdecode(name)}: two files of the filesystem have this name")
        seen.add(name)
    return entries


def write_atomically(path, data):
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise Refused(f"{path}: cannot write it: {error.strerror}") from None


def main(argv):
    parser = argparse.ArgumentParser(prog="mkprogramfs", description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", required=True, help="the cpio archive to write")
    parser.add_argument("--program", required=True, help="the executable the kernel runs")
    parser.add_argument("--file", action="append", default=[], help="a file of the filesystem")
    parser.add_argument("--stdin", help="the bytes the program reads on fd 0")
    parser.add_argument("--env", action="append", help="an environment string K=V")
    parser.add_argument("args", nargs="*", help="the program's arguments (after --)")
    options = parser.parse_args(argv)
    try:
        env = None if options.env is None else [os.fsencode(e) for e in options.env]
        entries = program_filesystem(options.program, options.file, options.stdin, env,
                                     [os.fsencode(a) for a in options.args])
        write_atomically(options.output, newc_archive(entries))
    except Refused as error:
        print(f"mkprogramfs: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
