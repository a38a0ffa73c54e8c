"""A function image from a template, without a Docker daemon (the way ``ko``/``jib``/``apko`` build).

The template's Dockerfile is read, not run. Every stage is followed: ``WORKDIR``, ``COPY``/``ADD`` (also
``--from`` an earlier stage and ``--chown``), ``ENV``, ``ARG`` (its default: build arguments expand in
``RUN`` and ``ENV``), ``USER``, ``EXPOSE``, ``CMD``, ``ENTRYPOINT``, ``LABEL``. Each ``RUN`` is read as the
commands it runs (:mod:`pyfaas.build.shell`, which decides ``if [ -n "${ADDITIONAL_PACKAGE}" ]`` guards) and
each command is replaced by what it does:

* ``pip install -r FILE`` / ``pip install SPEC``: installed into the base's site-packages. ``pyfaas`` (the
  watchdog) is this pyfaas and its run-time dependencies, copied from this environment
  (:func:`pyfaas.build.python_env.package_files`); other requirements are installed with pip. A
  ``python3 -m venv DIR`` before ``DIR/bin/pip install`` is the same install (so ``python3-venv`` is not
  needed); ``sed -i s|...|...| FILE`` edits the copied file;
* ``useradd ... NAME`` and ``chown``: users in ``/etc/passwd``/``/etc/group``, owners in the layer;
* ``apt-get install PKG...``: the packages (with the dependencies the base lacks) from this machine's dpkg
  database (:mod:`pyfaas.build.debian`); ``apt-get update``, ``rm -rf`` of apt lists and caches: nothing;
* ``go build`` and ``npm ci``/``npm install``: run here with Debian's toolchains
  (:mod:`pyfaas.build.toolchains`) on the stage's copied files, their output kept in the stage.

Any other command is refused with its Dockerfile line: that needs a container build. ``FROM`` names where
the build starts: a ``golang`` stage is a build stage on this machine, ``node:N`` is the ``--base`` with
this machine's Node.js N added (and the ``node`` user, uid 1000, as in the official image), and any other
image (``python:*``, ``debian:*``) is the ``--base`` itself.

Layers, bottom to top: the base's, the Debian packages (when any), the watchdog runtime (the same bytes for
every function: registries and containerd store it once), the function's pip requirements (when any), then
the files of the last stage. The build context is the template folder with its handler folder replaced by
the function's; a template without a Dockerfile (``dockerfile``) builds the function's own Dockerfile with
its folder as the context.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pyfaas.build import debian, python_env, shell, toolchains
from pyfaas.build.dockerfile import Instruction, Stage, parse_env, parse_exec_form, stages
from pyfaas.build.errors import BuildError
from pyfaas.build.oci import Blob, FileSource, Image, build_image, cached_layer, tree_files, write_layer
from pyfaas.build.rootfs import BaseFiles

__all__ = ["FunctionSource", "build_function_image"]

WATCHDOG = "pyfaas"
"""The requirement line the templates use for the watchdog."""
SCRIPT = "pyfaas-watchdog"
IGNORED = re.compile(
    r"(^|/)(node_modules|\.git|\.venv|\.python-packages|\.pyfaas-build\.json|\.pyfaas-build\.log)(/|$)"
)
"""Installed or generated in a handler folder by local mode, never part of the build context."""
NODE_IMAGE = re.compile(r"^(?:.*/)?node:(\d+)")
NODE_USER = ("node", 1000, "/home/node")
NODE_LEFT_OUT = r"^/usr/(include|lib/node_modules|share/systemtap)/|^/usr/bin/(npm|npx|corepack)$"
"""npm runs on the build machine, not in the image; headers are for native addons, built there too."""
VENV_PACKAGES = re.compile(r"^python3(\.\d+)?-venv$")
DISCARDED = re.compile(r"^/?(var/lib/apt/lists|var/cache|tmp|root/\.cache)(/|$)")
"""What ``rm -rf`` in a template cleans up after apt and pip: never in the image here anyway."""
NOTHING_TO_DO = {"true", ":", "echo"}


@dataclass(frozen=True)
class FunctionSource:
    name: str
    template: Path
    """The template folder (``template.yml``, ``Dockerfile`` ...)."""
    handler: Path
    """The function's handler folder (``handler:`` in the stack file)."""
    handler_folder: str = "function"
    """Where the template expects it (``handler_folder`` in ``template.yml``)."""


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    home: str


