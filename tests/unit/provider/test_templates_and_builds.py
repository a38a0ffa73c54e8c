"""Template folders (template.yml, the Dockerfile's watchdog ENV) and the local build cache (no platform)."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pyfaas.provider.local.function_build import KEEP_BUILDS, BuildFailed, build_function
from pyfaas.provider.local.templates import (
    TemplateError,
    builtin_templates_dir,
    dockerfile_env,
    find_template,
    load_template,
)


def test_dockerfile_env_reads_the_last_stage_and_what_it_inherits() -> None:
    text = """\
FROM golang:1.22 AS build
ENV mode=streaming fprocess=./wrong
FROM debian AS base
# a comment
ENV exec_timeout 20s
ENV mode="http" \\
    upstream_url="http://127.0.0.1:3000" \\
    HOME=/home/app
FROM --platform=linux/amd64 base
ENV fprocess="node index.js"
"""
    assert dockerfile_env(text) == {
        "exec_timeout": "20s",
        "mode": "http",
        "upstream_url": "http://127.0.0.1:3000",
        "fprocess": "node index.js",
    }  # HOME is not a watchdog setting; the build stage's ENV is not in the image


def test_every_built_in_template_loads_with_its_mode() -> None:
    modes = {}
    for folder in sorted(p for p in builtin_templates_dir().iterdir() if p.is_dir()):
        spec = load_template(folder)
        assert spec.skeleton.is_dir(), folder
        assert spec.welcome_message, folder
        assert spec.build_options or spec.name == "dockerfile", folder  # ADDITIONAL_PACKAGE in the Dockerfile
        if spec.build_options:
            assert "ARG ADDITIONAL_PACKAGE" in (folder / "Dockerfile").read_text(), folder
        modes[spec.name] = spec.image_env.get("mode")
    assert modes == {
        "bash-streaming": "streaming",
        "dockerfile": None,
        "golang-http": "http",
        "node20": "http",
        "python3": "fork",
        "python3-http": "python",
    }


def test_a_pulled_template_wins_and_a_bad_one_names_the_field(tmp_path: Path) -> None:
    pulled = tmp_path / "template" / "node20"
    (pulled / "function").mkdir(parents=True)
    (pulled / "template.yml").write_text("language: node20\nfprocess: node mine.js\n")
    found = find_template("node20", tmp_path)
    assert found is not None and found.origin == "./template" and found.fprocess == "node mine.js"
    assert find_template("../node20", tmp_path) is None and find_template("cobol", tmp_path) is None
    (pulled / "template.yml").write_text("build_options:\n  - packages: [a]\n")
    with pytest.raises(TemplateError, match=r"build_options\.0\.name"):
        find_template("node20", tmp_path)


def _python3_function(tmp_path: Path) -> Path:
    handler = tmp_path / "fn"
    handler.mkdir(exist_ok=True)
    (handler / "handler.py").write_text("def handle(req):\n    return req\n")
    return handler


def test_builds_are_keyed_by_content_and_pruned(tmp_path: Path) -> None:
    template = find_template("python3", None)
    assert template is not None
    handler = _python3_function(tmp_path)
    environ = {"PATH": os.environ["PATH"]}
    cache = tmp_path / "cache"

    def build() -> tuple[Path, bool]:
        built = build_function(
            name="fn", template=template, handler_dir=handler, environ=environ, cache_root=cache
        )
        assert built.fprocess == f"env -C {built.folder} {sys.executable} index.py"
        return built.folder, built.rebuilt

    first, rebuilt = build()
    assert rebuilt and (first / "function" / "handler.py").is_file() and (first / "index.py").is_file()
    assert build() == (first, False)
    (handler / "__pycache__").mkdir()  # generated files do not count
    (handler / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"x")
    assert build() == (first, False)
    folders = [first]
    for version in range(KEEP_BUILDS + 1):
        (handler / "handler.py").write_text(f"def handle(req):\n    return {version!r}\n")
        folder, rebuilt = build()
        assert rebuilt and folder not in folders
        folders.append(folder)
    remaining = sorted(p for p in first.parent.iterdir() if not p.name.startswith("."))
    assert len(remaining) == KEEP_BUILDS and folders[-1] in remaining and first not in remaining


def test_build_errors_say_what_to_do(tmp_path: Path) -> None:
    template = find_template("python3", None)
    assert template is not None
    with pytest.raises(BuildFailed, match="does not exist") as missing:
        build_function(
            name="fn", template=template, handler_dir=tmp_path / "nope", environ={}, cache_root=tmp_path
        )
    assert "handler" in missing.value.hint
    node = find_template("node20", None)
    assert node is not None
    with pytest.raises(BuildFailed, match=r"needs Node\.js") as no_node:
        build_function(
            name="fn",
            template=node,
            handler_dir=_python3_function(tmp_path),
            environ={"PATH": str(tmp_path)},
            cache_root=tmp_path,
        )
    assert no_node.value.hint.endswith("apt-get install nodejs")


def _wheel(folder: Path) -> Path:
    """A one-module wheel (``shoutpy``) written by hand, so pip installs it with no index and no build."""
    files = {
        "shoutpy.py": "def shout(s):\n    return s.upper() + '!'\n",
        "shoutpy-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: shoutpy\nVersion: 1.0\n",
        "shoutpy-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }

    def digest(text: str) -> str:
        raw = hashlib.sha256(text.encode()).digest()
        return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    record = "".join(f"{name},{digest(text)},{len(text.encode())}\n" for name, text in files.items())
    path = folder / "shoutpy-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
        wheel.writestr("shoutpy-1.0.dist-info/RECORD", record + "shoutpy-1.0.dist-info/RECORD,,\n")
    return path


def test_python_requirements_are_installed_into_the_build_and_only_the_function_sees_them(
    tmp_path: Path,
) -> None:
    template = find_template("python3", None)
    assert template is not None
    handler = _python3_function(tmp_path)
    (handler / "handler.py").write_text(
        "import shoutpy\n\n\ndef handle(req):\n    return shoutpy.shout(req)\n"
    )
    (handler / "requirements.txt").write_text(f"# local wheel, no index\n{_wheel(tmp_path)}\n")
    steps: list[str] = []
    built = build_function(
        name="fn",
        template=template,
        handler_dir=handler,
        environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        cache_root=tmp_path / "cache",
        report=steps.append,
    )
    assert len(steps) == 1 and "pip install" in steps[0] and (built.folder / ".python-packages").is_dir()
    assert f"PYTHONPATH={built.folder / '.python-packages'}" in built.fprocess.split(" ")
    answer = subprocess.run(
        built.fprocess.split(" "), input=b"hi", capture_output=True, timeout=60, check=True, env={}
    )
    assert answer.stdout == b"HI!"
    # a handler change with the same requirements: no pip, the packages linked from the last build
    (handler / "handler.py").write_text(
        "import shoutpy\n\n\ndef handle(req):\n    return shoutpy.shout(req * 2)\n"
    )
    again = build_function(
        name="fn",
        template=template,
        handler_dir=handler,
        environ={"PATH": os.environ["PATH"]},
        cache_root=tmp_path / "cache",
    )
    assert again.rebuilt and again.steps == [] and again.folder != built.folder
    rerun = subprocess.run(
        again.fprocess.split(" "), input=b"ho", capture_output=True, timeout=60, check=True
    )
    assert rerun.stdout == b"HOHO!"
