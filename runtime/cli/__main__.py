"""Entry point of the ``pyfaas`` console script: builds the context from the environment, registers commands.

Commands are registered by import path (see :class:`pyfaas.cli.app.PyfaasGroup`): a command module is
imported only when its command runs or ``--help`` lists it. Command modules keep heavy libraries (httpx, rich,
yaml, the pydantic wire models, the local platform) out of their top-level imports for the same reason;
``tests/unit/cli/test_startup.py`` checks it. The ``if __name__`` block stays last.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyfaas.cli.app import cli
from pyfaas.cli.context import CliContext
from pyfaas.core.errors import ConfigError

COMMANDS = {
    "login": "pyfaas.cli.commands.auth:login",
    "logout": "pyfaas.cli.commands.auth:logout",
    "list": "pyfaas.cli.commands.functions:list_functions",
    "describe": "pyfaas.cli.commands.functions:describe",
    "deploy": "pyfaas.cli.commands.deploy:deploy",
    "generate": "pyfaas.cli.commands.generate:generate",
    "remove": "pyfaas.cli.commands.functions:remove",
    "invoke": "pyfaas.cli.commands.invoke:invoke",
    "logs": "pyfaas.cli.commands.logs:logs",
    "scale": "pyfaas.cli.commands.functions:scale",
    "secret": "pyfaas.cli.commands.secrets:secret",
    "key": "pyfaas.cli.commands.function_keys:key",
    "namespaces": "pyfaas.cli.commands.system:namespaces",
    "new": "pyfaas.cli.commands.scaffold:new",
    "template": "pyfaas.cli.commands.scaffold:template",
    "store": "pyfaas.cli.commands.store:store",
    "version": "pyfaas.cli.commands.system:version",
    "async": "pyfaas.cli.commands.async_calls:async_group",
    "build": "pyfaas.cli.commands.build:build",
    "push": "pyfaas.cli.commands.build:push",
    "up": "pyfaas.cli.local.commands:up",
    "down": "pyfaas.cli.local.commands:down",
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
