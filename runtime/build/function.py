"""A function image from a Python template, without a Docker daemon (the way ``ko``/``jib`` build).

The template's Dockerfile is read, not run. Its last stage says where files go and how the image runs
(``WORKDIR``, ``COPY``, ``ENV``, ``USER``, ``EXPOSE``, ``CMD``); its ``RUN`` steps are replaced by what they
do in the Python templates:

* ``pip install -r FILE``: the requirements are installed into the base's site-packages. The line ``pyfaas``
  (the watchdog) is this pyfaas and its run-time dependencies, copied from this environment
  (:func:`pyfaas.build.python_env.package_files`); other lines are installed with pip;
* ``useradd ... --uid N NAME``: ``NAME`` is added to the base's ``/etc/passwd`` and ``/etc/group`` and
  owns its home folder.

Any other ``RUN`` (``apt-get`` for ``build_options``, ``npm ci``, ``go build``) needs a real container
build, so templates whose base is not a Python image are refused with that said.

Layers, bottom to top: the base's, the watchdog runtime (the same bytes for every function: registries and
containerd store it once), the function's pip requirements (when there are any), then the template and
handler files. The build context is the template folder with its handler folder replaced by the function's.
"""

from __future__ import annotations

import re
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pyfaas.build import python_env
from pyfaas.build.dockerfile import Instruction, last_stage, parse_env, parse_exec_form
from pyfaas.build.errors import BuildError
from pyfaas.build.oci import Blob, FileSource, Image, build_image, cached_layer, tree_files, write_layer
from pyfaas.build.rootfs import BaseFiles

__all__ = ["FunctionSource", "build_function_image"]

WATCHDOG = "pyfaas"
"""The requirement line the templates use for the watchdog."""
SCRIPT = "pyfaas-watchdog"
RUN_REPLACED = re.compile(r"\b(pip3?|python3? -m pip) install\b|\buseradd\b")


@dataclass(frozen=True)
class FunctionSource:
    name: str
    template: Path
    """The template folder (``template.yml``, ``Dockerfile`` ...)."""
    handler: Path
    """The function's handler folder (``handler:`` in the stack file)."""
    handler_folder: str = "function"
    """Where the template expects it (``handler_folder`` in ``template.yml``)."""


def _context_files(source: FunctionSource) -> dict[str, Path]:
    """Build context path -> host file: the template, its handler folder replaced by the function's."""
    files: dict[str, Path] = {}
    skip = re.compile(rf"^{re.escape(source.handler_folder)}(/|$)|{python_env.SKIP.pattern}")
    for path in sorted(source.template.rglob("*")):
        relative = path.relative_to(source.template).as_posix()
        if path.is_file() and not skip.search(relative):
            files[relative] = path
    if not source.handler.is_dir():
        raise BuildError(f"handler folder {source.handler} not found", field="handler")
    for path in sorted(source.handler.rglob("*")):
        relative = path.relative_to(source.handler).as_posix()
        if path.is_file() and not python_env.SKIP.search(relative):
            files[f"{source.handler_folder}/{relative}"] = path
    return files


def _copy(context: Mapping[str, Path], rest: str, workdir: str, where: str) -> dict[str, Path]:
    """``COPY src... dest`` resolved against the context and the working folder."""
    words = [word for word in shlex.split(rest) if not word.startswith("--")]
    if any(word.startswith("--from") for word in shlex.split(rest)):
        raise BuildError(f"{where}: COPY --from needs a container build")
    if len(words) < 2:
        raise BuildError(f"{where}: COPY needs a source and a destination")
    *sources, dest = words
    target = str(PurePosixPath(workdir) / dest)
    copied: dict[str, Path] = {}
    for source in sources:
        key = source.strip("/").removeprefix("./").rstrip("/")
        if key in ("", "."):
            matches = dict(context)
        elif key in context:
            name = PurePosixPath(key).name
            into = f"{target}/{name}" if dest.endswith("/") or len(sources) > 1 else target
            copied[into.lstrip("/")] = context[key]
            continue
        else:
            matches = {path: file for path, file in context.items() if path.startswith(key + "/")}
            matches = {path.removeprefix(key + "/"): file for path, file in matches.items()}
        if not matches:
            raise BuildError(f"{where}: COPY {source}: not in the build context")
        for relative, file in matches.items():
            copied[f"{target.rstrip('/')}/{relative}".lstrip("/")] = file
    return copied


def _requirement_files(rest: str) -> list[str]:
    words = shlex.split(rest.replace("&&", " && ").replace(";", " ; "))
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-r", "--requirement")]


def _useradd(rest: str) -> tuple[str, int] | None:
    words = shlex.split(rest.replace("&&", " && ").replace(";", " ; "))
    if "useradd" not in words:
        return None
    command = words[words.index("useradd") + 1 :]
    command = command[: command.index("&&")] if "&&" in command else command
    uid = 1000
    for flag in ("--uid", "-u"):
        if flag in command:
            uid = int(command[command.index(flag) + 1])
    return command[-1], uid


