"""One real platform (NATS + gateway with basic auth + queue-worker, child processes) for the template tests,
and a CLI helper logged in to it; each test has its own project folder, HOME and function names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pyfaas.cli.credentials import BasicCredentials, CredentialStore
from tests.support.cli import CREDENTIALS, CliResult, Platform, cli_env, run_cli, running_platform
from tests.support.polling import wait_value


@pytest.fixture(scope="package")
def platform() -> Iterator[Platform]:
    yield from running_platform(auth=True, with_async=True)


@dataclass
class Project:
    """A project folder and the ``pyfaas`` command (in-process) run in it, logged in to the platform."""

    folder: Path
    env: dict[str, str]
    platform: Platform

    def run(self, *args: str, stdin: bytes = b"") -> CliResult:
        return run_cli(args, env=self.env, cwd=self.folder, stdin=stdin)

    def ok(self, *args: str, stdin: bytes = b"") -> CliResult:
        result = self.run(*args, stdin=stdin)
        assert result.code == 0, f"pyfaas {' '.join(args)}: exit {result.code}: {result.stderr}"
        return result

    def call(self, name: str, body: bytes, within: float = 60.0) -> httpx.Response:
        """A sync call through the gateway (waits for the first replica: its cold start)."""
        return httpx.post(f"{self.platform.url}/function/{name}", content=body, timeout=within)

    def async_call(self, name: str, body: bytes, within: float = 60.0) -> dict[str, object]:
        """An async call through the gateway, followed to its final state with ``pyfaas async status``."""
        submitted = self.ok("invoke", name, "--async", stdin=body)
        call_id = submitted.stdout.strip()
        record: dict[str, object] = wait_value(
            lambda: json.loads(self.ok("async", "status", call_id, "--json").stdout),
            lambda found: found.get("state") in ("succeeded", "failed", "dead-lettered"),
            within,
            what=f"async call {call_id} to finish",
        )
        return record

    def logs_until(self, name: str, fragment: str, within: float = 30.0) -> str:
        return wait_value(
            lambda: self.ok("logs", name, "--tail=false").stdout,
            lambda text: fragment in text,
            within,
            what=f"{fragment!r} in the logs of {name}",
        )


@pytest.fixture
def project(tmp_path: Path, platform: Platform) -> Project:
    home = tmp_path / "home"
    CredentialStore(home / ".openfaas").save(platform.url, BasicCredentials(*CREDENTIALS))
    folder = tmp_path / "project"
    folder.mkdir()
    return Project(folder, cli_env(home, OPENFAAS_URL=platform.url), platform)
