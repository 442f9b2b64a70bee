"""Two traces of the same workload under the two VMM backends, side by side.

First the request sequences must be identical: every vmm_reserve, vmm_reserve_fail and
vmm_release in order, with its context, region, length and alignment, and the address each
reservation got and each release names (both backends place by the same policy, so a different
address is a real difference). Then, per operation kind, the distribution of the work each
backend did (entries or records visited), and bookkeeping bytes over time (the kernel's own
vmm_bookkeeping figures, after each snapshot)."""

from dataclasses import dataclass

import numpy as np


ROWS_SHOWN = 24
REQUEST_EVENTS = ("vmm_reserve", "vmm_reserve_fail", "vmm_release")
REQUEST_FIELDS = {"vmm_reserve": ("context", "region", "pages", "align_log2", "addr"),
                  "vmm_reserve_fail": ("context", "region", "pages", "align_log2"),
                  "vmm_release": ("context", "region", "pages", "addr")}


class RequestsDiffer(Exception):
    """The traces do not carry the same requests; `path` and `offset` locate the difference."""

    def __init__(self, message, path, offset):
        super().__init__(message)
        self.path, self.offset = path, offset


def requests(trace):
    """[(position, kind, fields tuple)] of the trace's VMM requests in stream order."""
    out = []
    for kind in REQUEST_EVENTS:
        a = trace.of(kind)
        columns = [a[f].tolist() for f in REQUEST_FIELDS[kind]]
        out.extend((p, kind, values) for p, values in zip(a["position"].tolist(), zip(*columns)))
    out.sort(key=lambda r: r[0])
    return out


def _describe(request):
    _, kind, values = request
    return f"{kind}(" + ", ".join(f"{k}={v:#x}" if k == "addr" else f"{k}={v}" for k, v in
                                  zip(REQUEST_FIELDS[kind], values)) + ")"


def check_same_requests(a, b):
    ra, rb = requests(a), requests(b)
    for n, (x, y) in enumerate(zip(ra, rb)):
        if x[1:] != y[1:]:
            raise RequestsDiffer(f"request {n} differs: {a.path} has {_describe(x)}, this trace "
                                 f"has {_describe(y)}", b.path, int(b.offsets[y[0]]))
    if len(ra) != len(rb):
        longer, trace = (ra, a) if len(ra) > len(rb) else (rb, b)
        n = min(len(ra), len(rb))
        raise RequestsDiffer(f"{a.path} has {len(ra)} requests, {b.path} has {len(rb)}; the first "
                             f"extra is {_describe(longer[n])}", trace.path,
                             int(trace.offsets[longer[n][0]]))
    return len(ra)


@dataclass
class WorkStats:
    count: int
    minimum: int
    p50: float
    p90: float
    p99: float
    maximum: int
    mean: float
    total: int


def work_stats(trace, kind):
    work = trace.of(kind)["work"].astype(np.int64)
    if not len(work):
        return WorkStats(0, 0, 0, 0, 0, 0, 0, 0)
    p50, p90, p99 = np.percentile(work, [50, 90, 99])
    return WorkStats(len(work), int(work.min()), p50, p90, p99, int(work.max()),
                     float(work.mean()), int(work.sum()))


def bookkeeping_over_time(trace):
    """[(phase boundary label, bytes summed over the contexts of one snapshot round)]. A round is
    the run of vmm_bookkeeping events of one snapshot; it ends when a context repeats."""
    events = trace.of("vmm_bookkeeping")
    phases = trace.others_named("phase_begin", "phase_end")
    phase_pos = np.array([e.position for e in phases], dtype=np.int64)
    rounds, current = [], {}
    last_position = None

    def close():
        k = int(np.searchsorted(phase_pos, last_position)) - 1
        label = f"{phases[k].name.split('_')[1]} {phases[k].text}" if k >= 0 else ""
        rounds.append((label, sum(current.values())))

    for position, context, value in zip(events["position"].tolist(), events["context"].tolist(),
                                        events["bytes"].tolist()):
        if context in current:
            close()
            current = {}
        current[context] = value
        last_position = position
    if current:
        close()
    return rounds


def write_comparison(a, b, out):
    n = check_same_requests(a, b)
    names = [t.header.value_name("vmm_backend") for t in (a, b)]
    out.write(f"requests    identical: {n} vmm requests in the same order with the same "
              "addresses\n")
    out.write(f"backends    A = {names[0]} ({a.path})\n            B = {names[1]} ({b.path})\n")
    out.write("\nwork (entries or records visited) per operation\n")
    out.write(f"  {'operation':<17} {'backend':<10} {'count':>7} {'min':>7} {'p50':>8} {'p90':>8} "
              f"{'p99':>8} {'max':>8} {'mean':>9} {'total':>10}\n")
    for kind in REQUEST_EVENTS:
        for name, t in zip(names, (a, b)):
            s = work_stats(t, kind)
            out.write(f"  {kind:<17} {name:<10} {s.count:>7} {s.minimum:>7} {s.p50:>8.0f} "
                      f"{s.p90:>8.0f} {s.p99:>8.0f} {s.maximum:>8} {s.mean:>9.1f} {s.total:>10}\n")
    out.write("\nbookkeeping bytes over time (all contexts, after each snapshot round)\n")
    series = [bookkeeping_over_time(t) for t in (a, b)]
    out.write(f"  {'#':>4} {'phase boundary':<40} {names[0]:>14} {names[1]:>14}\n")
    rows = max(len(s) for s in series)
    shown = sorted(set(np.linspace(0, rows - 1, min(rows, ROWS_SHOWN)).round().astype(int).tolist()))
    if len(shown) < rows:
        out.write(f"  ({len(shown)} of {rows} rounds shown, evenly spaced)\n")
    for i in shown:
        label = next((s[i][0] for s in series if i < len(s)), "")
        va = f"{series[0][i][1]}" if i < len(series[0]) else "-"
        vb = f"{series[1][i][1]}" if i < len(series[1]) else "-"
        out.write(f"  {i:>4} {label[:40]:<40} {va:>14} {vb:>14}\n")

