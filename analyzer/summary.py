"""What a whole trace adds up to: records per type, losses, bytes, duration, and whether the
kernel's own totals (the trace_end record) agree with what actually arrived.

The trace_end record counts *records* (array parts separately) written before it, so the check
compares against framed records, not joined events. Any disagreement means the transport lost or
invented data even though every record on its own was well formed.
"""

import collections
from dataclasses import dataclass, field


@dataclass
class Summary:
    header: object
    file_bytes: int
    record_bytes: int = 0
    records: int = 0
    per_type: collections.Counter = field(default_factory=collections.Counter)  # name -> records
    lost: collections.Counter = field(default_factory=collections.Counter)  # reason -> events
    first_timestamp: int = None
    last_timestamp: int = None
    end: object = None  # the trace_end event, if the trace has one
    problems: list = field(default_factory=list)

    @property
    def duration_ticks(self):
        if self.first_timestamp is None:
            return 0
        return self.last_timestamp - self.first_timestamp

    @property
    def duration_seconds(self):
        """None when the header does not know the clock's frequency."""
        hz = self.header.clock_hz
        return self.duration_ticks / hz if hz else None


def summarize(reader):
    """Reads every record of a TraceReader (raising TraceError on bad framing) and checks the
    totals; disagreements are listed in Summary.problems."""
    fmt = reader.format
    summary = Summary(reader.header, len(reader.data))
    ids_seen = collections.Counter()
    loss_names = fmt.values["loss_reason"]
    for record in reader.records():
        name = fmt.events_by_id[record.type].name
        if name == "trace_end":
            summary.end = record.event
            _check_end(summary, ids_seen, record.event, fmt)
        summary.records += 1
        summary.record_bytes += record.length
        summary.per_type[name] += 1
        ids_seen[record.type] += 1
        if name == "loss":
            summary.lost[loss_names.get(record.event.reason, str(record.event.reason))] += \
                record.event.count
        if summary.first_timestamp is None:
            summary.first_timestamp = record.timestamp
        summary.last_timestamp = record.timestamp
    if summary.end is None:
        summary.problems.append("no trace_end record: the capture stopped before the kernel "
                                "finished tracing")
    return summary


def _check_end(summary, ids_seen, end, fmt):
    problems = summary.problems
    if end.records != summary.records:
        problems.append(f"kernel wrote {end.records} records before trace_end, "
                        f"{summary.records} arrived")
    if end.bytes != summary.record_bytes:
        problems.append(f"kernel wrote {end.bytes} record bytes before trace_end, "
                        f"{summary.record_bytes} arrived")
    for type_id, count in enumerate(item.count for item in end.items):
        if count != ids_seen.get(type_id, 0):
            name = fmt.events_by_id.get(type_id)
            problems.append(f"kernel wrote {count} {name.name if name else type_id} records, "
                            f"{ids_seen.get(type_id, 0)} arrived")
    for reason in fmt.values["loss_reason"].values():
        kernel_count = getattr(end, f"lost_{reason}")
        if kernel_count != summary.lost[reason]:
            problems.append(f"kernel lost {kernel_count} events ({reason}), loss records report "
                            f"{summary.lost[reason]}")
