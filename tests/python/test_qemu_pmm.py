"""The allocator lab in the real kernel under QEMU: scenario=all at 64 MiB under each of the four
allocators the issue names (regions, buddy, tlsf, firstfit) exits 0 with no errors and its trace
passes the replay `analyzer check` runs (which takes and returns each allocation's held pages); a
buddy trace holds exactly the power-of-two rounding of every request and the exact allocators
hold what was asked; compare of two allocators says where their requests first diverge; the
allocators section opens in a browser with every allocator in its table and every plot loaded.
Skipped only when QEMU is not installed."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from analyzer.reading.bulk import BulkTrace
from analyzer.definitions.events import FORMAT
from analyzer.reading.reader import TraceReader
from analyzer.checking.replay import check_replay
from analyzer.reading.summary import summarize

from conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                                reason="qemu-system-x86_64 is not installed")
ALLOCATORS = ["regions", "buddy", "tlsf", "firstfit"]  # the list, not the kernel's
MEM = "64M"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """{allocator: (status, log, trace path, pairs log path)}: scenario=all traced, and
    scenario=pmm-pairs with tracing off, under each allocator."""
    subprocess.run(["make", "-s", "kernel"], cwd=REPO, check=True)
    work = tmp_path_factory.mktemp("pmm")
    runs = {}
    for pmm in ALLOCATORS:
        trace, log, pairs = work / f"{pmm}.pstrace", work / f"{pmm}.log", work / f"{pmm}-pairs.log"
        base = [str(REPO / "scripts" / "qemu-run.sh"), "--elf", str(REPO / "build/pagescope.elf"),
                "--mem", MEM, "--timeout", "300"]
        status = subprocess.run(base + ["--args", f"trace=on pmm={pmm} scenario=all",
                                        "--serial-log", str(log), "--trace-out", str(trace)],
                                cwd=REPO, capture_output=True).returncode
        pairs_status = subprocess.run(base + ["--args", f"trace=off pmm={pmm} scenario=pmm-pairs",
                                              "--serial-log", str(pairs)],
                                      cwd=REPO, capture_output=True).returncode
        runs[pmm] = (status, log.read_text(errors="replace"), trace, pairs, pairs_status)
    return runs


def events_of(path):
    return list(TraceReader.open(path).events())


@pytest.mark.parametrize("pmm", ALLOCATORS)
def test_scenario_all_runs_clean_under_every_allocator(lab, pmm):
    status, log, trace, _, _ = lab[pmm]
    assert status == 0, log[-3000:]
    assert f"pmm: {pmm}: " in log
    assert re.search(r"scenario all: \d+ requests, \d+ refused .*, 0 errors", log), log[-3000:]
    assert f" pmm={pmm} " in BulkTrace.open(trace).header.cmdline + " "
    summary = summarize(TraceReader.open(trace))
    assert summary.problems == [] and sum(summary.lost.values()) == 0
    report = check_replay(events_of(trace))  # what `analyzer check` runs
    assert report.problems == [] and report.snapshots_checked > 0


def _allocations_after_boot(trace):
    """pmm_alloc events after the first pmm snapshot (the workload's, not boot reservations)."""
    bulk = BulkTrace.open(trace)
    first = min(e.position for e in bulk.others_named("pmm_snapshot"))
    allocs = bulk.of("pmm_alloc")
    return allocs[allocs["position"] > first]


def test_buddy_holds_the_power_of_two_rounding_of_every_request(lab):
    allocs = _allocations_after_boot(lab["buddy"][2])
    assert len(allocs) > 1000
    wanted = [max(int(p), 1 << int(a)) for p, a in zip(allocs["pages"], allocs["align_log2"])]
    rounded = [1 << (w - 1).bit_length() for w in wanted]
    assert allocs["held"].tolist() == rounded
    assert sum(h > p for h, p in zip(allocs["held"], allocs["pages"])) > 100  # rounding happened


@pytest.mark.parametrize("pmm", ["regions", "tlsf", "firstfit"])
def test_exact_allocators_hold_what_was_asked(lab, pmm):
    allocs = _allocations_after_boot(lab[pmm][2])
    assert len(allocs) > 1000
    assert (allocs["held"] == allocs["pages"]).all()


def test_compare_names_where_two_allocators_first_diverge(lab):
    cli = subprocess.run([sys.executable, "-m", "analyzer", "compare", str(lab["regions"][2]),
                          str(lab["buddy"][2])], cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("allocators  regions (")
    assert " and buddy (" in cli.stdout.splitlines()[0]
    # buddy refuses what regions serves (nothing above 2^10 pages), so the sequences diverge,
    # and the point is named in both traces
    match = re.search(r"identical up to request (\d+); there they diverge:\n  regions +(.*)\n"
                      r"  buddy +(.*)\n", cli.stdout)
    assert match, cli.stdout
    assert int(match.group(1)) > 100
    assert ": ok at record" in match.group(2) and ": refused at record" in match.group(3)


def test_allocators_section_shows_every_allocator_in_a_browser(lab, tmp_path):
    for pmm in ALLOCATORS:
        assert lab[pmm][4] == 0, lab[pmm][3].read_text(errors="replace")[-2000:]
    out = tmp_path / "section"
    cli = subprocess.run([sys.executable, "-m", "analyzer", "allocators",
                          *[str(lab[p][2]) for p in ALLOCATORS],
                          *[a for p in ALLOCATORS for a in ("--pairs", str(lab[p][3]))],
                          "-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    page = (out / "pmm.html").read_text()
    assert "http://" not in page and "https://" not in page
    from test_report_browser import PROBE, chromium
    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    result = chromium("--dump-dom", "--virtual-time-budget=10000", probe.as_uri())
    match = re.search(r"<title>IMAGES=(.*?)</title>", result.stdout)
    assert match, result.stdout[:2000] + result.stderr[-2000:]
    images = json.loads(match.group(1).replace("&quot;", '"'))
    names = [src for src, _, _ in images]
    for plot in ("pmm_unusable_index", "pmm_largest_free", "pmm_fragment_largest",
                 "pmm_failures", "pmm_waste_metadata", "pmm_pair_instructions"):
        assert f"{plot}.png" in names
    assert [src for src, w, h in images if w == 0 or h == 0] == []
    # the ranking table, as the browser shows it: a header and one row per allocator, each with
    # a measured pair median (not "n/a") and its fragment result
    dom = result.stdout
    ranking = dom.split("<table>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", ranking)
    assert sorted(r for r, _ in rows) == sorted(ALLOCATORS)
    assert all("n/a" not in cells for _, cells in rows), rows
    details = dom.split("<table>", 2)[2]
    for pmm in ALLOCATORS:
        held = lab[pmm][2]
        allocs = BulkTrace.open(held).of("pmm_alloc")
        beyond = int((allocs["held"].astype(int) - allocs["pages"].astype(int)).sum())
        assert re.search(rf"<td>{pmm}</td>.*?<td>{beyond:,} / ", details), pmm
