"""The verdict's figures are read from the benchmark CSVs and the source as they are written."""

import csv

from analyzer import verdict_figures
from analyzer.verdict import LIST, PAGETABLE


def write_csv(path, rows):
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_reserve_and_brk_figures_come_from_the_bench_csvs(tmp_path):
    write_csv(tmp_path / "vmm.csv", [
        {"layout": "mixed-holes", "best_case": "no", "operation": "reserve-release",
         "mapped_pages": "1000000", "backend": b, "instructions_per_step": n}
        for b, n in ((PAGETABLE, "5000"), (LIST, "2500"))] + [
        {"layout": "mixed-holes", "best_case": "no", "operation": "reserve-map-unmap-release",
         "mapped_pages": "1000", "backend": PAGETABLE, "instructions_per_step": "9"}])
    write_csv(tmp_path / "guest-vmm.csv", [
        {"operation": op, "mapped_pages": mapped, "vmm": b, "trace": trace,
         "instructions_per_step": n}
        for op, mapped, b, trace, n in (
            ("brk-grow", "1000", PAGETABLE, "off", "100"),
            ("brk-grow", "100000", PAGETABLE, "off", "120"),
            ("brk-grow", "100000", PAGETABLE, "on", "999"),
            ("brk-shrink", "100000", PAGETABLE, "off", "90"),
            ("brk-grow", "100000", LIST, "off", "300"))])
    cost = verdict_figures.reserve_instructions(tmp_path)
    assert cost == {(PAGETABLE, "reserve-release, mixed-holes, 1,000,000 mapped"): 5000.0,
                    (LIST, "reserve-release, mixed-holes, 1,000,000 mapped"): 2500.0}
    # the most mapped pages, tracing off; a backend without both kinds is left out
    assert verdict_figures.brk_instructions(tmp_path) == {PAGETABLE: {"grow": 120.0, "shrink": 90.0}}
    assert verdict_figures.brk_instructions(tmp_path / "missing") == {}


def test_line_counts_cover_both_backends_and_their_resize_operation():
    backend_loc, core, brk = verdict_figures.line_counts()
    assert set(backend_loc) == set(brk) == {PAGETABLE, LIST}
    assert all(n > 100 for n in backend_loc.values()) and core > 100
    assert all(0 < brk[b] < backend_loc[b] for b in brk)


def test_the_entry_bits_read_from_pte_h_are_the_seeds_fourteen():
    available, used = verdict_figures.pte_bits()
    assert available == 14  # bits 9..11 and 52..62, as the seed's notes count them
    assert used["RES_RESERVED, RES_START"] == 2
    assert sum(used.values()) <= available
    assert verdict_figures.list_record_bytes() % 8 == 0


def test_peak_reservations_counts_the_most_alive_at_once():
    import numpy as np

    from analyzer.report import peak_reservations

    class FakeTrace:
        def of(self, name):
            positions = {"vmm_reserve": [1, 2, 3, 7, 8], "vmm_release": [4, 5, 9]}[name]
            return {"position": np.array(positions, dtype=np.int64)}

    assert peak_reservations(FakeTrace()) == 3
