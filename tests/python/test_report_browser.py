"""The HTML report opened in a real browser (Debian's headless Chromium): every image loads with
a non-zero natural size, every section is there, and a screenshot is saved under build/."""

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile

from conftest import REPO

# The seed's page-table vs list table (shared/seed/mm_notes.md), typed here from the seed so the
# report is held to it and not to the code that writes it. Two claims are quoted without their
# last words "of memory" (and "continuos" spelt right), as the report quotes them.
SEED_CLAIMS = [
    ("pagetable", "no extra data structure required"),
    ("pagetable", "14 bits available for details, should be enough?"),
    ("pagetable", "ideal for userspace brk()"),
    ("pagetable", "paging structure has to be implemented anyways"),
    ("pagetable", "might not be fast enough to allocate continuous chunks"),
    ("list", "can store anything and is easily extended"),
    ("list", "fast to allocate continuous chunks"),
    ("list", "extra memory required"),
    ("list", "extra implementation required"),
    ("list", "over-complicated for userspace brk()"),
    # not the seed's table: issue 20's row for the operation the page-table design is made for
    ("pagetable", "the reservation is in the entry the fault's walk reached: found for free"),
]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
# Appended to a copy of index.html: after load, the title lists each image's src and width.
PROBE = ("<script>window.addEventListener('load', function () { document.title = 'IMAGES=' + "
         "JSON.stringify(Array.from(document.images).map(function (i) { return [i.getAttribute("
         "'src'), i.naturalWidth, i.naturalHeight]; })); });</script>")


def chromium(*args):
    assert shutil.which("chromium"), "chromium is required (scripts/install-deps.sh python)"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                               capture_output=True, text=True, timeout=120)


def test_report_opens_in_chromium_with_every_image_loaded(kernel_traces, tmp_path):
    out = tmp_path / "report"
    cli = subprocess.run([sys.executable, "-m", "analyzer", "report",
                          str(kernel_traces["pagetable"]), str(kernel_traces["list"]), "-o",
                          str(out)], cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    page = (out / "index.html").read_text()
    for section in ("Verdict", "What ran", "Headline figures", "Plots"):
        assert f">{section}</h2>" in page
    assert "http://" not in page and "https://" not in page  # nothing from the network
    # the verdict's bookkeeping rows are judged from the kernel's figures, not left unmeasured
    verdict = page.split("id='verdict'", 1)[1].split("<h2", 1)[0]
    rows = re.findall(r"<tr><td>memory for bookkeeping</td><td>(\w+)</td><td>[^<]*</td>"
                      r"<td[^>]*>([^<]*)</td>", verdict)
    assert sorted(b for b, _ in rows) == ["list", "pagetable"]
    assert all(outcome != "not measured" for _, outcome in rows), rows
    # every claim of the seed's table exactly once, in its column, and every plot link resolves
    claimed = re.findall(r"<tr><td>[^<]*</td><td>(\w+)</td><td>([^<]*)</td>", verdict)
    assert sorted(claimed) == sorted((backend, html.escape(claim))
                                     for backend, claim in SEED_CLAIMS)
    claims = [claim for _, claim in claimed]
    links = re.findall(r"href='([^']+)'", verdict)
    assert links and all((out / link).exists() for link in links), links
    # every row judged here links the plot it is judged on (a row these traces cannot measure,
    # such as the real programs' fault lookups, has no plot to link)
    table_rows = re.findall(r"<tr><td>[^<]*</td><td>\w+</td>.*?</tr>", verdict)
    assert len(table_rows) == len(claims)
    for row in table_rows:
        if ">not measured</td>" not in row:
            assert "href='" in row, row
    sources = re.findall(r"<img src='([^']+)'", page)
    assert len(sources) >= 7 and all((out / s).exists() for s in sources)
    assert all(re.search(rf"<img src='{re.escape(s)}'[^>]*><figcaption>[^<]+", page)
               for s in sources)  # every plot has its caption

    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    result = chromium("--dump-dom", "--virtual-time-budget=10000", probe.as_uri())
    match = re.search(r"<title>IMAGES=(.*?)</title>", result.stdout)
    assert match, result.stdout[:2000] + result.stderr[-2000:]
    images = json.loads(match.group(1).replace("&quot;", '"'))
    assert [src for src, _, _ in images] == sources
    broken = [src for src, width, height in images if width == 0 or height == 0]
    assert broken == []
    # the flame graph of who holds memory at the peak is among them, and opens on its own too
    assert "flame.svg" in sources
    flame = chromium("--dump-dom", (out / "flame.svg").as_uri()).stdout
    assert flame.count("<rect") > 3 and "kernel_entry64" in flame, flame[:2000]

    # the browser shows the verdict table: a header row and one row per claim
    dom = chromium("--dump-dom", (out / "index.html").as_uri()).stdout
    shown = dom.split('id="verdict"', 1)[1].split("<h2", 1)[0]
    assert shown.count("<tr>") == 1 + len(claims), shown[:2000]

    screenshot = REPO / "build" / "report-screenshot.png"
    screenshot.unlink(missing_ok=True)
    shot = chromium(f"--screenshot={screenshot}", "--window-size=1400,2400",
                    (out / "index.html").as_uri())
    assert screenshot.exists() and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
