"""Local mode's build step for functions made from a template (Node.js, Go, Bash, classic Python ...).

What ``faas-cli build`` does before ``docker build`` (the template's files with the handler copied into its
``function/`` folder), then what the template's Dockerfile would run, with the machine's own toolchains:
``npm ci`` where a ``package-lock.json`` is (``npm install`` for a ``package.json`` with dependencies and no
lockfile), ``go build`` where a ``go.mod`` is, ``pip install --target`` for a Python function's
``requirements.txt`` (on its process's ``PYTHONPATH`` only). Every function gets build folders of its own, one
per content digest (template files + handler files), so a build is reused until a source changes, and a
replica still running from an older build keeps its files while the next one starts. ``node_modules`` and
Python packages are hard-linked from the previous build when its lockfile or requirements are the same.

Layout under the cache root (``~/.cache/pyfaas/builds`` by default)::

    <fn>-<key>/                 one per function (key: a hash of its handler folder's absolute path)
        .lock                   held while building
        <digest>/               one build; the newest three are kept
            .pyfaas-build.json  written last: the build is complete
            .pyfaas-build.log   what the build steps printed

The function then runs from its build folder (``env -C <folder> <fprocess>``, since the watchdog starts
processes in the replica's run directory) with the watchdog settings of the template's Dockerfile; an
``http`` mode upstream gets port 0, i.e. a free port per replica passed to the server as ``http_port``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyfaas.core.errors import PyfaasError
from pyfaas.provider.local.templates import TemplateSpec

__all__ = ["TOOLCHAINS", "BuildFailed", "LocalBuild", "Toolchain", "build_function", "default_cache_root"]

BUILD_FORMAT = "1"
"""Part of every digest: bump it when what a build folder holds changes, so old builds are not reused."""
KEEP_BUILDS = 3
STEP_TIMEOUT = 900.0
MARKER = ".pyfaas-build.json"
PYTHON_PACKAGES = ".python-packages"
"""A Python function's requirements, installed into its build folder (on its PYTHONPATH)."""
BUILD_LOG = ".pyfaas-build.log"
IGNORED = frozenset({"node_modules", ".git", "__pycache__", ".venv", PYTHON_PACKAGES, MARKER, BUILD_LOG})
"""Never copied from a handler folder nor hashed: installed or generated, not source."""


@dataclass(frozen=True, slots=True)
class Toolchain:
    program: str
    what: str
    package: str
    """The Debian package that provides it."""


TOOLCHAINS: dict[str, Toolchain] = {
    tool.program: tool
    for tool in (
        Toolchain("node", "Node.js", "nodejs"),
        Toolchain("npm", "npm", "npm"),
        Toolchain("go", "Go", "golang-go"),
        Toolchain("bash", "Bash", "bash"),
        Toolchain("env", "env (coreutils)", "coreutils"),
    )
}


class BuildFailed(PyfaasError):
    """A function cannot be built or run locally; ``hint`` says what to do about it."""

    status = 400

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class LocalBuild:
    folder: Path
    fprocess: str
    """The command the watchdog runs, starting in ``folder``."""
    env: dict[str, str]
    """Watchdog settings from the template's image (``mode``, ``upstream_url`` ...)."""
    rebuilt: bool
    steps: list[str] = field(default_factory=list)
    """The commands this call ran (empty when the build was reused)."""


@dataclass(frozen=True)
class _Step:
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return " ".join(self.argv)


def _is_python(program: str) -> bool:
    return Path(program).name.startswith("python")


def default_cache_root(environ: Mapping[str, str]) -> Path:
    cache = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(cache) / "pyfaas" / "builds"


def _files(root: Path, skip_top: frozenset[str]) -> Iterator[Path]:
    for directory, dirs, files in os.walk(root):
        at_top = Path(directory) == root
        dirs[:] = sorted(d for d in dirs if d not in IGNORED and not (at_top and d in skip_top))
        for name in sorted(files):
            if name not in IGNORED and not (at_top and name in skip_top):
                yield Path(directory) / name


