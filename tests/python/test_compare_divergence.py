"""compare on two runs whose requests got different outcomes: that is a finding (exit 5) that
names the first such request and compares the identical requests before it; requests that differ
in what they ask are still refused as not the same workload (exit 3)."""

import subprocess
import sys

from analyzer.definitions.events import FORMAT

from conftest import REPO

START, MAP, UNMAP = 1, 6, 7  # trace/workload.def op codes
X, Y = 0x10000000, 0x10004000

# What every trace below begins with, so that it passes `check` (whose replay every command runs):
# the kernel's context 0, process 0's context 1 with its heap and anonymous regions (X and Y lie
# in region 1), and the workload's start of process 0 in context 1.
USER = FORMAT.value_numbers["MM_OWNER_USER"]  # the owner of a user region's pages
KERNEL = FORMAT.value_numbers["MM_OWNER_KERNEL_IMAGE"]  # any owner: the region maps nothing
PRELUDE = ['trace_emit_context_create(t, 0x1000ULL, 0);',
           'trace_emit_vmm_region(t, 0xffff800000000000ULL, 0x1000ULL, 0, 0, %d, "scratchpad");'
           % KERNEL,
           'trace_emit_context_create(t, 0x2000ULL, 1);',
           'trace_emit_vmm_region(t, 0x1000000ULL, 0x1000ULL, 1, 0, %d, "user-heap");' % USER,
           'trace_emit_vmm_region(t, 0x10000000ULL, 0x10000ULL, 1, 1, %d, "anonymous");' % USER,
           "trace_emit_replay_op(t, 0, 0, 0, 1, %d, 0);" % START]

COMMON = ["trace_emit_vmm_reserve(t, %#xULL, 4, 3, 1, 1, 0, 0, 0);" % X,
          "trace_emit_replay_op(t, %#xULL, 0x4000, 0, 1, %d, 0);" % (X, MAP)]
# op 1 maps 64 KiB: granted under pagetable; under list the reservation is made and given back
# because the pages ran out; op 2 then unmaps what one run has and the other has not.
GRANTED = ["trace_emit_vmm_reserve(t, %#xULL, 16, 5, 1, 1, 0, 0, 0);" % Y,
           "trace_emit_replay_op(t, %#xULL, 0x10000, 0, 1, %d, 0);" % (Y, MAP),
           "trace_emit_vmm_release(t, %#xULL, 16, 2, 1, 1, 0);" % Y,
           "trace_emit_replay_op(t, %#xULL, 0x10000, 0, 1, %d, 0);" % (Y, UNMAP)]
REFUSED = ["trace_emit_vmm_reserve(t, %#xULL, 16, 7, 1, 1, 0, 0, 0);" % Y,
           "trace_emit_vmm_release(t, %#xULL, 16, 2, 1, 1, 0);" % Y,
           "trace_emit_replay_op(t, %#xULL, 0x10000, 0, 1, %d, 1);" % (Y, MAP),
           "trace_emit_replay_op(t, %#xULL, 0x10000, 0, 1, %d, 5);" % (Y, UNMAP)]


def compare(tmp_path, data_a, data_b):
    a, b = tmp_path / "pagetable.pstrace", tmp_path / "list.pstrace"
    a.write_bytes(data_a)
    b.write_bytes(data_b)
    result = subprocess.run([sys.executable, "-m", "analyzer", "compare", str(a), str(b)],
                            cwd=REPO, capture_output=True, text=True)
    return result, a, b


def work_row(stdout, kind, backend):
    """(count, total) of the work table's row for kind under backend."""
    row = next(line.split() for line in stdout.splitlines()
               if line.split()[:2] == [kind, backend])
    return int(row[2]), int(row[-1])


def test_a_replay_op_refused_under_one_backend_is_a_divergence_not_damage(tmp_path, encode_trace):
    result, a, b = compare(tmp_path, encode_trace(PRELUDE + COMMON + GRANTED, backend=0),
                           encode_trace(PRELUDE + COMMON + REFUSED, backend=1))
    assert result.returncode == 5, result.stderr
    assert result.stderr == ""
    first = result.stdout.splitlines()[0]
    assert first == (f"diverged    workload op 2 (map of process 0 (0x10000 bytes at {Y:#x})) has a "
                     f"different outcome: done under pagetable (context 1) in {a}, refused under "
                     f"list (no-memory) in {b}")
    assert "identical before it: 1 vmm requests" in result.stdout
    # the figures cover op 0 only: one reservation of work 3 in each, no release
    assert work_row(result.stdout, "vmm_reserve", "pagetable") == (1, 3)
    assert work_row(result.stdout, "vmm_reserve", "list") == (1, 3)
    assert work_row(result.stdout, "vmm_release", "list") == (0, 0)


def test_a_reservation_refused_under_one_backend_is_a_divergence(tmp_path, encode_trace):
    granted = ["trace_emit_vmm_reserve(t, %#xULL, 4, 3, 1, 1, 0, 0, 0);" % X,
               "trace_emit_vmm_reserve(t, %#xULL, 8, 3, 1, 1, 2, 0, 0);" % Y]
    refused = ["trace_emit_vmm_reserve(t, %#xULL, 4, 3, 1, 1, 0, 0, 0);" % X,
               "trace_emit_vmm_reserve_fail(t, 8, 9, 1, 1, 2);"]
    result, a, b = compare(tmp_path, encode_trace(PRELUDE + granted, backend=0),
                           encode_trace(PRELUDE + refused, backend=1))
    assert result.returncode == 5, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"diverged    request 1 has a different outcome: {a} has vmm_reserve(context=1, region=1, "
        f"pages=8, align_log2=2, addr={Y:#x}), {b} has vmm_reserve_fail(context=1, region=1, "
        "pages=8, align_log2=2)")
    assert work_row(result.stdout, "vmm_reserve", "list") == (1, 3)
    assert work_row(result.stdout, "vmm_reserve_fail", "list") == (0, 0)


def test_requests_that_ask_different_things_are_still_refused(tmp_path, encode_trace):
    other = ["trace_emit_vmm_reserve(t, %#xULL, 3, 3, 1, 1, 0, 0, 0);" % X, COMMON[1]]
    result, a, b = compare(tmp_path, encode_trace(PRELUDE + COMMON + GRANTED, backend=0),
                           encode_trace(PRELUDE + other + REFUSED, backend=1))
    assert result.returncode == 3
    assert "request 0 differs" in result.stderr and "pages=3" in result.stderr


def test_different_workloads_are_refused_at_their_first_differing_op(tmp_path, encode_trace):
    other = COMMON[:1] + ["trace_emit_replay_op(t, %#xULL, 0x2000, 0, 1, %d, 0);" % (X, MAP)]
    result, a, b = compare(tmp_path, encode_trace(PRELUDE + COMMON + GRANTED, backend=0),
                           encode_trace(PRELUDE + other + GRANTED, backend=1))
    assert result.returncode == 3
    assert "workload op 1 differs" in result.stderr and "0x2000 bytes" in result.stderr


def test_identical_outcomes_exit_0(tmp_path, encode_trace):
    result, _, _ = compare(tmp_path, encode_trace(PRELUDE + COMMON + GRANTED, backend=0),
                           encode_trace(PRELUDE + COMMON + GRANTED, backend=1))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("requests    identical: 3 vmm requests")
    assert work_row(result.stdout, "vmm_release", "list") == (1, 2)