@dataclass
class _Stage:
    """What a stage holds so far: its own files (not the base's) and how its image runs."""

    name: str
    image: str
    files: dict[str, FileSource] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    folders: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    owners: dict[str, tuple[int, int]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str | None = None
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    ports: list[int] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)
    runtime: bool = False
    pip_lines: list[str] = field(default_factory=list)
    venvs: set[str] = field(default_factory=set)

    def exists(self, path: str, folder: bool) -> bool:
        key = path.strip("/")
        below = any(name.startswith(key + "/") for name in self.files)
        return below or key in self.folders if folder else key in self.files or key in self.links


def _context_files(source: FunctionSource) -> dict[str, Path]:
    """Build context path -> host file: the template, its handler folder replaced by the function's; or,
    for a template without a Dockerfile, the function's folder alone."""
    files: dict[str, Path] = {}
    if not source.handler.is_dir():
        raise BuildError(f"handler folder {source.handler} not found", field="handler")
    own = not (source.template / "Dockerfile").is_file()
    if not own:
        skip = re.compile(rf"^{re.escape(source.handler_folder)}(/|$)|{python_env.SKIP.pattern}")
        for path in sorted(source.template.rglob("*")):
            relative = path.relative_to(source.template).as_posix()
            if path.is_file() and not skip.search(relative) and not IGNORED.search(relative):
                files[relative] = path
    prefix = "" if own else f"{source.handler_folder}/"
    for path in sorted(source.handler.rglob("*")):
        relative = path.relative_to(source.handler).as_posix()
        if path.is_file() and not python_env.SKIP.search(relative) and not IGNORED.search(relative):
            files[f"{prefix}{relative}"] = path
    return files


def _copy(sources_of: Mapping[str, FileSource], rest: str, workdir: str, where: str) -> dict[str, FileSource]:
    """``COPY src... dest`` resolved against ``sources_of`` (the context, or a stage's files)."""
    words = [word for word in shlex.split(rest) if not word.startswith("--")]
    if len(words) < 2:
        raise BuildError(f"{where}: COPY needs a source and a destination")
    *sources, dest = words
    target = str(PurePosixPath(workdir) / dest)
    into_folder = dest.endswith("/") or len(sources) > 1
    copied: dict[str, FileSource] = {}
    for source in sources:
        if re.match(r"^[a-z]+://", source):
            raise BuildError(f"{where}: ADD of a URL needs a container build (Docker, Podman or Buildah)")
        key = source.strip("/").removeprefix("./").rstrip("/")
        if any(char in key for char in "*?["):
            found = {path: file for path, file in sources_of.items() if fnmatch.fnmatchcase(path, key)}
            copied |= {
                f"{target.rstrip('/')}/{PurePosixPath(path).name}".lstrip("/"): f for path, f in found.items()
            }
            continue
        if key in ("", "."):
            matches = dict(sources_of)
        elif key in sources_of:
            name = PurePosixPath(key).name
            into = f"{target.rstrip('/')}/{name}" if into_folder else target
            copied[into.lstrip("/")] = sources_of[key]
            continue
        else:
            matches = {
                path.removeprefix(key + "/"): file
                for path, file in sources_of.items()
                if path.startswith(key + "/")
            }
        if not matches:
            raise BuildError(f"{where}: COPY {source}: not in the build context")
        for relative, file in matches.items():
            copied[f"{target.rstrip('/')}/{relative}".lstrip("/")] = file
    return copied


def _option(rest: str, name: str) -> str | None:
    for word in shlex.split(rest):
        if word.startswith(f"--{name}="):
            return word.split("=", 1)[1]
    return None


def _base_users(base_files: BaseFiles) -> dict[str, User]:
    users: dict[str, User] = {}
    for line in (base_files.read("etc/passwd") or b"").decode().splitlines():
        parts = line.split(":")
        if len(parts) >= 6 and parts[2].isdigit() and parts[3].isdigit():
            users[parts[0]] = User(int(parts[2]), int(parts[3]), parts[5])
    return users


