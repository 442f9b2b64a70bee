"""Converts `strace -f -ttt` logs of real programs into pagescope workload files
(trace/WORKLOAD.md), which the kernel replays with `scenario=replay`.

Reads logs made with `-e trace=memory` and with `-e trace=memory,process`, written with `-o LOG`
or onto stderr, with any of strace's timestamp options (-ttt, -tt, -t, -r, none), -T and -i:

  - `<unfinished ...>` / `<... NAME resumed>` halves are joined. A call takes effect where it
    returned, except clone/fork/vfork, which take effect where they began (their child's lines
    may come before the parent's call returns).
  - failed calls (`= -1 E...`, and a brk that returns another address than it asked for: Linux
    reports a failed brk by returning the old break) are skipped and counted.
  - threads (clone/clone3 with CLONE_VM and without CLONE_VFORK) share their process's context;
    fork, vfork and clone without CLONE_VM start a new process holding a copy of the parent's
    mappings (a CLONE_VM|CLONE_VFORK child, as posix_spawn makes, is treated like vfork: it
    borrows nothing once it execs, and replaying it as a copy keeps the parent intact);
  - execve (= 0) replaces the address space; exit_group, or the last task's `+++ exited` /
    `+++ killed`, ends the process; what its threads print after its exit_group is counted and
    left out (it belongs to no process any more).
  - a pid seen without a clone that made it (a memory-only log) is its own process. An unmap or
    protect of a range the process never mapped (its executable and stack are mapped by the
    kernel, out of the log's sight) is counted and left out.
  - mmap/munmap/mprotect/mremap/brk become map/unmap/protect/remap/brk ops, lengths rounded up to
    pages; other memory calls (madvise, mlock, ...) and process calls (wait4, ...) are recognised,
    counted and have no op. Lines that are none of these are counted and the first few shown.

A log with nothing usable is an error that says why and which strace options make a usable one.
"""

import collections
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..definitions import workload_format as wf
from ..definitions.output import atomic_file

PAGE = wf.C["WORKLOAD_PAGE_SIZE"]
ADDRESS_LIMIT = wf.C["WORKLOAD_ADDRESS_LIMIT"]
SHOWN_UNUSABLE = 5

# What strace commonly writes before a call: a pid (`-f` into a file: "PID ", `-f` onto stderr:
# "[pid PID] " for every process but the first), a timestamp (-ttt "SECONDS.USEC", -tt
# "HH:MM:SS.USEC", -t "HH:MM:SS", -r "SECONDS.USEC", or none), an instruction pointer (-i
# "[HEX]"). After the result, -T adds the call's duration "<SECONDS>".
LINE = re.compile(r"^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?"
                  r"(\d+(?::\d\d){2}(?:\.\d+)?\s+|\d+\.\d+\s+)?"
                  r"(?:\[(?:[0-9a-f]+|\?+)\]\s+)?(.*)$")
DURATION = re.compile(r"\s+<\d+\.\d+>$")
CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(\S+)(?:\s+(\w+).*)?$", re.S)
UNFINISHED = re.compile(r"^(\w+)\((.*?)\s*<unfinished \.\.\.>$", re.S)
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
EXITED = re.compile(r"^\+\+\+ (?:exited with -?\d+|killed by \w+(?: \(core dumped\))?) \+\+\+$")
SUPERSEDED = re.compile(r"^\+\+\+ superseded by execve in pid (\d+) \+\+\+$")
SIGNAL = re.compile(r"^--- \w+ .*---$")
STRACE_NOTE = re.compile(r"^strace: ")

MEMORY_CALLS = {"mmap", "munmap", "mprotect", "mremap", "brk", "pkey_mprotect"}
CLONE_CALLS = {"clone", "clone3", "fork", "vfork"}
EXEC_CALLS = {"execve", "execveat"}
EXIT_CALLS = {"exit_group"}
# Recognised, counted, no op: the rest of strace's %memory and %process classes.
OTHER_CALLS = {"madvise", "mlock", "mlock2", "mlockall", "munlock", "munlockall", "msync", "mincore",
               "mbind", "set_mempolicy", "get_mempolicy", "migrate_pages", "move_pages",
               "remap_file_pages", "shmat", "shmdt", "pkey_alloc", "pkey_free", "exit",
               "wait4", "waitid", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
               "arch_prctl", "unshare", "setns", "pidfd_open", "pidfd_send_signal", "process_vm_readv",
               "process_vm_writev", "membarrier", "memfd_create", "process_madvise", "rseq"}

