"""The real-program section's figures (matplotlib, through plots.py's saving and backend styles):
per program, every backend's run on the same axes. x is guest time in seconds since the program's
first process started (each backend's own clock: the same program takes a different number of
instructions under each, so their lines end at different times).

  memory       resident (solid) and reserved (dotted) pages of all processes over guest time
  fault rate   faults per guest second, counted in equal time bins
  fault ticks  cumulative distribution of the ticks each fault took (unit named on the axis)
  fault cost histograms  per fault outcome, faults per power-of-two bucket of ticks, every bar
               labelled with its exact count (icount: guest instructions, exact)
  bookkeeping  the backend's bookkeeping bytes over guest time (vmm_bookkeeping)
  syscalls     calls by name, each backend a bar; unsupported calls (-ENOSYS) hatched
"""

import re

import matplotlib.pyplot as plt
import numpy as np

from ..definitions.events import FORMAT
from .plots import BACKEND_STYLES, Figure, _legend, _save
from ..metrics.processes import nearest_rank

FAULT_RATE_BINS = 40
LOG_SCALE_RATIO = 50  # peak reserved over peak resident above which the memory plot is log
SYSCALLS_SHOWN = 25
OUTCOME_NAMES = FORMAT.values["fault_outcome"]


def slug(name):
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "program"


def _style(i):
    return BACKEND_STYLES[i % len(BACKEND_STYLES)]


def _seconds_label(runs):
    known = all(r.seconds_known for r in runs)
    return ("guest seconds since the program started" if known else
            "guest time since the program started (1e9 ticks: clock frequency unknown)")


def draw_program(name, runs, out_dir):
    """[Figure] of one program's runs (RunFigures, one per backend)."""
    stem = slug(name)
    return [f for f in (_memory(name, stem, runs, out_dir), _fault_rate(name, stem, runs, out_dir),
                        _fault_ticks(name, stem, runs, out_dir),
                        _fault_histograms(name, stem, runs, out_dir),
                        _bookkeeping(name, stem, runs, out_dir),
                        _syscalls(name, stem, runs, out_dir)) if f is not None]


def _memory(name, slug, runs, out_dir):
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for i, r in enumerate(runs):
        color, style = _style(i)
        if len(r.memory_seconds):
            ax.step(r.memory_seconds, r.resident_pages, where="post", color=color,
                    linestyle=style, label=f"{r.backend}: resident")
            ax.step(r.memory_seconds, r.reserved_pages, where="post", color=color, linestyle=":",
                    linewidth=max(0.8, 2.2 - 0.8 * i), label=f"{r.backend}: reserved")
    ax.set_xlabel(_seconds_label(runs))
    resident = max((int(r.resident_pages.max()) for r in runs if len(r.resident_pages)), default=0)
    reserved = max((int(r.reserved_pages.max()) for r in runs if len(r.reserved_pages)), default=0)
    if resident and reserved > LOG_SCALE_RATIO * resident:  # else resident lies flat on the axis
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylabel("pages (4 KiB), all processes (log scale)")
    else:
        ax.set_ylabel("pages (4 KiB), all processes")
        ax.set_ylim(bottom=0)
    ax.set_title(f"{name}: resident vs reserved memory")
    _legend(ax, fontsize=8)
    stem = f"program_{slug}_memory"
    _save(fig, out_dir, stem)
    return Figure(stem, f"{name}: resident vs reserved memory over time",
                  "Pages mapped (resident) and reserved by all of the program's processes after "
                  "each change (process_resident events); equal lines of the two backends lie on "
                  "each other. With demand paging resident stays below reserved: the gap is "
                  "memory reserved but never touched.")


