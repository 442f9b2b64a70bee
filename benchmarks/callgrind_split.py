"""Where one benchmark row's instructions go: the row's figure split by (source file, function),
taken from callgrind_annotate of the very two dumps the figure came from.

A row's figure is (I(long) - I(short)) / (long - short steps), I the total of a callgrind dump
(run_bench.py). Its split is the same difference per entry of callgrind_annotate's self-cost
listing, an entry being `file:function`: inlined code is listed under the file it is written in
and the function it was inlined into (`kernel/mm/pmm_size_classes.h` in `pmm_bench_alloc`).

Invariants: a dump's entries sum to its total (callgrind_annotate --threshold=100 lists every
function; checked on every dump read, an error otherwise), so a split's entries sum to the row's
figure; `top()` keeps that sum: the entries it leaves out are summed into "other". Nothing here
knows a benchmark or a target: run_bench.py chooses the rows.
"""

import os
import re
import subprocess

ANNOTATE = ["callgrind_annotate", "--threshold=100", "--auto=no", "--inclusive=no"]
# "  29,359 (24.85%)  /repo/./kernel/mm/pmm_size_classes.h:pmm_bench_alloc [/repo/build/...]"
ENTRY = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$")
OTHER = ("other", "")


class SplitError(Exception):
    pass


class Dumps:
    """The two callgrind dumps one row's figure came from, and how they were made."""

    def __init__(self, long_path, short_path, long_label, short_label, steps, command):
        self.long_path, self.short_path = long_path, short_path
        self.long_label, self.short_label = long_label, short_label
        self.steps = steps  # long - short
        self.command = command  # the program's command line, as run under callgrind


def annotate(dump):
    """callgrind_annotate's listing of one dump: ({(file, function): self instructions}, total)."""
    done = subprocess.run(ANNOTATE + [dump], capture_output=True, text=True)
    if done.returncode != 0:
        raise SplitError(f"{' '.join(ANNOTATE)} {dump} failed ({done.returncode}): {done.stderr[-500:]}")
    total, entries, listing = None, {}, False
    for line in done.stdout.splitlines():
        m = ENTRY.match(line)
        if not m:
            listing = listing or line.strip().endswith("file:function")
            continue
        count, name = int(m.group(1).replace(",", "")), m.group(2)
        if name.strip() == "PROGRAM TOTALS":
            total = count
        elif listing:
            name = re.sub(r"\s+\[[^\]]*\]$", "", name.strip())  # the object file, when not inlined
            source, _, function = name.partition(":")
            key = (source, function)
            entries[key] = entries.get(key, 0) + count
    if total is None:
        raise SplitError(f"reading {dump}: callgrind_annotate printed no PROGRAM TOTALS")
    if sum(entries.values()) != total:
        raise SplitError(f"reading {dump}: callgrind_annotate lists {sum(entries.values()):,} of "
                         f"its {total:,} instructions")
    return entries, total


def relative(source, root):
    """A source path as the repository names it (callgrind writes absolute paths, some with ./)."""
    path = os.path.normpath(source)
    root = os.path.normpath(root)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


def per_step(dumps, root):
    """({(file, function): instructions per step}, figure): the row's figure split by entry."""
    long_entries, long_total = annotate(dumps.long_path)
    short_entries, short_total = annotate(dumps.short_path)
    split = {}
    for key in set(long_entries) | set(short_entries):
        diff = long_entries.get(key, 0) - short_entries.get(key, 0)
        if diff:
            name = (relative(key[0], root), key[1])
            split[name] = split.get(name, 0) + diff / dumps.steps
    return split, (long_total - short_total) / dumps.steps


def top(split, count):
    """The `count` largest entries, then OTHER with the sum of the rest: [(key, instructions)],
    summing to the split's sum."""
    ranked = sorted(split.items(), key=lambda kv: (-kv[1], kv[0]))
    head, rest = ranked[:count], ranked[count:]
    return head + ([(OTHER, sum(v for _, v in rest))] if rest else [])
