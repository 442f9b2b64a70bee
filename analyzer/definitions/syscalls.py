"""Linux x86-64 system calls by number, parsed at import time from trace/linux_syscalls.def (the
one table the kernel's dispatch and this analyzer both read), and how a `syscall` event's result
reads: a u64 that holds -errno in two's complement when the call failed.

Invariants: numbers and names are unique in the table (a duplicate is a SyscallTableError at
import); a number missing from the table is shown as `syscall_N`, never guessed.
"""

import re
from pathlib import Path

from .events import REPO_ROOT

SYSCALLS_DEF = Path(REPO_ROOT) / "trace" / "linux_syscalls.def"
# Linux's error numbers this analyzer names (include/uapi/asm-generic/errno-base.h, errno.h):
# the kernel returns -ENOSYS for every call it does not implement (issue 18), -EFAULT for a call
# whose user memory could not be faulted in.
EFAULT, ENOSYS = 14, 38
# The Linux ABI: a result in [-4095, -1] is -errno; any other value is a real result.
MAX_ERRNO = 4095


class SyscallTableError(Exception):
    """linux_syscalls.def does not say what the parser expects."""


def parse_table(text, where="linux_syscalls.def"):
    """{number: name} from the text of linux_syscalls.def (SYSCALL(number, name) lines and C
    comments, nothing else)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    table = {}
    for line_number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        m = re.fullmatch(r"SYSCALL\(\s*(\d+)\s*,\s*([a-z_][a-z0-9_]*)\s*\)", line)
        if not m:
            raise SyscallTableError(f"{where}:{line_number}: expected SYSCALL(number, name), "
                                    f"got {line[:40]!r}")
        number, name = int(m.group(1)), m.group(2)
        if number in table or name in table.values():
            raise SyscallTableError(f"{where}:{line_number}: {name} ({number}) appears twice")
        table[number] = name
    if not table:
        raise SyscallTableError(f"{where}: no SYSCALL lines")
    return table


SYSCALL_NAMES = parse_table(SYSCALLS_DEF.read_text())
SYSCALL_NUMBERS = {name: number for number, name in SYSCALL_NAMES.items()}


def syscall_name(number):
    return SYSCALL_NAMES.get(int(number), f"syscall_{int(number)}")


def errno_of(result):
    """The errno of a failed call's result (a u64), or None when the result is not -errno."""
    result = int(result)
    negated = (1 << 64) - result
    return negated if 1 <= negated <= MAX_ERRNO else None


def is_negative(result):
    """True when the u64 result is negative read as a signed 64-bit number."""
    return int(result) >= 1 << 63
