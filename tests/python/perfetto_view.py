"""What Perfetto's trace processor would show of a .pftrace, on the points where a trace can be
valid protobuf and still mislead (not a copy of its code: its documented behaviour, checked
against ui.perfetto.dev by the issue's reporter):

  - a counter track's unit: the built-in `unit` when one is set (then `unit_name` is ignored),
    else `unit_name`;
  - the trace's identity: the `trace_uuid` packet when there is one, else a hash of the first
    4 KiB of the file (so two traces that begin alike are taken for the same trace);
  - each track's parent, and each counter track's values in order."""

import hashlib
from dataclasses import dataclass, field

from analyzer.export.perfetto_proto import pb


@dataclass
class Track:
    uuid: int
    name: str
    parent: int
    unit: str = None  # the unit Perfetto displays, for counter tracks
    values: list = field(default_factory=list)


def shown_unit(counter):
    if counter.unit:
        return pb.CounterDescriptor.Unit.Name(counter.unit)
    return counter.unit_name or None


def tracks(data):
    """{uuid: Track} of a serialized Trace."""
    out = {}
    for p in pb.Trace.FromString(data).packet:
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            out[d.uuid] = Track(d.uuid, d.name, d.parent_uuid,
                                shown_unit(d.counter) if d.HasField("counter") else None)
        elif p.HasField("track_event") and p.track_event.type == pb.TrackEvent.TYPE_COUNTER:
            e = p.track_event
            out[e.track_uuid].values.append(
                e.double_counter_value if e.HasField("double_counter_value") else e.counter_value)
    return out


def trace_identity(data):
    for p in pb.Trace.FromString(data).packet:
        if p.HasField("trace_uuid"):
            return ("uuid", p.trace_uuid.msb, p.trace_uuid.lsb)
    return ("first 4 KiB", hashlib.sha256(data[:4096]).hexdigest())
