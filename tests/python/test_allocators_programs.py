"""The allocator lab's section beyond one scenario: real programs as a workload (`analyzer
allocators --program NAME=TRACE --program-log NAME=LOG`: a row per program and allocator, with the
instructions the boot's `pmm-cost:` line states) and the main report including the section
(`analyzer report --allocators DIR`); bad input is refused naming the file, and nothing is left
written. The traces are the small encoder-made fixture; the numbers come from the logs written here."""

import os
import subprocess
import sys

from conftest import REPO


def analyzer(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "analyzer", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True)


def cost_log(path, allocator, allocs, alloc_ticks, worst_alloc, frees, free_ticks, worst_free):
    path.write_text(f"pagescope booting\npmm-cost: pmm={allocator}: {allocs} allocs in "
                    f"{alloc_ticks} ticks (worst {worst_alloc}), {frees} frees in {free_ticks} "
                    f"ticks (worst {worst_free}), through the kernel page source\n"
                    "pagescope: done, exit status 0\n")
    return path


def section(tmp_path, small_trace, *extra):
    trace = tmp_path / "scenario.pstrace"
    trace.write_bytes(small_trace)
    out = tmp_path / "section"
    return analyzer("allocators", trace, *extra, "-o", out), trace, out


def test_a_program_workload_gets_a_row_with_the_logged_instructions(tmp_path, small_trace):
    program = tmp_path / "lua.pstrace"
    program.write_bytes(small_trace)
    log = cost_log(tmp_path / "lua.log", "regions", 40, 12000, 900, 20, 3000, 400)
    result, _, out = section(tmp_path, small_trace, "--program", f"lua={program}",
                             "--program-log", f"lua={log}")
    assert result.returncode == 0, result.stderr
    rows = [line for line in (out / "pmm.md").read_text().splitlines()
            if line.startswith("| lua |")]
    # the fixture's snapshots free single pages every other page (zones end at 1 and 2 MiB): the
    # largest extent is 1 page and no 2 MiB block is free (unusable index 1) in dma, which ties
    # with dma32 for the most free pages and comes first; 12000 / 40 + 3000 / 20 = 300 + 150
    # per alloc+free pair, and the worst of each as logged
    assert rows == ["| lua | regions | 0 | 1 | 1.000 (dma) | 0 | 0 | 450 (300 / 150; 40 "
                    "allocs, 20 frees) | 900 / 400 |"], rows
    assert (out / "pmm_program_instructions.png").exists()
    assert "<td>lua</td>" in (out / "pmm.html").read_text()


def test_a_program_log_without_a_cost_line_is_refused_naming_it(tmp_path, small_trace):
    program = tmp_path / "lua.pstrace"
    program.write_bytes(small_trace)
    log = tmp_path / "lua.log"
    log.write_text("pagescope: done, exit status 0\n")
    result, _, out = section(tmp_path, small_trace, "--program", f"lua={program}",
                             "--program-log", f"lua={log}")
    assert result.returncode == 2
    assert f"error: {log}: no pmm-cost line in this kernel log" in result.stderr
    assert not out.exists()


def test_the_main_report_includes_the_allocator_section(tmp_path, small_trace):
    result, trace, section_dir = section(tmp_path, small_trace)
    assert result.returncode == 0, result.stderr
    report = tmp_path / "report"
    result = analyzer("report", trace, "-o", report, "--allocators", section_dir)
    assert result.returncode == 0, result.stderr
    index = (report / "index.html").read_text()
    assert "<a href='#allocators'>Physical allocators side by side</a>" in index
    assert "<h2 id='allocators'>" in index and "href='allocators/pmm.html'" in index
    assert "<td>regions</td>" in index.split("<h2 id='allocators'>", 1)[1]
    assert (report / "allocators" / "pmm.html").read_bytes() == \
        (section_dir / "pmm.html").read_bytes()
    for png in section_dir.glob("*.png"):
        assert (report / "allocators" / png.name).exists()
    without = analyzer("report", trace, "-o", tmp_path / "plain")
    assert without.returncode == 0 and "id='allocators'" not in \
        (tmp_path / "plain" / "index.html").read_text()


def test_the_report_refuses_a_directory_without_the_section(tmp_path, small_trace):
    trace = tmp_path / "t.pstrace"
    trace.write_bytes(small_trace)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = analyzer("report", trace, "-o", tmp_path / "report", "--allocators", empty)
    assert result.returncode == 4
    assert f"error: {empty / 'pmm.md'}: cannot read the allocator section" in result.stderr
    assert not (tmp_path / "report").exists()
