"""The mode registry: every registered mode builds a runner, and the settings accept exactly those names."""

from __future__ import annotations

import inspect

import pytest

from pyfaas.core.errors import ConfigError
from pyfaas.watchdog.logs import LogSink
from pyfaas.watchdog.modes import FORKING_MODES, MODES, PROCESS_MODES
from pyfaas.watchdog.modes.per_request import ProcessPerRequestRunner
from pyfaas.watchdog.runner import RunnerContext, create_runner
from pyfaas.watchdog.settings import WatchdogSettings


@pytest.mark.parametrize("mode", sorted(MODES))
async def test_each_registered_mode_builds_its_runner(mode: str) -> None:
    environ = {"mode": mode, "fprocess": "cat", "upstream_url": "http://127.0.0.1:0", "static_path": "/"}
    settings = WatchdogSettings.from_env(environ)
    context = RunnerContext(settings=settings, environ=environ, sink=LogSink(), fatal=lambda _: None)
    runner = create_runner(context)
    assert type(runner).__name__ == MODES[mode].rpartition(":")[2]
    for method in ("start", "ready", "handle", "stop"):
        assert inspect.iscoroutinefunction(getattr(runner, method)), f"{mode}.{method}"
    assert isinstance(runner, ProcessPerRequestRunner) == (mode in FORKING_MODES)
    if isinstance(runner, ProcessPerRequestRunner):
        await runner.stop()


def test_settings_accept_the_registered_modes_only() -> None:
    assert WatchdogSettings.from_env({"fprocess": "cat"}).mode == "streaming"
    for mode in MODES:
        if mode not in PROCESS_MODES:
            assert WatchdogSettings.from_env({"mode": mode}).mode == mode
    with pytest.raises(ConfigError) as raised:
        WatchdogSettings.from_env({"mode": "teleport"})
    assert raised.value.field == "mode"
    for mode in PROCESS_MODES:
        with pytest.raises(ConfigError) as missing:
            WatchdogSettings.from_env({"mode": mode, "upstream_url": "http://127.0.0.1:1"})
        assert missing.value.field == "fprocess"
