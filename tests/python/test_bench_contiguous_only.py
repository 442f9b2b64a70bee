"""`run_bench.py --contiguous-only FILE --quick`: the pmm-vs-TLSF table of issue 22. It has a row
for every layout and size of the quick set, each row's ratio is its own pagescope / tlsf figures,
the verdict line counts the rows as the table shows them, the figures are bench_contiguous's own
(a direct callgrind run of one row gives the same number), a profile is printed exactly when a row
is above TLSF (then it is the worst row's and adds up to its figure), and a file that cannot be written is an error naming
it, with nothing left behind."""

import re
import subprocess
import sys

import pytest

from conftest import REPO

QUICK_SIZES = {1, 37, 512, 262144}
LAYOUTS = {"best-empty", "best-2page-holes", "mixed-holes", "churn"}
ROW = re.compile(r"^\| (?P<layout>[a-z0-9-]+) \| (?P<size>[\d,]+) @ (?P<align>\d+) \| "
                 r"(?P<pagescope>[\d,]+) \| (?P<regions>[\d,]+) \| (?P<tlsf>[\d,]+) \| "
                 r"(?P<ratio>[\d.]+) \| (?P<wasted>\d+) \| (?P<failed>\d+) \|$")


def number(text):
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    # run_bench's -only modes build their program themselves (build_bench).
    path = tmp_path_factory.mktemp("contiguous") / "pmm-vs-tlsf.md"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run_bench.py"),
                           "--contiguous-only", str(path), "--quick"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return path.read_text()


def rows_of(text):
    return [m.groupdict() for m in map(ROW.match, text.splitlines()) if m]


def test_table_has_every_layout_and_size_of_the_quick_set(table):
    rows = rows_of(table)
    assert {(r["layout"], number(r["size"])) for r in rows} == \
        {(layout, size) for layout in LAYOUTS for size in QUICK_SIZES}
    assert len(rows) == len(LAYOUTS) * len(QUICK_SIZES)
    for r in rows:
        assert r["align"] == (r["size"].replace(",", "") if number(r["size"]) in (512, 262144) else "1")


def test_each_ratio_is_its_rows_figures_and_the_verdict_counts_them(table):
    rows = rows_of(table)
    for r in rows:
        mine, peer = number(r["pagescope"]), number(r["tlsf"])
        assert mine > 0 and peer > 0 and number(r["regions"]) > 0
        # the cells are rounded to whole instructions: the ratio within that rounding
        assert abs(float(r["ratio"]) - mine / peer) <= 0.01 + 1 / peer, r
    at_or_below = sum(number(r["pagescope"]) <= number(r["tlsf"]) for r in rows)
    verdict = re.search(r"\*\*Target .*: (met|not met)\*\* — (\d+)/(\d+) rows ≤ tlsf", table)
    assert verdict, table
    # a row whose rounded cells tie may hide a fraction either way: allow those only
    ties = sum(number(r["pagescope"]) == number(r["tlsf"]) for r in rows)
    assert at_or_below - ties <= int(verdict.group(2)) <= at_or_below
    assert int(verdict.group(3)) == len(rows)
    clean = all(r["wasted"] == "0" and r["failed"] == "0" for r in rows)
    assert (verdict.group(1) == "met") == (int(verdict.group(2)) == len(rows) and clean)


def test_figures_are_bench_contiguous_own(table, tmp_path):
    """One row recounted straight from callgrind's two dumps, as the module docstring of
    run_bench.py describes: (I(300) - I(100)) / 200."""
    out = tmp_path / "cg.out"
    subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={out}", str(REPO / "build" / "bench" / "bench_contiguous"),
                    "--mode", "count", "--quick", "--layout", "mixed-holes",
                    "--allocators", "pagescope"],
                   cwd=REPO, capture_output=True, text=True, timeout=600, check=True)
    totals = {}
    for dump in tmp_path.glob("cg.out.*"):
        text = dump.read_text()
        label = re.search(r"^desc: Trigger: Client Request: (\S+)$", text, re.M)
        total = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
        if label and total:
            totals[label.group(1)] = int(total.group(1))
    per_pair = (totals["mixed-holes|37|pagescope|300"] - totals["mixed-holes|37|pagescope|100"]) / 200
    row = next(r for r in rows_of(table) if r["layout"] == "mixed-holes" and r["size"] == "37")
    assert abs(number(row["pagescope"]) - per_pair) <= 0.55  # the cell: rounded to a whole


def test_a_profile_exactly_when_the_target_is_missed_summing_to_its_row(table):
    verdict = re.search(r"\*\*Target .*: (met|not met)\*\*", table).group(1)
    over = [r for r in rows_of(table) if number(r["pagescope"]) > number(r["tlsf"])]
    profile = table.split("### why each missed target is missed", 1)
    if not over:
        assert len(profile) == 1, "a profile although no row is above tlsf"
        return
    assert verdict == "not met" and len(profile) == 2
    shown = re.search(r"furthest from the target: pagescope, ([a-z0-9-]+), ([\d,]+) pages @ \d+, "
                      r"([\d,.]+) instructions per pair", profile[1])
    assert shown, profile[1]
    layout, size, figure = shown.group(1), shown.group(2), float(shown.group(3).replace(",", ""))
    worst = max(rows_of(table), key=lambda r: number(r["pagescope"]) / number(r["tlsf"]))
    assert (worst["layout"], worst["size"]) == (layout, size)
    assert abs(number(worst["pagescope"]) - figure) <= 0.5
    for block in re.split(r"\n\n", profile[1]):
        cells = [float(m.group(1).replace(",", "")) for m in
                 re.finditer(r"^\| ([\d,]+\.\d) \|", block, re.M)]
        total = re.search(r"^\| \*\*([\d,.]+)\*\* \|", block, re.M)
        if total:
            assert float(total.group(1).replace(",", "")) == figure
            assert abs(sum(cells) - figure) <= 0.05 * len(cells) + 1e-9


def test_unwritable_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "missing-dir" / "t.md"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run_bench.py"),
                           "--contiguous-only", str(path), "--quick"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert str(path) in done.stderr and "writing" in done.stderr
    assert not list(tmp_path.rglob("*.partial"))
