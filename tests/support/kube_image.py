"""Container images without Docker or a registry: OCI image-layout archives imported into containerd.

A layer is an uncompressed tar (fast to write and to import; nothing leaves the machine, so size does not
matter). :func:`write_oci_archive` writes ``oci-layout``, ``index.json`` (the image named by the
``io.containerd.image.name`` annotation) and ``blobs/sha256/*``; :func:`import_archive` hands it to
``ctr -n k8s.io images import`` (the namespace the kubelet uses). Blobs are addressed by digest, so
containerd skips the ones it already holds: a function image on a cached base layer imports in about a
second.

:func:`function_image` builds a python3-http function image the way ``templates/python3-http/Dockerfile``
describes it, without pip or a registry: a Debian bookworm root filesystem with Python 3.11
(:func:`python_rootfs`: debootstrap once, cached) as the base layer, and one layer with the pyfaas package,
the watchdog's dependencies copied from this virtualenv (pure Python or CPython 3.11 manylinux wheels, which
run on bookworm's Python 3.11) and the function folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.support.kube_assets import cache_root

__all__ = [
    "Layer",
    "function_image",
    "import_archive",
    "layer_from_files",
    "layer_from_tree",
    "python_base_layer",
    "python_rootfs",
    "write_oci_archive",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "templates" / "python3-http"
SITE = "usr/local/lib/python3.11/dist-packages"
WATCHDOG_REQUIREMENTS = ("aiohttp", "prometheus-client")
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}
CHUNK = 1 << 20
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
SKIP = re.compile(r"(^|/)__pycache__(/|$)|\.pyc$")


@dataclass(frozen=True)
class Layer:
    path: Path
    digest: str
    """``sha256:<hex>`` of the uncompressed tar: blob digest and diff ID at once."""
    size: int


def _digest_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def layer_from_tree(root: Path, out: Path) -> Layer:
    """Archive a whole root filesystem as-is (numeric owners, xattrs; GNU tar is much faster than tarfile)."""
    subprocess.run(
        ["tar", "--numeric-owner", "--xattrs", "--sort=name", "-C", str(root), "-cf", str(out), "."],
        check=True,
        timeout=300,
    )
    return Layer(out, _digest_file(out), out.stat().st_size)


def layer_from_files(
    files: Mapping[str, Path | bytes], out: Path, *, executables: Iterable[str] = ()
) -> Layer:
    """A layer of ``files`` (path in the image -> host file or content), owned by root, world readable;
    host files keep their executable bit, contents are executable when named in ``executables``."""
    executable_names = set(executables)

    def info(name: str, size: int, mode: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.size, entry.mode, entry.type, entry.mtime = size, mode, kind, 0
        return entry

    made: set[str] = set()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            parts = name.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in made:
                    made.add(folder)
                    tar.addfile(info(folder, 0, 0o755, tarfile.DIRTYPE))
            source = files[name]
            data = source if isinstance(source, bytes) else source.read_bytes()
            executable = name in executable_names if isinstance(source, bytes) else os.access(source, os.X_OK)
            tar.addfile(info("/".join(parts), len(data), 0o755 if executable else 0o644), io.BytesIO(data))
    return Layer(out, _digest_file(out), out.stat().st_size)


def _blob(folder: Path, data: bytes) -> tuple[str, int]:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    (folder / digest.split(":")[1]).write_bytes(data)
    return digest, len(data)


def write_oci_archive(
    out: Path,
    reference: str,
    layers: Iterable[Layer],
    *,
    cmd: list[str],
    env: Mapping[str, str] | None = None,
    workdir: str = "/",
    user: str = "",
) -> None:
    """An OCI image-layout tar holding one image named ``reference`` (``localhost/NAME:TAG``)."""
    layers = list(layers)
    config = {
        "architecture": GOARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": {
            "Cmd": cmd,
            "Env": [f"{k}={v}" for k, v in {"PATH": "/usr/local/bin:/usr/bin:/bin", **(env or {})}.items()],
            "WorkingDir": workdir,
            "User": user,
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
    }
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        blobs = Path(scratch)
        config_digest, config_size = _blob(blobs, json.dumps(config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [{"mediaType": LAYER_TYPE, "digest": la.digest, "size": la.size} for la in layers],
        }
        manifest_digest, manifest_size = _blob(blobs, json.dumps(manifest, sort_keys=True).encode())
        tag = reference.rsplit(":", 1)[1]
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": manifest_size,
                    "annotations": {
                        "io.containerd.image.name": reference,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
        with tarfile.open(out, "w") as tar:

            def add_bytes(name: str, data: bytes) -> None:
                entry = tarfile.TarInfo(name)
                entry.size = len(data)
                tar.addfile(entry, io.BytesIO(data))

            add_bytes("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
            add_bytes("index.json", json.dumps(index).encode())
            for blob in sorted(blobs.iterdir()):
                tar.add(blob, f"blobs/sha256/{blob.name}")
            for layer in layers:
                tar.add(layer.path, f"blobs/sha256/{layer.digest.split(':')[1]}")


def import_archive(containerd_address: str, archive: Path) -> None:
    subprocess.run(
        ["ctr", "--address", containerd_address, "-n", "k8s.io", "images", "import", str(archive)],
        check=True,
        capture_output=True,
        timeout=300,
    )


# the python3-http function image ---------------------------------------------------------------------
def python_rootfs() -> Path:
    """A debootstrapped Debian bookworm minbase with python3, cached (the slow step: ~1-2 min, once).

    ``PYFAAS_KUBE_PYTHON_ROOTFS`` names an existing one (e.g. the kit's ``DIR/images/python-rootfs``).
    """
    configured = os.environ.get("PYFAAS_KUBE_PYTHON_ROOTFS")
    if configured:
        return Path(configured)
    root = cache_root() / "python-rootfs"
    if (root / "usr" / "bin" / "python3").exists():
        return root
    partial = root.with_name("python-rootfs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(partial), _debian_mirror()],
        check=True,
        capture_output=True,
        timeout=900,
    )
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
        for item in (partial / junk).glob("*"):
            if item.is_file():
                item.unlink()
            elif item.is_dir():
                shutil.rmtree(item)
    partial.rename(root)
    return root


def _debian_mirror() -> str:
    """The first non-security Debian mirror apt is configured with (nothing else is reachable here)."""
    sources = [*Path("/etc/apt/sources.list.d").glob("*.sources"), Path("/etc/apt/sources.list")]
    sources += list(Path("/etc/apt/sources.list.d").glob("*.list"))
    for source in sources:
        if not source.is_file():
            continue
        for line in source.read_text().splitlines():
            for word in line.split():
                if re.match(r"^(https?|file)://", word) and "security" not in word:
                    return word
    return "http://deb.debian.org/debian"


def python_base_layer() -> Layer:
    """The python rootfs as a layer tar, cached beside the rootfs (rebuilt when the rootfs changes)."""
    root = python_rootfs()
    stamp = f"{root.resolve()}:{(root / 'usr' / 'bin').stat().st_mtime_ns}"
    folder = cache_root() / "python-layer"
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "layer.json"
    tar = folder / "layer.tar"
    try:
        known = json.loads(record.read_text())
        if known["stamp"] == stamp and tar.stat().st_size == known["size"]:
            return Layer(tar, known["digest"], known["size"])
    except (OSError, ValueError, KeyError):
        pass
    layer = layer_from_tree(root, folder / "layer.tar.partial")
    layer.path.replace(tar)
    record.write_text(json.dumps({"stamp": stamp, "digest": layer.digest, "size": layer.size}))
    return Layer(tar, layer.digest, layer.size)


def _distributions(names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need at run time, with their dependencies (no extras)."""
    seen: dict[str, metadata.Distribution] = {}
    queue = list(names)
    while queue:
        name = re.sub(r"[-_.]+", "-", queue.pop()).lower()
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist
        for spec in dist.requires or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(requirement.name)
    return list(seen.values())


def _runtime_files() -> dict[str, Path]:
    """pyfaas (the ``runtime/`` folder, without ``infra``) and the watchdog's dependencies, by image path."""
    files: dict[str, Path] = {}
    package = REPO_ROOT / "runtime"
    for path in package.rglob("*"):
        relative = path.relative_to(package)
        if relative.parts[0] == "infra" or SKIP.search(str(relative)) or not path.is_file():
            continue
        files[f"{SITE}/pyfaas/{relative}"] = path
    for dist in _distributions(WATCHDOG_REQUIREMENTS):
        for item in dist.files or []:
            if item.parts[0] == ".." or SKIP.search(str(item)):
                continue
            located = Path(str(dist.locate_file(item)))
            if located.is_file():
                files[f"{SITE}/{item}"] = located
    return files


def function_image(
    reference: str,
    out: Path,
    *,
    handler: str | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """A python3-http function image from ``templates/python3-http``; ``handler`` replaces its handler.py."""
    files: dict[str, Path | bytes] = dict(_runtime_files())
    function = TEMPLATE / "function"
    for path in function.rglob("*"):
        if path.is_file() and not SKIP.search(str(path)):
            files[f"home/app/function/{path.relative_to(function)}"] = path
    if handler is not None:
        files["home/app/function/handler.py"] = handler.encode()
    script = "usr/local/bin/pyfaas-watchdog"  # the template's CMD, as pip would install it
    files[script] = b"#!/usr/bin/python3\nfrom pyfaas.watchdog.__main__ import main\nmain()\n"
    app = layer_from_files(files, out.with_name(out.name + ".app-layer"), executables=[script])
    try:
        # the template Dockerfile's settings (mode=python: the watchdog imports the handler itself)
        settings = {"mode": "python", "handler": "/home/app/function", "port": "8080", "exec_timeout": "30s"}
        settings |= {"write_timeout": "35s", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
        write_oci_archive(
            out,
            reference,
            [python_base_layer(), app],
            cmd=["pyfaas-watchdog"],
            env={**settings, **(env or {})},
            workdir="/home/app",
            user="1000:1000",
        )
    finally:
        app.path.unlink()
