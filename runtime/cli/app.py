"""The root click group of the ``pyfaas`` command; subcommands register themselves in ``__main__``.

``PyfaasGroup.main`` is the one place errors are shown: a :class:`CliError`, a pyfaas error (a bad stack
file, catalog or definition), a usage error or an unexpected exception all become one line on stderr
(``Error: <cause>: <hint>``) and a non-zero exit code, never a traceback (``PYFAAS_DEBUG=1`` shows it).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from runtime.cli.context import CliContext
from runtime.cli.errors import CliError, format_error
from runtime.core.errors import PyfaasError

__all__ = ["PyfaasGroup", "cli", "pass_context"]

ALIASES = {"rm": "remove", "delete": "remove", "ls": "list", "namespace": "namespaces", "secrets": "secret"}


class PyfaasGroup(click.Group):
    """A group that resolves faas-cli's aliases and turns every failure into one line and an exit code."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

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
        obj = extra.get("obj")
        if isinstance(obj, CliContext):
            debug = obj.environ.get("PYFAAS_DEBUG", "") not in ("", "0", "false")
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        except CliError as exc:
            code = _report(exc.line(), exc.exit_code, debug)
        except PyfaasError as exc:
            code = _report(format_error(exc.message), 1, debug)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "pyfaas"
            code = _report(format_error(exc.format_message(), f"see {command} --help"), exc.exit_code, debug)
        except click.ClickException as exc:
            code = _report(format_error(exc.format_message()), exc.exit_code, debug)
        except (click.Abort, KeyboardInterrupt):
            sys.stderr.write("Aborted.\n")
            code = 130
        except BrokenPipeError:
            code = 0  # the reader (e.g. `| head`) went away; nothing left to say
        except OSError as exc:
            code = _report(
                format_error(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")),
                1,
                debug,
            )
        except Exception as exc:
            code = _report(
                format_error(
                    f"unexpected {type(exc).__name__}: {exc}", "run with PYFAAS_DEBUG=1 and report it"
                ),
                1,
                True,
            )
        if standalone_mode:
            sys.exit(code)
        return code


def _report(line: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    return code


@click.group(
    cls=PyfaasGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
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
