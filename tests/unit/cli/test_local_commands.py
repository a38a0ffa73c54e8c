"""``pyfaas up`` / ``pyfaas down`` error paths, in-process: one line on stderr and the exit status."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pyfaas.cli.local.commands import down, pyfaas_command, up
from pyfaas.cli.local.layout import RunLock, StateLayout


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def _one_error_line(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


def test_a_bad_stack_file_names_file_line_and_field(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text("provider:\n  name: openfaas\nfunctions:\n  echo:\n    labels: [1]\n")
    result = runner.invoke(up, ["--state-dir", "s"])
    assert result.exit_code == 1
    _one_error_line(result.stderr, "stack.yml:5", "functions.echo")
    assert not (tmp_path / "s").exists()


def test_a_missing_file_is_reported(runner: CliRunner) -> None:
    result = runner.invoke(up, ["-f", "nope.yml"])
    assert result.exit_code == 1
    _one_error_line(result.stderr, "nope.yml")


def test_a_busy_gateway_port_is_reported(runner: CliRunner, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = runner.invoke(up, ["--no-deploy", "--port", str(port), "--state-dir", "s"])
    assert result.exit_code == 1
    _one_error_line(result.stderr, f"port {port} is in use", "--port")
    layout = StateLayout.at(tmp_path / "s")
    assert not layout.pid_file.exists() and not RunLock.is_held(layout.lock_file)


def test_a_second_up_says_it_is_already_running(runner: CliRunner, tmp_path: Path) -> None:
    layout = StateLayout.at(tmp_path / "s")
    layout.create()
    lock = RunLock(layout.lock_file)
    assert lock.acquire()
    try:
        result = runner.invoke(up, ["--state-dir", "s", "--detach"])
    finally:
        lock.release()
    assert result.exit_code == 1
    _one_error_line(result.stderr, "already running", "pyfaas down --state-dir s")


def test_the_stop_command_is_one_the_shell_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    """After scripts/up.sh, .venv/bin is not on PATH: the summary names the script by its full path."""
    script = Path(sys.executable).with_name("pyfaas")
    assert script.is_file(), "the tests run from the virtualenv pyfaas is installed in"
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", "/bin"]))
    assert pyfaas_command() == str(script)
    monkeypatch.setenv("PATH", os.pathsep.join([str(script.parent), "/usr/bin", "/bin"]))
    assert pyfaas_command() == "pyfaas"


def test_down_without_a_platform(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(down, ["--state-dir", "missing"])
    assert result.exit_code == 0 and "Nothing to stop" in result.stdout
    (tmp_path / "s").mkdir()
    result = runner.invoke(down, ["--state-dir", "s"])
    assert result.exit_code == 0 and "not running" in result.stdout


def test_a_functions_py_that_raises_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "functions.py").write_text("import no_such_module_here\n")
    result = runner.invoke(up, ["--state-dir", "s"])
    assert result.exit_code == 1
    _one_error_line(result.stderr, "functions.py", "ModuleNotFoundError", "no_such_module_here")
