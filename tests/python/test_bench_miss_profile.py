"""Why a missed target is missed (benchmarks/run_bench.py, benchmarks/callgrind_split.py): the
worst row's instructions split by source file and function from the two callgrind dumps its figure
came from. The split sums to the figure; its top entry is the one this test finds by reading
callgrind_annotate's own listing of dumps it made itself; a met target prints no profile, a guest
target says that none is available; and `--vmm-only` prints a profile exactly for the targets its
table says are not met, each summing to its row's figure in the same file."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location("run_bench", REPO / "benchmarks" / "run_bench.py")
run_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_bench)
callgrind_split = run_bench.callgrind_split

LONG, SHORT = 300, 100  # bench_contiguous's loop lengths with --quick
ROW = "churn|37|pagescope"


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    """This test's own callgrind run of one bench_contiguous layout: {label: dump path}."""
    built = subprocess.run(["make", "--no-print-directory", "build/bench/bench_contiguous"],
                           cwd=REPO, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    out = tmp_path_factory.mktemp("cg") / "cg.out"
    subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={out}", str(REPO / "build" / "bench" / "bench_contiguous"),
                    "--mode", "count", "--quick", "--layout", "churn", "--allocators", "pagescope"],
                   cwd=REPO, capture_output=True, text=True, timeout=600, check=True)
    found = {}
    for path in out.parent.glob("cg.out.*"):
        label = re.search(r"^desc: Trigger: Client Request: (\S+)$", path.read_text(), re.M)
        if label:
            found[label.group(1)] = str(path)
    assert f"{ROW}|{LONG}" in found and f"{ROW}|{SHORT}" in found, sorted(found)
    return found


def total_of(path):
    return int(re.search(r"^totals: (\d+)", open(path).read(), re.M).group(1))


