"""The verdict's figures are read from the benchmark CSVs and the source as they are written."""

import csv

from analyzer.metrics import verdict_figures
from analyzer.metrics.verdict import LIST, PAGETABLE


def write_csv(path, rows):
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_reserve_and_brk_figures_come_from_the_bench_csvs(tmp_path):
    write_csv(tmp_path / "vmm.csv", [
        {"layout": "mixed-holes", "best_case": "no", "operation": "reserve-release", "size_pages": "16",
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
    # every case names its request size (16 pages is the usual one, but a reader cannot know that)
    assert cost == {(PAGETABLE, "reserve-release of 16 pages, mixed-holes, 1,000,000 mapped"): 5000.0,
                    (LIST, "reserve-release of 16 pages, mixed-holes, 1,000,000 mapped"): 2500.0}
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
    """Context 1 reserves twice, grows its heap by brk (a reserve of the difference: the same
    reservation), context 2 reserves once (3 alive), context 1 dies (1 alive), context 2
    reserves twice more (3 alive) and releases one: the peak is 3, not the 6 reserves."""
    import numpy as np

    from analyzer.reports.report import peak_reservations

    events = {"vmm_reserve": ([1, 2, 4, 5, 7, 8], [1, 1, 1, 2, 2, 2]),
              "vmm_release": ([9], [2]), "vmm_brk": ([3], [1]), "context_destroy": ([6], [1])}

    class FakeTrace:
        def of(self, name):
            positions, contexts = events[name]
            return {"position": np.array(positions, dtype=np.int64),
                    "context": np.array(contexts, dtype=np.int64)}

    assert peak_reservations(FakeTrace()) == 3


class Columns(dict):
    """What trace.of returns, as far as the report uses it: columns, selectable by a mask."""

    def __getitem__(self, key):
        if isinstance(key, str):
            return dict.__getitem__(self, key)
        return Columns({k: v[key] for k, v in self.items()})


class PhasedTrace:
    """A trace of a composite scenario as the analyzer sees it: `all` running two members, with
    contexts reporting their bookkeeping bytes and one dying half-way."""

    def __init__(self):
        import numpy as np
        from types import SimpleNamespace

        self.header = SimpleNamespace(cmdline="trace=on vmm=list scenario=all seed=1")
        phases = [("phase_begin", "kernel", 0), ("phase_begin", "all", 1),
                  ("phase_begin", "first", 2), ("phase_begin", "first:stage", 3),
                  ("phase_end", "first:stage", 8), ("phase_end", "first", 9),
                  ("phase_begin", "second", 10), ("phase_end", "second", 20),
                  ("phase_end", "all", 21)]
        self.phases = [SimpleNamespace(name=n, text=t, position=p) for n, t, p in phases]
        # context 0 (kernel) holds 4 KiB throughout; context 1 grows to 40 KiB in `first` and
        # dies at 9; context 2 reports 12 KiB in `second`
        bookkeeping = [(0, 2, 4096), (1, 4, 8192), (1, 7, 40960), (1, 8, 40960),
                       (2, 12, 12288), (0, 19, 4096)]
        self.arrays = {
            "vmm_bookkeeping": {"context": np.array([c for c, _, _ in bookkeeping]),
                                "position": np.array([p for _, p, _ in bookkeeping]),
                                "bytes": np.array([b for _, _, b in bookkeeping])},
            "context_destroy": {"context": np.array([1]), "position": np.array([9])},
        }

    def of(self, name):
        import numpy as np
        return Columns(self.arrays.get(name, {"position": np.zeros(0, np.int64)}))

    def others_named(self, *names):
        return [e for e in self.phases if e.name in names]

    def replayed(self):
        """The State the one replay would hold for these events: their bookkeeping reports and
        the destroy, told to a Ledgers in stream order as the replay tells it."""
        from types import SimpleNamespace
        from analyzer.metrics.ledgers import Ledgers
        ledgers = Ledgers()
        reports = self.arrays["vmm_bookkeeping"]
        for context, position, nbytes in zip(reports["context"].tolist(),
                                             reports["position"].tolist(),
                                             reports["bytes"].tolist()):
            ledgers.position = position
            ledgers.bookkeeping_reported(context, nbytes)
        destroys = self.arrays["context_destroy"]
        for context, position in zip(destroys["context"].tolist(),
                                     destroys["position"].tolist()):
            ledgers.position = position
            ledgers.context_destroyed(context)
        return SimpleNamespace(held=ledgers.finish(self))


def test_bookkeeping_peaks_count_each_member_workload_and_forget_dead_contexts(monkeypatch):
    from analyzer.metrics import state
    from analyzer.reports import report

    trace = PhasedTrace()
    monkeypatch.setattr(state, "of", lambda _: trace.replayed())
    assert report.member_phases(trace) == [("first", 2, 9), ("second", 10, 20)]
    peaks = report.peak_bookkeeping_by_workload(trace)
    # first: 4 KiB + 40 KiB; second: the dead context no longer counts, 4 KiB + 12 KiB
    assert peaks == {"all": 45056, "first": 45056, "second": 16384}
    assert report.peak_bookkeeping(trace) == 45056
