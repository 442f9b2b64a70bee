"""pagescope trace analyzer.

    python3 -m analyzer info TRACE     check a trace and print its header and totals
    python3 -m analyzer check TRACE    replay its allocator events against every snapshot
    python3 -m analyzer decode TRACE   every event, one per line (JSON lines or CSV)
    python3 -m analyzer perfetto TRACE -o OUT.pftrace
    python3 -m analyzer frag TRACE -o OUT.csv
    python3 -m analyzer compare TRACE_A TRACE_B
    python3 -m analyzer programs TRACE...   per user process: calls, faults, pages, fault cost
    python3 -m analyzer report TRACE... -o DIR
    python3 -m analyzer workload LOG -o FILE   convert an strace log into a workload file
    python3 -m analyzer buddyinfo TRACE [--at T]   /proc/buddyinfo at a moment
    python3 -m analyzer extfrag TRACE [--at T]     the debugfs unusable and fragmentation indices
    python3 -m analyzer kmem TRACE                 perf kmem stat: totals and top call sites
    python3 -m analyzer owners TRACE [--at T]      page_owner: who holds memory (default: peak)
    python3 -m analyzer leaks TRACE                what is still allocated at the end, by site

Exit status: 0 fine, 2 bad usage (including an output path that must not be replaced), 3 the
trace is malformed or inconsistent, 4 cannot read an input or write an output (the message says
which file and which of the two), 5 (compare) the two runs diverged: a request got a different
outcome in each, a finding about the runs, not damage.
"""

import argparse
import shlex
import sys

from .reading.reader import TraceError, TraceReader
from .checking.replay import Replay
from .reading.summary import SummaryBuilder
from .definitions.units import clock_text, duration_text

EXIT_OK, EXIT_USAGE, EXIT_BAD_TRACE, EXIT_IO, EXIT_DIVERGED = 0, 2, 3, 4, 5


class CommandFailed(Exception):
    """A command's verdict on its input: printed as one line, turned into `status`.
    `problems` (summary.Problem: offset, text) are listed first, one line each."""

    def __init__(self, message, status, problems=()):
        super().__init__(message)
        self.status = status
        self.problems = list(problems)


# A broken trace can have thousands of problems: list this many, then say how many more.
PROBLEMS_LISTED = 100


def read_trace(path, replay=False):
    """Reads a trace file once, in one pass: (Summary, ReplayReport or None). TraceError on the
    first framing or validation error; CommandFailed listing every inconsistency found."""
    reader = TraceReader.open(path)
    builder = SummaryBuilder(reader)
    checker = Replay(reader.offset_of) if replay else None
    for event in reader.events(on_record=builder.add):
        if checker:
            checker.feed(event)
    summary = builder.finish()
    report = checker.finish() if checker else None
    problems = summary.problems + (report.problems if report else [])
    end = len(reader.data)
    return summary, report, sorted((p.at(end) if p.offset is None else p
                                    for p in problems), key=lambda p: p.offset)


def add_trace_argument(parser):
    parser.add_argument("trace", metavar="TRACE",
                        help="trace file written by the kernel (make trace OUT=...)")


class Info:
    """Check a trace and print its header, record counts, losses, bytes and duration.

    Checks framing, sequence numbers and that the kernel's own totals (trace_end) match what
    arrived."""

    name = "info"

    add_arguments = staticmethod(add_trace_argument)

    @staticmethod
    def run(args, out):
        summary, _, problems = read_trace(args.trace)
        _print_info(summary, out)
        if problems:
            raise CommandFailed("inconsistent trace", EXIT_BAD_TRACE, problems)


