"""Two traces of the same workload under the two VMM backends, side by side.

The traces must carry the same requests: every vmm_reserve, vmm_reserve_fail and vmm_release in
order, with its context, region, length and alignment, and every replayed workload op (replay_op)
with its process. What a request asks is its input; what it got (an address, a refusal, a replay
op's status) is its outcome. Both backends place by the same policy, so with enough memory the
outcomes are the same too.

- Inputs that differ mean the traces are not of the same workload, or one is damaged:
  RequestsDiffer, naming the first one (exit 3).
- Identical inputs with a different outcome are a finding, not damage: one backend ran out of
  memory (or placed differently) where the other did not, and from there on each run follows its
  own path. The first such request is the Divergence; everything before it is still identical and
  is what the figures compare (exit 5).

Then, per operation kind, the distribution of the work each backend did (entries or records
visited), and bookkeeping bytes over time (the kernel's own vmm_bookkeeping figures, after each
snapshot)."""

from dataclasses import dataclass

import numpy as np


ROWS_SHOWN = 24
REQUEST_EVENTS = ("vmm_reserve", "vmm_reserve_fail", "vmm_release")
REQUEST_FIELDS = {"vmm_reserve": ("context", "region", "pages", "align_log2", "addr"),
                  "vmm_reserve_fail": ("context", "region", "pages", "align_log2"),
                  "vmm_release": ("context", "region", "pages", "addr")}
# A request's input: its kind (a reservation, granted or refused, asks the same thing) and the
# fields that say what it asked; the rest of the request is its outcome.
REQUEST_KIND = {"vmm_reserve": "reserve", "vmm_reserve_fail": "reserve", "vmm_release": "release"}
INPUT_FIELDS = {"reserve": 4, "release": 4}  # leading fields of REQUEST_FIELDS that are input


class RequestsDiffer(Exception):
    """The traces do not carry the same requests; `path` and `offset` locate the difference."""

    def __init__(self, message, path, offset):
        super().__init__(message)
        self.path, self.offset = path, offset


@dataclass
class Divergence:
    """The first request both traces made with the same input and got a different outcome:
    `text` says which and how; `before` = (position in a, position in b) where the runs part,
    so events at lower positions are of the identical prefix; `identical` = requests before it."""
    text: str
    before: tuple
    identical: int


def requests(trace):
    """[(position, kind, fields tuple)] of the trace's VMM requests in stream order."""
    out = []
    for kind in REQUEST_EVENTS:
        a = trace.of(kind)
        columns = [a[f].tolist() for f in REQUEST_FIELDS[kind]]
        out.extend((p, kind, values) for p, values in zip(a["position"].tolist(), zip(*columns)))
    out.sort(key=lambda r: r[0])
    return out


def _replay_ops(trace):
    """[(position, (op, pid, addr, length), (status, context))] of the trace's replay_op events:
    what the workload file asked (addr and length are the program's), then what it got."""
    a = trace.of("replay_op")
    return list(zip(a["position"].tolist(),
                    zip(a["op"].tolist(), a["pid"].tolist(), a["addr"].tolist(),
                        a["length"].tolist()),
                    zip(a["status"].tolist(), a["context"].tolist())))


def _describe_op(op):
    code, pid, addr, length = op
    return f"{_op_name(code)} of process {pid} ({length:#x} bytes at {addr:#x})"


def _describe(request):
    _, kind, values = request
    return f"{kind}(" + ", ".join(f"{k}={v:#x}" if k == "addr" else f"{k}={v}" for k, v in
                                  zip(REQUEST_FIELDS[kind], values)) + ")"


def _request_input(request):
    _, kind, values = request
    return REQUEST_KIND[kind], values[:INPUT_FIELDS[REQUEST_KIND[kind]]]


def _op_name(code):
    from ..definitions.workload_format import WFORMAT
    op = WFORMAT.ops_by_code.get(code)
    return op.name if op else f"op {code}"


def _replay_divergence(a, b):
    """The first replay op with the same input and a different outcome, as a Divergence whose
    `before` is where that op began in each trace; None when every op's outcome is the same.
    RequestsDiffer when the op sequences themselves differ."""
    oa, ob = _replay_ops(a), _replay_ops(b)
    for n, (x, y) in enumerate(zip(oa, ob)):
        if x[1] != y[1]:
            raise RequestsDiffer(f"workload op {n} differs: {a.path} replays {_describe_op(x[1])}, "
                                 f"this trace {_describe_op(y[1])}", b.path, int(b.offsets[y[0]]))
        if x[2] != y[2]:
            starts = tuple(ops[n - 1][0] + 1 if n else 0 for ops in (oa, ob))
            return Divergence(
                f"workload op {n} ({_describe_op(x[1])}) has a different outcome: "
                f"{_outcome(a, x[2])} in {a.path}, {_outcome(b, y[2])} in {b.path}", starts, 0)
    if len(oa) != len(ob):
        longer, trace = (oa, a) if len(oa) > len(ob) else (ob, b)
        n = min(len(oa), len(ob))
        raise RequestsDiffer(f"{a.path} replays {len(oa)} workload ops, {b.path} {len(ob)}",
                             trace.path, int(trace.offsets[longer[n][0]]))
    return None


