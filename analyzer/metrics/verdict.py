"""The seed's question answered: each claim of the page-table vs list table, with its verdict.

shared/seed/mm_notes.md weighs VMM bookkeeping kept in the paging structures against an extra
list. This module turns measured figures (`Figures`) into one `Verdict` per claim. Every verdict
is computed here from the figures of one run by a rule stated in words beside it, so a reader can
disagree with the rule and still trust the number; nothing is typed by hand. A claim whose
figures are missing is "not measured", never a guess.

Outcomes: HOLDS, DOES_NOT_HOLD, DEPENDS (on what is said in `depends_on`), NOT_MEASURED.
"""

from dataclasses import dataclass, field

from ..definitions.events import FORMAT

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
DEPENDS = "depends"
NOT_MEASURED = "not measured"

# The backends by their names in the trace (the `vmm_backend` group of trace/events.def).
PAGETABLE = FORMAT.value_names["VMM_BACKEND_PAGETABLE"]
LIST = FORMAT.value_names["VMM_BACKEND_LIST"]

# Thresholds of the rules, named so the rule text and the computation cannot drift apart.
NO_EXTRA_STRUCTURE_SHARE = 0.10   # page-table bookkeeping at most 10 % of the list's
CONTIGUOUS_SLOW_FACTOR = 2.0      # "not fast enough": worse than the list by more than 2x
CONTIGUOUS_FLAT_FACTOR = 4.0      # "fast": worst case within 4x of the backend's own best
EXTENSION_SHARE = 0.25            # "easily extended": an 8-byte field adds at most 25 %
EXTENSION_FIELD_BYTES = 8


@dataclass
class Figures:
    """What one run measured. Every field may be empty: the verdicts that need it say so."""

    # workload -> backend -> peak bookkeeping bytes over the run (from the kernel's snapshots)
    bookkeeping_peak: dict = field(default_factory=dict)
    # the page-table backend's software bits: how many exist, what uses them (purpose -> bits)
    pte_bits_available: int = 0
    pte_bits_used: dict = field(default_factory=dict)
    # per-reservation details a user asks for (detail -> bits it needs) and none of the bits hold
    details_wanted: dict = field(default_factory=dict)
    # backend -> {"grow": instructions, "shrink": instructions} per brk call (median, guest)
    brk_instructions: dict = field(default_factory=dict)
    # backend -> lines of code of its resize path (what brk runs in the backend)
    brk_loc: dict = field(default_factory=dict)
    # backend -> lines of code of the whole backend; pagetable_core: page-table code both need
    backend_loc: dict = field(default_factory=dict)
    pagetable_core_loc: int = 0
    # (backend, case) -> instructions per reserve+release; a case names the request, the layout
    # and how much is mapped, e.g. "reserve-release of 16 pages, mixed-holes, 1,000,000 mapped"
    reserve_instructions: dict = field(default_factory=dict)
    # list backend: bytes per record; workload -> peak reservations (records) over the run
    list_record_bytes: int = 0
    list_peak_records: dict = field(default_factory=dict)
    # bits of a non-present entry the CPU ignores (all but P): what a reserved, not-yet-mapped
    # page's entry can hold (Linux keeps whole swap entries there)
    pte_bits_not_present: int = 0
    # real program -> backend -> {"median", "p99", "faults", "unit"}: what finding the faulting
    # page's reservation cost per page fault (page_fault.lookup_ticks of its traces)
    fault_lookup: dict = field(default_factory=dict)


@dataclass
class Verdict:
    topic: str          # the row of the seed's table
    backend: str        # PAGETABLE or LIST: whose column the claim is in
    claim: str          # the seed's words
    outcome: str        # HOLDS, DOES_NOT_HOLD, DEPENDS, NOT_MEASURED
    figure: str         # the measured figure, in words with numbers
    rule: str           # how the outcome follows from the figure
    depends_on: str = ""
    plot: str = ""      # file name of the plot behind it, relative to the report
    from_seed: bool = True  # False for a row pagescope added to the seed's table


def shown_topic(v):
    """The topic as a reader sees it: a row pagescope added says it is not the seed's."""
    return v.topic if v.from_seed else f"{v.topic} (a row pagescope added, not the seed's)"


def _ratio(a, b):
    return a / b if b else (0.0 if a == 0 else float("inf"))


def _fmt_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _join(items):
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- row 1: extra memory ---------------------------------------------------------------------

