"""Entry point of the ``pyfaas`` console script: builds the context from the environment, registers commands.

Commands register below; the ``if __name__`` block stays last so that ``python -m runtime.cli`` sees them all.
"""

from __future__ import annotations

import os
from pathlib import Path

from runtime.cli.app import cli
from runtime.cli.commands.async_calls import async_group
from runtime.cli.commands.auth import login, logout
from runtime.cli.commands.deploy import deploy
from runtime.cli.commands.functions import describe, list_functions, remove, scale
from runtime.cli.commands.invoke import invoke
from runtime.cli.commands.logs import logs
from runtime.cli.commands.scaffold import new, template
from runtime.cli.commands.secrets import secret
from runtime.cli.commands.store import store
from runtime.cli.commands.system import namespaces, version
from runtime.cli.context import CliContext
from runtime.cli.local.commands import down, up
from runtime.core.errors import ConfigError

for _command in (
    login,
    logout,
    list_functions,
    describe,
    deploy,
    remove,
    invoke,
    logs,
    scale,
    secret,
    namespaces,
    new,
    template,
    store,
    version,
    async_group,
):
    cli.add_command(_command)
cli.add_command(up)
cli.add_command(down)


def main() -> None:
    try:
        context = CliContext.from_environ(os.environ, Path.cwd())
    except ConfigError as exc:
        raise SystemExit(f"Error: {exc.message}: fix the environment variable") from None
    cli.main(prog_name="pyfaas", obj=context)


if __name__ == "__main__":
    main()
