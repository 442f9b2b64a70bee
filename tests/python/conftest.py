"""Shared fixtures: building the host encoder programs the format tests run."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRACE_SOURCES = ["kernel/trace/tracer.c", "kernel/trace/tracepoints.c",
                 "kernel/trace/stream_header.c", "kernel/lib/string.c"]


@pytest.fixture(scope="session")
def build_encoder(tmp_path_factory):
    """Returns build(config_text) -> path of an encode_events binary built with that config
    (a C header defining FAKE_CLOCK_START, FAKE_CLOCK_STEP, HEADER_INFO and EVENT_CALLS)."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required to build the trace encoder")

    def build(config_text, name):
        work = tmp_path_factory.mktemp(name)
        config = work / "config.h"
        config.write_text(config_text)
        binary = work / "encode_events"
        cmd = ["gcc", "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-DPAGESCOPE_HOST",
               "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
               f"-I{REPO}", f"-I{work}", "-include", str(config),
               str(FIXTURES / "encode_events.c"), *[str(REPO / s) for s in TRACE_SOURCES],
               "-o", str(binary)]
        subprocess.run(cmd, check=True, cwd=work)
        return binary

    return build
