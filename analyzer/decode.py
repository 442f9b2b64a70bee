"""Every event of a trace, one per line with named fields, in stream order: JSON lines or CSV.

Array parts are joined (as `analyzer check` sees them); items are listed as JSON objects. In CSV
the columns are the union of the selected events' fields, empty where an event has no such
field."""

import csv
import json

from .events import FORMAT


def _rows(trace, types):
    """(position, name, {field: value}) of every selected event, in stream order."""
    parts = []
    for name, a in trace.fixed.items():
        if types and name not in types:
            continue
        names = [n for n in a.dtype.names if n != "position"]
        columns = [a[n].tolist() for n in names]
        for position, values in zip(a["position"].tolist(), zip(*columns)):
            parts.append((position, name, names, values))
    for e in trace.others:
        if types and e.name not in types:
            continue
        fields = {"timestamp": e.timestamp, **{k: int(v) for k, v in e.fields.items()}}
        if e.text is not None:
            fields["text"] = e.text
        if e.items is not None:
            fields["items"] = [{k: int(v) for k, v in zip(e.items.dtype.names, item)}
                               for item in e.items.tolist()]
        parts.append((e.position, e.name, list(fields), list(fields.values())))
    parts.sort(key=lambda p: p[0])
    return parts


def write_events(trace, out, fmt="jsonl", types=()):
    unknown = [t for t in types if t not in FORMAT.events_by_name]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r} (known: "
                         f"{', '.join(sorted(FORMAT.events_by_name))})")
    seqs = trace.headers["seq"]
    rows = _rows(trace, set(types))
    if fmt == "jsonl":
        for position, name, names, values in rows:
            record = {"event": name, "seq": int(seqs[position])}
            record.update(zip(names, values))
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        return
    columns = []
    for event in (FORMAT.events_by_name[t] for t in (types or [e.name for e in sorted(
            FORMAT.events_by_id.values(), key=lambda e: e.id)])):
        extra = {"string": ["text"], "array": ["items"]}.get(event.kind, [])
        for n in ["timestamp", *event.fields.names, *extra]:
            if n not in columns:
                columns.append(n)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["event", "seq", *columns])
    index = {n: i for i, n in enumerate(columns)}
    for position, name, names, values in rows:
        row = [""] * len(columns)
        for n, v in zip(names, values):
            row[index[n]] = json.dumps(v, separators=(",", ":")) if n == "items" else v
        writer.writerow([name, int(seqs[position]), *row])

