"""CLI start-up A/B: ``pyfaas`` commands from two git revisions, run alternately, side by side.

    .venv/bin/python bench/cli_startup.py BEFORE [AFTER] [--rounds 15]

``BEFORE`` and ``AFTER`` are git revisions (``AFTER`` defaults to the working tree), exported as in
``bench/gateway_ab.py``. Each round runs every command once per side, the order flipping every round, as
``python -m pyfaas.cli ...`` (gateway commands point at a refused port: what is measured is start-up and
imports, not the gateway). Printed per command and side: the median wall time of the process, and the median
import time (``-X importtime``: the sum of the top-level imports); then the after/before ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_ab import export  # bench/gateway_ab.py: a revision's runtime/ in a folder

REFUSED = "http://127.0.0.1:1"
COMMANDS = (("--help",), ("version", "-g", REFUSED), ("list", "-g", REFUSED), ("up", "--help"))


def run(tree: Path, args: tuple[str, ...], home: Path, *, importtime: bool) -> float:
    """Wall seconds of one ``pyfaas ARGS`` run, or its import seconds with ``importtime``."""
    flags = ["-X", "importtime"] if importtime else []
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *flags, "-m", "pyfaas.cli", *args],
        cwd=tree,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    wall = time.perf_counter() - started
    if not importtime:
        return wall
    top_level = 0
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and not parts[2].startswith("  "):
            top_level += int(parts[1]) if parts[1].strip().isdigit() else 0
    return top_level / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", help="git revision of the first side")
    parser.add_argument(
        "after", nargs="?", help="git revision of the second side (default: the working tree)"
    )
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as work_dir:
        work = Path(work_dir)
        trees = {
            "before": export(options.before, work / "before"),
            "after": export(options.after, work / "after"),
        }
        home = work / "home"
        home.mkdir()
        wall: dict[tuple[str, str], list[float]] = {}
        imports: dict[tuple[str, str], list[float]] = {}
        for round_number in range(options.rounds):
            sides = ["before", "after"] if round_number % 2 == 0 else ["after", "before"]
            for args in COMMANDS:
                for side in sides:
                    key = (" ".join(args), side)
                    wall.setdefault(key, []).append(run(trees[side], args, home, importtime=False))
                    imports.setdefault(key, []).append(run(trees[side], args, home, importtime=True))
    print(f"{'command':<36} {'side':<7} {'wall ms':>8} {'imports ms':>11}")
    for args in COMMANDS:
        command = " ".join(args)
        medians = {}
        for side in ("before", "after"):
            medians[side] = (
                statistics.median(wall[(command, side)]) * 1000,
                statistics.median(imports[(command, side)]) * 1000,
            )
            print(f"{command:<36} {side:<7} {medians[side][0]:>8.0f} {medians[side][1]:>11.0f}")
        ratio_wall = medians["after"][0] / medians["before"][0]
        ratio_imports = medians["after"][1] / medians["before"][1]
        print(f"{command:<36} {'a/b':<7} {ratio_wall:>8.2f} {ratio_imports:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
