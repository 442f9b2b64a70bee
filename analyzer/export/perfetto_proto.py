"""The generated protobuf classes of analyzer/export/proto/pagescope_perfetto.proto.

`make` compiles the .proto with protoc into build/proto/; when the generated module is missing or
older than the .proto (a fresh checkout run without make), the same protoc command runs here."""

import importlib
import subprocess
import sys

from ..definitions.events import REPO_ROOT

PROTO = REPO_ROOT / "analyzer" / "export" / "proto" / "pagescope_perfetto.proto"
OUT_DIR = REPO_ROOT / "build" / "proto"
GENERATED = OUT_DIR / "pagescope_perfetto_pb2.py"


def protoc_command():
    return ["protoc", f"-I{PROTO.parent}", f"--python_out={OUT_DIR}", str(PROTO)]


def load():
    if not GENERATED.exists() or GENERATED.stat().st_mtime < PROTO.stat().st_mtime:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(protoc_command(), check=True)
    if str(OUT_DIR) not in sys.path:
        sys.path.insert(0, str(OUT_DIR))
    return importlib.import_module("pagescope_perfetto_pb2")


pb = load()