def _owner(stage: _Stage, known: Mapping[str, User], spec: str, where: str) -> tuple[int, int]:
    name, _, group = spec.partition(":")
    users = {**known, **stage.users}

    def number(word: str, kind: str) -> int:
        if word.isdigit():
            return int(word)
        if word in users:
            return users[word].uid if kind == "user" else users[word].gid
        raise BuildError(f"{where}: {kind} {word} is not in the base image nor added by the Dockerfile")

    uid = number(name, "user")
    return uid, number(group, "group") if group else (users[name].gid if name in users else uid)


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
    ``cache`` keeps the Debian package and watchdog runtime layers between builds (see
    :func:`pyfaas.build.oci.cached_layer`)."""
    dockerfile = source.template / "Dockerfile"
    if not dockerfile.is_file():
        dockerfile = source.handler / "Dockerfile"
    all_stages = stages(dockerfile)
    context = _context_files(source)
    base_files = BaseFiles(base)
    base_env = dict(
        item.split("=", 1) for item in (base.config.get("config") or {}).get("Env") or [] if "=" in item
    )
    built: dict[str, _Stage] = {}
    with tempfile.TemporaryDirectory(prefix="pyfaas-stages-") as scratch:
        for index, stage in enumerate(all_stages):
            last = index == len(all_stages) - 1
            made = _Builder(
                dockerfile, stage, context, built, base_files, base_env, Path(scratch), last
            ).run()
            built[stage.name] = made
        final = built[all_stages[-1].name]
        return _assemble(source, final, base, base_files, work, env, cache)


class _Builder:
    """Follows one stage's instructions."""

    def __init__(
        self,
        dockerfile: Path,
        stage: Stage,
        context: Mapping[str, Path],
        built: Mapping[str, _Stage],
        base_files: BaseFiles,
        base_env: Mapping[str, str],
        scratch: Path,
        last: bool,
    ) -> None:
        self.dockerfile, self.context, self.built, self.base_files = dockerfile, context, built, base_files
        self.scratch = scratch / f"stage-{stage.name}"
        self.instructions = stage.instructions
        self.stage = _Stage(stage.name, stage.image, env=dict(base_env))
        self.base_users = _base_users(base_files)
        where = f"{dockerfile}:{stage.instructions[0].line}"
        image = stage.image
        if image in built:  # FROM an earlier stage: all it has so far, under this stage's name
            self.stage = copy.deepcopy(built[image])
            self.stage.name, self.stage.args = stage.name, {}
        elif image.split("/")[-1].startswith("golang:") or image.split("/")[-1] == "golang":
            if last:
                raise BuildError(
                    f"{where}: the last stage is a Go toolchain image; the daemonless builder runs go build "
                    "on this machine in a build stage and needs a runtime stage after it"
                )
            self.stage.env.pop("PATH", None)  # the Go image's PATH is not this machine's
        elif (node := NODE_IMAGE.match(image)) is not None:
            self._node(node.group(1), where)

    def where(self, instruction: Instruction) -> str:
        return f"{self.dockerfile}:{instruction.line}"

    def _node(self, major: str, where: str) -> None:
        package = debian.host_packages().get("nodejs")
        if package is None or package.version.split(":")[-1].split(".")[0] != major:
            have = f"Node.js {package.version} is" if package else "no nodejs package is"
            raise BuildError(
                f"{where}: FROM node:{major}... is made from this machine's Node.js, and {have} installed: "
                f"install the Debian package nodejs at version {major} (apt-get install nodejs), or build "
                "with Docker, Podman or Buildah"
            )
        self.stage.packages.append("nodejs")
        name, uid, home = NODE_USER
        self.stage.users[name] = User(uid, uid, home)

    def run(self) -> _Stage:
        stage = self.stage
        for instruction in self.instructions[1:]:
            where = self.where(instruction)
            keyword = instruction.keyword
            variables = {**stage.env, **stage.args}
            rest = instruction.rest
            if keyword == "ARG":
                name, _, default = rest.partition("=")
                stage.args[name.strip()] = shlex.split(default)[0] if default.strip() else ""
            elif keyword == "WORKDIR":
                stage.workdir = str(PurePosixPath(stage.workdir) / shell.expand(rest, variables))
                stage.folders.setdefault(stage.workdir.strip("/"), (0o755, 0, 0))
            elif keyword in ("COPY", "ADD"):
                self._copy(rest, where)
            elif keyword == "RUN":
                self._run(rest, where)
            elif keyword == "ENV":
                stage.env |= parse_env(shell.expand(rest, variables))
            elif keyword == "LABEL":
                stage.labels |= parse_env(rest)
            elif keyword == "USER":
                name = shell.expand(rest, variables).split(":")[0]
                uid, gid = _owner(stage, self.base_users, name, where)
                stage.user = f"{uid}:{gid}"
            elif keyword == "CMD":
                stage.cmd = parse_exec_form(rest, where)
            elif keyword == "ENTRYPOINT":
                stage.entrypoint = parse_exec_form(rest, where)
            elif keyword == "EXPOSE":
                stage.ports += [int(port.split("/")[0]) for port in shell.expand(rest, variables).split()]
            elif keyword not in ("HEALTHCHECK", "SHELL", "STOPSIGNAL", "VOLUME", "MAINTAINER", "ONBUILD"):
                raise BuildError(f"{where}: {keyword} is not a Dockerfile instruction the builder knows")
            # HEALTHCHECK: Kubernetes probes the watchdog itself; the others do not change the files
        return stage

    def _copy(self, rest: str, where: str) -> None:
        stage = self.stage
        origin = _option(rest, "from")
        if origin is None:
            sources: Mapping[str, FileSource] = self.context
        elif origin in self.built:
            sources = {path: file for path, file in self.built[origin].files.items()}
        else:
            raise BuildError(f"{where}: COPY --from={origin}: no earlier stage is named so")
        copied = _copy(sources, rest, stage.workdir, where)
        stage.files |= copied
        chown = _option(rest, "chown")
        if chown is not None:
            owner = _owner(stage, self.base_users, chown, where)
            stage.owners |= {path: owner for path in copied}

    def _run(self, rest: str, where: str) -> None:
        stage = self.stage
        found = shell.commands(
            rest, {**stage.env, **stage.args}, cwd=stage.workdir, exists=stage.exists, where=where
        )
        for command in found:
            at = f"{where}: RUN {' '.join(command.words)}"
            try:
                self._command(list(command.words), command.cwd, at)
            except (IndexError, ValueError) as exc:  # an option without its value, a uid that is no number
                raise self._refuse(at, f" ({exc})") from exc

    def _refuse(self, where: str, why: str = "") -> BuildError:
        return BuildError(
            f"{where}: the daemonless builder cannot run this{why}; build the image with Docker, Podman or "
            "Buildah"
        )

    def _command(self, words: list[str], cwd: str, where: str) -> None:
        stage = self.stage
        program = PurePosixPath(words[0]).name
        rest = words[1:]
        if program in NOTHING_TO_DO:
            return
        if program in ("pip", "pip3") or (program.startswith("python") and rest[:2] == ["-m", "pip"]):
            arguments = rest[2:] if rest[:2] == ["-m", "pip"] else rest
            if arguments[:1] != ["install"]:
                raise self._refuse(where)
            self._pip(arguments[1:], cwd, where)
        elif program.startswith("python") and rest[:2] == ["-m", "venv"]:
            stage.venvs.add(rest[-1])  # pip of the venv installs into the base's site-packages here
        elif program == "useradd":
            self._useradd(rest, where)
        elif program in ("apt-get", "apt"):
            self._apt(rest, where)
        elif program == "rm":
            for path in (word for word in rest if not word.startswith("-")):
                key = str(PurePosixPath(cwd) / path).strip("/")
                if DISCARDED.match(key):
                    continue
                gone = [name for name in stage.files if name == key or name.startswith(key + "/")]
                if not gone:
                    raise self._refuse(where, f" ({path} is not a file this build added)")
                for name in gone:
                    del stage.files[name]
        elif program == "mkdir":
            for path in (word for word in rest if not word.startswith("-")):
                stage.folders.setdefault(str(PurePosixPath(cwd) / path).strip("/"), (0o755, 0, 0))
        elif program == "chown":
            paths = [word for word in rest if not word.startswith("-")]
            if len(paths) < 2:
                raise self._refuse(where)
            owner = _owner(stage, self.base_users, paths[0], where)
            for path in paths[1:]:
                stage.owners[str(PurePosixPath(cwd) / path).strip("/")] = owner
        elif program == "sed":
            self._sed(rest, cwd, where)
        elif program == "go" and rest[:1] == ["build"]:
            self._go_build(rest, cwd)
        elif program == "npm" and rest[:1] in (["ci"], ["install"], ["i"]):
            self._npm(rest, cwd)
        else:
            raise self._refuse(where)

    def _pip(self, arguments: list[str], cwd: str, where: str) -> None:
        stage = self.stage
        position = 0
        while position < len(arguments):
            word = arguments[position]
            position += 1
            if word in ("-r", "--requirement"):
                listed = str(PurePosixPath(cwd) / arguments[position]).lstrip("/")
                position += 1
                if listed not in stage.files:
                    raise BuildError(f"{where}: {listed} is not copied into the image before it is installed")
                source = stage.files[listed]
                text = source.decode() if isinstance(source, bytes) else source.read_text()
                self._requirement_lines(text.splitlines())
            elif word in ("-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-e", "--editable"):
                raise self._refuse(where, f" ({word} is not read)")
            elif word.startswith("-"):
                continue  # --no-cache-dir, --upgrade, -q ...: how pip runs, not what is installed
            else:
                self._requirement_lines([word])

    def _requirement_lines(self, lines: list[str]) -> None:
        stage = self.stage
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if re.sub(r"[-_.]+", "-", line).lower() == WATCHDOG:
                stage.runtime = True
            elif line not in stage.pip_lines:
                stage.pip_lines.append(line)

    def _useradd(self, arguments: list[str], where: str) -> None:
        values = {"-u": "", "--uid": "", "-g": "", "--gid": "", "-d": "", "--home-dir": ""}
        takes_value = {"-s", "--shell", "-c", "--comment", "-G", "--groups", "-k", "--skel", *values}
        name = ""
        position = 0
        while position < len(arguments):
            word = arguments[position]
            position += 1
            if word in takes_value:
                if word in values:
                    values[word] = arguments[position]
                position += 1
            elif not word.startswith("-"):
                name = word
        if not name:
            raise self._refuse(where, " (useradd without a user name)")
        uid = int(values["-u"] or values["--uid"] or 1000)
        group = values["-g"] or values["--gid"]
        gid = int(group) if group.isdigit() else uid
        home = values["-d"] or values["--home-dir"] or f"/home/{name}"
        self.stage.users[name] = User(uid, gid, home)

    def _apt(self, arguments: list[str], where: str) -> None:
        words = [word for word in arguments if not word.startswith("-")]
        if words[:1] in (["update"], ["clean"], ["autoremove"]):
            return
        if words[:1] != ["install"]:
            raise self._refuse(where)
        wanted = [word for word in words[1:] if not VENV_PACKAGES.match(word.split("=")[0])]
        self.stage.packages += [word for word in wanted if word not in self.stage.packages]

    def _sed(self, arguments: list[str], cwd: str, where: str) -> None:
        words = [word for word in arguments if word != "-i"]
        if len(arguments) - len(words) != 1 or len(words) != 2 or not words[0].startswith("s"):
            raise self._refuse(where, " (only sed -i s/PATTERN/TEXT/ FILE is read)")
        expression, path = words
        delimiter = expression[1:2]
        parts = expression[2:].split(delimiter)
        if len(parts) != 3 or parts[2] not in ("", "g"):
            raise self._refuse(where, " (only sed -i s/PATTERN/TEXT/ FILE is read)")
        key = str(PurePosixPath(cwd) / path).strip("/")
        if key not in self.stage.files:
            raise BuildError(f"{where}: {path} is not a file this build copied")
        source = self.stage.files[key]
        text = source.decode() if isinstance(source, bytes) else source.read_text()
        replacement = parts[1].replace("&", r"\g<0>")  # sed's & is the match; \1 is the same in Python
        edited = re.sub(parts[0], replacement, text, count=0 if parts[2] else 1, flags=re.M)
        self.stage.files[key] = edited.encode()

    def _materialize(self) -> Path:
        """The stage's files as a folder (what a tool run on this machine sees as the image's root)."""
        root = self.scratch / "root"
        shutil.rmtree(root, ignore_errors=True)
        for path, source in self.stage.files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, bytes):
                target.write_bytes(source)
            else:
                shutil.copy2(source, target)
        for path in self.stage.folders:
            (root / path).mkdir(parents=True, exist_ok=True)
        return root

    def _go_build(self, arguments: list[str], cwd: str) -> None:
        root = self._materialize()
        folder = root / cwd.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        rewritten = list(arguments)
        output = "/" + (PurePosixPath(cwd) / PurePosixPath(cwd).name).as_posix().strip("/")
        if "-o" in rewritten:
            at = rewritten.index("-o") + 1
            output = str(PurePosixPath(cwd) / rewritten[at])
            rewritten[at] = str(root / output.strip("/"))
        else:
            rewritten[1:1] = ["-o", str(root / output.strip("/"))]
        variables = {key: value for key, value in self.stage.env.items() if key.startswith(("GO", "CGO"))}
        toolchains.go_build(folder, rewritten, variables)
        built = self.scratch / "out" / output.strip("/")
        built.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(root / output.strip("/"), built)
        self.stage.files[output.strip("/")] = built

    def _npm(self, arguments: list[str], cwd: str) -> None:
        root = self._materialize()
        folder = root / cwd.strip("/")
        toolchains.npm_install(folder, arguments)
        kept = self.scratch / "npm" / cwd.strip("/")
        shutil.rmtree(kept, ignore_errors=True)
        kept.parent.mkdir(parents=True, exist_ok=True)
        if (folder / "node_modules").is_dir():
            shutil.move(folder / "node_modules", kept)
            prefix = f"{cwd.strip('/')}/node_modules"
            files, links = tree_files(kept, prefix)
            self.stage.files |= files
            self.stage.links |= links


