"""pagescope trace analyzer.

    python3 -m analyzer info TRACE     check a trace and print its header and totals
    python3 -m analyzer check TRACE    replay its allocator events against every snapshot
    python3 -m analyzer workload LOG -o FILE   convert an strace log into a workload file

Exit status: 0 fine, 2 bad usage, 3 the trace is malformed or inconsistent, 4 cannot read it.
"""

import argparse
import sys

from .reader import TraceError, TraceReader
from .replay import check_replay
from .summary import summarize

EXIT_OK, EXIT_USAGE, EXIT_BAD_TRACE, EXIT_IO = 0, 2, 3, 4


class CommandFailed(Exception):
    """A command's verdict on its input: printed as one line, turned into `status`."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def add_trace_argument(parser):
    parser.add_argument("trace", help="trace file written by the kernel (make trace OUT=...)")


class Info:
    """Check a trace and print its header, record counts, losses, bytes and duration.

    Checks framing, sequence numbers and that the kernel's own totals (trace_end) match what
    arrived."""

    name = "info"

    add_arguments = staticmethod(add_trace_argument)

    @staticmethod
    def run(args, out):
        summary = summarize(TraceReader.open(args.trace))
        _print_info(summary, out)
        if summary.problems:
            raise CommandFailed("inconsistent trace: " + "; ".join(summary.problems),
                                EXIT_BAD_TRACE)


class Check:
    """Replay the physical and virtual allocator events against every snapshot in the trace.

    Between two snapshots, replaying the pmm_alloc/pmm_free and vmm_reserve/vmm_release events
    from the first must give the second exactly; any difference means an event is missing or
    wrong. Also runs every check of `info`."""

    name = "check"

    add_arguments = staticmethod(add_trace_argument)

    @staticmethod
    def run(args, out):
        summary = summarize(TraceReader.open(args.trace))
        report = check_replay(TraceReader.open(args.trace).events())
        out.write(f"replay      {report.events_replayed} events replayed, "
                  f"{report.snapshots_checked} snapshots checked\n")
        problems = summary.problems + report.problems
        if problems:
            raise CommandFailed("replay does not match: " + "; ".join(problems), EXIT_BAD_TRACE)
        if report.snapshots_checked == 0:
            raise CommandFailed("no two snapshots to check a replay between", EXIT_BAD_TRACE)
        out.write("verdict     every snapshot equals the replay of the events before it\n")


def _print_info(s, out):
    h = s.header
    w = out.write
    w(f"format      version {h.version}, clock {h.value_name('clock')} at "
      f"{_hz(h.clock_hz)}\n")
    w(f"kernel      vmm={h.value_name('vmm_backend')} trace={h.value_name('trace_mode')} "
      f"memory={h.memory_bytes // (1 << 20)} MiB build={h.build_id or '?'}\n")
    w(f"cmdline     {h.cmdline}\n")
    w(f"bytes       {s.file_bytes} ({h.header_bytes} header, {s.record_bytes} in records, "
      f"{s.record_bytes / s.records if s.records else 0:.1f} per record)\n")
    seconds = s.duration_seconds
    w(f"duration    {s.duration_ticks} ticks" +
      (f" = {seconds * 1e3:.3f} ms" if seconds is not None else "") + "\n")
    w(f"records     {s.records}\n")
    for name, count in sorted(s.per_type.items(), key=lambda kv: (-kv[1], kv[0])):
        w(f"  {name:<20} {count}\n")
    total_lost = sum(s.lost.values())
    w(f"lost        {total_lost}" + "".join(f"  {r}={n}" for r, n in sorted(s.lost.items()) if n)
      + "\n")
    w(f"end         {'trace_end matches' if s.end and not s.problems else 'see errors'}\n")


def _hz(hz):
    return f"{hz / 1e6:.3f} MHz" if hz else "unknown frequency"


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
        from .workload import ConversionError, convert_file
        try:
            convert_file(args.trace, args.out, args.name, out)
        except ConversionError as e:
            raise CommandFailed(str(e), EXIT_BAD_TRACE) from None


COMMANDS = [Info, Check, Workload]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m analyzer", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.__doc__.split("\n")[0],
                           description=command.__doc__)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    args = parser.parse_args(argv)
    try:
        args.run(args, sys.stdout)
    except TraceError as e:
        return _fail(f"{args.trace}: malformed trace: {e}", EXIT_BAD_TRACE)
    except CommandFailed as e:
        return _fail(f"{args.trace}: {e}", e.status)
    except BrokenPipeError:
        return EXIT_OK  # the reader of our output (e.g. `head`) has seen enough
    except OSError as e:
        return _fail(f"cannot read trace: {e}", EXIT_IO)
    return EXIT_OK


def _fail(message, status):
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
