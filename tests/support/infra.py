"""Run the Pulumi program under ``pulumi.runtime.set_mocks`` and capture every object it registers.

No CLI and no cluster: the mock monitor records each resource's inputs exactly as pulumi-kubernetes
serialises them (camelCase keys, numbers as floats in protobuf ``Struct``). :func:`kubernetes_objects` turns
them back into API bodies (integral floats → ``int``) for schema validation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi

from pyfaas.infra.program import run
from pyfaas.infra.pyfaas_platform import Platform

ROOT = Path(__file__).resolve().parents[2]
MOCK_PASSWORD = "mock-generated-password-0123456789"

_pulumi_test = cast(Callable[[Callable[[], Any]], Callable[[], None]], pulumi.runtime.test)
"""``pulumi.runtime.test`` (untyped upstream): runs the body and waits for every outstanding output."""


@dataclass(frozen=True)
class Captured:
    typ: str
    name: str
    inputs: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Captured] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Captured(args.typ, args.name, json.loads(json.dumps(args.inputs))))
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = MOCK_PASSWORD
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock engine, also keeping each registration's resource options (the mocks see only inputs)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.options: dict[tuple[str, str], dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        self.options[(request.type, request.name)] = {
            "dependsOn": sorted(request.dependencies),
            "replaceOnChanges": list(request.replaceOnChanges),
            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
        }
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


@dataclass
class Rendered:
    resources: list[Captured]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    options: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(type, name) → ``dependsOn`` (URNs), ``replaceOnChanges``, ``deleteBeforeReplace``."""

    def of_type(self, typ: str) -> list[Captured]:
        return [r for r in self.resources if r.typ == typ]

    def objects(self) -> list[dict[str, Any]]:
        return kubernetes_objects(self.resources)

    def object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        found = [
            o
            for o in self.objects()
            if o["kind"] == kind
            and o["metadata"]["name"] == name
            and (namespace is None or o["metadata"].get("namespace") == namespace)
        ]
        assert len(found) == 1, f"expected one {kind} {name} in {namespace}, found {len(found)}"
        return found[0]


SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
"""Pulumi's marker of a secret value in serialised inputs (the engine unwraps it for the provider)."""


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def _api_value(value: Any) -> Any:
    """What the API server receives: secrets unwrapped, integral floats as ints."""
    if is_secret_value(value):
        return _api_value(value["value"])
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _api_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_api_value(v) for v in value]
    return value


def kubernetes_objects(resources: list[Captured]) -> list[dict[str, Any]]:
    """The Kubernetes bodies among the captured resources (``kubernetes:*`` types), as the API gets them."""
    return [_api_value(r.inputs) for r in resources if r.typ.startswith("kubernetes:")]


def _event_loop() -> None:
    """Pulumi's mocks register resources on the current event loop; an async test run earlier in the session
    (pytest-asyncio) may have closed and unset it, so give this thread a fresh one when there is none."""
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def render(
    config: Mapping[str, Any] | None = None,
    *,
    root: Path = ROOT,
    alerts_dir: Path = ROOT / "alerts",
    env: Mapping[str, str] | None = None,
    admin_password: str | None = None,
) -> Rendered:
    """Run the program with ``config`` (``pyfaas:<key>`` → value) under fresh mocks."""
    _event_loop()
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="pyfaas", stack="test", preview=False, monitor=monitor)
    values = {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in (config or {}).items()
    }
    rendered = Rendered(resources=mocks.resources, options=monitor.options)
    holder: dict[str, Platform] = {}

    @_pulumi_test
    def program() -> pulumi.Output[Any]:
        platform = run(
            config_values=values,
            admin_password=pulumi.Output.secret(admin_password) if admin_password else None,
            root=root,
            alerts_dir=alerts_dir,
            env=env or {},
        )
        holder["platform"] = platform

        def keep(values: list[Any]) -> None:
            rendered.outputs.update(
                {
                    "gatewayUrl": values[0],
                    "adminUser": platform.admin_user,
                    "adminPassword": values[1],
                    "functions": platform.function_names,
                }
            )

        return pulumi.Output.all(platform.gateway_url, platform.admin_password).apply(keep)

    program()
    platform = holder["platform"]

    @_pulumi_test
    def secrets() -> pulumi.Output[Any]:
        def note(is_secret: bool) -> None:
            if is_secret:
                rendered.secret_outputs.add("adminPassword")

        checking: Any = platform.admin_password.is_secret()  # a coroutine; Output.from_input awaits it
        return pulumi.Output.from_input(checking).apply(note)

    secrets()
    return rendered


def run_entrypoint(config: Mapping[str, str]) -> list[Captured]:
    """Execute ``pulumi-program/`` itself (as ``pulumi up`` would) under mocks with ``config`` set."""
    import runpy

    _event_loop()
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="pyfaas", stack="test", preview=False)
    pulumi.runtime.set_all_config(dict(config))

    @_pulumi_test
    def program() -> None:
        runpy.run_path(str(ROOT / "pulumi-program"), run_name="__main__")

    try:
        program()
    finally:
        pulumi.runtime.set_all_config({})
    return mocks.resources
