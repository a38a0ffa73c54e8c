"""Start-up cost of ``pyfaas``: a command imports only the libraries it needs.

Each case runs a real ``pyfaas`` in a fresh interpreter (``sys.modules`` of this test process is full of
everything) and reports which of the watched modules got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import REPO_ROOT

NEVER = ("nats", "aiohttp", "pulumi", "pulumi_kubernetes", "lightkube", "pyfaas.provider.local")
"""Libraries of the services, the local platform and infra: no command but ``up``/``down`` needs them."""

GATEWAY_CLIENT = ("httpx", "rich", "yaml", "pyfaas.core.models", "pyfaas.store.catalog")
"""What talking to a gateway needs: not needed to print the help."""

_REPORT = """
import json, sys
import pyfaas.cli.__main__ as entry
args, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if args is not None:
    sys.argv = ["pyfaas", *args]
    try:
        entry.main()
    except SystemExit:
        pass
sys.stderr.write("\\nLOADED " + json.dumps(sorted(name for name in watched if name in sys.modules)) + "\\n")
"""


def _loaded(args: list[str] | None, watched: tuple[str, ...], home: Path) -> list[str]:
    """The modules of ``watched`` imported by ``import pyfaas.cli.__main__`` then ``pyfaas ARGS`` (unless
    ``args`` is None)."""
    result = subprocess.run(
        [sys.executable, "-c", _REPORT, json.dumps(args), json.dumps(watched)],
        cwd=home,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = [line for line in result.stderr.splitlines() if line.startswith("LOADED ")]
    assert report, result.stderr
    loaded: list[str] = json.loads(report[-1].removeprefix("LOADED "))
    return loaded


def test_importing_the_entry_point_loads_no_service_library(tmp_path: Path) -> None:
    assert _loaded(None, NEVER, tmp_path) == []


def test_help_imports_no_gateway_client_library(tmp_path: Path) -> None:
    assert _loaded(["--help"], NEVER + GATEWAY_CLIENT, tmp_path) == []


@pytest.mark.parametrize(
    "args",
    [
        ["version", "-g", "http://127.0.0.1:1"],  # port 1: refused at once, after importing all it needs
        ["list", "-g", "http://127.0.0.1:1"],
        ["describe", "echo", "-g", "http://127.0.0.1:1"],
        ["secret", "list", "-g", "http://127.0.0.1:1"],
        ["store", "list"],
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_gateway_commands_import_no_service_library(tmp_path: Path, args: list[str]) -> None:
    assert _loaded(args, NEVER, tmp_path) == []
