"""One real platform (NATS + gateway with basic auth + queue-worker, as child processes) shared by the CLI
integration tests of this package; each test uses its own function names and its own HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.cli.credentials import BasicCredentials, CredentialStore
from tests.support.cli import CREDENTIALS, Platform, cli_env, running_platform


@pytest.fixture(scope="package")
def platform() -> Iterator[Platform]:
    yield from running_platform(auth=True, with_async=True)


@pytest.fixture
def logged_in(tmp_path: Path, platform: Platform) -> dict[str, str]:
    """A CLI environment whose HOME holds credentials for the platform, and OPENFAAS_URL pointing at it."""
    home = tmp_path / "home"
    CredentialStore(home / ".openfaas").save(platform.url, BasicCredentials(*CREDENTIALS))
    return cli_env(home, OPENFAAS_URL=platform.url)
