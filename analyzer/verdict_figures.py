"""Gathers the verdict's figures (analyzer/verdict.py) from where each is measured.

  - bookkeeping bytes: the kernel's vmm_bookkeeping events in the report's traces (report.py);
  - lines of code: the C source of this checkout (analyzer/source_lines.py);
  - instructions per reserve and per brk: the benchmark CSVs `make bench` writes
    (results/bench/vmm.csv from the host under callgrind, guest-vmm.csv from the kernel under
    QEMU icount).
A file that is missing leaves its figures empty, and the verdicts that need them say
"not measured".
"""

import csv
import re
from pathlib import Path

from . import source_lines
from .events import REPO_ROOT
from .verdict import LIST, PAGETABLE

MM = Path(REPO_ROOT) / "kernel" / "mm"
BACKEND_FILES = {PAGETABLE: MM / "vmm_backend_pagetable.c", LIST: MM / "vmm_backend_list.c"}
PAGE_TABLE_CODE = [MM / "pagetable.c", MM / "pagetable.h"]
BENCH_DIR = Path(REPO_ROOT) / "results" / "bench"
RESERVE_OPERATIONS = ("reserve-release", "aligned-reserve-release")


def _local_includes(path):
    return set(re.findall(r'^#include "(?:kernel/mm/)?([\w.]+)"', Path(path).read_text(), re.M))


def backend_sources(backend):
    """The backend's file and the kernel/mm files only it includes (e.g. the list backend's
    tree), with their .c beside each .h."""
    own = _local_includes(BACKEND_FILES[backend])
    for other, path in BACKEND_FILES.items():
        if other != backend:
            own -= _local_includes(path)
    files = [BACKEND_FILES[backend]]
    for header in sorted(own):
        for candidate in (MM / header, (MM / header).with_suffix(".c")):
            if candidate.exists() and candidate not in files:
                files.append(candidate)
    return files


def line_counts():
    """backend_loc, pagetable_core_loc and brk_loc (the backend's resize operation, which is
    what vmm_brk runs in the backend)."""
    backend_loc = {b: source_lines.count_code_lines(backend_sources(b)) for b in BACKEND_FILES}
    brk_loc = {b: source_lines.function_code_lines(path, source_lines.ops_member(path, "resize"))
               for b, path in BACKEND_FILES.items()}
    return backend_loc, source_lines.count_code_lines(PAGE_TABLE_CODE), brk_loc


def _rows(path):
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def reserve_instructions(bench_dir=BENCH_DIR):
    """(backend, case) -> host instructions per reserve+release, from vmm.csv."""
    cost = {}
    for row in _rows(Path(bench_dir) / "vmm.csv"):
        if row["operation"] not in RESERVE_OPERATIONS or not row.get("instructions_per_step"):
            continue
        best = " (best case)" if row.get("best_case") == "yes" else ""
        case = f"{row['operation']}, {row['layout']}{best}, {int(row['mapped_pages']):,} mapped"
        cost[(row["backend"], case)] = float(row["instructions_per_step"])
    return cost


def brk_instructions(bench_dir=BENCH_DIR):
    """backend -> {"grow", "shrink"} guest instructions per brk call with tracing off, at the
    most mapped pages measured, from guest-vmm.csv."""
    found = {}
    for row in _rows(Path(bench_dir) / "guest-vmm.csv"):
        kind = {"brk-grow": "grow", "brk-shrink": "shrink"}.get(row["operation"])
        if kind is None or row.get("trace") != "off":
            continue
        mapped = int(row["mapped_pages"])
        best = found.setdefault(row["vmm"], {})
        if mapped >= best.get(kind, (-1, 0))[0]:
            best[kind] = (mapped, float(row["instructions_per_step"]))
    return {b: {k: v for k, (_, v) in kinds.items()} for b, kinds in found.items()
            if set(kinds) == {"grow", "shrink"}}


def gather(figures, bench_dir=BENCH_DIR):
    """Fills in `figures` (a verdict.Figures holding the trace-derived figures) from the source
    and the benchmark CSVs, and returns it."""
    figures.backend_loc, figures.pagetable_core_loc, figures.brk_loc = line_counts()
    figures.reserve_instructions = reserve_instructions(bench_dir)
    figures.brk_instructions = brk_instructions(bench_dir)
    return figures