def _memory(f):
    topic = "memory for bookkeeping"
    plot = "bookkeeping_peaks.png"
    pt_claim, list_claim = "no extra data structure required", "extra memory required"
    rows = {w: b for w, b in f.bookkeeping_peak.items() if PAGETABLE in b and LIST in b}
    if not rows:
        return [Verdict(topic, PAGETABLE, pt_claim, NOT_MEASURED, "no bookkeeping figures", "", plot=plot),
                Verdict(topic, LIST, list_claim, NOT_MEASURED, "no bookkeeping figures", "", plot=plot)]
    shares = {w: _ratio(b[PAGETABLE], b[LIST]) for w, b in rows.items()}
    figure = "; ".join(f"{w}: page tables {_fmt_bytes(b[PAGETABLE])}, list {_fmt_bytes(b[LIST])}"
                       for w, b in sorted(rows.items()))
    limit = NO_EXTRA_STRUCTURE_SHARE
    over = sorted(w for w, s in shares.items() if s > limit)
    worse = sorted(w for w, s in shares.items() if s > 1.0)
    if not over:
        pt = Verdict(topic, PAGETABLE, pt_claim, HOLDS, figure, "", plot=plot)
    elif len(over) == len(shares) or worse:
        pt = Verdict(topic, PAGETABLE, pt_claim, DOES_NOT_HOLD, figure, "", plot=plot)
    else:
        pt = Verdict(topic, PAGETABLE, pt_claim, DEPENDS, figure, "",
                     depends_on="the workload: above the limit on " + _join(over), plot=plot)
    pt.rule = (f"holds if the page-table backend's peak bookkeeping (table pages that exist only "
               f"for unmapped reservations) stays at most {limit:.0%} of the list's on every "
               f"workload; does not hold if it is above that on every workload or above the "
               f"list's own on any")
    extra = sorted(w for w, b in rows.items() if b[LIST] > b[PAGETABLE])
    if len(extra) == len(rows):
        lst = Verdict(topic, LIST, list_claim, HOLDS, figure, "", plot=plot)
    elif not extra:
        lst = Verdict(topic, LIST, list_claim, DOES_NOT_HOLD, figure, "", plot=plot)
    else:
        lst = Verdict(topic, LIST, list_claim, DEPENDS, figure, "",
                      depends_on="the workload: more than the page tables only on " + _join(extra),
                      plot=plot)
    lst.rule = ("holds if the list's peak bookkeeping exceeds the page-table backend's on every "
                "workload; does not hold if it exceeds it on none")
    return [pt, lst]


# --- row 2: the 14 software bits -------------------------------------------------------------

def _bits(f):
    topic = "room for details"
    claim = "14 bits available for details, should be enough?"
    if not f.pte_bits_available or not f.pte_bits_used:
        return [Verdict(topic, PAGETABLE, claim, NOT_MEASURED, "no bit encoding given", "")]
    used = sum(f.pte_bits_used.values())
    free = f.pte_bits_available - used
    figure = (f"{used} of {f.pte_bits_available} bits used per entry ("
              + ", ".join(f"{p}: {n}" for p, n in f.pte_bits_used.items()) + f"); {free} left")
    missing = {d: n for d, n in f.details_wanted.items() if n > free}
    if missing:
        figure += "; do not fit: " + ", ".join(f"{d} ({n} bits)" for d, n in missing.items())
    # A reserved page that is not mapped yet has an entry with only P clear: the CPU ignores every
    # other bit, so a reservation's details can live there whole until the page is mapped.
    not_present_free = f.pte_bits_not_present - used if f.pte_bits_not_present else 0
    fits_not_present = [d for d, n in missing.items() if n <= not_present_free]
    if f.pte_bits_not_present:
        figure += (f". A reserved, not-yet-present entry leaves {f.pte_bits_not_present} bits to "
                   f"software ({not_present_free} beyond what is used)" +
                   (": " + ", ".join(fits_not_present) + " fit there" if fits_not_present else ""))
    rule = ("holds if the bookkeeping fits in the available bits and every detail asked for fits "
            "in what is left; depends if the bookkeeping fits but some details do not; does not "
            "hold if the bookkeeping itself needs more bits than exist")
    if used > f.pte_bits_available:
        outcome, depends_on = DOES_NOT_HOLD, ""
    elif missing:
        outcome = DEPENDS
        depends_on = ("the details wanted: reservation state fits, " + _join(sorted(missing))
                      + " cannot in a present entry")
        if fits_not_present:
            depends_on += (" (" + _join(sorted(fits_not_present)) + " would, in an entry that is "
                           "reserved but not present, until its page is mapped)")
    else:
        outcome, depends_on = HOLDS, ""
    return [Verdict(topic, PAGETABLE, claim, outcome, figure, rule, depends_on, plot="pte_bits.png")]