PROT_BITS = {"PROT_READ": wf.PROT["read"], "PROT_WRITE": wf.PROT["write"],
             "PROT_EXEC": wf.PROT["exec"], "PROT_NONE": 0}
MAP_BITS = {"MAP_SHARED": wf.MAP_FLAGS["shared"], "MAP_SHARED_VALIDATE": wf.MAP_FLAGS["shared"],
            "MAP_FIXED": wf.MAP_FLAGS["fixed"], "MAP_FIXED_NOREPLACE": wf.MAP_FLAGS["fixed"],
            "MAP_ANONYMOUS": wf.MAP_FLAGS["anonymous"], "MAP_STACK": wf.MAP_FLAGS["stack"],
            "MAP_GROWSDOWN": wf.MAP_FLAGS["stack"]}


class ConversionError(Exception):
    """The log holds nothing that could be converted; `offset` is the byte of the first line that
    could not be used (0 for an empty log)."""

    def __init__(self, message, offset):
        super().__init__(message)
        self.offset = offset


@dataclass
class Call:
    line: int
    pid: int
    name: str
    args: list
    result: str
    errno: str = None


class Ranges:
    """A set of disjoint page ranges [start, end), kept sorted and merged."""

    def __init__(self, runs=()):
        self.runs = sorted(runs)

    def copy(self):
        return Ranges(self.runs)

    def bytes(self):
        return sum(end - start for start, end in self.runs)

    def overlaps(self, start, end):
        return any(s < end and start < e for s, e in self.runs)

    def remove(self, start, end):
        kept = []
        for s, e in self.runs:
            if e <= start or s >= end:
                kept.append((s, e))
                continue
            if s < start:
                kept.append((s, start))
            if e > end:
                kept.append((end, e))
        self.runs = kept

    def add(self, start, end):
        self.remove(start, end)
        self.runs.append((start, end))
        self.runs.sort()
        merged = []
        for s, e in self.runs:
            if merged and merged[-1][1] == s:
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        self.runs = merged


@dataclass
class Process:
    index: int
    mapped: Ranges = field(default_factory=Ranges)
    brk_base: int = None  # the break when the address space began (first brk seen)
    heap: int = 0         # heap bytes now
    tasks: set = field(default_factory=set)
    live: bool = True


@dataclass
class Report:
    lines: int = 0
    ops: collections.Counter = field(default_factory=collections.Counter)
    failed: collections.Counter = field(default_factory=collections.Counter)
    ignored: collections.Counter = field(default_factory=collections.Counter)
    never_mapped: collections.Counter = field(default_factory=collections.Counter)
    after_exit: collections.Counter = field(default_factory=collections.Counter)
    unusable: int = 0
    unusable_shown: list = field(default_factory=list)
    first_unusable_offset: int = None  # byte offset in the log of the first unusable line
    line_offsets: list = field(default_factory=list)  # byte offset of each line, for that
    processes: int = 0
    threads: int = 0
    peak_mapped: int = 0

    def unusable_line(self, number, text):
        self.unusable += 1
        if self.first_unusable_offset is None and number <= len(self.line_offsets):
            self.first_unusable_offset = self.line_offsets[number - 1]
        if len(self.unusable_shown) < SHOWN_UNUSABLE:
            self.unusable_shown.append(f"line {number}: {text[:100]}")


def split_args(text):
    """Splits strace's argument text at top-level commas (brackets, braces, quotes respected)."""
    args, depth, current, quoted, i = [], 0, [], False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            current.append(c)
            if c == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
            current.append(c)
        elif c in "([{":
            depth += 1
            current.append(c)
        elif c in ")]}":
            depth -= 1
            current.append(c)
        elif c == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
        else:
            current.append(c)
        i += 1
    tail = "".join(current).strip()
    if tail or args:
        args.append(tail)
    return args


def number(text):
    text = text.strip()
    if text in ("NULL", ""):
        return 0
    return int(text, 0)


def flag_bits(text, table):
    bits = 0
    for name in re.split(r"\s*\|\s*", text.strip()):
        bits |= table.get(name, 0)
    return bits


def round_up(n):
    return (n + PAGE - 1) // PAGE * PAGE