class Check:
    """Replay the physical and virtual allocator events against every snapshot in the trace.

    Every context is replayed from its creation (all regions free) and the pmm from its first
    snapshot; every snapshot (each phase boundary, each context's destruction) must equal the
    replay of the events before it, and every release must give back a whole reservation. Any
    difference means an event is missing or wrong; each one is listed with its offset. Also
    runs every check of `info`."""

    name = "check"

    add_arguments = staticmethod(add_trace_argument)

    @staticmethod
    def run(args, out):
        summary, report, problems = read_trace(args.trace, replay=True)
        out.write(f"contexts    {report.contexts_checked} of {report.contexts_created} replayed "
                  "from creation and checked against snapshots\n")
        out.write(f"replay      {report.events_replayed} allocator events replayed "
                  f"({report.vmm_events_replayed} virtual), {report.snapshots_checked} "
                  "snapshots checked\n")
        out.write(f"paired      {report.events_paired} frees, unmaps, protections and switches "
                  "matched to what they undo\n")
        out.write(f"pages       {report.mappings_checked} mappings' physical pages held to "
                  "the pmm's live allocations and their region's owner\n")
        if report.replay_ops_checked:
            out.write(f"workload    {report.replay_ops_checked} replayed workload ops held to "
                      "workload.def and to their processes' contexts\n")
        out.write(f"unchecked   {report.events_unchecked} events (before the first pmm snapshot "
                  "or after lost events)\n")
        if report.process_events_checked:
            out.write(f"processes   {report.process_events_checked} process starts, exits, faults "
                      "and system calls checked against the allocator events around them\n")
        if problems:
            raise CommandFailed("replay does not match", EXIT_BAD_TRACE, problems)
        if report.snapshots_checked == 0:
            raise CommandFailed("no snapshot to check a replay against", EXIT_BAD_TRACE)
        lost = sum(summary.lost.values())
        out.write("verdict     every snapshot equals the replay of the events before it" +
                  (f"; {lost} events were lost (declared by the trace), so the state was "
                   "re-learned from the next snapshots" if lost else "") + "\n")


def _print_info(s, out):
    h = s.header
    w = out.write
    w(f"format      version {h.version}, clock: {clock_text(h)}\n")
    w(f"kernel      vmm={h.value_name('vmm_backend')} trace={h.value_name('trace_mode')} "
      f"memory={h.memory_bytes // (1 << 20)} MiB build={h.build_id or '?'}\n")
    w(f"cmdline     {h.cmdline}\n")
    w(f"bytes       {s.file_bytes} ({h.header_bytes} header, {s.record_bytes} in records, "
      f"{s.record_bytes / s.records if s.records else 0:.1f} per record)\n")
    w(f"duration    {duration_text(s.duration_ticks, h)}\n")
    w(f"records     {s.records}\n")
    for name, count in sorted(s.per_type.items(), key=lambda kv: (-kv[1], kv[0])):
        w(f"  {name:<20} {count}\n")
    total_lost = sum(s.lost.values())
    w(f"lost        {total_lost}" + "".join(f"  {r}={n}" for r, n in sorted(s.lost.items()) if n)
      + "\n")
    w(f"end         {'trace_end matches' if s.end and not s.problems else 'see errors'}\n")


# --- decode, perfetto, frag, compare, report (begin) ---------------------------------------------
class BadTrace(Exception):
    """A trace these commands refuse: printed as `error: FILE: offset N: reason`, exit 3."""

    def __init__(self, path, offset, reason):
        super().__init__(reason)
        self.path, self.offset, self.reason = path, offset, reason


def load_checked(path, with_series=False):
    """A BulkTrace (and its state.State), or BadTrace naming the file and offset. The trace is
    replayed as `check` replays it either way (state.replay), so every command refuses what
    `check` refuses."""
    from .metrics.state import load
    try:
        trace, state = load(path)
        return (trace, state) if with_series else trace
    except TraceError as e:
        raise BadTrace(path, e.offset, e.args[0]) from None


def load_framed(path):
    """A BulkTrace whose framing (header, records, sequence) is sound, not replayed: what decode
    prints, so that a trace `check` refuses can still be read to see why."""
    from .reading.bulk import BulkTrace
    try:
        return BulkTrace.open(path)
    except TraceError as e:
        raise BadTrace(path, e.offset, e.args[0]) from None