def annotated(path):
    """callgrind_annotate's function listing read here: {(file relative to REPO, function): Ir}."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True,
                          text=True, check=True).stdout
    listing = text.split("file:function", 1)[1]
    entries = {}
    for line in listing.splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+?):(\S+)", line)
        if m:
            # callgrind names a file as the compiler was given it: absolute or ./relative
            source = os.path.normpath(m.group(2).replace(str(REPO) + "/", ""))
            key = (source, m.group(3))
            entries[key] = entries.get(key, 0) + int(m.group(1).replace(",", ""))
    return entries


def row_dumps(found):
    return callgrind_split.Dumps(found[f"{ROW}|{LONG}"], found[f"{ROW}|{SHORT}"],
                                 f"{ROW}|{LONG}", f"{ROW}|{SHORT}", LONG - SHORT,
                                 ["build/bench/bench_contiguous", "--mode", "count", "--quick"])


def test_split_sums_to_the_rows_figure(dumps):
    split, figure = callgrind_split.per_step(row_dumps(dumps), str(REPO))
    expected = (total_of(dumps[f"{ROW}|{LONG}"]) - total_of(dumps[f"{ROW}|{SHORT}"])) / (LONG - SHORT)
    assert figure == expected
    assert abs(sum(split.values()) - expected) < 1e-6
    shown = callgrind_split.top(split, 5)
    assert len(shown) == 6 and shown[-1][0] == callgrind_split.OTHER
    assert abs(sum(n for _, n in shown) - expected) < 1e-6


def test_top_entry_agrees_with_callgrind_annotate_read_here(dumps):
    long, short = annotated(dumps[f"{ROW}|{LONG}"]), annotated(dumps[f"{ROW}|{SHORT}"])
    diff = {k: (long.get(k, 0) - short.get(k, 0)) / (LONG - SHORT) for k in set(long) | set(short)}
    mine = max(diff.items(), key=lambda kv: kv[1])
    split, _ = callgrind_split.per_step(row_dumps(dumps), str(REPO))
    (key, n), *_ = callgrind_split.top(split, 3)
    assert key == mine[0] and n == mine[1]
    assert key[0].startswith("kernel/"), key  # the allocator, not the loop, tops a churn pair


def target(verdict, worst, beside=None):
    return run_bench.Target("a made-up target", "whatever", verdict, "a fixed sentence.", worst, beside)


def pmm_row(found, figure):
    return {"allocator": "pagescope", "layout": "churn", "size_pages": "37", "align_pages": "1",
            "instructions_per_pair": f"{figure:.1f}", "dumps": row_dumps(found)}


def tables(lines):
    """Each markdown table of a profile: ([instructions of each entry], the bold total)."""
    out, current = [], None
    for line in lines:
        m = re.match(r"^\| (\*\*)?(-?[\d,]+\.\d)(\*\*)? \| ", line)
        if m and m.group(1):
            out.append((current, float(m.group(2).replace(",", ""))))
            current = None
        elif m:
            current = (current or []) + [float(m.group(2).replace(",", ""))]
    return out


def test_met_target_prints_no_profile_and_a_missed_one_sums_to_its_figure(dumps):
    figure = (total_of(dumps[f"{ROW}|{LONG}"]) - total_of(dumps[f"{ROW}|{SHORT}"])) / (LONG - SHORT)
    gone = callgrind_split.Dumps("/nonexistent/a", "/nonexistent/b", "a", "b", 1, ["x"])
    met = target("met", {**pmm_row(dumps, figure), "dumps": gone})
    assert run_bench.miss_lines([met], "abc1234") == []  # not even read: its dumps do not exist
    missed = target("not met", pmm_row(dumps, figure))
    lines = run_bench.miss_lines([met, missed], "abc1234")
    text = "\n".join(lines)
    assert text.count("#### ") == 1 and "#### a made-up target" in text
    assert "commit `abc1234`" in text and "build/bench/bench_contiguous --mode count --quick" in text
    assert f"`{ROW}|{LONG}`" in text and f"`{ROW}|{SHORT}`" in text
    found = tables(lines)
    assert len(found) == 2  # by file, by function in file
    for entries, total in found:
        assert total == round(figure, 1)
        # each entry is rounded to a tenth
        assert abs(sum(entries) - figure) <= 0.05 * len(entries) + 1e-9, (entries, figure)


def test_guest_targets_say_no_profile_is_available():
    for sentence in (run_bench.GUEST_PMM_NO_PROFILE, run_bench.GUEST_EVENT_NO_PROFILE):
        guest = run_bench.Target("a guest target", "712 .. 1,203", "not met", sentence, None, None)
        text = "\n".join(run_bench.miss_lines([guest], "abc1234"))
        assert "No profile" in text and "guest-tracing.csv" in text
        assert "| instructions |" not in text
    assert "build/bench/bench_contiguous --mode count" in run_bench.GUEST_PMM_NO_PROFILE
    for sentence in [run_bench.GUEST_PMM_NO_PROFILE, run_bench.GUEST_EVENT_NO_PROFILE,
                     *run_bench.MECHANISMS.values()]:
        assert not re.search(r"\d", sentence.replace("TCG", "")), sentence  # figures: the run's only


def test_first_fit_target_missed_on_too_few_extents_is_not_profiled():
    def row(allocator, figure, size="37"):
        return {"allocator": allocator, "layout": "mixed-holes", "size_pages": size, "align_pages": "1",
                "instructions_per_pair": str(figure), "free_extents": "10001", "wasted_pages": "0",
                "failed_allocs": "0"}
    contiguous = [row("pagescope", 100), row("tlsf", 200), row("buddy", 50), row("first-fit", 5000)]
    (first_fit,) = run_bench.first_fit_target(contiguous)
    assert first_fit.verdict == "not met" and first_fit.worst is None  # 50x ahead, 10,001 extents
    for r in contiguous:
        r["free_extents"] = "100001"
    (first_fit,) = run_bench.first_fit_target(contiguous)
    assert first_fit.verdict == "met"
    contiguous[3]["instructions_per_pair"] = "999"  # 9.99x
    (first_fit,) = run_bench.first_fit_target(contiguous)
    assert first_fit.verdict == "not met" and first_fit.worst is contiguous[0]


@pytest.fixture(scope="module")
def vmm_markdown(tmp_path_factory):
    # run_bench's -only modes build their program themselves (build_bench).
    path = tmp_path_factory.mktemp("vmm") / "vmm.md"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run_bench.py"),
                           "--vmm-only", str(path), "--quick"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return path.read_text()


def test_vmm_only_profiles_exactly_the_missed_targets_with_their_rows_figures(vmm_markdown):
    judged = re.findall(r"^\| (VMM [^|]+?) \| [^|]+ \| \*\*(met|not met)\*\* \|$", vmm_markdown, re.M)
    assert judged, vmm_markdown
    parts = re.split(r"^#### (.+)$", vmm_markdown, flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2]))
    assert set(sections) == {name for name, verdict in judged if verdict == "not met"}
    table = {}  # (operation, size @ align, layout) -> {backend: instructions, as the table shows}
    for m in re.finditer(r"^\| ([a-z-]+) \| (\d+ @ \d+) \| ([a-z-]+)(?: \(best case\))? \| "
                         r"(.+?) \| (.+?) \| (.+?) \| (.+?) \|", vmm_markdown, re.M):
        cells = [c.split(" (")[0].replace(",", "") for c in m.groups()[3:]]
        table[m.groups()[:3]] = {b: float(c) for b, c in
                                 zip(("pagetable", "list", "list-backend", "vmem-peer"), cells) if c != "-"}
    for name, body in sections.items():
        row = re.search(r"furthest from the target: ([a-z-]+), ([a-z-]+), ([a-z-]+) (\d+ @ \d+), "
                        r"[\d,]+ mapped pages, ([\d,.]+) instructions per step", body)
        assert row, body
        backend, layout, operation, size, shown = row.groups()
        shown = float(shown.replace(",", ""))
        # the table's cell is that row at the largest mapped count, rounded to a whole
        assert abs(table[(operation, size, layout)][backend] - shown) <= 0.5, (name, shown)
        for entries, total in tables(body.splitlines()):
            assert total == shown
            assert abs(sum(entries) - total) <= 0.05 * len(entries) + 1e-9, name


def test_buddy_target_profiles_a_row_buddy_served_not_one_it_refused():
    def row(allocator, size, figure, failed="0"):
        return {"allocator": allocator, "layout": "churn", "size_pages": size, "align_pages": "1",
                "instructions_per_pair": str(figure), "free_extents": "100", "wasted_pages": "0",
                "failed_allocs": failed}
    contiguous = [row("pagescope", "37", 300), row("tlsf", "37", 400), row("buddy", "37", 250),
                  row("pagescope", "262144", 480), row("tlsf", "262144", 500),
                  row("buddy", "262144", 140, failed="1000")]  # refused: cheap, says nothing
    vmm = [{"backend": b, "mapped_pages": "1000", "operation": "reserve-release", "size_pages": "16",
            "layout": "mixed-holes", "align_pages": "1", "instructions_per_step": "500"}
           for b in ("list", "pagetable")]
    (buddy,) = [t for t in run_bench.targets(contiguous, vmm, None) if "buddy" in t.name]
    assert buddy.verdict == "not met" and "0/2 cases" in buddy.measured
    assert buddy.worst is contiguous[0] and buddy.beside[1] is contiguous[2]  # 300x4 > 250