# --- row 3: brk ------------------------------------------------------------------------------

def _brk(f):
    topic = "userspace brk()"
    plot = "brk_instructions.png"
    pt_claim, list_claim = "ideal for userspace brk()", "over-complicated for userspace brk()"
    have = all(b in f.brk_instructions and b in f.brk_loc for b in (PAGETABLE, LIST))
    if not have:
        return [Verdict(topic, PAGETABLE, pt_claim, NOT_MEASURED, "no brk figures", "", plot=plot),
                Verdict(topic, LIST, list_claim, NOT_MEASURED, "no brk figures", "", plot=plot)]
    ins, loc = f.brk_instructions, f.brk_loc
    figure = "; ".join(
        f"{b}: grow {ins[b]['grow']:.0f}, shrink {ins[b]['shrink']:.0f} instructions per call, "
        f"{loc[b]} lines" for b in (PAGETABLE, LIST))
    measures = {"grow cost": (ins[PAGETABLE]["grow"], ins[LIST]["grow"]),
                "shrink cost": (ins[PAGETABLE]["shrink"], ins[LIST]["shrink"]),
                "code size": (loc[PAGETABLE], loc[LIST])}
    pt_no_worse = [m for m, (pt, lst) in measures.items() if pt <= lst]
    list_worse = [m for m, (pt, lst) in measures.items() if lst > pt]
    rule_pt = ("holds if the page-table backend is no worse than the list on grow cost, shrink "
               "cost and lines of code; does not hold if it is worse on all three")
    rule_list = ("holds if the list backend is worse than the page tables on all three of grow "
                 "cost, shrink cost and lines of code; does not hold if it is worse on none")

    def judged(backend, claim, rule, good):
        if len(good) == len(measures):
            return Verdict(topic, backend, claim, HOLDS, figure, rule, plot=plot)
        if not good:
            return Verdict(topic, backend, claim, DOES_NOT_HOLD, figure, rule, plot=plot)
        others = [m for m in measures if m not in good]
        return Verdict(topic, backend, claim, DEPENDS, figure, rule,
                       depends_on=f"what counts: true for {_join(good)}, not for {_join(others)}",
                       plot=plot)

    return [judged(PAGETABLE, pt_claim, rule_pt, pt_no_worse),
            judged(LIST, list_claim, rule_list, list_worse)]


# --- row 4: implementation -------------------------------------------------------------------

def _implementation(f):
    topic = "implementation effort"
    pt_claim = "paging structure has to be implemented anyways"
    list_claim = "extra implementation required"
    if not (PAGETABLE in f.backend_loc and LIST in f.backend_loc and f.pagetable_core_loc):
        return [Verdict(topic, PAGETABLE, pt_claim, NOT_MEASURED, "no line counts", ""),
                Verdict(topic, LIST, list_claim, NOT_MEASURED, "no line counts", "")]
    pt, lst, core = f.backend_loc[PAGETABLE], f.backend_loc[LIST], f.pagetable_core_loc
    figure = (f"page-table code both backends need: {core} lines; page-table backend adds {pt}; "
              f"list backend adds {lst}")
    rule_pt = ("holds if what the page-table backend adds on top of the page-table code it reuses "
               "is smaller than the list backend; does not hold if it is larger")
    rule_list = ("holds if the list backend is at least as large as what the page-table backend "
                 "adds; does not hold if it is less than half of it; depends in between")
    pt_outcome = HOLDS if pt < lst else DOES_NOT_HOLD
    if lst >= pt:
        list_outcome, depends_on = HOLDS, ""
    elif lst < pt / 2:
        list_outcome, depends_on = DOES_NOT_HOLD, ""
    else:
        list_outcome = DEPENDS
        depends_on = "whether the page-table backend's own additions count as reuse"
    plot = "implementation_lines.png"
    return [Verdict(topic, PAGETABLE, pt_claim, pt_outcome, figure, rule_pt, plot=plot),
            Verdict(topic, LIST, list_claim, list_outcome, figure, rule_list, depends_on, plot=plot)]


# --- row 5: contiguous chunks ----------------------------------------------------------------

