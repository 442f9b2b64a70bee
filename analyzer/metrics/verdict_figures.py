"""Gathers the verdict's figures (analyzer/metrics/verdict.py) from where each is measured.

  - bookkeeping bytes and peak reservations: the kernel's events in the report's traces
    (report.py);
  - lines of code, the page-table entry bits and the list record's size: the C source of this
    checkout (analyzer/definitions/source_lines.py, <machine/pte.h>, the backends);
  - instructions per reserve and per brk: the benchmark CSVs `make bench` writes
    (results/bench/vmm.csv from the host under callgrind, guest-vmm.csv from the kernel under
    QEMU icount).
A file that is missing leaves its figures empty, and the verdicts that need them say
"not measured".
"""

import csv
import math
import re
from pathlib import Path

from ..definitions import source_lines
from ..definitions.events import FORMAT, REPO_ROOT
from .verdict import LIST, PAGETABLE

MM = Path(REPO_ROOT) / "kernel" / "mm"
BACKEND_FILES = {PAGETABLE: MM / "vmm_backend_pagetable.c", LIST: MM / "vmm_backend_list.c"}
PAGE_TABLE_CODE = [MM / "pagetable.c", MM / "pagetable.h", MM / "pt_walk.h"]
PTE_H = Path(REPO_ROOT) / "kernel" / "arch" / "amd64" / "include" / "machine" / "pte.h"
BENCH_DIR = Path(REPO_ROOT) / "results" / "bench"
# Per-reservation details a user of the VMM asks for, with the bits each needs: an owner tag (one
# of the owners events.def names), a reservation id, a pointer to a name.
DETAILS_WANTED = {"owner tag": max(1, math.ceil(math.log2(len(FORMAT.values["owner"])))),
                  "32-bit reservation id": 32, "name pointer": 64}
RESERVE_OPERATIONS = ("reserve-release", "aligned-reserve-release")


def _local_includes(path):
    return set(re.findall(r'^#include "(?:kernel/mm/)?([\w.]+)"', Path(path).read_text(), re.M))


def backend_sources(backend):
    """The backend's file and the kernel/mm files only it includes (e.g. the list backend's
    tree), with their .c beside each .h, and a private header's X_*.c (the files of a backend
    split by concept, as vmm_pt.h's)."""
    own = _local_includes(BACKEND_FILES[backend])
    for other, path in BACKEND_FILES.items():
        if other != backend:
            own -= _local_includes(path)
    files = [BACKEND_FILES[backend]]
    for header in sorted(own):
        stem = (MM / header).with_suffix("")
        for candidate in (MM / header, stem.with_suffix(".c"), *sorted(MM.glob(stem.name + "_*.c"))):
            if candidate.exists() and candidate not in files:
                files.append(candidate)
    return files


def _function_lines(backend, name):
    """Code lines of function `name`, in whichever of the backend's files defines it."""
    for path in backend_sources(backend):
        try:
            return source_lines.function_code_lines(path, name)
        except LookupError:
            continue
    raise LookupError(f"{BACKEND_FILES[backend]}: no file of the backend defines {name}()")


def line_counts():
    """backend_loc, pagetable_core_loc and brk_loc (the backend's resize operation, which is
    what vmm_brk runs in the backend)."""
    backend_loc = {b: source_lines.count_code_lines(backend_sources(b)) for b in BACKEND_FILES}
    brk_loc = {b: _function_lines(b, source_lines.ops_member(path, "resize"))
               for b, path in BACKEND_FILES.items()}
    return backend_loc, source_lines.count_code_lines(PAGE_TABLE_CODE), brk_loc


def _mask(text, name):
    match = re.search(r"#define " + name + r" \(\(pte_t\)(0x[0-9A-Fa-f]+|\d+)", text)
    if match is None:
        raise LookupError(f"{PTE_H}: no {name}")
    return int(match.group(1), 0)


def pte_bits():
    """(available, {purpose: bits}) of a 4 KiB-page entry, from the macros that define them:
    the software field (PTE_SW_FIELD_MASK) and the stripe bits (PTE_COUNT_STRIPE_MASK) are what
    is available; every PTE_SW_BIT(n) named in pte.h or a backend is a bit in use, and the stripe
    (the tables' counts, hints and summaries spread over their entries) is in use in every
    entry."""
    pte = PTE_H.read_text()
    sw, stripe = _mask(pte, "PTE_SW_FIELD_MASK"), _mask(pte, "PTE_COUNT_STRIPE_MASK")
    used = {}
    for path in [PTE_H, *(f for b in BACKEND_FILES for f in backend_sources(b))]:
        text = path.read_text()
        names = re.findall(r"^#define (\w+) PTE_SW_BIT\((\d+)\)", text, re.M)
        if names:
            used[", ".join(n for n, _ in names)] = len({bit for _, bit in names})
        # a backend's multi-bit software fields: a mask shifted into the field (RES_ACCESS_MASK);
        # pte.h's masks are the field and stripe themselves, what is available
        for name, mask in [] if path == PTE_H else re.findall(r"^#define (\w+_MASK) \(\(pte_t\)(0x[0-9A-Fa-f]+|\d+) << \w+\)",
                                     text, re.M):
            used[name] = bin(int(mask, 0)).count("1")
    used["stripes: table counts, hints, free-run summaries"] = bin(stripe).count("1")
    return bin(sw).count("1") + bin(stripe).count("1"), used


def pte_bits_not_present():
    """Bits of a non-present entry the CPU ignores: all but the present bit (PTE_PRESENT)."""
    return 64 - bin(_mask(PTE_H.read_text(), "PTE_PRESENT")).count("1")


def list_record_bytes():
    """LIST_RECORD_BYTES of the list backend, in whichever of its files states it (a static
    assertion there holds it to sizeof)."""
    for path in backend_sources(LIST):
        match = re.search(r"#define LIST_RECORD_BYTES (\d+)", path.read_text())
        if match is not None:
            return int(match.group(1))
    raise LookupError(f"{BACKEND_FILES[LIST]}: no file of the list backend defines LIST_RECORD_BYTES")


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
        size = row.get("size_pages", "")
        request = "" if size == "" else f" of {size} page{'' if size == '1' else 's'}"  # every size named
        case = f"{row['operation']}{request}, {row['layout']}{best}, {int(row['mapped_pages']):,} mapped"
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
    figures.pte_bits_available, figures.pte_bits_used = pte_bits()
    figures.details_wanted = dict(DETAILS_WANTED)
    figures.list_record_bytes = list_record_bytes()
    figures.pte_bits_not_present = pte_bits_not_present()
    return figures
