"""The header is held to the rest of the trace: a command line edited to another scenario (or to
none) disagrees with the phases the trace opened, and control characters in the header's text
are damage. Every subcommand refuses such a trace alike (the strict and the bulk reader)."""

import struct

import pytest

from analyzer.definitions.events import FORMAT
from analyzer.reading.reader import TraceReader

from conftest import analyzer_on_bytes

CMDLINE_AT = FORMAT.stream_header.size  # the header's strings follow its fixed part


def run(tmp_path, command, data):
    status, _, err = analyzer_on_bytes(tmp_path, command, data)
    return status, err


def with_cmdline(data, old, new):
    """The trace with `old` replaced by `new` (same length) in the header's command line."""
    assert len(old) == len(new)
    header = TraceReader(data).header
    at = data.index(old.encode(), CMDLINE_AT, CMDLINE_AT + len(header.cmdline.encode()))
    return data[:at] + new.encode() + data[at + len(old):]


@pytest.mark.parametrize("command", ["info", "check", "perfetto"])
@pytest.mark.parametrize("old, new", [("scenario=dma", "scenario=all"),
                                      ("scenario=dma", " " * 12)])
def test_a_command_line_edited_to_another_scenario_is_refused(kernel_trace, tmp_path, command,
                                                              old, new):
    data = kernel_trace("trace=on scenario=dma")
    assert run(tmp_path, command, data)[0] == 0
    status, err = run(tmp_path, command, with_cmdline(data, old, new))
    assert status == 3, err
    assert "the header's command line runs" in err and f"offset {CMDLINE_AT}" in err, err


@pytest.mark.parametrize("command", ["info", "perfetto"])
@pytest.mark.parametrize("character", ["\t", "\x1b", "\x7f"])
def test_a_control_character_in_the_header_text_is_refused(small_trace, tmp_path, command,
                                                            character):
    data = with_cmdline(small_trace, "test", "te" + character + "t")
    status, err = run(tmp_path, command, data)
    assert status == 3 and "contains the control character" in err, err
    assert f"offset {CMDLINE_AT + 2}" in err
