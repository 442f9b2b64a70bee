"""The replay's plain lane (analyzer/checking/replay_lane.py) applies the common events without
Replay.feed: it must find exactly the problems Replay.feed finds, worded alike at the same
offsets, and leave exactly the same state behind. Each test replays the same BulkTrace twice,
once with the lane and once with every event handed to Replay.feed (lane=False), and compares."""

import importlib.util
import random
import struct

import numpy as np
import pytest

from analyzer.checking import replay_lane
from analyzer.checking.replay import Replay
from analyzer.definitions.events import FORMAT
from analyzer.metrics.ledgers import Ledgers
from analyzer.metrics.timeline import Recorder
from analyzer.reading.bulk import BulkTrace
from analyzer.reading.reader import TraceError
from conftest import REPO

SEED = 0x1A2E
# The kinds the lane applies, and the fields whose changes it must judge as Replay.feed does.
LANE_FIELDS = {"pmm_alloc": ("addr", "pages", "held", "zone", "align_log2", "owner", "chain"),
               "pmm_free": ("addr", "pages", "held", "zone", "owner"),
               "kmalloc": ("ptr", "requested", "given", "chain"),
               "kfree": ("ptr", "given"),
               "slab_alloc": ("object", "cache", "chain"),
               "slab_free": ("object", "cache"),
               "vmm_reserve": ("addr", "pages", "context", "region", "align_log2", "chain"),
               "vmm_release": ("addr", "pages", "context", "region"),
               "vmm_map": ("virt", "phys", "context", "page_size", "flags"),
               "vmm_unmap": ("virt", "phys", "context", "page_size", "flags")}
PAYLOAD_START = FORMAT.record_header.size


def _throughput_script():
    spec = importlib.util.spec_from_file_location(
        "analyzer_throughput", REPO / "benchmarks" / "analyzer_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replayed(path, lane):
    """(problems as (offset, text), Recorder's Timeline, Held, report counters) of one replay."""
    trace = BulkTrace.open(path)
    end = len(trace.data)

    def offset_of(seq):
        return int(trace.offsets[seq]) if 0 <= seq < len(trace.offsets) else end
    recorder, ledgers = Recorder(), Ledgers()
    checker = Replay(offset_of, recorder=recorder, ledgers=ledgers)
    replay_lane.run(checker, trace, lane=lane)
    report = checker.finish()
    problems = [(p.offset, p.text) for p in report.problems]
    counters = {k: v for k, v in vars(report).items() if k != "problems"}
    return problems, recorder.finish(), ledgers.finish(trace), counters


def _flat(value):
    """A Timeline or Held as nested lists and plain values, for ==."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _flat(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_flat(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _flat(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def assert_same(path):
    with_lane, without = replayed(path, True), replayed(path, False)
    assert with_lane[0] == without[0]  # the problems, in order, at the same offsets
    assert with_lane[3] == without[3]  # every counter of the report
    assert _flat(with_lane[1]) == _flat(without[1])  # every timeline
    assert _flat(with_lane[2]) == _flat(without[2])  # every ledger
    return with_lane[0]


def mutate(data, trace, rng):
    """The trace with one field of one lane-kind record set to a value that is often wrong:
    another record's value of that field, a neighbour of its own, or an extreme."""
    name = rng.choice([n for n in LANE_FIELDS if n in trace.fixed])
    rows = trace.fixed[name]
    row = rng.randrange(len(rows))
    event_type = FORMAT.events_by_name[name]
    field = rng.choice(LANE_FIELDS[name])
    index = event_type.fields.names.index(field)
    code = "<" + "".join(fmt for fmt in _formats(event_type))
    offset = int(trace.offsets[rows["position"][row]]) + PAYLOAD_START + \
        struct.calcsize(code[:index + 1])
    size = struct.calcsize("<" + _formats(event_type)[index])
    top = (1 << (8 * size)) - 1
    old = int(rows[field][row])
    new = rng.choice([int(rows[field][rng.randrange(len(rows))]), old + 1, max(old - 1, 0),
                      old + 4096, max(old - 4096, 0), 0, top, old ^ (1 << rng.randrange(8 * size))])
    out = bytearray(data)
    out[offset:offset + size] = (new & top).to_bytes(size, "little")
    return bytes(out)


def _formats(event_type):
    return list(event_type.fields.codec.format.lstrip("<"))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("lane") / "synthetic.pstrace"
    path.write_bytes(_throughput_script().make_trace(2000))
    return path


def test_the_lane_leaves_the_same_state_on_a_sound_trace(synthetic):
    assert assert_same(synthetic) == []


@pytest.fixture(scope="module")
def kernel(kernel_trace, tmp_path_factory):
    """A real boot's trace: slab objects, page tables, brk and a user context."""
    path = tmp_path_factory.mktemp("lane") / "kernel.pstrace"
    path.write_bytes(kernel_trace("trace=on vmm=pagetable test=vmm_brk"))
    return path


def test_a_kernel_trace_replays_alike_with_and_without_the_lane(kernel):
    assert assert_same(kernel) == []


def test_every_mutated_lane_field_is_judged_as_replay_feed_judges_it(synthetic, tmp_path):
    mutations_judged_alike(synthetic, tmp_path, 150)


def test_every_mutated_lane_field_of_a_kernel_trace_is_judged_alike(kernel, tmp_path):
    mutations_judged_alike(kernel, tmp_path, 60)


def mutations_judged_alike(original, tmp_path, count):
    rng = random.Random(SEED)
    data = original.read_bytes()
    trace = BulkTrace.open(original)
    path = tmp_path / "mutated.pstrace"
    found = replayed_clean = refused_by_reader = 0
    for _ in range(count):
        path.write_bytes(mutate(data, trace, rng))
        try:
            BulkTrace.open(path)
        except TraceError:
            refused_by_reader += 1
            continue
        if assert_same(path):
            found += 1
        else:
            replayed_clean += 1
    print(f"\nmutations: {found} with problems, {replayed_clean} clean, "
          f"{refused_by_reader} refused by the reader")
    assert found >= count // 2  # most mutations break a rule the lane must hand to Replay.feed
