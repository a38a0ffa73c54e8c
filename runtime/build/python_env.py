"""Python packages for an image, taken from where they already are on this machine.

* :func:`package_files`: installed distributions (and their run-time dependencies) copied file by file from
  this interpreter's environment, the way ``ko`` copies a Go binary: no index, no network, and the same
  files give the same layer. pyfaas itself is copied from its package folder, so an editable install works.
* :func:`pip_install`: requirement files installed with pip (``--target``, no bytecode) into a folder.

Both need the base image's Python to be this interpreter's minor version, since compiled wheels are made for
one CPython ABI; :func:`check_abi` says so before anything is built.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from pyfaas.build.errors import BuildError
from pyfaas.build.oci import FileSource

__all__ = ["SKIP", "check_abi", "distributions", "package_files", "pip_install"]

SKIP = re.compile(r"(^|/)__pycache__(/|$)|\.pyc$")
PYFAAS_SKIP = re.compile(r"^(infra|_bundled)(/|$)")
"""Left out of function images: the Pulumi program and the bundled templates/examples are the CLI's."""


def check_abi(minor: int) -> None:
    if minor != sys.version_info.minor:
        raise BuildError(
            f"the base image has Python 3.{minor}, this pyfaas runs on 3.{sys.version_info.minor}: "
            "packages are copied and installed for this interpreter's ABI, so use a base with the same "
            f"Python 3.{sys.version_info.minor} (or build with Docker)"
        )


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need at run time, with their dependencies (no extras)."""
    seen: dict[str, metadata.Distribution] = {}
    queue = list(names)
    while queue:
        name = _normal(queue.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise BuildError(f"{name} is not installed here, so it cannot be copied into the image") from exc
        seen[name] = dist
        environment = {"extra": ""}
        for spec in dist.requires or []:
            try:
                requirement = Requirement(spec)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate(environment):
                queue.append(requirement.name)
    return [seen[name] for name in sorted(seen)]


def _pyfaas_package() -> Path:
    from pyfaas import core  # the package folder is core's parent (the pyfaas layer is not ours to import)

    return Path(core.__file__).resolve().parent.parent


def package_files(names: Iterable[str], site: str) -> dict[str, FileSource]:
    """Image path -> host file for the distributions ``names`` (and dependencies) below ``site``.

    ``pyfaas`` is taken from its package folder without ``infra``/``_bundled`` and with its dist-info
    metadata; the others from their installed file lists (``RECORD``)."""
    files: dict[str, FileSource] = {}
    for dist in distributions(names):
        if _normal(dist.metadata["Name"]) == "pyfaas":
            package = _pyfaas_package()
            for path in sorted(package.rglob("*")):
                relative = path.relative_to(package).as_posix()
                if path.is_file() and not SKIP.search(relative) and not PYFAAS_SKIP.match(relative):
                    files[f"{site}/pyfaas/{relative}"] = path
            files[f"{site}/pyfaas-{dist.version}.dist-info/METADATA"] = (
                dist.read_text("METADATA") or ""
            ).encode()
            continue
        for item in dist.files or []:
            if item.parts[0] == ".." or SKIP.search(str(item)):
                continue
            located = Path(str(dist.locate_file(item)))
            if located.is_file():
                files[f"{site}/{item.as_posix()}"] = located
    return files


def pip_install(requirement_files: Iterable[Path], target: Path, *, constraints: Path | None = None) -> None:
    """``pip install -r ... --target target`` with this interpreter's pip (its configured index)."""
    arguments = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--no-warn-script-location",
    ]
    arguments += ["--disable-pip-version-check", "--target", str(target)]
    for path in requirement_files:
        arguments += ["-r", str(path)]
    if constraints is not None:
        arguments += ["-c", str(constraints)]
    try:
        subprocess.run(arguments, check=True, capture_output=True, text=True, timeout=1800)
    except subprocess.CalledProcessError as exc:
        lines = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise BuildError(f"pip install failed: {lines[-1] if lines else exc}") from exc