def _fault_rate(name, slug, runs, out_dir):
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for i, r in enumerate(runs):
        color, style = _style(i)
        t = r.fault_seconds
        if not len(t):
            continue
        end = max(float(t.max()), float(r.memory_seconds.max()) if len(r.memory_seconds) else 0)
        edges = np.linspace(0, end if end > 0 else 1e-9, FAULT_RATE_BINS + 1)
        counts, _ = np.histogram(t, bins=edges)
        ax.stairs(counts / np.diff(edges), edges, color=color, linestyle=style,
                  label=f"{r.backend} ({len(t):,} faults)")
    ax.set_xlabel(_seconds_label(runs))
    ax.set_ylabel("faults per guest second")
    ax.set_title(f"{name}: page faults per guest second ({FAULT_RATE_BINS} equal time bins)")
    _legend(ax, fontsize=8)
    stem = f"program_{slug}_fault_rate"
    _save(fig, out_dir, stem)
    return Figure(stem, f"{name}: faults per guest second",
                  f"Page faults of all processes counted in {FAULT_RATE_BINS} equal bins of each "
                  "run's guest time, divided by the bin's length.")


def _fault_ticks(name, slug, runs, out_dir):
    units = sorted({r.unit for r in runs})
    fig, ax = plt.subplots(figsize=(9, 3.6))
    drawn = False
    for i, r in enumerate(runs):
        color, style = _style(i)
        ticks = np.sort(np.asarray(r.totals.fault_ticks, dtype=np.int64))
        if not len(ticks):
            continue
        drawn = True
        share = np.arange(1, len(ticks) + 1) / len(ticks)
        ax.step(ticks, share, where="post", color=color, linestyle=style,
                label=f"{r.backend} ({len(ticks):,} faults, median {nearest_rank(ticks, 50):,})")
    if drawn:
        ax.set_xscale("log")
    ax.set_xlabel(f"{' / '.join(units)} from fault entry to resolution (log scale)")
    ax.set_ylabel("share of faults at or below")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{name}: fault-resolution cost (cumulative distribution)")
    _legend(ax, fontsize=8, loc="lower right")
    stem = f"program_{slug}_fault_ticks"
    _save(fig, out_dir, stem)
    return Figure(stem, f"{name}: fault-resolution cost",
                  f"For each backend, the share of page faults resolved within x {units[0]} "
                  "(page_fault.ticks: from the fault's entry to its resolution, the backend's "
                  "lookup of the address included). Left and steep is cheap.")


def log2_buckets(ticks):
    """{k: faults with 2^k <= ticks < 2^(k+1)} (k = -1 for ticks of 0): log buckets, exact
    counts."""
    ticks = np.asarray(ticks, dtype=np.int64)
    k = np.where(ticks > 0, np.floor(np.log2(np.maximum(ticks, 1))).astype(np.int64), -1)
    # float log2 can be one off just below a power of two: fix it exactly
    k = np.where((k >= 0) & (np.left_shift(1, np.maximum(k, 0)) > ticks), k - 1, k)
    k = np.where((k >= 0) & (np.left_shift(1, k + 1) <= ticks), k + 1, k)
    found, counts = np.unique(k, return_counts=True)
    return dict(zip(found.tolist(), counts.tolist()))


def _bucket_label(k):
    return "0" if k < 0 else f"{1 << k:,}-{(2 << k) - 1:,}"