def _passwd(base_files: BaseFiles, users: Mapping[str, User]) -> dict[str, FileSource]:
    """``etc/passwd`` and ``etc/group`` of the base with ``users`` added (``useradd``'s effect)."""
    passwd = (base_files.read("etc/passwd") or b"").decode()
    group = (base_files.read("etc/group") or b"").decode()
    for name, user in users.items():
        if not re.search(rf"^{re.escape(name)}:", passwd, re.M):
            passwd += f"{name}:x:{user.uid}:{user.gid}::{user.home}:/usr/sbin/nologin\n"
        if not re.search(rf"^{re.escape(name)}:", group, re.M):
            group += f"{name}:x:{user.gid}:\n"
    return {"etc/passwd": passwd.encode(), "etc/group": group.encode()}


def _assemble(
    source: FunctionSource,
    stage: _Stage,
    base: Image,
    base_files: BaseFiles,
    work: Path,
    env: Mapping[str, str] | None,
    cache: Path | None,
) -> Image:
    layers: list[Blob] = []

    def layer(files: Mapping[str, FileSource], name: str, **options: object) -> Blob:
        if cache is not None:
            return cached_layer(files, cache, name, **options)
        return write_layer(files, work / f"{name}.tar.gz", **options)  # type: ignore[arg-type]

    if stage.packages:
        leave_out = NODE_LEFT_OUT if "nodejs" in stage.packages else ""
        packages = debian.package_files(stage.packages, base_files, leave_out=leave_out)
        if packages.files or packages.links:
            layers.append(layer(packages.files, "packages", symlinks=packages.links))
    if stage.runtime or stage.pip_lines:
        python = base_files.python()
        python_env.check_abi(python.minor)
        if stage.runtime:
            files = python_env.package_files([WATCHDOG], python.site)
            script = "import sys\nfrom pyfaas.watchdog.__main__ import main\nsys.exit(main())\n"
            files[f"usr/local/bin/{SCRIPT}"] = f"#!{python.executable}\n{script}".encode()
            layers.append(layer(files, "runtime", executables=[f"usr/local/bin/{SCRIPT}"]))
        if stage.pip_lines:
            with tempfile.TemporaryDirectory(prefix="pyfaas-pip-") as scratch:
                listed = Path(scratch) / "requirements.txt"
                listed.write_text("\n".join(stage.pip_lines) + "\n")
                target = Path(scratch) / "site"
                python_env.pip_install([listed], target)
                files, links = tree_files(target, python.site, skip=python_env.SKIP.search)
                layers.append(write_layer(files, work / "requirements.tar.gz", symlinks=links))
    app_files: dict[str, FileSource] = dict(stage.files)
    folders = dict(stage.folders)
    base_users = _base_users(base_files)
    added = {name: user for name, user in stage.users.items() if name not in base_users}
    if added:
        app_files |= _passwd(base_files, added)
    for user in added.values():
        folders[user.home.strip("/")] = (0o755, user.uid, user.gid)
    folders.pop("", None)
    layers.append(
        write_layer(
            app_files, work / "app.tar.gz", folders=folders, symlinks=stage.links, owners=stage.owners
        )
    )
    return build_image(
        base,
        layers,
        cmd=stage.cmd,
        entrypoint=stage.entrypoint,
        env={**stage.env, **(env or {})},
        workdir=stage.workdir,
        user=stage.user,
        ports=stage.ports,
        labels={**stage.labels, "com.openfaas.function": source.name},
    )
