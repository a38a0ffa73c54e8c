"""Entry point of the ``pyfaas`` console script."""

from __future__ import annotations

from runtime.cli.app import cli


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
