"""What every command receives: settings read once from the environment in ``__main__``, and helpers that
turn the common options (``-g``, ``--tls-no-verify``, ``-f``) into a connected :class:`GatewayClient`.

The client (httpx) and the credentials file (yaml) are imported when a command first needs them: every
``pyfaas`` start builds this context, ``--help`` included.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pydantic import Field

from pyfaas.cli.gateway_url import resolve_gateway
from pyfaas.cli.output import Output
from pyfaas.core.settings import EnvBool, EnvSettings
from pyfaas.core.version import __version__

if TYPE_CHECKING:
    from pyfaas.cli.client import GatewayClient
    from pyfaas.cli.credentials import CredentialStore

__all__ = ["CliContext", "CliSettings"]


class CliSettings(EnvSettings):
    """faas-cli's environment variables (and pyfaas's ``OPENFAAS_STORE``)."""

    openfaas_url: str = Field("", validation_alias="OPENFAAS_URL")
    openfaas_config: str = Field("", validation_alias="OPENFAAS_CONFIG")
    ci: EnvBool = Field(False, validation_alias="CI")
    openfaas_store: str = Field("", validation_alias="OPENFAAS_STORE")
    pyfaas_store_sources: str = Field("", validation_alias="PYFAAS_STORE_SOURCES")
    """Named stores for ``pyfaas store``: ``name=URL-or-path, ...`` (``pyfaas`` alone: the bundled one)."""
    openfaas_prefix: str = Field("", validation_alias="OPENFAAS_PREFIX")
    home: str = Field("", validation_alias="HOME")
    timeout: float = Field(60.0, gt=0, validation_alias="PYFAAS_CLI_TIMEOUT")
    """Seconds to wait for the gateway's answer (invoke has its own ``--timeout``)."""


@dataclass
class CliContext:
    settings: CliSettings
    environ: Mapping[str, str]
    """The whole environment, for ``${VAR}`` substitution in stack files (faas-cli's --envsubst)."""
    cwd: Path
    stdin: IO[bytes] = field(default_factory=lambda: sys.stdin.buffer)
    output: Output = field(default_factory=lambda: Output(sys.stdout, sys.stderr))

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        cwd: Path,
        *,
        output: Output | None = None,
        stdin: IO[bytes] | None = None,
    ) -> CliContext:
        context = cls(settings=CliSettings.from_env(environ), environ=dict(environ), cwd=cwd)
        if output is not None:
            context.output = output
        if stdin is not None:
            context.stdin = stdin
        return context

    def credentials(self) -> CredentialStore:
        from pyfaas.cli.credentials import CredentialStore, config_dir

        home = Path(self.settings.home) if self.settings.home else Path.home()
        directory = config_dir(
            override=self.settings.openfaas_config, ci=self.settings.ci, home=home, cwd=self.cwd
        )
        return CredentialStore(directory, ci=self.settings.ci)

    def gateway_url(self, flag: str | None, stack_gateway: str | None = None) -> str:
        return resolve_gateway(flag, stack_gateway, self.settings.openfaas_url or None)

    def client(
        self, flag: str | None, *, tls_no_verify: bool = False, stack_gateway: str | None = None
    ) -> GatewayClient:
        from pyfaas.cli.client import GatewayClient

        url = self.gateway_url(flag, stack_gateway)
        saved = self.credentials().lookup(url)
        return GatewayClient(
            url,
            auth=(saved.username, saved.password) if saved else None,
            verify=not tls_no_verify,
            timeout=self.settings.timeout,
            user_agent=f"pyfaas-cli/{__version__}",
        )

    def path(self, value: str) -> Path:
        """A user-given path, relative to the working directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.cwd / path