class Decode:
    """Print every event of a trace, one per line with named fields (JSON lines or CSV): named
    values (zone, owner, region, flags ...) by name and addresses in hex, or --raw numbers. A trace
    whose replay `check` refuses is printed too (that is how one finds out why); one whose framing
    is broken is refused."""

    name = "decode"

    @staticmethod
    def add_arguments(parser):
        add_trace_argument(parser)
        parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
        parser.add_argument("--type", nargs="+", default=[], metavar="NAME",
                            help="only these event types (events.def names)")
        parser.add_argument("--raw", action="store_true",
                            help="every field as its number (default: named values by name, "
                                 "addresses in hex)")

    @staticmethod
    def run(args, out):
        from .export.decode import write_events
        from .definitions.events import FORMAT
        unknown = [t for t in args.type if t not in FORMAT.events_by_name]
        if unknown:
            raise CommandFailed(f"unknown event type {unknown[0]!r}", EXIT_USAGE)
        write_events(load_framed(args.trace), out, args.format, args.type, args.raw)


class Perfetto:
    """Write the trace as a Perfetto trace (protobuf) that ui.perfetto.dev opens."""

    name = "perfetto"

    @staticmethod
    def add_arguments(parser):
        add_trace_argument(parser)
        parser.add_argument("-o", "--output", required=True, help="the .pftrace to write")

    @staticmethod
    def run(args, out):
        from .definitions.output import atomic_file
        from .export.perfetto import to_perfetto
        trace, series = load_checked(args.trace, with_series=True)
        data = to_perfetto(trace, series)
        with atomic_file(args.output, "wb") as f:
            f.write(data)
        out.write(f"wrote {args.output} ({len(data)} bytes, {trace.events_total()} events)\n")


class Frag:
    """Write the fragmentation time series (Linux's indices per zone and order, free extents,
    virtual holes per context and region) as CSV, one row per sample and scope."""

    name = "frag"

    @staticmethod
    def add_arguments(parser):
        add_trace_argument(parser)
        parser.add_argument("-o", "--output", required=True, help="the .csv to write")

    @staticmethod
    def run(args, out):
        from .definitions.output import atomic_file
        from .metrics.frag import write_csv
        trace, series = load_checked(args.trace, with_series=True)
        with atomic_file(args.output, "w") as f:
            rows = write_csv(series, trace, f)
        out.write(f"wrote {args.output} ({rows} rows: every change of every zone and region)\n")


class Compare:
    """Compare two traces of the same workload (normally the two VMM backends).

    Refuses them (exit 3) unless they carry the same requests; then prints per operation the
    work distribution, and bookkeeping bytes over time, for each. When a request got a different
    outcome in each (one backend ran out of memory where the other did not), that is a finding:
    the first such request is printed first, the figures cover the identical requests before it,
    and the exit status is 5. Two traces under different pmm= allocators are compared as
    allocators instead: where their physical request sequences first diverge (an allocation
    refused under one only), then their figures."""

    name = "compare"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("trace_a")
        parser.add_argument("trace_b")

    @staticmethod
    def run(args, out):
        from .reports.allocators import allocator_of, write_allocator_comparison
        from .metrics.compare import RequestsDiffer, write_comparison
        a, b = load_checked(args.trace_a), load_checked(args.trace_b)
        if allocator_of(a) != allocator_of(b):  # the allocator lab: where the requests diverge
            write_allocator_comparison(a, b, out)
            return
        try:
            divergence = write_comparison(a, b, out)
        except RequestsDiffer as e:
            raise BadTrace(e.path, e.offset, e.args[0]) from None
        return EXIT_DIVERGED if divergence else EXIT_OK


class Programs:
    """Per user process of a traced program run, and per trace (one per backend): system calls by
    name, the unsupported ones (-ENOSYS), faults by outcome, peak resident and reserved pages,
    ticks per fault (median, p99, max; guest instructions under icount), and the backend's
    bookkeeping bytes over time. `check` validates the events these figures add up."""

    name = "programs"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("traces", nargs="+", metavar="TRACE")

    @staticmethod
    def run(args, out):
        from .reports.program_report import write_programs
        write_programs([load_checked(t) for t in args.traces], out)


