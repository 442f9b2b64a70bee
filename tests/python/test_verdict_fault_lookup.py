"""The verdict's fault-lookup row (analyzer/metrics/verdict.py, `_fault_lookup`) and the recheck of the
14-bits row, on crafted figures: each outcome follows from the figures by the stated rule."""

from analyzer.metrics import verdict
from analyzer.metrics.verdict import DEPENDS, DOES_NOT_HOLD, HOLDS, LIST, NOT_MEASURED, PAGETABLE

UNIT = "guest instructions"


def lookup(**programs):
    """program=(pagetable median, list median) -> Figures.fault_lookup."""
    return {name: {PAGETABLE: {"median": pt, "p99": pt + 10, "faults": 100, "unit": UNIT},
                   LIST: {"median": lst, "p99": lst + 10, "faults": 100, "unit": UNIT}}
            for name, (pt, lst) in programs.items()}


def row(figures):
    rows = [v for v in verdict.verdicts(figures) if v.topic == "finding a reservation at fault time"]
    assert len(rows) == 1
    return rows[0]


def test_no_program_traced_is_not_measured():
    assert row(verdict.Figures()).outcome == NOT_MEASURED


def test_a_program_with_one_backend_only_is_not_measured():
    figures = verdict.Figures(fault_lookup={"lua": {PAGETABLE: lookup(lua=(1, 2))["lua"][PAGETABLE]}})
    assert row(figures).outcome == NOT_MEASURED


def test_cheaper_or_equal_on_every_program_holds():
    v = row(verdict.Figures(fault_lookup=lookup(lua=(132, 142), sqlite=(150, 150))))
    assert v.outcome == HOLDS
    assert "lua: 132 vs 142" in v.figure and UNIT in v.figure


def test_dearer_on_every_program_does_not_hold():
    assert row(verdict.Figures(fault_lookup=lookup(lua=(746, 162), xz=(700, 160)))).outcome == DOES_NOT_HOLD


def test_mixed_programs_depend_and_name_them():
    v = row(verdict.Figures(fault_lookup=lookup(lua=(100, 200), xz=(300, 200))))
    assert v.outcome == DEPENDS
    assert "cheaper on lua" in v.depends_on and "dearer on xz" in v.depends_on


def test_bits_row_says_what_fits_in_a_reserved_not_present_entry():
    figures = verdict.Figures(pte_bits_available=14, pte_bits_used={"RES, STA": 2, "stripes": 3},
                              details_wanted={"owner tag": 4, "32-bit reservation id": 32,
                                              "name pointer": 64},
                              pte_bits_not_present=63)
    bits = [v for v in verdict.verdicts(figures) if v.topic == "room for details"][0]
    assert bits.outcome == DEPENDS
    assert "63 bits" in bits.figure and "58 beyond what is used" in bits.figure
    # the 32-bit id fits a non-present entry (58 free bits), the 64-bit pointer does not
    assert "32-bit reservation id fit there" in bits.figure
    assert "32-bit reservation id would" in bits.depends_on
    assert "name pointer would" not in bits.depends_on


def test_the_row_links_a_plot_of_the_lookup_that_is_drawn(tmp_path):
    """The row's plot is the lookup per program and backend (not the whole fault's cost, which
    the page's zero-fill dominates): drawn from the same figures, with every program on it."""
    from PIL import Image
    from analyzer.pictures import plots
    figures = verdict.Figures(fault_lookup=lookup(lua=(40, 50), xz=(41, 55)))
    drawn = plots.draw_verdict_figures(figures, tmp_path)
    assert row(figures).plot == "fault_lookup.png"
    names = [f.name for f in drawn]
    assert "fault_lookup" in names
    with Image.open(tmp_path / "fault_lookup.png") as image:
        width, height = image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert width > 300 and height > 150
    assert len(colours) > 20  # bars, ticks and labels, not a blank canvas


def test_no_lookup_plot_without_both_backends(tmp_path):
    from analyzer.pictures import plots
    only_pt = {"lua": {PAGETABLE: lookup(lua=(1, 2))["lua"][PAGETABLE]}}
    drawn = plots.draw_verdict_figures(verdict.Figures(fault_lookup=only_pt), tmp_path)
    assert "fault_lookup" not in [f.name for f in drawn]
    assert not (tmp_path / "fault_lookup.png").exists()