def build_function_image(
    source: FunctionSource,
    base: Image,
    work: Path,
    *,
    env: Mapping[str, str] | None = None,
    cache: Path | None = None,
) -> Image:
    """The image of ``source`` on ``base``; layer files go to ``work`` (which must outlive the image).

    ``env`` adds to the template's environment (the stack file's ``environment`` stays a deploy setting).
    ``cache`` keeps the watchdog runtime layer between builds (see :func:`pyfaas.build.oci.cached_layer`)."""
    dockerfile = source.template / "Dockerfile"
    stage = last_stage(dockerfile)
    base_image = stage[0].rest.split()[0]
    if "python" not in base_image.split("/")[-1]:
        raise BuildError(
            f"{dockerfile}: FROM {base_image} is not a Python image; the daemonless builder makes Python "
            "templates only (build this one with Docker, Podman or Buildah)"
        )
    base_files = BaseFiles(base)
    python = base_files.python()
    python_env.check_abi(python.minor)
    context = _context_files(source)

    workdir, user = "/", None
    image_env: dict[str, str] = {}
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    ports: list[int] = []
    copied: dict[str, Path] = {}
    requirements: list[Path] = []
    users: dict[str, int] = {}
    for instruction in stage[1:]:
        where = f"{dockerfile}:{instruction.line}"
        keyword, rest = instruction.keyword, instruction.rest
        if keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / rest)
        elif keyword in ("COPY", "ADD"):
            copied |= _copy(context, rest, workdir, where)
        elif keyword == "RUN":
            _run(instruction, where, workdir, copied, requirements, users)
        elif keyword == "ENV":
            image_env |= parse_env(rest)
        elif keyword == "USER":
            name = rest.split(":")[0]
            uid = users.get(name, int(name) if name.isdigit() else -1)
            if uid < 0:
                raise BuildError(f"{where}: USER {name} is no user the Dockerfile adds")
            user = f"{uid}:{uid}"
        elif keyword == "CMD":
            cmd = parse_exec_form(rest, where)
        elif keyword == "ENTRYPOINT":
            entrypoint = parse_exec_form(rest, where)
        elif keyword == "EXPOSE":
            ports += [int(port.split("/")[0]) for port in rest.split()]
        # ARG, LABEL, HEALTHCHECK (Kubernetes probes the watchdog itself), SHELL ...: nothing to assemble

    layers: list[Blob] = []
    runtime, pip_lines = _runtime_requirements(requirements)
    if runtime:
        files = python_env.package_files([WATCHDOG], python.site)
        script = "import sys\nfrom pyfaas.watchdog.__main__ import main\nsys.exit(main())\n"
        files[f"usr/local/bin/{SCRIPT}"] = f"#!{python.executable}\n{script}".encode()
        executables = [f"usr/local/bin/{SCRIPT}"]
        if cache is not None:
            layers.append(cached_layer(files, cache, "runtime", executables=executables))
        else:
            layers.append(write_layer(files, work / "runtime.tar.gz", executables=executables))
    if pip_lines:
        with tempfile.TemporaryDirectory(prefix="pyfaas-pip-") as scratch:
            listed = Path(scratch) / "requirements.txt"
            listed.write_text("\n".join(pip_lines) + "\n")
            target = Path(scratch) / "site"
            python_env.pip_install([listed], target)
            files, links = tree_files(target, python.site, skip=python_env.SKIP.search)
            layers.append(write_layer(files, work / "requirements.tar.gz", symlinks=links))
    app_files: dict[str, FileSource] = dict(copied)
    folders: dict[str, tuple[int, int, int]] = {}
    for name, uid in users.items():
        home = f"home/{name}"
        app_files |= base_files.with_user(name, uid, uid, f"/{home}")
        folders[home] = (0o755, uid, uid)
    layers.append(write_layer(app_files, work / "app.tar.gz", folders=folders))
    return build_image(
        base,
        layers,
        cmd=cmd,
        entrypoint=entrypoint,
        env={**image_env, **(env or {})},
        workdir=workdir,
        user=user,
        ports=ports,
        labels={"com.openfaas.function": source.name},
    )


def _run(
    instruction: Instruction,
    where: str,
    workdir: str,
    copied: Mapping[str, Path],
    requirements: list[Path],
    users: dict[str, int],
) -> None:
    rest = instruction.rest
    if not RUN_REPLACED.search(rest):
        return  # e.g. the optional apt-get of build_options: nothing to do without extra packages
    for listed in _requirement_files(rest):
        image_path = str(PurePosixPath(workdir) / listed).lstrip("/")
        if image_path not in copied:
            raise BuildError(f"{where}: {listed} is not copied into the image before it is installed")
        requirements.append(copied[image_path])
    added = _useradd(rest)
    if added is not None:
        users[added[0]] = added[1]


def _runtime_requirements(files: list[Path]) -> tuple[bool, list[str]]:
    """(whether the watchdog is wanted, the other requirement lines, in order, without duplicates)."""
    runtime = False
    lines: list[str] = []
    for path in files:
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if re.sub(r"[-_.]+", "-", line).lower() == WATCHDOG:
                runtime = True
            elif line not in lines:
                lines.append(line)
    return runtime, lines