def parse_log(lines, report):
    """Yields complete Calls in effect order, plus ("exited", line, pid) tuples."""
    events = []            # Call objects or ("exited", line, pid), in effect order
    pending = {}           # pid -> (line, name, args text, placeholder index or None)
    first_pid = unprefixed_pid(lines)
    for number_, raw in enumerate(lines, 1):
        report.lines += 1
        text = raw.rstrip("\n")
        if not text.strip():
            continue
        if STRACE_NOTE.match(text):
            continue
        m = LINE.match(text)
        if not m:
            report.unusable_line(number_, text)
            continue
        pid = int(m.group(1) or m.group(2) or first_pid)
        body = DURATION.sub("", m.group(4).strip())
        if not body:
            report.unusable_line(number_, text)
            continue
        if EXITED.match(body):
            events.append(("exited", number_, pid))
            continue
        if SIGNAL.match(body) or SUPERSEDED.match(body):
            continue
        unfinished = UNFINISHED.match(body)
        if unfinished:
            name = unfinished.group(1)
            slot = None
            if name in CLONE_CALLS:  # takes effect where it began
                slot = len(events)
                events.append(None)
            pending[pid] = (number_, name, unfinished.group(2), slot)
            continue
        resumed = RESUMED.match(body)
        if resumed:
            if pid not in pending or pending[pid][1] != resumed.group(1):
                report.unusable_line(number_, text)
                continue
            first_line, name, head, slot = pending.pop(pid)
            body = f"{name}({head}{resumed.group(2)}"
            call = _parse_call(body, first_line, pid)
            if call is None:
                report.unusable_line(number_, text)
            elif slot is not None:
                events[slot] = call
            else:
                events.append(call)
            continue
        call = _parse_call(body, number_, pid)
        if call is None:
            report.unusable_line(number_, text)
            continue
        events.append(call)
    for pid, (line, name, _, slot) in pending.items():
        report.unusable_line(line, f"{name}(... <unfinished ...> never resumed (pid {pid})")
    return [e for e in events if e is not None]


CLONE_RESULT = re.compile(r"(?:\b(?:clone3?|v?fork)\(.*|<\.\.\. (?:clone3?|v?fork) resumed>.*)"
                          r"\)\s+=\s+(\d+)")
PREFIXED_PID = re.compile(r"^\[pid\s+(\d+)\]")


def unprefixed_pid(lines):
    """strace -f writing onto stderr leaves out the pid of the first process while it is the only
    one and prefixes "[pid N]" once there are more, so its lines read as pid 0 and then as N. N is
    the first prefixed pid that no clone, fork or vfork returned: the pid for unprefixed lines
    (0 when no line is prefixed that way, as in a log written with -o)."""
    children = {int(m.group(1)) for line in lines for m in [CLONE_RESULT.search(line)] if m}
    return next((int(m.group(1)) for line in lines for m in [PREFIXED_PID.match(line)]
                 if m and int(m.group(1)) not in children), 0)


def _parse_call(body, line, pid):
    m = CALL.match(body)
    if not m:
        return None
    return Call(line, pid, m.group(1), split_args(m.group(2)), m.group(3), m.group(4))


