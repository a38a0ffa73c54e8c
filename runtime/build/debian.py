"""Debian packages for an image, assembled the way ``apko`` does: files laid down, no maintainer scripts.

``apt-get install`` in a template, and the Node.js of a ``node:N`` base, become one layer of Debian packages
taken from this machine's dpkg database (its ``/var/lib/dpkg/status`` and ``info/NAME.list``): each file is
checked against the package's own ``md5sums`` (conffiles against the status file's hashes), so the layer
holds the package's bytes, and nothing is downloaded. The packages the base already has (its
``/var/lib/dpkg/status``, ``Provides`` included) are left out, their version constraints checked with
``dpkg --compare-versions``; the others, with their dependencies, must be installed here (``apt-get install
NAME`` on the build machine), and the error says so. The base's status file gets their entries, so ``dpkg``
in the image knows them. A bookworm machine therefore builds for a bookworm base.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pyfaas.build.errors import BuildError
from pyfaas.build.oci import FileSource
from pyfaas.build.rootfs import BaseFiles

__all__ = ["Package", "PackageFiles", "host_packages", "package_files"]

DPKG = Path("/var/lib/dpkg")
DOCS = r"^/usr/share/(doc|man|info|lintian)/"
RELATION = re.compile(
    r"^\s*([a-z0-9][a-z0-9+.\-]*)(?::[a-z0-9\-]+)?\s*(?:\((<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?"
)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    architecture: str
    fields: dict[str, str]
    paragraph: str
    """The status paragraph as dpkg wrote it."""


@dataclass(frozen=True)
class PackageFiles:
    files: dict[str, FileSource]
    links: dict[str, str]
    added: list[Package]


def _paragraphs(text: str) -> list[Package]:
    found: list[Package] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields and fields.get("Status", "install ok installed").endswith(" installed"):
            found.append(
                Package(
                    fields["Package"],
                    fields.get("Version", ""),
                    fields.get("Architecture", ""),
                    fields,
                    block.strip("\n"),
                )
            )
    return found


def host_packages() -> dict[str, Package]:
    try:
        text = (DPKG / "status").read_text()
    except OSError as exc:
        raise BuildError(
            f"Debian packages are taken from this machine's dpkg database, and {DPKG / 'status'} "
            f"cannot be read ({exc}): build on Debian, or with Docker, Podman or Buildah"
        ) from exc
    return {package.name: package for package in _paragraphs(text)}


def _relations(field: str) -> list[list[tuple[str, str, str]]]:
    """``a (>= 1) | b, c`` -> [[(a, >=, 1), (b, "", "")], [(c, "", "")]]."""
    groups: list[list[tuple[str, str, str]]] = []
    for group in field.split(","):
        alternatives = []
        for alternative in group.split("|"):
            match = RELATION.match(alternative)
            if match:
                alternatives.append((match.group(1), match.group(2) or "", match.group(3) or ""))
        if alternatives:
            groups.append(alternatives)
    return groups


def _satisfies(version: str, operator: str, wanted: str) -> bool:
    if not operator:
        return True
    operator = {"<": "<=", ">": ">="}.get(operator, operator)
    words = {"<<": "lt", "<=": "le", "=": "eq", ">=": "ge", ">>": "gt"}[operator]
    try:
        result = subprocess.run(
            ["dpkg", "--compare-versions", version, words, wanted], capture_output=True, timeout=30
        )
    except OSError as exc:
        raise BuildError(f"dpkg is needed to compare Debian versions: {exc}") from exc
    return result.returncode == 0


class _Provided:
    """Which names a set of packages answers for: their own (with a version) and what they Provide."""

    def __init__(self, packages: Iterable[Package]) -> None:
        self.versions: dict[str, str] = {}
        self.virtual: set[str] = set()
        for package in packages:
            self.versions[package.name] = package.version
            for group in _relations(package.fields.get("Provides", "")):
                self.virtual |= {name for name, _, _ in group}

    def has(self, name: str, operator: str, wanted: str) -> bool | None:
        """True/False when ``name`` is here (False: at a version that does not do), None when absent."""
        if name in self.versions:
            return _satisfies(self.versions[name], operator, wanted)
        return True if name in self.virtual else None


def _closure(names: Iterable[str], base: _Provided, host: dict[str, Package]) -> list[Package]:
    host_provided = _Provided(host.values())
    providers = {
        virtual: package
        for package in host.values()
        for group in _relations(package.fields.get("Provides", ""))
        for virtual, _, _ in group
    }
    added: dict[str, Package] = {}
    queue: list[tuple[str, str, str, str]] = [(name, "", "", "") for name in names]
    while queue:
        name, operator, wanted, needed_by = queue.pop(0)
        in_base = base.has(name, operator, wanted)
        if in_base or name in added:
            continue
        because = f" (needed by {needed_by})" if needed_by else ""
        if in_base is False:
            raise BuildError(
                f"the base image has {name} {base.versions[name]}, but {name} ({operator} {wanted}) is "
                f"needed{because}: use a base from the same Debian release as this machine"
            )
        package = host.get(name) or providers.get(name)
        if package is None or not host_provided.has(package.name, operator, wanted):
            raise BuildError(
                f"the Debian package {name}{because} is not in the base image and not installed on this "
                f"machine: apt-get install {name} here (the builder takes installed packages' files)"
            )
        if package.name in added:
            continue
        added[package.name] = package
        for field in ("Pre-Depends", "Depends"):
            for group in _relations(package.fields.get(field, "")):
                chosen = next((item for item in group if base.has(*item)), None)
                chosen = chosen or next(
                    (item for item in group if item[0] in host or item[0] in providers), None
                )
                item = chosen or group[0]
                queue.append((*item, package.name))
    return [added[name] for name in sorted(added)]


def _info(package: Package, suffix: str) -> Path | None:
    for stem in (package.name, f"{package.name}:{package.architecture}"):
        path = DPKG / "info" / f"{stem}.{suffix}"
        if path.is_file():
            return path
    return None


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def package_files(names: Iterable[str], base: BaseFiles, *, leave_out: str = "") -> PackageFiles:
    """The files of ``names`` and their dependencies that ``base`` lacks, as layer entries, plus the base's
    dpkg status with their paragraphs added and their ``info/NAME.list``. Documentation is left out (as in
    slim images), and so are paths matching the regular expression ``leave_out``."""
    skip = re.compile(DOCS + (f"|{leave_out}" if leave_out else ""))
    base_status = (base.read("var/lib/dpkg/status") or b"").decode()
    base_packages = _paragraphs(base_status)
    added = _closure(names, _Provided(base_packages), host_packages())
    files: dict[str, FileSource] = {}
    links: dict[str, str] = {}
    for package in added:
        listed = _info(package, "list")
        if listed is None:
            raise BuildError(f"dpkg lists no files for {package.name} on this machine")
        sums: dict[str, str] = {}
        md5sums = _info(package, "md5sums")
        for line in md5sums.read_text().splitlines() if md5sums else []:
            checksum, _, path = line.partition("  ")
            sums["/" + path.strip()] = checksum
        for line in package.fields.get("Conffiles", "").splitlines():
            words = line.split()
            if len(words) >= 2:
                sums[words[0]] = words[1]
        paths = [line for line in listed.read_text().splitlines() if line.startswith("/") and line != "/."]
        for path in paths:
            if skip.match(path):
                continue
            host = Path(path)
            target = base.usr_path(path)
            if host.is_symlink():
                links[target] = os.readlink(host)
            elif host.is_file():
                if path in sums and _md5(host) != sums[path]:
                    raise BuildError(
                        f"{path} differs from what the Debian package {package.name} installed (md5sums): "
                        f"reinstall it (apt-get install --reinstall {package.name})"
                    )
                files[target] = host
        files[f"var/lib/dpkg/info/{package.name}.list"] = listed
        if md5sums is not None:
            files[f"var/lib/dpkg/info/{package.name}.md5sums"] = md5sums
    if added:
        status = base_status.rstrip("\n") + "\n\n" + "\n\n".join(p.paragraph for p in added) + "\n"
        files["var/lib/dpkg/status"] = status.encode()
    return PackageFiles(files, links, added)