def program_runs_given(specs):
    """[(name, trace, series)] for report --program NAME=TRACE: each trace read once; run NAME
    of a trace that holds several runs (analyzer/processes.select_run)."""
    from .metrics.processes import select_run
    loaded, out = {}, []
    for name, path in specs:
        if path not in loaded:
            loaded[path] = load_checked(path, with_series=True)
        trace, series = loaded[path]
        try:
            out.append((name, select_run(trace, name), series))
        except ValueError as e:
            raise CommandFailed(str(e), EXIT_USAGE) from None
    return out


class Report:
    """Write a self-contained HTML report (index.html, plots, the traces and their Perfetto
    conversions) of one or more traces into a directory."""

    name = "report"

    @staticmethod
    def workload_spec(spec):
        """NAME=TRACE -> (name, path); a usage error (exit 2) otherwise."""
        import argparse
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise argparse.ArgumentTypeError(f"{spec!r} is not NAME=TRACE")
        return name, path

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("traces", nargs="+", metavar="TRACE")
        parser.add_argument("-o", "--output", required=True, help="directory to write")
        parser.add_argument("--results-readme", metavar="README",
                            help="also write the verdict table into this Markdown file "
                                 "(make report: results/README.md)")
        parser.add_argument("--workload", action="append", default=[], metavar="NAME=TRACE",
                            type=Report.workload_spec,
                            help="a further trace, named NAME, that feeds only the verdict's "
                                 "per-workload figures (repeatable; make report passes every "
                                 "recorded program replayed under both backends)")
        parser.add_argument("--program", action="append", default=[], metavar="NAME=TRACE",
                            type=Report.workload_spec,
                            help="a traced run of program NAME (scenario=program), one per "
                                 "backend, for the real-program section (repeatable; several "
                                 "programs may be given)")
        parser.add_argument("--allocators", metavar="DIR",
                            help="include the allocator lab's section that `analyzer allocators` "
                                 "wrote into DIR (make report passes results/report-pmm when "
                                 "make report-pmm has made it)")

    @staticmethod
    def run(args, out):
        from pathlib import Path
        from .definitions.output import atomic_directory
        from .export.perfetto import to_perfetto
        from .reports.report import splice_verdict, verdict_markdown, write_report
        from .definitions.progressbar import bar
        workloads = [(name, load_checked(path)) for name, path in
                     bar(args.workload, desc="reading workload traces", unit="trace")]
        runs = [load_checked(t, with_series=True) for t in args.traces]
        programs = program_runs_given(args.program)
        inputs = (list(args.traces) + [path for _, path in args.workload] +
                  [path for _, path in args.program])
        with atomic_directory(args.output, inputs=inputs) as tmp:
            for (trace, series), path in bar(list(zip(runs, args.traces)),
                                             desc="Perfetto conversions", unit="trace"):
                (tmp / (Path(path).stem + ".pftrace")).write_bytes(to_perfetto(trace, series))
            command = ["python3", "-m", "analyzer", "report", *args.traces, "-o", args.output]
            for name, path in args.workload:
                command += ["--workload", f"{name}={path}"]
            for name, path in args.program:
                command += ["--program", f"{name}={path}"]
            if args.results_readme:
                command += ["--results-readme", args.results_readme]
            if args.allocators:
                command += ["--allocators", args.allocators]
            try:
                _, measured = write_report(runs, tmp, " ".join(shlex.quote(c) for c in command),
                                           extra_files=args.traces, workloads=workloads,
                                           programs=programs, allocators=args.allocators)
            except FileNotFoundError as e:
                failure = CommandFailed(f"cannot read the allocator section: {e.strerror} (run "
                                        "make report-pmm, or analyzer allocators -o DIR)",
                                        EXIT_IO)
                failure.path = e.filename
                raise failure from None
        out.write(f"wrote {Path(args.output) / 'index.html'}\n")
        if args.results_readme:
            readme = Path(args.results_readme)
            splice_verdict(readme, verdict_markdown(measured, args.output, readme))
            out.write(f"wrote the verdict into {readme}\n")