class Converter:
    def __init__(self, report):
        self.report = report
        self.ops = []
        self.by_task = {}   # os pid -> Process (threads share one)
        self.processes = []
        self.mapped_now = 0
        self.ended_tasks = set()  # tasks of processes that ended (exit_group), until reused

    # -- processes --------------------------------------------------------------------------
    def new_process(self, os_pid, parent=None):
        self.ended_tasks.discard(os_pid)
        p = Process(len(self.processes), tasks={os_pid})
        self.processes.append(p)
        self.by_task[os_pid] = p
        if parent is None:
            self.emit("start", p, os_pid=os_pid)
        else:
            p.mapped = parent.mapped.copy()
            p.brk_base, p.heap = parent.brk_base, parent.heap
            self.emit("fork", parent, child=p.index, os_pid=os_pid)
        return p

    def process_of(self, os_pid):
        p = self.by_task.get(os_pid)
        if p is None or not p.live:
            p = self.new_process(os_pid)
        return p

    def end(self, p):
        if p.live:
            p.live = False
            self.emit("exit", p)
            for task in p.tasks:
                if self.by_task.get(task) is p:
                    del self.by_task[task]
                    self.ended_tasks.add(task)

    def emit(self, name, p, **fields):
        self.ops.append(wf.op(name, p.index, **fields))
        self.report.ops[name] += 1
        mapped = sum(q.mapped.bytes() + q.heap for q in self.processes if q.live)
        self.report.peak_mapped = max(self.report.peak_mapped, mapped)

    # -- calls --------------------------------------------------------------------------------
    def exited(self, os_pid):
        p = self.by_task.pop(os_pid, None)
        if p is None:
            return
        p.tasks.discard(os_pid)
        if not p.tasks:
            self.end(p)

    def call(self, c):
        r = self.report
        if c.pid in self.ended_tasks:
            # a thread's line printed after its process's exit_group: the process is gone, and
            # so is whatever the thread did (a new process made of it would be a phantom)
            r.after_exit[c.name] += 1
            return
        failed = c.result == "-1" or (c.errno or "").startswith("E") and c.result.startswith("-")
        if c.name == "brk" and not failed:
            asked = number(c.args[0]) if c.args else 0
            failed = asked != 0 and number(c.result) != asked
        if failed:
            r.failed[c.name] += 1
            return
        if c.name in OTHER_CALLS:
            r.ignored[c.name] += 1
            if c.name == "exit":  # a thread's own exit: its +++ exited line ends it
                return
            self.process_of(c.pid)
            return
        handler = getattr(self, "on_" + c.name, None)
        if handler is None:
            r.ignored[c.name] += 1
            return
        try:
            handler(c)
        except (ValueError, IndexError):
            r.unusable_line(c.line, f"{c.name}({', '.join(c.args)}) = {c.result}")

    def on_clone(self, c):
        parent = self.process_of(c.pid)
        child = number(c.result)
        flags = next((a.split("=", 1)[1] for a in c.args if a.startswith("flags=")), "")
        if c.name == "clone3":
            flags = re.search(r"flags=([A-Z0-9_|]+)", c.args[0]).group(1) if c.args else ""
        names = set(flags.split("|"))
        if c.name in ("clone", "clone3") and "CLONE_VM" in names and "CLONE_VFORK" not in names:
            parent.tasks.add(child)
            self.by_task[child] = parent
            self.report.threads += 1
            return
        self.new_process(child, parent)

    on_clone3 = on_fork = on_vfork = on_clone

    def on_execve(self, c):
        p = self.process_of(c.pid)
        for task in list(p.tasks):  # the other threads die with the old image
            if task != c.pid:
                p.tasks.discard(task)
                self.by_task.pop(task, None)
        p.mapped, p.brk_base, p.heap = Ranges(), None, 0
        self.emit("exec", p)

    on_execveat = on_execve

    def on_exit_group(self, c):
        p = self.by_task.get(c.pid)
        if p is not None:
            self.end(p)

    def on_mmap(self, c):
        p = self.process_of(c.pid)
        addr, length = number(c.result), round_up(number(c.args[1]))
        if not self.usable_range(c, addr, length):
            return
        p.mapped.add(addr, addr + length)
        self.emit("map", p, addr=addr, length=length, prot=flag_bits(c.args[2], PROT_BITS),
                  map_flags=flag_bits(c.args[3], MAP_BITS))

    def on_munmap(self, c):
        p = self.process_of(c.pid)
        addr, length = number(c.args[0]), round_up(number(c.args[1]))
        if not self.usable_range(c, addr, length):
            return
        if not p.mapped.overlaps(addr, addr + length):
            self.report.never_mapped["unmap"] += 1
            return
        p.mapped.remove(addr, addr + length)
        self.emit("unmap", p, addr=addr, length=length)

    def on_mprotect(self, c):
        p = self.process_of(c.pid)
        addr, length = number(c.args[0]), round_up(number(c.args[1]))
        if not self.usable_range(c, addr, length):
            return
        if not p.mapped.overlaps(addr, addr + length):
            self.report.never_mapped["protect"] += 1
            return
        self.emit("protect", p, addr=addr, length=length, prot=flag_bits(c.args[2], PROT_BITS))

    on_pkey_mprotect = on_mprotect

    def on_mremap(self, c):
        p = self.process_of(c.pid)
        old, old_length = number(c.args[0]), round_up(number(c.args[1]))
        new, new_length = number(c.result), round_up(number(c.args[2]))
        if not (self.usable_range(c, old, old_length) and self.usable_range(c, new, new_length)):
            return
        p.mapped.remove(old, old + old_length)
        p.mapped.add(new, new + new_length)
        self.emit("remap", p, old_addr=old, old_length=old_length, new_addr=new,
                  new_length=new_length)

    def on_brk(self, c):
        p = self.process_of(c.pid)
        now = number(c.result)
        if p.brk_base is None:
            p.brk_base = now
        if not c.args or number(c.args[0]) == 0:
            return  # brk(NULL): a question, not a change
        heap = max(0, now - p.brk_base)
        p.heap = heap
        self.emit("brk", p, heap_bytes=heap)

    def usable_range(self, c, addr, length):
        if length == 0 or addr % PAGE or addr + length > ADDRESS_LIMIT:
            self.report.unusable_line(c.line, f"{c.name}: range [{addr:#x}, +{length:#x}) is not "
                                      "pages of the user half")
            return False
        return True