def _contiguous(f):
    topic = "allocating contiguous chunks"
    plot = "reserve_cost.png"
    pt_claim = "might not be fast enough to allocate continuous chunks"
    list_claim = "fast to allocate continuous chunks"
    cost = f.reserve_instructions
    cases = sorted({case for (b, case) in cost
                    if (PAGETABLE, case) in cost and (LIST, case) in cost})
    if not cases:
        return [Verdict(topic, PAGETABLE, pt_claim, NOT_MEASURED, "no reserve figures", "", plot=plot),
                Verdict(topic, LIST, list_claim, NOT_MEASURED, "no reserve figures", "", plot=plot)]
    ratios = {c: _ratio(cost[(PAGETABLE, c)], cost[(LIST, c)]) for c in cases}
    worst_case = max(ratios, key=ratios.get)
    best_case = min(ratios, key=ratios.get)
    figure = (f"page tables / list instructions per reserve: {ratios[best_case]:.2f}x at best "
              f"({best_case}), {ratios[worst_case]:.2f}x at worst ({worst_case}), over "
              f"{len(cases)} cases")
    slow = sorted(c for c, r in ratios.items() if r > CONTIGUOUS_SLOW_FACTOR)
    rule_pt = (f"holds if the page-table backend needs more than {CONTIGUOUS_SLOW_FACTOR:g}x the "
               f"list's instructions per reserve for every size and layout measured; does not "
               f"hold if it does for none; depends otherwise")
    if len(slow) == len(cases):
        pt = Verdict(topic, PAGETABLE, pt_claim, HOLDS, figure, rule_pt, plot=plot)
    elif not slow:
        pt = Verdict(topic, PAGETABLE, pt_claim, DOES_NOT_HOLD, figure, rule_pt, plot=plot)
    else:
        # Name the smaller side, so the cases that make it "depends" are the ones listed.
        within = sorted(c for c in cases if c not in slow)
        factor = f"{CONTIGUOUS_SLOW_FACTOR:g}x"
        named, how = (slow, f"slower than {factor} at") if len(slow) <= len(within) else \
            (within, f"within {factor} only at")
        # "; " between cases: a case's own name has commas in it
        where = "; ".join(named[:4] + ([f"{len(named) - 4} more"] if len(named) > 4 else []))
        pt = Verdict(topic, PAGETABLE, pt_claim, DEPENDS, figure, rule_pt,
                     depends_on=(f"size and layout: slower than {factor} in {len(slow)} of "
                                 f"{len(cases)} cases; {how} {where}"), plot=plot)
    lst_costs = [cost[(LIST, c)] for c in cases]
    spread = _ratio(max(lst_costs), min(lst_costs))
    faster = sum(1 for r in ratios.values() if r >= 1.0)
    list_figure = (f"list: {min(lst_costs):.0f} to {max(lst_costs):.0f} instructions per reserve "
                   f"({spread:.1f}x spread); no slower than the page tables in {faster} of "
                   f"{len(cases)} cases")
    rule_list = (f"holds if the list's worst case stays within {CONTIGUOUS_FLAT_FACTOR:g}x of its "
                 f"best across sizes and layouts and it is no slower than the page tables in every "
                 f"case; does not hold if it fails both; depends otherwise")
    flat, never_slower = spread <= CONTIGUOUS_FLAT_FACTOR, faster == len(cases)
    if flat and never_slower:
        lst = Verdict(topic, LIST, list_claim, HOLDS, list_figure, rule_list, plot=plot)
    elif not flat and not never_slower:
        lst = Verdict(topic, LIST, list_claim, DOES_NOT_HOLD, list_figure, rule_list, plot=plot)
    else:
        lst = Verdict(topic, LIST, list_claim, DEPENDS, list_figure, rule_list,
                      depends_on=("the comparison: flat but sometimes slower than the page tables"
                                  if flat else "the layout: faster than the page tables but not "
                                  "flat across sizes and layouts"), plot=plot)
    return [pt, lst]


# --- row 6: extensibility --------------------------------------------------------------------

