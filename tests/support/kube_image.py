"""Container images without Docker or a registry: OCI archives imported into containerd.

The writing is the product's (:mod:`pyfaas.build`): :func:`layer_from_files` and :func:`write_oci_archive`
wrap its reproducible layers and archives (uncompressed here: nothing leaves the machine, and containerd
imports them faster); :func:`import_archive` hands an archive to ``ctr -n k8s.io images import`` (the
namespace the kubelet uses). Blobs are addressed by digest, so containerd skips the ones it already holds: a
function image on a cached base layer imports in about a second.

:func:`function_image` is ``pyfaas build``'s python3-http image
(:func:`pyfaas.build.function.build_function_image`) on the suite's base: a Debian bookworm root
filesystem with Python 3.11 (:func:`python_rootfs`: debootstrap once, cached) as one layer
(:func:`python_base_layer`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from pyfaas.build.function import FunctionSource, build_function_image
from pyfaas.build.oci import LAYER_TYPE, Blob, build_image, digest_file, write_archive, write_layer
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

Layer = Blob
"""A layer: blob file, digest, size, media type and diff ID (equal to the digest: uncompressed)."""


def layer_from_tree(root: Path, out: Path) -> Layer:
    """Archive a whole root filesystem as-is (numeric owners, xattrs; GNU tar is much faster than tarfile)."""
    subprocess.run(
        ["tar", "--numeric-owner", "--xattrs", "--sort=name", "-C", str(root), "-cf", str(out), "."],
        check=True,
        timeout=300,
    )
    digest = digest_file(out)
    return Blob(out, digest, out.stat().st_size, LAYER_TYPE, digest)


def layer_from_files(
    files: Mapping[str, Path | bytes], out: Path, *, executables: Iterable[str] = ()
) -> Layer:
    """A layer of ``files`` (path in the image -> host file or content), owned by root, world readable;
    host files keep their executable bit, contents are executable when named in ``executables``."""
    return write_layer(files, out, executables=executables, compress=False)


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
    """An OCI archive holding one image named ``reference`` (``localhost/NAME:TAG``)."""
    image = build_image(None, list(layers), cmd=cmd, env=env, workdir=workdir, user=user)
    write_archive(image, out, reference)


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
            return Layer(tar, known["digest"], known["size"], LAYER_TYPE, known["digest"])
    except (OSError, ValueError, KeyError):
        pass
    layer = layer_from_tree(root, folder / "layer.tar.partial")
    layer.path.replace(tar)
    record.write_text(json.dumps({"stamp": stamp, "digest": layer.digest, "size": layer.size}))
    return Layer(tar, layer.digest, layer.size, LAYER_TYPE, layer.digest)


def function_image(
    reference: str,
    out: Path,
    *,
    handler: str | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """``pyfaas build``'s image of a python3-http function; ``handler`` replaces the template's handler.py."""
    base = build_image(None, [python_base_layer()])
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".function-") as scratch:
        folder = Path(scratch) / "function"
        shutil.copytree(TEMPLATE / "function", folder, ignore=shutil.ignore_patterns("__pycache__"))
        if handler is not None:
            (folder / "handler.py").write_text(handler)
        name = reference.rsplit("/", 1)[-1].split(":")[0]
        image = build_function_image(FunctionSource(name, TEMPLATE, folder), base, Path(scratch), env=env)
        write_archive(image, out, reference)
