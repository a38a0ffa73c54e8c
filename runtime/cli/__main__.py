"""Entry point of the ``pyfaas`` console script: builds the context from the environment, registers commands.

Commands are registered by import path (see :class:`runtime.cli.app.PyfaasGroup`): a command module is
imported only when its command runs or ``--help`` lists it. Command modules keep heavy libraries (httpx, rich,
yaml, the pydantic wire models, the local platform) out of their top-level imports for the same reason;
``tests/unit/cli/test_startup.py`` checks it. The ``if __name__`` block stays last.
"""

from __future__ import annotations

import os
from pathlib import Path

from runtime.cli.app import cli
from runtime.cli.context import CliContext
from runtime.core.errors import ConfigError

COMMANDS = {
    "login": "runtime.cli.commands.auth:login",
    "logout": "runtime.cli.commands.auth:logout",
    "list": "runtime.cli.commands.functions:list_functions",
    "describe": "runtime.cli.commands.functions:describe",
    "deploy": "runtime.cli.commands.deploy:deploy",
    "remove": "runtime.cli.commands.functions:remove",
    "invoke": "runtime.cli.commands.invoke:invoke",
    "logs": "runtime.cli.commands.logs:logs",
    "scale": "runtime.cli.commands.functions:scale",
    "secret": "runtime.cli.commands.secrets:secret",
    "namespaces": "runtime.cli.commands.system:namespaces",
    "new": "runtime.cli.commands.scaffold:new",
    "template": "runtime.cli.commands.scaffold:template",
    "store": "runtime.cli.commands.store:store",
    "version": "runtime.cli.commands.system:version",
    "async": "runtime.cli.commands.async_calls:async_group",
    "up": "runtime.cli.local.commands:up",
    "down": "runtime.cli.local.commands:down",
}
"""Command name → ``module:attribute`` of its click command."""

for _name, _import_path in COMMANDS.items():
    cli.add_lazy_command(_name, _import_path)


def main() -> None:
    try:
        context = CliContext.from_environ(os.environ, Path.cwd())
    except ConfigError as exc:
        raise SystemExit(f"Error: {exc.message}: fix the environment variable") from None
    cli.main(prog_name="pyfaas", obj=context)


if __name__ == "__main__":
    main()
