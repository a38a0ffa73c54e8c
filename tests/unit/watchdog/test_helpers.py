from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

from pyfaas.watchdog.cgi import canonical_env_name
from pyfaas.watchdog.function_processes import describe_exit
from pyfaas.watchdog.logs import LineWriter, LogSink, rfc3339
from pyfaas.watchdog.modes.python.loader import detect_style, load_handler
from pyfaas.watchdog.modes.static import resolve_inside
from pyfaas.watchdog.server import human_size


@pytest.mark.parametrize(
    ("header", "env"),
    [
        ("x-call-id", "Http_X_Call_Id"),
        ("CONTENT-TYPE", "Http_Content_Type"),
        ("User-Agent", "Http_User_Agent"),
    ],
)
def test_cgi_names(header: str, env: str) -> None:
    assert canonical_env_name(header) == env


@pytest.mark.parametrize(("size", "text"), [(0, "0B"), (12, "12B"), (1500, "1.5kB"), (10_000_000, "10MB")])
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_exit_descriptions() -> None:
    assert describe_exit(1) == "exit status 1"
    assert describe_exit(-9) == "signal: killed"
    assert describe_exit(-15) == "signal: terminated"


def test_rfc3339_timestamps() -> None:
    assert rfc3339(0.25) == "1970-01-01T00:00:00.250000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", rfc3339())


def test_log_lines_are_prefixed_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    sink = LogSink(fd, prefix_function_lines=True)
    writer = LineWriter(sink, "stdout")
    writer.write("a\nb")
    writer.write("c\n")
    sink.line("two\nlines")
    os.close(fd)
    lines = path.read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert re.fullmatch(stamp + " stdout: a", lines[0])
    assert re.fullmatch(stamp + " stdout: bc", lines[1])
    assert re.fullmatch(stamp + " two", lines[2]) and re.fullmatch(stamp + " lines", lines[3])


def test_static_paths_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "public"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("home")
    (root / "sub" / "a.txt").write_text("a")
    (tmp_path / "secret").write_text("s")
    (root / "link").symlink_to(tmp_path / "secret")
    real = str(root.resolve())
    assert resolve_inside(real, "/") == str(root / "index.html")
    assert resolve_inside(real, "/sub/a.txt") == str(root / "sub" / "a.txt")
    assert resolve_inside(real, "/../secret") is None
    assert resolve_inside(real, "/sub/../../secret") is None
    assert resolve_inside(real, "/link") is None
    assert resolve_inside(real, "/missing") is None


def test_style_detection() -> None:
    def http(event: object, context: object) -> None: ...
    def classic(req: str) -> None: ...
    async def async_http(event: object, context: object) -> None: ...

    assert detect_style(http) == "http"
    assert detect_style(classic) == "classic"
    assert detect_style(async_http) == "http"
    assert inspect.iscoroutinefunction(async_http)


def test_load_handler_with_relative_import(tmp_path: Path) -> None:
    fn = tmp_path / "fn"
    fn.mkdir()
    (fn / "__init__.py").write_text("")
    (fn / "helper.py").write_text("GREETING = 'hi'\n")
    (fn / "handler.py").write_text("from .helper import GREETING\n\ndef handle(req):\n    return GREETING\n")
    loaded = load_handler(str(fn))
    assert loaded.style == "classic" and not loaded.is_async
    assert loaded.function("x") == "hi"
    assert load_handler(str(fn), "http").style == "http"
    with pytest.raises(FileNotFoundError):
        load_handler(str(tmp_path / "nowhere"))
