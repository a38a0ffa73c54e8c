"""The root click group of the ``pyfaas`` command; subcommands are registered in ``__main__``.

Commands are registered by import path and imported only when used (or listed by ``--help``), so that
``pyfaas version`` does not pay for the libraries of ``pyfaas up``.

``PyfaasGroup.main`` is the one place errors are shown: a :class:`CliError`, a pyfaas error (a bad stack
file, catalog or definition), a usage error or an unexpected exception all become one line on stderr
(``Error: <cause>: <hint>``) and a non-zero exit code, never a traceback (``PYFAAS_DEBUG=1`` shows it).
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import IO, Any

import click

from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError, format_error
from pyfaas.core.errors import PyfaasError
from pyfaas.core.version import __version__

__all__ = ["PyfaasGroup", "cli", "pass_context"]

ALIASES = {"rm": "remove", "delete": "remove", "ls": "list", "namespace": "namespaces", "secrets": "secret"}


class PyfaasGroup(click.Group):
    """A group that loads its commands lazily, resolves faas-cli's aliases and turns every failure into one
    line and an exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def add_lazy_command(self, name: str, import_path: str) -> None:
        """Register ``name`` as ``"package.module:attribute"``, imported on first use."""
        self.lazy_commands[name] = import_path

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = ALIASES.get(cmd_name, cmd_name)
        if name not in self.commands and name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_commands[name]} is not a click command")
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = 0
        debug = False
        stderr: IO[str] = sys.stderr
        obj = extra.get("obj")
        if isinstance(obj, CliContext):
            debug = obj.environ.get("PYFAAS_DEBUG", "") not in ("", "0", "false")
            stderr = obj.output.stderr

        def report(line: str, exit_code: int, show_trace: bool = False) -> int:
            if debug or show_trace:
                traceback.print_exc(file=stderr)
            stderr.write(line + "\n")
            stderr.flush()
            return exit_code

        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        except CliError as exc:
            code = report(exc.line(), exc.exit_code)
        except PyfaasError as exc:
            code = report(format_error(exc.message), 1)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "pyfaas"
            code = report(format_error(exc.format_message(), f"see {command} --help"), exc.exit_code)
        except click.ClickException as exc:
            code = report(format_error(exc.format_message()), exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            code = report("Aborted.", 130)
        except BrokenPipeError:
            code = 0  # the reader (e.g. `| head`) went away; nothing left to say
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            code = report(format_error(f"{exc.strerror or exc}{where}"), 1)
        except Exception as exc:
            message = format_error(
                f"unexpected {type(exc).__name__}: {exc}", "run with PYFAAS_DEBUG=1 and report it"
            )
            code = report(message, 1)
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(
    cls=PyfaasGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, "--version", prog_name="pyfaas", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """pyfaas: an OpenFaaS-compatible serverless platform, and a faas-cli-compatible client.

    Gateway: -g/--gateway, else the stack file's provider.gateway, else OPENFAAS_URL, else
    http://127.0.0.1:8080. Credentials: pyfaas login (kept in ~/.openfaas/config.yml, as faas-cli).
    """
    if not isinstance(ctx.obj, CliContext):
        raise CliError("internal: pyfaas was started without its context", hint="run the pyfaas command")


pass_context = click.make_pass_decorator(CliContext)
"""Passes the :class:`CliContext` built in ``__main__`` to a command."""