def _outcome(trace, outcome):
    status, context = outcome
    backend = trace.header.value_name("vmm_backend")
    if status == 0:
        return f"done under {backend} (context {context})"
    from ..definitions.events import FORMAT
    reason = FORMAT.values["replay_op_status"].get(status, f"status {status}")
    return f"refused under {backend} ({reason})"


def check_same_requests(a, b):
    """Number of identical requests, and the Divergence or None. RequestsDiffer when the inputs
    differ before any outcome does."""
    divergence = _replay_divergence(a, b)
    ra, rb = requests(a), requests(b)
    if divergence:
        ra = [r for r in ra if r[0] < divergence.before[0]]
        rb = [r for r in rb if r[0] < divergence.before[1]]
    for n, (x, y) in enumerate(zip(ra, rb)):
        if x[1:] == y[1:]:
            continue
        if _request_input(x) != _request_input(y):
            raise RequestsDiffer(f"request {n} differs: {a.path} has {_describe(x)}, this trace "
                                 f"has {_describe(y)}", b.path, int(b.offsets[y[0]]))
        return n, Divergence(f"request {n} has a different outcome: {a.path} has "
                             f"{_describe(x)}, {b.path} has {_describe(y)}", (x[0], y[0]), n)
    if len(ra) != len(rb):
        longer, trace = (ra, a) if len(ra) > len(rb) else (rb, b)
        n = min(len(ra), len(rb))
        raise RequestsDiffer(f"{a.path} has {len(ra)} requests, {b.path} has {len(rb)}; the first "
                             f"extra is {_describe(longer[n])}", trace.path,
                             int(trace.offsets[longer[n][0]]))
    if divergence:
        divergence.identical = len(ra)
    return len(ra), divergence


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


def work_stats(trace, kind, before=None):
    """The work distribution of one request kind; with `before`, of the events at stream
    positions below it only."""
    events = trace.of(kind)
    if before is not None:
        events = events[events["position"] < before]
    work = events["work"].astype(np.int64)
    if not len(work):
        return WorkStats(0, 0, 0, 0, 0, 0, 0, 0)
    p50, p90, p99 = np.percentile(work, [50, 90, 99])
    return WorkStats(len(work), int(work.min()), p50, p90, p99, int(work.max()),
                     float(work.mean()), int(work.sum()))


def bookkeeping_over_time(trace, before=None):
    """[(phase boundary label, bytes summed over the contexts of one snapshot round)]. A round is
    the run of vmm_bookkeeping events of one snapshot; it ends when a context repeats. With
    `before`, only the rounds at stream positions below it."""
    events = trace.of("vmm_bookkeeping")
    if before is not None:
        events = events[events["position"] < before]
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
    """Writes the comparison; returns the Divergence (the figures then cover the identical
    requests before it) or None. RequestsDiffer when the traces are not of the same workload."""
    n, divergence = check_same_requests(a, b)
    before = divergence.before if divergence else (None, None)
    names = [t.header.value_name("vmm_backend") for t in (a, b)]
    if divergence:
        out.write(f"diverged    {divergence.text}\n")
        out.write(f"requests    identical before it: {n} vmm requests in the same order with the "
                  "same addresses; every figure below covers only them\n")
    else:
        out.write(f"requests    identical: {n} vmm requests in the same order with the same "
                  "addresses\n")
    out.write(f"backends    A = {names[0]} ({a.path})\n            B = {names[1]} ({b.path})\n")
    out.write("\nwork (entries or records visited) per operation\n")
    out.write(f"  {'operation':<17} {'backend':<10} {'count':>7} {'min':>7} {'p50':>8} {'p90':>8} "
              f"{'p99':>8} {'max':>8} {'mean':>9} {'total':>10}\n")
    for kind in REQUEST_EVENTS:
        for name, t, limit in zip(names, (a, b), before):
            s = work_stats(t, kind, limit)
            out.write(f"  {kind:<17} {name:<10} {s.count:>7} {s.minimum:>7} {s.p50:>8.0f} "
                      f"{s.p90:>8.0f} {s.p99:>8.0f} {s.maximum:>8} {s.mean:>9.1f} {s.total:>10}\n")
    out.write("\nbookkeeping bytes over time (all contexts, after each snapshot round)\n")
    series = [bookkeeping_over_time(t, limit) for t, limit in zip((a, b), before)]
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
    return divergence