def _extensible(f):
    topic = "carrying more per reservation"
    claim = "can store anything and is easily extended"
    if not f.list_record_bytes or not f.list_peak_records or not f.pte_bits_available:
        return [Verdict(topic, LIST, claim, NOT_MEASURED, "no record size or counts", "")]
    pt_free = f.pte_bits_available - sum(f.pte_bits_used.values())
    share = EXTENSION_FIELD_BYTES / f.list_record_bytes
    peak = max(f.list_peak_records.values())
    figure = (f"a list record is {f.list_record_bytes} bytes; one more {EXTENSION_FIELD_BYTES}-byte "
              f"field per reservation costs {share:.0%} more record memory "
              f"({_fmt_bytes(peak * EXTENSION_FIELD_BYTES)} at the peak of {peak} reservations); "
              f"the page-table entries have {pt_free} spare bits for it")
    rule = (f"holds if an {EXTENSION_FIELD_BYTES}-byte field (an owner id, a name pointer) costs "
            f"the list at most {EXTENSION_SHARE:.0%} more record memory while it does not fit in "
            f"the page-table entries' spare bits; depends if it fits there too")
    plot = "extension_cost.png"
    if pt_free >= EXTENSION_FIELD_BYTES * 8:
        return [Verdict(topic, LIST, claim, DEPENDS, figure, rule,
                        depends_on="the field: the page tables could carry it as well", plot=plot)]
    outcome = HOLDS if share <= EXTENSION_SHARE else DOES_NOT_HOLD
    return [Verdict(topic, LIST, claim, outcome, figure, rule, plot=plot)]


# --- row 7: the seed's case, a page fault finding its reservation ---------------------------------

def _fault_lookup(f):
    """The operation the page-table design is for: a fault on a reserved, untouched page must
    learn what the address is. Judged on the real programs' traces, per fault, by the median."""
    topic = "finding a reservation at fault time"
    pt_claim = "the reservation is in the entry the fault's walk reached: found for free"
    programs = {p: by for p, by in f.fault_lookup.items() if PAGETABLE in by and LIST in by}
    # every program's lookup cost, both backends (plots.draw_verdict_figures)
    plot = "fault_lookup.png" if programs else ""
    if not programs:
        return [Verdict(topic, PAGETABLE, pt_claim, NOT_MEASURED,
                        "no real program was traced under both backends", "", plot=plot,
                        from_seed=False)]
    unit = next(iter(programs.values()))[PAGETABLE]["unit"]
    figure = "; ".join(
        f"{p}: {by[PAGETABLE]['median']:,.0f} vs {by[LIST]['median']:,.0f} (p99 "
        f"{by[PAGETABLE]['p99']:,.0f} vs {by[LIST]['p99']:,.0f}, {by[PAGETABLE]['faults']:,} faults)"
        for p, by in sorted(programs.items()))
    figure = f"median {unit} per fault to classify the page, page tables vs list: " + figure
    rule = ("holds if, on every real program, the page-table backend's median lookup per fault is "
            "at most the list's; does not hold if it is more on every program; depends otherwise")
    cheaper = [p for p, by in programs.items() if by[PAGETABLE]["median"] <= by[LIST]["median"]]
    if len(cheaper) == len(programs):
        return [Verdict(topic, PAGETABLE, pt_claim, HOLDS, figure, rule, plot=plot,
                        from_seed=False)]
    if not cheaper:
        return [Verdict(topic, PAGETABLE, pt_claim, DOES_NOT_HOLD, figure, rule, plot=plot,
                        from_seed=False)]
    others = [p for p in programs if p not in cheaper]
    return [Verdict(topic, PAGETABLE, pt_claim, DEPENDS, figure, rule,
                    depends_on=f"the program: cheaper on {_join(sorted(cheaper))}, dearer on "
                               f"{_join(sorted(others))}", plot=plot, from_seed=False)]


TOPICS = [_memory, _bits, _brk, _implementation, _contiguous, _extensible, _fault_lookup]


def verdicts(figures):
    """Every claim of the seed's table, in the table's order, each with its computed verdict."""
    return [v for topic in TOPICS for v in topic(figures)]


def summary_paragraph(results):
    """A short "what we found", written from the verdicts alone."""
    measured = [v for v in results if v.outcome != NOT_MEASURED]
    if not measured:
        return "Nothing was measured, so no claim of the seed's table is settled by this run."
    parts = []
    for outcome, one, many in ((HOLDS, "holds", "hold"), (DOES_NOT_HOLD, "does not hold",
                                                          "do not hold"),
                               (DEPENDS, "depends", "depend")):
        claims = [f"\u201c{v.claim}\u201d ({v.backend})" for v in measured if v.outcome == outcome]
        if claims:
            parts.append(f"1 claim {one}: " if len(claims) == 1 else f"{len(claims)} claims {many}: ")
            parts[-1] += _join(claims)
    missing = len(results) - len(measured)
    seeds = sum(v.from_seed for v in results)
    added = len(results) - seeds
    whose = f"the seed's {seeds} claims" + (f" and pagescope's {added} added" if added else "")
    text = f"Of {whose}, " + "; ".join(parts) + "."
    if missing:
        text += f" {missing} could not be judged because this run did not measure them."
    return text
