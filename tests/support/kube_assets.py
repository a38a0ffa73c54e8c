"""The Kubernetes binaries a throwaway test cluster runs: found in ``PYFAAS_KUBE_ASSETS``, checked, cached.

The envtest convention: one folder holds ``kube-apiserver kube-controller-manager kube-scheduler kubelet
kube-proxy kubectl`` plus the kit's ``kit-cri`` (removes pod sandboxes at teardown) and ``pause`` (the sandbox
image's only file), each as a plain executable or ``NAME.xz``. When the folder has a ``SHA256SUMS`` (of the
uncompressed files), every binary must match it.

Compressed binaries are unpacked once into a cache (``PYFAAS_KUBE_CACHE``, default ``~/.cache/pyfaas/kube``)
keyed by the checksums, so that later sessions start without the 4-6 s of decompression.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["BINARIES", "AssetError", "cache_root", "require_tools", "resolve_assets"]

BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "kit-cri",
    "pause",
)
CHUNK = 1 << 20


class AssetError(RuntimeError):
    """The assets folder lacks a binary or holds one that does not match its checksum."""


def cache_root() -> Path:
    configured = os.environ.get("PYFAAS_KUBE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "pyfaas" / "kube"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _expected(folder: Path) -> dict[str, str]:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return {}
    expected: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[parts[1].lstrip("*")] = parts[0]
    return expected


def _stamp(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def _unpack(source: Path, target: Path, want: str | None) -> None:
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    opener = lzma.open if source.suffix == ".xz" else open
    with opener(source, "rb") as raw, partial.open("wb") as out:
        while chunk := raw.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if want is not None and digest.hexdigest() != want:
        partial.unlink()
        raise AssetError(f"{source}: checksum mismatch with SHA256SUMS")
    partial.chmod(0o755)
    partial.replace(target)


def resolve_assets(folder: Path) -> Path:
    """A folder of ready, verified executables for every name in :data:`BINARIES`.

    Every binary is copied or unpacked into the cache once and verified there; later calls trust cached files
    whose size and mtime are as recorded after that verification.
    """
    folder = folder.resolve()
    if not folder.is_dir():
        raise AssetError(f"PYFAAS_KUBE_ASSETS={folder} is not a directory")
    expected = _expected(folder)
    sources: dict[str, Path] = {}
    for name in BINARIES:
        plain, packed = folder / name, folder / f"{name}.xz"
        if plain.is_file():
            sources[name] = plain
        elif packed.is_file():
            sources[name] = packed
        else:
            raise AssetError(f"no {name} or {name}.xz in {folder}")
    key = hashlib.sha256(json.dumps([expected, {n: _stamp(p) for n, p in sources.items()}]).encode())
    target = cache_root() / "bin" / key.hexdigest()[:16]
    target.mkdir(parents=True, exist_ok=True)
    stamps_file = target / "verified.json"
    try:
        verified: dict[str, list[int]] = json.loads(stamps_file.read_text())
    except (OSError, ValueError):
        verified = {}

    def ready(name: str) -> None:
        cached = target / name
        if cached.is_file() and verified.get(name) == _stamp(cached):
            return
        _unpack(sources[name], cached, expected.get(name))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # lzma releases the GIL
        list(pool.map(ready, BINARIES))
    stamps_file.write_text(json.dumps({name: _stamp(target / name) for name in BINARIES}))
    return target


def require_tools(*names: str) -> list[str]:
    """The executables among ``names`` that are not on PATH (Debian packages the cluster needs)."""
    search = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [name for name in names if shutil.which(name, path=search) is None]
