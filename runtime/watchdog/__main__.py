"""``pyfaas-watchdog`` / ``python -m pyfaas.watchdog``: the only place that reads ``os.environ``."""

from __future__ import annotations

import os
import sys

from pyfaas.watchdog.service import run

__all__ = ["main", "run"]


def main() -> None:
    sys.exit(run(os.environ, sys.argv))


if __name__ == "__main__":
    main()