class Allocators:
    """Write the allocator lab's side-by-side section (pmm.html, pmm.md, plots) from one checked
    trace per pmm= allocator of the same workload, and the pmm-pairs boot logs; real programs
    booted under each allocator are a second workload (--program, --program-log)."""

    name = "allocators"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("traces", nargs="+", metavar="TRACE")
        parser.add_argument("-o", "--output", required=True, help="directory to write")
        parser.add_argument("--pairs", action="append", default=[], metavar="LOG",
                            help="a boot log of scenario=pmm-pairs (repeatable)")
        parser.add_argument("--program", action="append", default=[], metavar="NAME=TRACE",
                            type=Report.workload_spec,
                            help="a traced run of program NAME under one allocator (repeatable: "
                                 "one per program and allocator; programs.pagescope --pmm)")
        parser.add_argument("--program-log", action="append", default=[], metavar="NAME=LOG",
                            type=Report.workload_spec,
                            help="the kernel log of such a run, for its pmm-cost line")

    @staticmethod
    def run(args, out):
        from pathlib import Path
        from .reports.allocators import program_figures, read_cost, read_pairs, write_section
        from .definitions.output import atomic_directory
        runs = [load_checked(t, with_series=True) for t in args.traces]
        try:
            pairs = read_pairs(args.pairs)
            costs = {}
            for name, path in args.program_log:
                cost = read_cost(path)
                if cost is None:
                    failure = CommandFailed("no pmm-cost line in this kernel log", EXIT_USAGE)
                    failure.path = path
                    raise failure
                costs[name, cost[0]] = cost
        except OSError as e:
            failure = CommandFailed(f"cannot read the log: {e.strerror}", EXIT_IO)
            failure.path = e.filename
            raise failure from None
        programs = []
        for name, path in args.program:
            trace, series = load_checked(path, with_series=True)
            f = program_figures(name, trace, series)
            f.cost = costs.get((name, f.allocator), (None,))[1:] or None
            programs.append(f)
        command = "python3 -m analyzer allocators " + " ".join(args.traces) + "".join(
            f" --pairs {p}" for p in args.pairs) + "".join(
            f" --program {n}={p}" for n, p in args.program) + "".join(
            f" --program-log {n}={p}" for n, p in args.program_log) + f" -o {args.output}"
        with atomic_directory(args.output) as tmp:
            write_section(runs, pairs, tmp, command, programs)
        out.write(f"wrote {Path(args.output) / 'pmm.html'}\n")
        out.write((Path(args.output) / "pmm.md").read_text())


# --- decode, perfetto, frag, compare, report (end) -----------------------------------------------



# --- buddyinfo, extfrag, kmem, owners, leaks (begin) ---------------------------------------------
def add_moment_argument(parser, default):
    parser.add_argument("--at", default=default, metavar="T",
                        help="the moment: end, peak (most physical pages in use), or a trace time "
                             f"in ns or with a unit: 250ms, 1.5s (default: {default})")


def moment_of(args, trace, series):
    """(record position, description) of --at, or a usage error (exit 2)."""
    from .metrics.mmstat import BadMoment, parse_moment, resolve
    try:
        return resolve(trace, series, parse_moment(args.at))
    except BadMoment as e:
        raise CommandFailed(str(e), EXIT_USAGE) from None


def attributed(args, trace):
    """The trace's call chains, symbolized from --elf when it is the trace's build (else a
    warning on stderr, and sites shown as addresses)."""
    from .metrics.attribution import SymbolsUnavailable, collect, symbolize
    attribution = collect(trace)
    if attribution.has_sites():
        try:
            symbolize(attribution, trace, args.elf)
        except SymbolsUnavailable as e:
            print(f"warning: {e}; call sites shown as addresses", file=sys.stderr)
    return attribution


