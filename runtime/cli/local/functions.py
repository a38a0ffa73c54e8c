"""Deploy on start: the functions of ``stack.yml``/``functions.py`` in the working directory, else examples.

Loading and the local-mode mapping are ``pyfaas deploy``'s (``pyfaas.cli.stackfile``,
``pyfaas.cli.deployment``): handler folders run in the watchdog's python mode, ``fprocess`` functions in fork
mode. A function with neither (an image only) cannot run without a container and is skipped with a note.

Deployment goes over HTTP like faas-cli's: PUT ``/system/functions`` and, on 404, POST.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from pyfaas.cli.errors import CliError
from pyfaas.cli.readiness import start_failure
from pyfaas.cli.stackfile import DEFAULT_STACK_FILES, load_functions
from pyfaas.core.definitions import FunctionDefinition
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.models import FunctionDeployment
from pyfaas.core.resources import bundled

__all__ = [
    "BUNDLED_EXAMPLES",
    "FunctionSource",
    "deploy_functions",
    "find_source",
    "load_definitions",
    "spec_digest",
    "wait_functions_ready",
]

PYTHON_FILE = "functions.py"


BUNDLED_EXAMPLES = bundled("examples")
"""The ``examples/`` stack (:mod:`pyfaas.core.resources`: the same files in a checkout and in the wheel)."""


@dataclass(frozen=True)
class FunctionSource:
    path: Path
    """``stack.yml``, ``stack.yaml`` or ``functions.py`` (absolute)."""
    bundled: bool = False
    """True for the bundled examples (nothing to deploy in the working directory)."""

    @property
    def folder(self) -> Path:
        return self.path.parent

    def describe(self) -> str:
        return f"bundled examples ({self.path})" if self.bundled else str(self.path)


def find_source(directory: Path) -> FunctionSource:
    """``stack.yaml``, ``stack.yml`` or ``functions.py`` in ``directory``, else the bundled examples."""
    for name in (*DEFAULT_STACK_FILES, PYTHON_FILE):
        candidate = directory / name
        if candidate.is_file():
            return FunctionSource(candidate.resolve())
    return FunctionSource((BUNDLED_EXAMPLES / "stack.yml").resolve(), bundled=True)


def load_definitions(source: FunctionSource, env: Mapping[str, str]) -> list[FunctionDefinition]:
    """Parse the source (``${VAR}`` substituted from ``env``); raises ``CliError`` or ``ValidationFailed``
    (a stack error names the file, line and field)."""
    try:
        return load_functions(source.path, env).functions
    except (CliError, ValidationFailed):
        raise
    except Exception as exc:  # a functions.py is user code: any error it raises is the file's problem
        raise CliError(f"{source.path}: {type(exc).__name__}: {exc}", hint="fix the file") from exc


async def _deploy_one(client: httpx.AsyncClient, spec: FunctionDeployment) -> str | None:
    """PUT, then POST on 404 (faas-cli's order); returns None on success, else the gateway's error text."""
    body = spec.wire()
    response = await client.put("/system/functions", json=body)
    if response.status_code == 404:
        response = await client.post("/system/functions", json=body)
    if response.status_code in (200, 201, 202):
        return None
    try:
        return str(response.json().get("error") or response.text)
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"


def spec_digest(spec: FunctionDeployment) -> str:
    """A fingerprint of what is deployed for a function (its wire JSON)."""
    return hashlib.sha256(json.dumps(spec.wire(), sort_keys=True).encode()).hexdigest()


async def deploy_functions(
    client: httpx.AsyncClient, specs: list[FunctionDeployment], previous: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Deploy every spec, except those still deployed exactly as the last start deployed them (``previous``:
    name → :func:`spec_digest`), which a restart would otherwise roll over for nothing.

    Returns (failures by name, digests of what is now deployed, names left as they were).
    """
    failures: dict[str, str] = {}
    digests: dict[str, str] = {}
    unchanged: list[str] = []
    for spec in specs:
        digest = spec_digest(spec)
        if previous.get(spec.service) == digest:
            params = {"namespace": spec.namespace} if spec.namespace else None
            if (await client.get(f"/system/function/{spec.service}", params=params)).status_code == 200:
                digests[spec.service] = digest
                unchanged.append(spec.service)
                continue
        error = await _deploy_one(client, spec)
        if error is None:
            digests[spec.service] = digest
        else:
            failures[spec.service] = error
    return failures, digests, unchanged


async def wait_functions_ready(
    client: httpx.AsyncClient, names: dict[str, str], within: float
) -> dict[str, str | None]:
    """Wait until every function (name → namespace) has a ready replica or wants none. Returns the others:
    name → why it will not start (its replicas crash at start: no point waiting the rest of ``within``), or
    None when it was simply not ready within ``within`` seconds."""
    pending = dict(names)
    failed: dict[str, str | None] = {}
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        for namespace in set(pending.values()):
            try:
                response = await client.get("/system/functions", params={"namespace": namespace})
                items = response.json() if response.status_code == 200 else []
            except (httpx.HTTPError, ValueError):
                items = []
            for item in items:
                name = item.get("name")
                if pending.get(name) != namespace:
                    continue
                if item.get("availableReplicas", 0) >= 1 or item.get("replicas", 0) == 0:
                    del pending[name]
                elif (crashed := start_failure(name, item)) is not None:
                    del pending[name]
                    failed[name] = crashed.message
        if pending:
            await asyncio.sleep(0.1)
    return {**failed, **dict.fromkeys(sorted(pending))}
