"""The root click group of the ``pyfaas`` command; subcommands register themselves in ``__main__``."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """pyfaas: an OpenFaaS-compatible serverless platform, and a faas-cli-compatible client."""