def _fault_histograms(name, slug, runs, out_dir):
    """One panel per fault outcome: faults per log2 bucket of ticks, a bar per backend."""
    outcomes = sorted({int(o) for r in runs if r.totals.fault_outcomes is not None
                       for o in r.totals.fault_outcomes.tolist()})
    if not outcomes:
        return None
    units = sorted({r.unit for r in runs})
    fig, axes = plt.subplots(len(outcomes), 1, figsize=(9, 2.4 * len(outcomes) + 0.6),
                             squeeze=False)
    width = 0.8 / max(1, len(runs))
    for ax, outcome in zip(axes[:, 0], outcomes):
        per_run = [log2_buckets(r.totals.fault_ticks[r.totals.fault_outcomes == outcome])
                   for r in runs]
        found = {k for b in per_run for k in b}
        keys = list(range(min(found), max(found) + 1))  # empty buckets too: the axis is log2
        x = np.arange(len(keys))
        for i, (r, buckets) in enumerate(zip(runs, per_run)):
            color, _ = _style(i)
            heights = [buckets.get(k, 0) for k in keys]
            bars = ax.bar(x + i * width, heights, width, color=color,
                          label=f"{r.backend} ({sum(heights):,} faults)")
            ax.bar_label(bars, labels=[f"{h:,}" if h else "" for h in heights], fontsize=6)
        ax.set_xticks(x + width * (len(runs) - 1) / 2)
        ax.set_xticklabels([_bucket_label(k) for k in keys], fontsize=7, rotation=30,
                           ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("faults (log)")
        ax.set_title(f"{OUTCOME_NAMES.get(outcome, outcome)}", fontsize=9)
        ax.margins(y=0.25)
        _legend(ax, fontsize=7)
    axes[-1, 0].set_xlabel(f"{' / '.join(units)} from fault entry to resolution "
                           "(power-of-two buckets)")
    fig.suptitle(f"{name}: page-fault cost per outcome")
    stem = f"program_{slug}_fault_histograms"
    _save(fig, out_dir, stem)
    return Figure(stem, f"{name}: page-fault cost per outcome (histograms)",
                  f"Page faults per outcome, counted in power-of-two buckets of {units[0]} "
                  "(page_fault.ticks, from the fault's entry to its resolution); each bar is "
                  "labelled with its exact count, one bar per backend.")


def _bookkeeping(name, slug, runs, out_dir):
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for i, r in enumerate(runs):
        color, style = _style(i)
        if len(r.bookkeeping_seconds):
            ax.step(r.bookkeeping_seconds, r.bookkeeping_bytes, where="post", color=color,
                    linestyle=style, marker=".", markersize=3,
                    label=f"{r.backend} (peak {int(r.bookkeeping_bytes.max()):,} B)")
    ax.set_xlabel(_seconds_label(runs))
    ax.set_ylabel("bookkeeping bytes (processes)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{name}: VMM bookkeeping bytes over time")
    _legend(ax, fontsize=8)
    stem = f"program_{slug}_bookkeeping"
    _save(fig, out_dir, stem)
    return Figure(stem, f"{name}: bookkeeping bytes over time",
                  "Bytes each backend keeps the processes' reservations in, summed over their "
                  "contexts, as the kernel reports them after each snapshot of a context and, "
                  "when the figure changed, after a change of a process's pages: every change "
                  "under list (a counter); under pagetable (its figure is a walk of the tables) "
                  "when its count of tables changed and at every 64th change: a sample "
                  "(vmm_bookkeeping; a point per report; a destroyed "
                  "context counts 0). Under demand paging the page-table backend holds tables that carry "
                  "only untouched reservations, so its figure is no longer 0.")


def _syscalls(name, slug, runs, out_dir):
    totals = {}
    for r in runs:
        for call, n in r.totals.syscalls.items():
            totals[call] = max(totals.get(call, 0), n)
    if not totals:
        return None
    names = sorted(totals, key=lambda c: (-totals[c], c))[:SYSCALLS_SHOWN]
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.28 * len(names) * max(1, len(runs)) / 1.5))
    height = 0.8 / len(runs)
    y = np.arange(len(names))
    for i, r in enumerate(runs):
        color, _ = _style(i)
        values = [r.totals.syscalls.get(c, 0) for c in names]
        bars = ax.barh(y + i * height, values, height=height, color=color, label=r.backend)
        for bar, call in zip(bars, names):
            if r.totals.unsupported.get(call):
                bar.set_hatch("///")
                bar.set_edgecolor("black")
    ax.set_yticks(y + height * (len(runs) - 1) / 2)
    ax.set_yticklabels([f"{c} (unsupported)" if any(r.totals.unsupported.get(c) for r in runs)
                        else c for c in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("calls, all processes")
    shown = "" if len(totals) <= SYSCALLS_SHOWN else f" (the {SYSCALLS_SHOWN} most called)"
    ax.set_title(f"{name}: system calls by name{shown}")
    _legend(ax, fontsize=8)
    stem = f"program_{slug}_syscalls"
    _save(fig, out_dir, stem)
    unsupported = sorted({c for r in runs for c in r.totals.unsupported})
    return Figure(stem, f"{name}: system calls by name",
                  "Calls per name over all processes, one bar per backend (the same program "
                  "makes the same calls under both). Hatched: returned -ENOSYS, unsupported by "
                  "the kernel: " + (", ".join(unsupported) if unsupported else "none") + ".")
