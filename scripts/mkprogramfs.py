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

Several runs in one boot (`runs_filesystem`, used by programs/boot.py; no command line): the
files of every run once (two files of the same name must hold the same bytes), `.runs` (the
run names, each followed by a NUL byte, in the order the kernel runs them) and per run NAME
`.argv.NAME`, `.envp.NAME` (when it has an environment) and `.stdin.NAME` (when it has stdin),
laid out as above. A run name is 1-48 letters, digits, '.', '_' or '-'.

Bounds: a file of 4 GiB or more cannot be described (the size field has 8 hex digits) and is
refused, as are two entries with the same name and names the protocol reserves (.argv, .envp,
.stdin). Exit status: 0 written; 2 bad usage or a refused input (one line `mkprogramfs: ...`
naming the file and whether reading or writing it failed). The archive is written under a
temporary name and renamed when complete, so a failure leaves no partial archive.
"""

import argparse
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"070701"
TRAILER = b"TRAILER!!!"
RESERVED_NAMES = {b".argv", b".envp", b".stdin", b".runs"}
RUN_NAME = re.compile(r"[A-Za-z0-9._-]{1,48}")
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


def _reserved(name):
    return name in RESERVED_NAMES or name.startswith((b".argv.", b".envp.", b".stdin."))


@dataclass(frozen=True)
class RunSpec:
    """One run of a several-run boot: `program` and `files` are host paths, `args` bytes words
    after argv[0], `env` bytes K=V strings (None: no .envp), `stdin` bytes (None: no .stdin)."""
    name: str
    program: str
    files: tuple = ()
    args: tuple = ()
    env: tuple = None
    stdin: bytes = None


def runs_filesystem(runs):
    """The archive's entries for a boot running every RunSpec of `runs`, in order."""
    if not runs:
        raise Refused("no run to put in the filesystem")
    files, names = {}, []
    for run in runs:
        if not RUN_NAME.fullmatch(run.name):
            raise Refused(f"run name {run.name!r}: use 1-48 letters, digits, '.', '_' or '-'")
        if run.name in names:
            raise Refused(f"run name {run.name!r} is given twice")
        names.append(run.name)
        for path in (run.program, *run.files):
            name, data, mode = _file_entry(path)
            if _reserved(name):
                raise Refused(f"{os.fsdecode(name)}: this name is reserved for the boot protocol")
            if name in files and files[name][1] != data:
                raise Refused(f"{path}: another file of the filesystem has the name "
                              f"{os.fsdecode(name)} but other bytes")
            files.setdefault(name, (name, data, mode))
    entries = list(files.values())
    entries.append((b".runs", _nul_terminated([n.encode() for n in names]), DATA_MODE))
    for run in runs:
        suffix = b"." + run.name.encode()
        argv = [b"/" + os.fsencode(os.path.basename(run.program)), *run.args]
        entries.append((b".argv" + suffix, _nul_terminated(argv), DATA_MODE))
        if run.env is not None:
            entries.append((b".envp" + suffix, _nul_terminated(run.env), DATA_MODE))
        if run.stdin is not None:
            entries.append((b".stdin" + suffix, bytes(run.stdin), DATA_MODE))
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