def add_elf_argument(parser):
    from .metrics.attribution import DEFAULT_ELF
    parser.add_argument("--elf", default=str(DEFAULT_ELF),
                        help="the kernel ELF that names call sites (default: build/pagescope.elf)")


def print_zone_lines(args, out, lines_of):
    """The /proc-shaped commands: the zones' free blocks at the moment asked for, printed by
    lines_of (the moment itself goes to stderr)."""
    from .metrics.mmstat import zone_blocks_at
    trace, series = load_checked(args.trace, with_series=True)
    position, what = moment_of(args, trace, series)
    print(f"{args.trace}: {what}", file=sys.stderr)
    out.write("".join(line + "\n" for line in lines_of(zone_blocks_at(series, position))))


class Buddyinfo:
    """Print what /proc/buddyinfo would have shown at a moment: free blocks per order, per zone.

    Each free extent counts as the aligned power-of-two blocks Linux's buddy allocator would hold
    for the same pages (analyzer/metrics/frag.py), from the exact timeline (every change)."""

    name = "buddyinfo"

    @staticmethod
    def add_arguments(parser):
        add_trace_argument(parser)
        add_moment_argument(parser, "end")

    @staticmethod
    def run(args, out):
        from .metrics.mmstat import buddyinfo_lines
        print_zone_lines(args, out, buddyinfo_lines)


class Extfrag:
    """Print what /sys/kernel/debug/extfrag/unusable_index and extfrag_index would have shown at a
    moment (Linux's integer arithmetic, x1000 printed as d.ddd; -1.000: the request would
    succeed)."""

    name = "extfrag"

    @staticmethod
    def add_arguments(parser):
        add_trace_argument(parser)
        add_moment_argument(parser, "end")

    @staticmethod
    def run(args, out):
        from .metrics.mmstat import extfrag_lines
        print_zone_lines(args, out, extfrag_lines)


class Kmem:
    """Print allocation statistics like `perf kmem stat`: kmalloc bytes requested and allocated,
    internal fragmentation, slab caches, page allocator totals, the top call sites, and the
    histograms of every operation's cost and every request's size (power-of-two buckets, exact
    counts, as bpftrace's hist() prints them)."""

    name = "kmem"

    @staticmethod
    def add_arguments(parser):
        add_trace_argument(parser)
        add_elf_argument(parser)
        parser.add_argument("--top", type=int, default=10, help="call sites listed (default 10)")

    @staticmethod
    def run(args, out):
        from .metrics.mmstat import kmem_lines, kmem_stats, site_totals_lines
        trace = load_checked(args.trace)
        lines = kmem_lines(kmem_stats(trace))
        attribution = attributed(args, trace)
        if attribution.has_sites():
            lines += [""] + site_totals_lines(trace, attribution, args.top)
        from .metrics.latency import latency_lines
        lines += latency_lines(trace)
        out.write("".join(line + "\n" for line in lines))


class Owners:
    """Print who holds memory at a moment, like page_owner: physical pages per owner tag, then
    per call site the pages, kmalloc bytes, slab objects and reservations alive, most first."""

    name = "owners"

    @staticmethod
    def add_arguments(parser):
        add_trace_argument(parser)
        add_moment_argument(parser, "peak")
        add_elf_argument(parser)
        parser.add_argument("--top", type=int, default=15, help="call sites per table (default 15)")

    @staticmethod
    def run(args, out):
        from .metrics.mmstat import owners_lines
        trace, series = load_checked(args.trace, with_series=True)
        position, what = moment_of(args, trace, series)
        lines = owners_lines(trace, attributed(args, trace), position, what, args.top)
        out.write("".join(line + "\n" for line in lines))


