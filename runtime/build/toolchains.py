"""The language build steps of the templates, run on this machine with Debian's toolchains.

* :func:`go_build`: a build stage's ``go build`` (Debian package ``golang-go``): a static binary
  (``CGO_ENABLED=0``) with ``-trimpath``, no build ID and no VCS stamp, so the same sources and toolchain
  give the same bytes; offline (``GOPROXY=off``: modules come from ``vendor/`` or the module cache, and one
  that is not there is an error saying so); ``GOTOOLCHAIN=local`` (never a toolchain download).
* :func:`npm_install`: ``npm ci`` / ``npm install`` with ``--omit=dev`` (Debian packages ``nodejs`` and
  ``npm``), without install scripts: the ``node_modules`` it makes is copied into the image, whose Node is
  this machine's (see :mod:`pyfaas.build.debian`), so pure-JavaScript packages work; native addons would
  have to be built for the image's Node and libc, which only a container build does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from pyfaas.build.errors import BuildError

__all__ = ["go_build", "npm_install", "toolchain"]

STEP_TIMEOUT = 900
NETWORK_HINTS = ("GOPROXY=off", "module lookup disabled", "cannot find module providing package")


def toolchain(program: str, what: str, package: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise BuildError(
            f"{what} builds need {program} on this machine: install the Debian package {package} "
            f"(apt-get install {package})"
        )
    return found


def _run(arguments: Sequence[str], cwd: Path, env: Mapping[str, str], what: str) -> str:
    try:
        done = subprocess.run(
            list(arguments), cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=STEP_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what} took longer than {STEP_TIMEOUT} s") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise BuildError(f"{what} failed: {output[-1500:]}")
    return done.stdout


def go_build(folder: Path, arguments: Sequence[str], env: Mapping[str, str]) -> None:
    """``go ARGUMENTS`` (``build -o OUT PKG``) in ``folder``: the stage's ``env`` and the settings above."""
    go = toolchain("go", "Go", "golang-go")
    environ = {**os.environ, **env}
    flags = [flag for flag in environ.get("GOFLAGS", "").split() if flag]
    if (folder / "vendor" / "modules.txt").is_file():
        flags = [flag for flag in flags if not flag.startswith("-mod=")] + ["-mod=vendor"]
    flags += ["-trimpath", "-buildvcs=false"]
    environ |= {
        "CGO_ENABLED": "0",
        "GOFLAGS": " ".join(flags),
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
    }
    build, rest = list(arguments[:1]), list(arguments[1:])
    try:
        _run([go, *build, "-ldflags=-buildid=", *rest], folder, environ, "go build")
    except BuildError as exc:
        if any(hint in str(exc) for hint in NETWORK_HINTS):
            raise BuildError(
                f"go build needs a module that is not on this machine, and builds are offline "
                f"(GOPROXY=off): vendor it (go mod vendor in the function's folder) or fetch it into the "
                f"module cache first (go mod download). {exc}"
            ) from exc
        raise


def npm_install(folder: Path, arguments: Sequence[str]) -> None:
    """``npm ARGUMENTS`` (``ci --omit=dev``) in ``folder``, without install scripts, audit or fund."""
    npm = toolchain("npm", "Node.js", "npm")
    toolchain("node", "Node.js", "nodejs")
    extra = ["--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier"]
    _run([npm, *arguments, *extra], folder, os.environ, f"npm {' '.join(arguments)}")
