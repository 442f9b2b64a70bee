"""What a whole trace adds up to: records per type, losses, bytes, duration, and whether the
kernel's own totals (the trace_end record) agree with what actually arrived.

The trace_end record counts *records* (array parts separately) written before it, so the check
compares against framed records, not joined events. Any disagreement means the transport lost or
invented data even though every record on its own was well formed.
"""

import collections
from dataclasses import dataclass, field


class Problem(str):
    """One inconsistency, at the byte offset of the record that shows it: the text
    `offset N: what`, with `offset` and `text` kept apart (a str, so lists of them join)."""

    def __new__(cls, offset, text):
        problem = super().__new__(cls, f"offset {offset}: {text}")
        problem.offset, problem.text = offset, text
        return problem

    def at(self, offset):
        """The same problem placed at `offset`."""
        return Problem(offset, self.text)


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
    problems: list = field(default_factory=list)  # Problem, in stream order

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


def scenario_phases_problem(cmdline, phases):
    """Why the phases a trace opened (their names) contradict the scenario its header's command
    line names, or None. Every scenario S opens a phase named S and names its stages "S:stage"
    (kernel/workload/scenario.c; `all` opens one such phase per member), so a command line edited
    to another scenario, or to none, disagrees with them."""
    scenario = next((w.partition("=")[2] for w in cmdline.split() if w.startswith("scenario=")),
                    "none")
    if scenario != "none" and scenario not in phases:
        return (f"the header's command line runs scenario={scenario}, but the trace has no "
                f"phase {scenario!r} (its phases: {', '.join(sorted(phases)[:6]) or 'none'})")
    stage = next((p for p in sorted(phases) if ":" in p), None)
    if scenario == "none" and stage is not None:
        return (f"the header's command line runs no scenario, but the trace has the scenario "
                f"stage {stage!r}")
    return None


class SummaryBuilder:
    """Adds up records one at a time (`add`, e.g. as TraceReader.events' on_record), so a single
    pass over the file can also feed a replay. `finish()` returns the Summary."""

    def __init__(self, reader):
        fmt = reader.format
        self.format = fmt
        self.summary = Summary(reader.header, len(reader.data))
        self.ids_seen = collections.Counter()
        self.loss_names = fmt.values["loss_reason"]
        self.names = {i: e.name for i, e in fmt.events_by_id.items()}
        self.end_id = fmt.events_by_name["trace_end"].id
        self.loss_id = fmt.events_by_name["loss"].id
        self.lossless = fmt.values["trace_mode"][reader.header.trace_mode] == "lossless"
        self.phase_id = fmt.events_by_name["phase_begin"].id
        self.phases = set()

    def add(self, record):
        s = self.summary
        if record.type == self.end_id:
            s.end = record.event
            self._check_end(record)
        elif record.type == self.loss_id:
            reason = self.loss_names[record.event.reason]
            s.lost[reason] += record.event.count
            if reason == "ring_full" and self.lossless:
                s.problems.append(Problem(record.offset, "a lossless trace reports events "
                                          "dropped because the ring was full"))
        elif record.type == self.phase_id:
            self.phases.add(record.event.text)
        s.records += 1
        s.record_bytes += record.length
        self.ids_seen[record.type] += 1
        if s.first_timestamp is None:
            s.first_timestamp = record.timestamp
        s.last_timestamp = record.timestamp

    def finish(self):
        s = self.summary
        for type_id, count in self.ids_seen.items():
            s.per_type[self.names[type_id]] = count
        if s.end is None:
            s.problems.append(Problem(s.file_bytes, "no trace_end record: the capture stopped "
                                      "before the kernel finished tracing"))
        else:
            contradiction = scenario_phases_problem(s.header.cmdline, self.phases)
            if contradiction:
                s.problems.append(Problem(self.format.stream_header.size, contradiction))
        return s

    def _check_end(self, record):
        s, end, fmt = self.summary, record.event, self.format
        def problem(text):
            s.problems.append(Problem(record.offset, text))
        if end.records != s.records:
            problem(f"kernel wrote {end.records} records before trace_end, {s.records} arrived")
        if end.bytes != s.record_bytes:
            problem(f"kernel wrote {end.bytes} record bytes before trace_end, "
                    f"{s.record_bytes} arrived")
        if len(end.items) != s.header.max_event_id + 1:
            problem(f"trace_end counts {len(end.items)} event types, the header's max_event_id "
                    f"is {s.header.max_event_id}")
        for type_id, count in enumerate(item.count for item in end.items):
            if count != self.ids_seen.get(type_id, 0):
                name = self.names.get(type_id, str(type_id))
                problem(f"kernel wrote {count} {name} records, "
                        f"{self.ids_seen.get(type_id, 0)} arrived")
        for reason in fmt.values["loss_reason"].values():
            kernel_count = getattr(end, f"lost_{reason}")
            if kernel_count != s.lost[reason]:
                problem(f"kernel lost {kernel_count} events ({reason}), loss records report "
                        f"{s.lost[reason]}")


def summarize(reader):
    """Reads every record of a TraceReader (raising TraceError on bad framing) and checks the
    totals; disagreements are listed in Summary.problems."""
    builder = SummaryBuilder(reader)
    for record in reader.records():
        builder.add(record)
    return builder.finish()