def _digest(template: TemplateSpec, handler_dir: Path) -> str:
    digest = hashlib.sha256(f"{BUILD_FORMAT}\0{template.name}\0".encode())
    parts: tuple[tuple[str, Path, frozenset[str]], ...] = (
        ("t", template.folder, frozenset({template.handler_folder})),
        ("f", handler_dir, frozenset()),
    )
    for tag, root, skip in parts:
        for path in _files(root, skip):
            relative = path.relative_to(root).as_posix()
            executable = os.access(path, os.X_OK)
            digest.update(f"{tag}:{relative}\0{executable}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another deploy of the same function waits for this build
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _needs(tool: str, why: str, *, lang: str, environ: Mapping[str, str]) -> str:
    """The absolute path of ``tool`` on the function's PATH, or ``BuildFailed`` naming the Debian package."""
    found = shutil.which(tool, path=environ.get("PATH", os.defpath))
    if found:
        return found
    toolchain = TOOLCHAINS.get(tool, Toolchain(tool, tool, tool))
    raise BuildFailed(
        f"template {lang} needs {toolchain.what} (`{tool}`) {why}, and there is no `{tool}` on PATH",
        hint=f"install Debian's {toolchain.package} package: sudo apt-get install {toolchain.package}",
    )


def _has_dependencies(package_json: Path) -> bool:
    try:
        data = json.loads(package_json.read_text())
    except (OSError, ValueError):
        return True  # let npm report what is wrong with it
    return isinstance(data, dict) and bool(data.get("dependencies"))


def _linked_from_previous(function_root: Path, build: Path, manifest: Path, installed: Path) -> bool:
    """Hard-link ``installed`` (``node_modules``, the Python packages) from an earlier complete build whose
    ``manifest`` (lockfile, requirements) is the same, instead of installing again."""
    manifest_at, installed_at = manifest.relative_to(build), installed.relative_to(build)
    wanted = manifest.read_bytes()
    for previous in function_root.iterdir():
        source = previous / installed_at
        if (
            previous != build
            and (previous / MARKER).is_file()
            and source.is_dir()
            and (previous / manifest_at).is_file()
            and (previous / manifest_at).read_bytes() == wanted
        ):
            try:
                shutil.copytree(source, installed, symlinks=True, copy_function=os.link)
            except (OSError, shutil.Error):
                shutil.rmtree(installed, ignore_errors=True)
                continue
            return True
    return False


def _has_requirements(path: Path) -> bool:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.strip() and not line.strip().startswith("#") for line in lines)


