"""The workload format, parsed at import time from trace/workload.def (the single definition the
kernel's C code includes), with the same parser as the trace format. Reads (validating every rule
of trace/WORKLOAD.md, first problem raised with its byte offset) and writes workload files.
"""

import collections

from dataclasses import dataclass
from pathlib import Path

from .events import (REPO_ROOT, FormatDefinitionError, Layout, _field_list, _integer, _macro_calls,
                     _string, _strip_comments)

WORKLOAD_DEF = REPO_ROOT / "trace" / "workload.def"


class WorkloadError(Exception):
    """A workload file breaks a rule; `offset` is the byte where the problem was found."""

    def __init__(self, message, offset):
        super().__init__(message)
        self.offset = offset

    def __str__(self):
        return f"{self.args[0]} (at byte {self.offset})"


@dataclass(frozen=True)
class OpType:
    name: str
    code: int
    doc: str
    fields: Layout
    record: type  # namedtuple: pid, then the fields


@dataclass(frozen=True)
class WorkloadFormat:
    constants: dict
    values: dict  # group -> {bit: name}
    header: Layout
    op_header: Layout
    ops_by_code: dict
    ops_by_name: dict


def parse_workload_format(text):
    constants, values, headers, ops = {}, {}, {}, []
    for macro, args in _macro_calls(_strip_comments(text), "workload.def"):
        where = f"workload.def: {macro}({args[0] if args else ''})"
        if macro == "WORKLOAD_CONSTANT" and len(args) == 3:
            constants[args[0]] = _integer(args[1], where)
        elif macro == "WORKLOAD_VALUE" and len(args) == 4:
            values.setdefault(args[0], {})[_integer(args[2], where)] = _string(args[3], where)
        elif macro in ("WORKLOAD_HEADER", "WORKLOAD_OP_HEADER") and len(args) == 1:
            headers[macro] = Layout.of(_field_list(args[0], where))
        elif macro == "WORKLOAD_OP" and len(args) == 4:
            layout = Layout.of(_field_list(args[3], where))
            record = collections.namedtuple(args[0], ("pid",) + layout.names)
            ops.append(OpType(args[0], _integer(args[1], where), _string(args[2], where), layout,
                              record))
        else:
            raise FormatDefinitionError(f"{where}: unknown macro or wrong argument count")
    for required in ("WORKLOAD_HEADER", "WORKLOAD_OP_HEADER"):
        if required not in headers:
            raise FormatDefinitionError(f"workload.def: {required} is missing")
    by_code, by_name = {}, {}
    for op in ops:
        if not 0 < op.code < 256 or op.code in by_code or op.name in by_name:
            raise FormatDefinitionError(f"workload.def: op {op.name}: bad or duplicate code/name")
        by_code[op.code] = by_name[op.name] = op
    return WorkloadFormat(constants, values, headers["WORKLOAD_HEADER"],
                          headers["WORKLOAD_OP_HEADER"], by_code, by_name)


WFORMAT = parse_workload_format(WORKLOAD_DEF.read_text())
C = WFORMAT.constants


def bits(group):
    """{name: bit} of a WORKLOAD_VALUE group."""
    return {name: bit for bit, name in WFORMAT.values[group].items()}


PROT = bits("prot")
MAP_FLAGS = bits("map_flags")


@dataclass
class Workload:
    name: str
    process_count: int
    ops: list  # op namedtuples (type(op).__name__ is the op name)

    def counts(self):
        """{(pid, op name): count}."""
        return collections.Counter((op.pid, type(op).__name__) for op in self.ops)


def encode(workload):
    """The bytes of a workload file (the writer does not validate: read() what you wrote)."""
    body = bytearray()
    for op in workload.ops:
        op_type = WFORMAT.ops_by_name[type(op).__name__]
        payload = op_type.fields.codec.pack(*op[1:])
        body += WFORMAT.op_header.codec.pack(op_type.code, 0,
                                             WFORMAT.op_header.size + len(payload), op.pid)
        body += payload
    name = workload.name.encode()[:C["WORKLOAD_MAX_NAME"]]
    header = WFORMAT.header.codec.pack(C["WORKLOAD_MAGIC"], C["WORKLOAD_FORMAT_VERSION"],
                                       WFORMAT.header.size + len(name), workload.process_count,
                                       len(workload.ops), len(body), len(name))
    return header + name + bytes(body)


def _range_ok(addr, length):
    page, limit = C["WORKLOAD_PAGE_SIZE"], C["WORKLOAD_ADDRESS_LIMIT"]
    return length > 0 and addr % page == 0 and length % page == 0 and addr + length <= limit


