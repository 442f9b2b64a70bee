"""Every event of a trace, one per line with named fields, in stream order: JSON lines or CSV.

Array parts are joined (as `analyzer check` sees them); items are listed as JSON objects. In CSV
the columns are the union of the selected events' fields, empty where an event has no such
field."""

import csv
import json

from ..definitions.events import FORMAT
from ..metrics.frag import region_name
from ..reading.reader import FLAG_SET_FIELDS, named_value_groups

# Fields that hold an address (physical or virtual) or a return address: printed in hex.
ADDRESS_FIELDS = {"addr", "ptr", "phys", "virt", "object", "root", "base",
                  *(f"ip{i}" for i in range(FORMAT.constants.get("TRACE_SITE_DEPTH", 0)))}


def _presenters(event_name, field_names):
    """{field: function(value) -> what people read}: named values by name (a flag set as names
    joined by "|"), addresses in hex; other fields are left as numbers."""
    out = {}
    for name, allowed in named_value_groups(FORMAT, event_name, field_names).items():
        group = FORMAT.values.get(FLAG_SET_FIELDS.get(name)) if name in FLAG_SET_FIELDS else None
        if group is not None:
            out[name] = lambda v, g=group: "|".join(n for bit, n in sorted(g.items())
                                                    if v & bit) or "none"
        else:
            names = (FORMAT.values.get(name) or
                     FORMAT.values.get(f"{event_name}_{name}") or {})
            out[name] = lambda v, g=names: g.get(v, v)
    for name in field_names:
        if name in ADDRESS_FIELDS:
            out[name] = lambda v: f"{v:#x}"
    return out


def _present(event_name, names, values, raw):
    if raw:
        return list(values)
    shown = _presenters(event_name, names)
    out = [shown[n](v) if n in shown else v for n, v in zip(names, values)]
    if "region" in names and "context" in names:  # a region's name depends on its context
        fields = dict(zip(names, values))
        out[names.index("region")] = region_name(fields["context"], fields["region"])
    return out


def _rows(trace, types, raw=False):
    """(position, name, {field: value}) of every selected event, in stream order; named values
    by name and addresses in hex unless `raw`."""
    parts = []
    for name, a in trace.fixed.items():
        if types and name not in types:
            continue
        names = [n for n in a.dtype.names if n != "position"]
        columns = [a[n].tolist() for n in names]
        for position, values in zip(a["position"].tolist(), zip(*columns)):
            parts.append((position, name, names, _present(name, names, values, raw)))
    for e in trace.others:
        if types and e.name not in types:
            continue
        names = list(e.fields)
        fields = {"timestamp": e.timestamp, **dict(zip(names, _present(
            e.name, names, [int(v) for v in e.fields.values()], raw)))}
        if e.text is not None:
            fields["text"] = e.text
        if e.items is not None:
            item_names = list(e.items.dtype.names)
            fields["items"] = [dict(zip(item_names, _present(e.name, item_names,
                                                             [int(v) for v in item], raw)))
                               for item in e.items.tolist()]
        parts.append((e.position, e.name, list(fields), list(fields.values())))
    parts.sort(key=lambda p: p[0])
    return parts


def write_events(trace, out, fmt="jsonl", types=(), raw=False):
    unknown = [t for t in types if t not in FORMAT.events_by_name]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r} (known: "
                         f"{', '.join(sorted(FORMAT.events_by_name))})")
    seqs = trace.seqs()
    rows = _rows(trace, set(types), raw)
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

