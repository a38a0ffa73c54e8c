"""A tiny function image for operator tests on the dev kit: ``python3 -m http.server`` on port 8080.

It answers ``GET /_/health`` (the probe path of function Deployments) and ``GET /`` with ``hello``: all that
readiness and a first 200 need. Built from the kit's cached python rootfs (``build-python-image.sh``) with
``mkimage.py`` and imported into the cluster's containerd once; later calls find it there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["HTTP_IMAGE", "ensure_http_image"]

HTTP_IMAGE = "localhost/pyfaas-op-http:1"
KIT_TOOLS = Path(os.environ.get("PYFAAS_KUBE_KIT", "/work/shared/kube"))


def _images(containerd: str) -> str:
    return subprocess.run(
        ["ctr", "--address", containerd, "-n", "k8s.io", "images", "ls", "-q"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def ensure_http_image(kit_dir: Path) -> str:
    """Import :data:`HTTP_IMAGE` into the kit at ``kit_dir`` unless it is there; return its reference."""
    containerd = str(kit_dir / "run" / "containerd.sock")
    if HTTP_IMAGE in _images(containerd).split():
        return HTTP_IMAGE
    base = kit_dir / "images" / "python-rootfs"
    if not base.is_dir():
        raise RuntimeError(f"no python rootfs at {base}: run {KIT_TOOLS}/build-python-image.sh {kit_dir}")
    with tempfile.TemporaryDirectory(prefix="op-image-") as work:
        root = Path(work) / "root"
        subprocess.run(["cp", "-al", str(base), str(root)], check=True, timeout=120)  # hard links: fast
        site = root / "srv"
        if site.exists():
            shutil.rmtree(site)
        (site / "_").mkdir(parents=True)
        (site / "_" / "health").write_text("OK")
        (site / "index.html").write_text("hello")
        tarball = Path(work) / "image.tar"
        subprocess.run(
            [
                "python3",
                str(KIT_TOOLS / "mkimage.py"),
                str(root),
                HTTP_IMAGE,
                str(tarball),
                "--cmd",
                '["python3", "-m", "http.server", "8080", "--directory", "/srv"]',
            ],
            check=True,
            timeout=300,
            capture_output=True,
        )
        subprocess.run(
            ["ctr", "--address", containerd, "-n", "k8s.io", "images", "import", str(tarball)],
            check=True,
            timeout=300,
            capture_output=True,
        )
    return HTTP_IMAGE
