"""The user processes of a trace as Perfetto tracks (called by perfetto.to_perfetto): per process
one track "pid N PROGRAM" holding a slice per system call (named by the call, category syscall)
and per page fault (named by its outcome, category page_fault), and instants where it starts,
exec's and exits; and two counter tracks per process, its resident and its reserved pages.

A slice ends at its event's timestamp (the kernel emits the event once the call or fault is
resolved) and begins `ticks` earlier, converted to ns with the header's clock. A slice never
begins before the previous slice of its track ended: in a kernel-made trace it cannot (the call
or fault entered after the previous event), so the clamp only matters for hand-made traces; the
exact ticks are kept as an annotation either way. Every slice is closed on the track it opened.
"""

import numpy as np

from ..definitions.events import FORMAT
from .perfetto_proto import pb
from ..definitions.syscalls import errno_of, syscall_name

OUTCOMES = FORMAT.values["fault_outcome"]
ACCESS = FORMAT.values["fault_access"]
START_KINDS = FORMAT.values["process_start_kind"]
EXIT_REASONS = FORMAT.values["process_exit_reason"]


def add_process_tracks(w, trace, time_of, sequence):
    """Adds the process tracks to `w` (perfetto._Writer); `time_of[position]` is a record's time
    in ns, `sequence` the packets' trusted_packet_sequence_id."""
    starts = trace.others_named("process_start")
    if not starts:
        return
    hz = trace.header.clock_hz
    ns_per_tick = 1e9 / hz if hz else 1.0
    names = {}
    items = []  # (position, kind, pid, data) in stream order
    for s in starts:
        names.setdefault(s.pid, f"pid {s.pid} {s.text}")
        items.append((s.position, "start", s.pid, s))
    for kind in ("syscall", "page_fault", "process_exit"):
        a = trace.of(kind)
        for row in a:
            items.append((int(row["position"]), kind, int(row["pid"]), row))
    items.sort(key=lambda item: item[0])
    tracks = {pid: w.track(name) for pid, name in names.items()}
    slice_end = {}
    for position, kind, pid, data in items:
        uuid = tracks.get(pid)
        if uuid is None:
            continue
        t = int(time_of[position])
        if kind == "start":
            how = START_KINDS.get(data.how, str(data.how))
            _instant(w, uuid, t, sequence, f"{how} {data.text}",
                     [("parent", "u", data.parent), ("context", "u", data.context)])
        elif kind == "process_exit":
            reason = EXIT_REASONS.get(int(data["reason"]), str(data["reason"]))
            status = int(data["status"])
            _instant(w, uuid, t, sequence, f"exit code {status >> 8}" if reason == "exit"
                     else f"{reason} (signal {status})", [("status", "u", status)])
        else:
            begin = max(t - int(round(int(data["ticks"]) * ns_per_tick)), slice_end.get(pid, 0))
            begin = min(begin, t)
            slice_end[pid] = t
            if kind == "syscall":
                errno = errno_of(int(data["result"]))
                name = syscall_name(int(data["number"]))
                notes = [("result", "i", int(data["result"]) - (1 << 64)) if errno else
                         ("result", "p", int(data["result"])), ("ticks", "u", int(data["ticks"]))]
                notes += [(f"arg{i}", "p", int(data[f"arg{i}"])) for i in range(6)]
                _slice(w, uuid, begin, t, sequence, name, "syscall", notes)
            else:
                outcome = OUTCOMES.get(int(data["outcome"]), str(data["outcome"]))
                notes = [("addr", "p", int(data["addr"])), ("rip", "p", int(data["rip"])),
                         ("access", "s", ACCESS.get(int(data["access"]), str(data["access"]))),
                         ("work", "u", int(data["work"])), ("ticks", "u", int(data["ticks"]))]
                _slice(w, uuid, begin, t, sequence, outcome, "page_fault", notes)
    resident = trace.of("process_resident")
    for pid, name in names.items():
        mine = resident[resident["pid"] == pid]
        if not len(mine):
            continue
        times = time_of[mine["position"]]
        w.counter(w.track(f"resident pages {name}", "pages"), times,
                  mine["resident_pages"].astype(np.int64))
        w.counter(w.track(f"reserved pages {name}", "pages"), times,
                  mine["reserved_pages"].astype(np.int64))


def _annotate(event, notes):
    for name, kind, value in notes:
        d = event.debug_annotations.add(name=name)
        if kind == "u":
            d.uint_value = value
        elif kind == "i":
            d.int_value = value
        elif kind == "p":
            d.pointer_value = value
        else:
            d.string_value = value


def _instant(w, uuid, t, sequence, name, notes):
    p = pb.TracePacket(timestamp=t, trusted_packet_sequence_id=sequence)
    e = p.track_event
    e.type, e.track_uuid, e.name = pb.TrackEvent.TYPE_INSTANT, uuid, name
    _annotate(e, notes)
    w.packet(p, t)


def _slice(w, uuid, begin, end, sequence, name, category, notes):
    p = pb.TracePacket(timestamp=begin, trusted_packet_sequence_id=sequence)
    e = p.track_event
    e.type, e.track_uuid, e.name = pb.TrackEvent.TYPE_SLICE_BEGIN, uuid, name
    e.categories.append(category)
    _annotate(e, notes)
    w.packet(p, begin)
    p = pb.TracePacket(timestamp=end, trusted_packet_sequence_id=sequence)
    p.track_event.type, p.track_event.track_uuid = pb.TrackEvent.TYPE_SLICE_END, uuid
    w.packet(p, end)