class Leaks:
    """Print what is still allocated at the end of the trace, by owner and by call site, like
    bcc's memleak: physical pages, kmalloc allocations, slab objects, live reservations."""

    name = "leaks"

    @staticmethod
    def add_arguments(parser):
        add_trace_argument(parser)
        add_elf_argument(parser)
        parser.add_argument("--top", type=int, default=15, help="call sites per table (default 15)")

    @staticmethod
    def run(args, out):
        from .metrics.mmstat import owners_lines
        trace = load_checked(args.trace)
        lines = owners_lines(trace, attributed(args, trace), len(trace.headers),
                             "end of trace: still allocated", args.top)
        out.write("".join(line + "\n" for line in lines))
# --- buddyinfo, extfrag, kmem, owners, leaks (end) -----------------------------------------------


class Workload:
    """Convert an `strace -f -ttt -e trace=memory[,process]` log into a workload file.

    The kernel replays the file with `scenario=replay` (make trace WORKLOAD=FILE). Prints what it
    converted: ops per kind, processes, peak mapped bytes, and what it skipped."""

    name = "workload"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("trace", metavar="LOG", help="strace log (strace -f -ttt -o LOG ...)")
        parser.add_argument("-o", "--out", required=True, help="workload file to write")
        parser.add_argument("--name", help="name recorded in the file (default: the log's name)")

    @staticmethod
    def run(args, out):
        from .export.workload import ConversionError, convert_file
        try:
            convert_file(args.trace, args.out, args.name, out)
        except ConversionError as e:
            raise BadTrace(args.trace, e.offset, str(e)) from None


COMMANDS = [Info, Check, Workload, Decode, Perfetto, Frag, Compare, Programs, Report, Allocators,
            Buddyinfo, Extfrag, Kmem, Owners, Leaks]


def version_text():
    """The analyzer's version: the commit of its checkout, and the trace format it reads."""
    import subprocess
    from .definitions.events import FORMAT, REPO_ROOT
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return (f"pagescope analyzer {commit or 'unknown commit'}, trace format version "
            f"{FORMAT.constants['TRACE_FORMAT_VERSION']} (trace/events.def)")


def first_sentence(doc):
    """A docstring's first sentence, whatever its line breaks: a command's one-line help (its
    docstring's first line often stops mid-sentence)."""
    text = " ".join(doc.split())
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]


def build_parser():
    parser = argparse.ArgumentParser(prog="python3 -m analyzer", description=first_sentence(__doc__))
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=first_sentence(command.__doc__),
                           description=command.__doc__)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv=None):
    from .definitions.output import OutputError, OutputRefused
    args = build_parser().parse_args(argv)
    # The file an error is about: the one a TraceError names, else the command's trace argument.
    default = getattr(args, "trace", None) or args.command
    try:
        status = args.run(args, sys.stdout)
    except BadTrace as e:
        return _fail([f"{e.path}: offset {e.offset}: {e.reason}"], EXIT_BAD_TRACE)
    except TraceError as e:
        return _fail([f"{e.path or default}: {e}"], EXIT_BAD_TRACE)
    except CommandFailed as e:
        where = getattr(e, "path", None) or default
        lines = [f"{where}: {p}" for p in e.problems[:PROBLEMS_LISTED]]
        if len(e.problems) > PROBLEMS_LISTED:
            lines.append(f"{where}: ... and {len(e.problems) - PROBLEMS_LISTED} more "
                         "problems not listed")
        if len(e.problems) != 1:
            lines.append(f"{where}: {e}" + (f" ({len(e.problems)} problems)"
                                              if e.problems else ""))
        return _fail(lines, e.status)
    except OutputRefused as e:
        return _fail([str(e)], EXIT_USAGE)
    except OutputError as e:
        return _fail([str(e)], EXIT_IO)
    except BrokenPipeError:
        return EXIT_OK  # the reader of our output (e.g. `head`) has seen enough
    except OSError as e:
        return _fail([f"{e.filename or default}: cannot read trace: {e.strerror or e}"],
                     EXIT_IO)
    return status or EXIT_OK


def _fail(lines, status):
    """Prints each line as `error: ...` on stderr after flushing what stdout holds."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