# On stderr strace's own notes share the stream with the calls and may land inside a line:
# "vfork(strace: Process 31030 attached\n <unfinished ...>". The note is taken out, which joins
# the call's two halves again (a note on a line of its own is skipped by parse_log).
INLINE_NOTE = re.compile(r"(?<=[^\n])strace: Process \d+ attached\n")


def convert(log_text, name):
    """Returns (Workload, Report) for the text of an strace log; raises ConversionError."""
    log_text = INLINE_NOTE.sub("", log_text)
    report = Report()
    lines, offset = log_text.splitlines(keepends=True), 0
    for line in lines:
        report.line_offsets.append(offset)
        offset += len(line.encode("utf-8", "replace"))
    events = parse_log(lines, report)
    converter = Converter(report)
    for event in events:
        if isinstance(event, tuple):
            converter.exited(event[2])
        else:
            converter.call(event)
    for p in converter.processes:  # the log ended with these still running
        if p.live:
            converter.end(p)
    report.processes = len(converter.processes)
    memory_ops = sum(report.ops[k] for k in ("map", "unmap", "protect", "remap", "brk"))
    if memory_ops == 0:
        raise ConversionError(_nothing_usable(report), report.first_unusable_offset or 0)
    if len(converter.processes) > wf.C["WORKLOAD_MAX_PROCESSES"]:
        raise ConversionError(f"{len(converter.processes)} processes; a workload file holds at most "
                              f"{wf.C['WORKLOAD_MAX_PROCESSES']}", offset)
    return wf.Workload(name, len(converter.processes), converter.ops), report


RECORD_WITH = "strace -f -ttt -e trace=memory,process -o LOG PROGRAM"


def _nothing_usable(report):
    """Why a log gave no memory op, and the strace options that give one."""
    said = f"nothing usable: no successful memory call in {report.lines} lines"
    if report.lines == 0:
        return f"{said} (the log is empty); record with `{RECORD_WITH}`"
    if report.unusable == report.lines:
        return (f"{said}: no line reads as strace output (the first is at this offset: "
                f"{report.unusable_shown[0] if report.unusable_shown else ''}); record with "
                f"`{RECORD_WITH}`")
    if not report.failed:
        return (f"{said}: the log traces no memory call (mmap, munmap, mprotect, mremap, brk); "
                f"record with `{RECORD_WITH}`")
    return (f"{said}: every memory call in it failed ({_counts(report.failed)}), "
            f"{report.unusable} lines unusable")


def describe(report, out):
    w = out.write
    order = ["start", "fork", "exec", "exit", "map", "unmap", "protect", "remap", "brk"]
    w(f"processes   {report.processes} ({report.threads} threads joined their process)\n")
    w("ops         " + ", ".join(f"{k} {report.ops[k]}" for k in order) +
      f" ({sum(report.ops.values())} in all)\n")
    w(f"peak mapped {report.peak_mapped} bytes ({report.peak_mapped / (1 << 20):.1f} MiB; every "
      "mapped range, PROT_NONE reservations included, and the heap)\n")
    w("failed      " + _counts(report.failed) + " (skipped)\n")
    w("no op       " + _counts(report.ignored) + "\n")
    w("never mapped " + _counts(report.never_mapped) + " (unmap/protect of ranges the log never "
      "mapped, left out)\n")
    w("after exit  " + _counts(report.after_exit) + " (threads' calls printed after their "
      "process's exit_group, left out)\n")
    w(f"unusable    {report.unusable} of {report.lines} lines\n")
    for shown in report.unusable_shown:
        w(f"  {shown}\n")


def _counts(counter):
    if not counter:
        return "0"
    return f"{sum(counter.values())}: " + ", ".join(f"{k} {n}" for k, n in sorted(counter.items()))


def convert_file(log_path, out_path, name=None, out=None):
    text = Path(log_path).read_text(errors="replace")
    workload, report = convert(text, name or Path(log_path).stem)
    data = wf.encode(workload)
    wf.decode(data)  # what we write must be what the kernel accepts
    with atomic_file(out_path, "wb") as f:
        f.write(data)
    if out is not None:
        out.write(f"wrote       {out_path} ({len(data)} bytes) from {log_path}\n")
        describe(report, out)
    return workload, report