def decode(data):
    """Parses and validates a whole workload file; raises WorkloadError at the first problem."""
    h = WFORMAT.header
    if len(data) < h.size:
        raise WorkloadError(f"file of {len(data)} bytes is shorter than a workload header "
                            f"({h.size})", 0)
    f = dict(zip(h.names, h.codec.unpack_from(data, 0)))
    if f["magic"] != C["WORKLOAD_MAGIC"]:
        raise WorkloadError("bad magic: not a pagescope workload file", 0)
    if f["version"] != C["WORKLOAD_FORMAT_VERSION"]:
        raise WorkloadError(f"format version {f['version']}, this reader knows "
                            f"{C['WORKLOAD_FORMAT_VERSION']}", 8)
    if f["name_bytes"] > C["WORKLOAD_MAX_NAME"] or f["header_bytes"] != h.size + f["name_bytes"]:
        raise WorkloadError(f"header says {f['header_bytes']} bytes with a {f['name_bytes']}-byte "
                            "name", 10)
    if f["header_bytes"] > len(data):
        raise WorkloadError("file ends inside the header", len(data))
    if not 1 <= f["process_count"] <= C["WORKLOAD_MAX_PROCESSES"]:
        raise WorkloadError(f"{f['process_count']} processes (1 to {C['WORKLOAD_MAX_PROCESSES']} "
                            "allowed)", 12)
    held = len(data) - f["header_bytes"]
    if f["op_bytes"] != held:
        raise WorkloadError(f"header announces {f['op_bytes']} bytes of ops, the file holds "
                            f"{held}: {'truncated' if f['op_bytes'] > held else 'trailing bytes'}",
                            min(len(data), f["header_bytes"] + f["op_bytes"]))
    name = bytes(data[h.size:f["header_bytes"]]).decode("utf-8", "replace")
    state = ["unborn"] * f["process_count"]
    ops, at, oh = [], f["header_bytes"], WFORMAT.op_header
    while at < len(data):
        if len(data) - at < oh.size:
            raise WorkloadError(f"truncated op header ({len(data) - at} bytes left)", at)
        code, flags, length, pid = oh.codec.unpack_from(data, at)
        op_type = WFORMAT.ops_by_code.get(code)
        if op_type is None:
            raise WorkloadError(f"unknown op code {code}", at)
        if flags:
            raise WorkloadError(f"{op_type.name} op with reserved flags {flags:#x}", at)
        if length != oh.size + op_type.fields.size:
            raise WorkloadError(f"{op_type.name} op of {length} bytes, expected "
                                f"{oh.size + op_type.fields.size}", at)
        if length > len(data) - at:
            raise WorkloadError(f"truncated {op_type.name} op: {length} bytes announced, "
                                f"{len(data) - at} left", at)
        op = op_type.record(pid, *op_type.fields.codec.unpack_from(data, at + oh.size))
        _check_op(op, op_type.name, state, at)
        ops.append(op)
        at += length
    if len(ops) != f["op_count"]:
        raise WorkloadError(f"header announces {f['op_count']} ops, the file holds {len(ops)}", 16)
    return Workload(name, f["process_count"], ops)


def _check_op(op, name, state, at):
    if op.pid >= len(state):
        raise WorkloadError(f"{name} op for process {op.pid} of {len(state)}", at)
    if name == "start":
        if state[op.pid] != "unborn":
            raise WorkloadError(f"process {op.pid} starts twice", at)
        state[op.pid] = "live"
        return
    if state[op.pid] != "live":
        raise WorkloadError(f"{name} op for process {op.pid}, which "
                            f"{'has not started' if state[op.pid] == 'unborn' else 'has exited'}", at)
    prot_bits = sum(PROT.values())
    if name == "fork":
        if op.child >= len(state) or state[op.child] != "unborn":
            raise WorkloadError(f"process {op.pid} forks child {op.child}, which is not a new "
                                "process", at)
        state[op.child] = "live"
    elif name == "exit":
        state[op.pid] = "exited"
    elif name == "brk" and op.heap_bytes >= C["WORKLOAD_ADDRESS_LIMIT"]:
        raise WorkloadError(f"brk of {op.heap_bytes:#x} bytes", at)
    elif name == "map" and (not _range_ok(op.addr, op.length) or op.prot & ~prot_bits
                            or op.map_flags & ~sum(MAP_FLAGS.values())):
        raise WorkloadError(f"bad map [{op.addr:#x}, +{op.length:#x}) prot {op.prot:#x} "
                            f"flags {op.map_flags:#x}", at)
    elif name == "unmap" and not _range_ok(op.addr, op.length):
        raise WorkloadError(f"bad unmap [{op.addr:#x}, +{op.length:#x})", at)
    elif name == "protect" and (not _range_ok(op.addr, op.length) or op.prot & ~prot_bits):
        raise WorkloadError(f"bad protect [{op.addr:#x}, +{op.length:#x}) prot {op.prot:#x}", at)
    elif name == "remap" and not (_range_ok(op.old_addr, op.old_length)
                                  and _range_ok(op.new_addr, op.new_length)):
        raise WorkloadError(f"bad remap [{op.old_addr:#x}, +{op.old_length:#x}) -> "
                            f"[{op.new_addr:#x}, +{op.new_length:#x})", at)


def read(path):
    return decode(Path(path).read_bytes())


def op(name, pid, **fields):
    """Builds an op namedtuple by name, e.g. op("map", 0, addr=..., length=..., prot=3,
    map_flags=4)."""
    return WFORMAT.ops_by_name[name].record(pid, **fields)