def _steps(build: Path, template: TemplateSpec, argv: Sequence[str], function_root: Path) -> list[_Step]:
    steps: list[_Step] = []
    program = argv[0]
    for folder in (build, build / template.handler_folder):
        package_json = folder / "package.json"
        if not package_json.is_file():
            continue
        if (folder / "package-lock.json").is_file():
            lock, installed = folder / "package-lock.json", folder / "node_modules"
            if not _linked_from_previous(function_root, build, lock, installed):
                steps.append(_Step(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund"], folder))
        elif _has_dependencies(package_json):
            steps.append(_Step(["npm", "install", "--omit=dev", "--no-audit", "--no-fund"], folder))
    if (build / "go.mod").is_file():
        output = program[2:] if program.startswith("./") and "/" not in program[2:] else "handler"
        # -mod=mod: the function's go.mod may add modules the template's go.mod does not list yet
        steps.append(_Step(["go", "build", "-o", output, "."], build, {"GOFLAGS": "-mod=mod"}))
    requirements = build / template.handler_folder / "requirements.txt"
    if _is_python(program) and _has_requirements(requirements):
        packages = build / PYTHON_PACKAGES
        if not _linked_from_previous(function_root, build, requirements, packages):
            pip = [program, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
            steps.append(_Step([*pip, "--target", str(packages), "-r", str(requirements)], build))
    return steps


def _run_step(step: _Step, executable: str, log: Path, environ: Mapping[str, str]) -> None:
    env = {**environ, **{k: v for k, v in step.env.items() if k not in environ}}
    with log.open("a") as output:
        output.write(f"$ (cd {step.cwd} && {step.describe()})\n")
        output.flush()
        try:
            completed = subprocess.run(
                [executable, *step.argv[1:]],
                cwd=step.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=STEP_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BuildFailed(
                f"building it: `{step.describe()}` took over {STEP_TIMEOUT:.0f} s",
                hint=f"see {log}",
            ) from exc
    if completed.returncode != 0:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        last = lines[-1] if lines else "(no output)"
        raise BuildFailed(
            f"building it: `{step.describe()}` failed (exit {completed.returncode}): {last}",
            hint=f"the whole output is in {log}",
        )


def _prune(function_root: Path, keep: Path) -> None:
    builds = sorted(
        (p for p in function_root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in [b for b in builds if b != keep][KEEP_BUILDS - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def _run_env(template: TemplateSpec, build: Path) -> dict[str, str]:
    env = {k: v for k, v in template.image_env.items() if k not in ("fprocess", "function_process")}
    env.setdefault("mode", "fork")  # an image with an fprocess and no mode ran the classic watchdog
    if env["mode"] == "http":
        env.pop("http_upstream_url", None)
        env["upstream_url"] = "http://127.0.0.1:0"
    elif env["mode"] == "python":
        env["handler"] = str(build / template.handler_folder)
    return env


def build_function(
    *,
    name: str,
    template: TemplateSpec,
    handler_dir: Path,
    environ: Mapping[str, str],
    cache_root: Path | None = None,
    fprocess: str | None = None,
    python: str = sys.executable,
    report: Callable[[str], None] | None = None,
) -> LocalBuild:
    """Build (or reuse) ``name`` from ``template`` and its handler folder; ``BuildFailed`` when it cannot.

    ``fprocess`` (the stack's) overrides the template's; ``python``/``python3`` in it become ``python`` (the
    interpreter running pyfaas, with its installed packages). ``report`` hears each step before it runs.
    """
    argv: Sequence[str] = (fprocess or template.fprocess).split()
    if not argv:
        raise BuildFailed(
            f"template {template.name} ({template.folder}) sets no fprocess",
            hint="add fprocess to its template.yml, or to the function in the stack file",
        )
    if not handler_dir.is_dir():
        raise BuildFailed(
            f"handler folder {handler_dir} does not exist",
            hint="check the function's handler (relative to the stack file)",
        )
    program = argv[0]
    if program in ("python", "python3"):
        argv = [python, *argv[1:]]
    elif "/" not in program:
        _needs(program, "to run", lang=template.name, environ=environ)
    _needs("env", "to start it in its build folder", lang=template.name, environ=environ)
    root = cache_root or default_cache_root(environ)
    key = hashlib.sha256(str(handler_dir.resolve()).encode()).hexdigest()[:10]
    function_root = root / f"{name}-{key}"
    function_root.mkdir(parents=True, exist_ok=True)
    digest = _digest(template, handler_dir)
    build = function_root / digest[:20]
    if " " in str(build) or any(" " in part for part in argv):
        raise BuildFailed(
            f"fprocess is split on spaces, so the build folder {build} cannot hold one",
            hint="point XDG_CACHE_HOME at a path without spaces",
        )
    ran: list[str] = []
    with _locked(function_root / ".lock"):
        rebuilt = not (build / MARKER).is_file()
        if rebuilt:
            shutil.rmtree(build, ignore_errors=True)
            top = str(template.folder)  # the template's own skeleton folder is replaced by the handler's

            def template_files(directory: str, names: list[str]) -> list[str]:
                return [
                    n for n in names if n in IGNORED or (directory == top and n == template.handler_folder)
                ]

            shutil.copytree(top, build, ignore=template_files)
            shutil.copytree(
                handler_dir,
                build / template.handler_folder,
                ignore=lambda d, names: [n for n in names if n in IGNORED],
                dirs_exist_ok=True,
            )
            log = build / BUILD_LOG
            log.write_text("")
            started = time.monotonic()
            for step in _steps(build, template, argv, function_root):
                tool = _needs(step.argv[0], f"for `{step.describe()}`", lang=template.name, environ=environ)
                if report is not None:
                    report(f"{name}: {step.describe()}")
                _run_step(step, tool, log, environ)
                ran.append(step.describe())
            (build / MARKER).write_text(
                json.dumps(
                    {"template": template.name, "steps": ran, "seconds": round(time.monotonic() - started, 3)}
                )
            )
        else:
            os.utime(build)  # newest first when pruning
        _prune(function_root, keep=build)
    prefix = ["env", "-C", str(build)]
    if (build / PYTHON_PACKAGES).is_dir():  # the function's packages, for its process only (not the watchdog)
        prefix.append(f"PYTHONPATH={build / PYTHON_PACKAGES}")
    command = " ".join([*prefix, *argv])
    return LocalBuild(
        folder=build, fprocess=command, env=_run_env(template, build), rebuilt=rebuilt, steps=ran
    )
