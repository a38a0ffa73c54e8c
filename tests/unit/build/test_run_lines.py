"""``RUN`` lines read as the commands they run (:mod:`pyfaas.build.shell`), and stages read in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.build.dockerfile import stages
from pyfaas.build.errors import BuildError
from pyfaas.build.shell import commands

GUARDED = (
    'if [ -n "${ADDITIONAL_PACKAGE}" ]; then apt-get update && apt-get install -y ${ADDITIONAL_PACKAGE} '
    '&& rm -rf /var/lib/apt/lists/*; fi && pip install --no-cache-dir "${PYFAAS_SPEC}" && useradd -u 1000 app'
)


def _read(
    text: str, variables: dict[str, str] | None = None, files: frozenset[str] = frozenset()
) -> list[tuple[str, ...]]:
    found = commands(
        text,
        variables or {},
        cwd="/home/app",
        exists=lambda path, _folder: path in files,
        where="Dockerfile:7",
    )
    return [command.words for command in found]


def test_an_empty_build_argument_skips_the_guarded_step() -> None:
    assert _read(GUARDED, {"ADDITIONAL_PACKAGE": "", "PYFAAS_SPEC": "pyfaas"}) == [
        ("pip", "install", "--no-cache-dir", "pyfaas"),
        ("useradd", "-u", "1000", "app"),
    ]
    assert _read(GUARDED, {"ADDITIONAL_PACKAGE": "curl jq", "PYFAAS_SPEC": "pyfaas"})[:2] == [
        ("apt-get", "update"),
        ("apt-get", "install", "-y", "curl", "jq"),
    ]


def test_file_tests_else_branches_and_cd() -> None:
    text = "cd function && if [ -f package-lock.json ]; then npm ci --omit=dev; else npm install; fi"
    with_lock = commands(
        text,
        {},
        cwd="/app",
        exists=lambda path, _folder: path == "/app/function/package-lock.json",
        where="Dockerfile:3",
    )
    assert [(c.words, c.cwd) for c in with_lock] == [(("npm", "ci", "--omit=dev"), "/app/function")]
    assert _read(text) == [("npm", "install")]
    assert _read("if [ ! -z x ]; then echo a; elif [ a = a ]; then echo b; fi") == [("echo", "a")]
    assert _read("if [ -z x ]; then echo a; elif [ a != a ]; then echo b; else echo c; fi") == [("echo", "c")]


@pytest.mark.parametrize(
    "text",
    [
        "make || true",
        "cat a | sort",
        "echo x > /etc/motd",
        "if make; then echo; fi",
        '["make"]',
        "echo 'open",
    ],
)
def test_what_a_static_reading_cannot_decide_is_refused_with_the_line(text: str) -> None:
    with pytest.raises(BuildError, match=r"^Dockerfile:7: RUN"):
        _read(text)


def test_stages_are_named_or_numbered(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG X=1\nFROM golang:1.22 AS build\nRUN go build\nFROM --platform=linux/amd64 python:3.12-slim\n"
        "COPY --from=build /out/x .\n"
    )
    found = stages(dockerfile)
    assert [(s.image, s.name, len(s.instructions)) for s in found] == [
        ("golang:1.22", "build", 2),
        ("python:3.12-slim", "1", 2),
    ]
