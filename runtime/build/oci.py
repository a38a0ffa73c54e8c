"""OCI images as files: reproducible layers, the image config and manifest, layouts and archives.

An :class:`Image` is a config, a manifest and the blob files its layers live in (a layout's
``blobs/sha256`` or a cache). Everything written is reproducible: tar entries sorted, owned by root, with
one fixed time (``SOURCE_DATE_EPOCH``, else 0); gzip without a name or time; JSON with sorted keys and no
spaces. The same inputs therefore give the same manifest digest.

Read: an OCI image layout folder, an OCI archive (the same, as a tar) and a ``docker save`` archive (its
uncompressed layer tars are used as they are: their digest is their diff ID). Written: a layout folder (what
``pyfaas push`` reads) and an OCI archive carrying containerd's ``io.containerd.image.name`` annotation (what
``ctr images import`` reads).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyfaas.build.errors import BuildError

__all__ = [
    "CONFIG_TYPE",
    "INDEX_TYPE",
    "LAYER_GZIP_TYPE",
    "LAYER_TYPE",
    "MANIFEST_TYPE",
    "Blob",
    "Image",
    "build_image",
    "cached_layer",
    "canonical_json",
    "digest_file",
    "read_image",
    "source_date_epoch",
    "write_archive",
    "write_layer",
    "write_layout",
]

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip": LAYER_GZIP_TYPE,
    "application/vnd.docker.image.rootfs.diff.tar": LAYER_TYPE,
}
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}
CHUNK = 1 << 20

FileSource = Path | bytes
"""A file in a layer: a host file (its executable bit kept) or the content itself."""


def source_date_epoch() -> int:
    """The time every entry gets (reproducible builds' convention: ``SOURCE_DATE_EPOCH``, else 0)."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "0")
    return int(value) if value.isdigit() else 0


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def digest_bytes(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Blob:
    """A content-addressed file: a layer (``diff_id`` set) or any other blob."""

    path: Path
    digest: str
    size: int
    media_type: str
    diff_id: str = ""
    """``sha256:`` of the uncompressed tar (the config's ``rootfs.diff_ids``); layers only."""

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass
class Image:
    config: dict[str, Any]
    layers: list[Blob]
    annotations: dict[str, str] = field(default_factory=dict)

    def config_bytes(self) -> bytes:
        return canonical_json(self.config)

    def manifest(self) -> dict[str, Any]:
        config = self.config_bytes()
        body: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": digest_bytes(config), "size": len(config)},
            "layers": [layer.descriptor() for layer in self.layers],
        }
        if self.annotations:
            body["annotations"] = dict(self.annotations)
        return body

    def manifest_bytes(self) -> bytes:
        return canonical_json(self.manifest())

    @property
    def digest(self) -> str:
        """The manifest's digest: what ``image@sha256:...`` names and what a registry answers."""
        return digest_bytes(self.manifest_bytes())


# layers ------------------------------------------------------------------------------------------------
class _HashingWriter(io.RawIOBase):
    """Counts and hashes what passes through on its way to ``target``."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.hash.update(view)
        self.size += len(view)
        self.target.write(view)
        return len(view)


def write_layer(
    files: Mapping[str, FileSource],
    out: Path,
    *,
    executables: Iterable[str] = (),
    symlinks: Mapping[str, str] | None = None,
    folders: Mapping[str, tuple[int, int, int]] | None = None,
    owners: Mapping[str, tuple[int, int]] | None = None,
    compress: bool = True,
) -> Blob:
    """A reproducible layer of ``files`` (image path -> host file or content), root-owned and world readable.

    Host files keep their executable bit; contents are executable when named in ``executables``.
    ``symlinks`` maps image paths to link targets; ``folders`` adds folders with (mode, uid, gid).
    Parent folders are added as 0755 root. ``owners`` maps an image path to the (uid, gid) of it and all
    below it (``chown -R``). The blob is gzip-compressed unless ``compress`` is False.
    """
    mtime = source_date_epoch()
    executable_names = set(executables)
    extra_folders = {name.strip("/"): value for name, value in (folders or {}).items()}
    links = {name.strip("/"): target for name, target in (symlinks or {}).items()}
    entries: dict[str, tuple[str, Any]] = {
        name.strip("/"): ("file", source) for name, source in files.items()
    }
    entries |= {name: ("link", target) for name, target in links.items()}
    entries |= {name: ("dir", value) for name, value in extra_folders.items()}
    for name in list(entries):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            entries.setdefault("/".join(parts[:depth]), ("dir", (0o755, 0, 0)))

    owned = {name.strip("/"): value for name, value in (owners or {}).items()}

    def header(
        name: str, kind: bytes, mode: int, size: int = 0, uid: int = 0, gid: int = 0
    ) -> tarfile.TarInfo:
        for prefix, owner in owned.items():
            if name == prefix or name.startswith(prefix + "/"):
                uid, gid = owner
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.mtime = kind, mode, size, mtime
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw:
        compressed = _HashingWriter(raw)
        zipped = (
            gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0, filename="")
            if compress
            else None
        )
        plain = _HashingWriter(zipped if zipped is not None else compressed)
        with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(entries):
                kind, value = entries[name]
                if kind == "dir":
                    mode, uid, gid = value
                    tar.addfile(header(name, tarfile.DIRTYPE, mode, uid=uid, gid=gid))
                elif kind == "link":
                    info = header(name, tarfile.SYMTYPE, 0o777)
                    info.linkname = value
                    tar.addfile(info)
                elif isinstance(value, bytes):
                    mode = 0o755 if name in executable_names else 0o644
                    tar.addfile(header(name, tarfile.REGTYPE, mode, len(value)), io.BytesIO(value))
                else:
                    path = Path(value)
                    mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
                    with path.open("rb") as source:
                        tar.addfile(header(name, tarfile.REGTYPE, mode, path.stat().st_size), source)
        if zipped is not None:
            zipped.close()
    diff_id = f"sha256:{plain.hash.hexdigest()}"
    if not compress:
        return Blob(out, diff_id, plain.size, LAYER_TYPE, diff_id)
    return Blob(out, f"sha256:{compressed.hash.hexdigest()}", compressed.size, LAYER_GZIP_TYPE, diff_id)


def cached_layer(files: Mapping[str, FileSource], cache: Path, name: str, **options: Any) -> Blob:
    """:func:`write_layer`, kept in ``cache`` under a key of the inputs (image paths, and for host files
    their path, size, mtime and mode, as ``make`` would judge them): the watchdog runtime layer is the same
    for every function, so most builds skip writing and compressing it. A hit gives the same bytes."""
    key = hashlib.sha256(canonical_json(sorted(options.items(), key=lambda item: item[0])))
    for image_path in sorted(files):
        source = files[image_path]
        if isinstance(source, bytes):
            key.update(f"{image_path}\0bytes\0{hashlib.sha256(source).hexdigest()}\n".encode())
        else:
            info = os.stat(source)
            key.update(
                f"{image_path}\0{source}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_mode}\n".encode()
            )
    stem = f"{name}-{key.hexdigest()[:32]}"
    record, blob = cache / f"{stem}.json", cache / f"{stem}.tar"
    try:
        known = json.loads(record.read_text())
        if blob.stat().st_size == known["size"]:
            return Blob(blob, known["digest"], known["size"], known["media_type"], known["diff_id"])
    except (OSError, ValueError, KeyError):
        pass
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"{stem}.{os.getpid()}.partial"
    layer = write_layer(files, partial, **options)
    partial.replace(blob)
    fields = {
        "digest": layer.digest,
        "size": layer.size,
        "media_type": layer.media_type,
        "diff_id": layer.diff_id,
    }
    record.write_text(json.dumps(fields))
    return Blob(blob, layer.digest, layer.size, layer.media_type, layer.diff_id)


def tree_files(root: Path, prefix: str, *, skip: Any = None) -> tuple[dict[str, FileSource], dict[str, str]]:
    """The files and symlinks under ``root`` as layer entries below ``prefix`` (``skip(relative)`` drops)."""
    files: dict[str, FileSource] = {}
    links: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in [*names, *(d for d in dirs if (Path(folder) / d).is_symlink())]:
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if skip is not None and skip(relative):
                continue
            target = f"{prefix.strip('/')}/{relative}".strip("/")
            if path.is_symlink():
                links[target] = os.readlink(path)
            elif path.is_file():
                files[target] = path
    return files, links


# the image config --------------------------------------------------------------------------------------
def build_image(
    base: Image | None,
    layers: Iterable[Blob],
    *,
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    workdir: str | None = None,
    user: str | None = None,
    ports: Iterable[int] = (),
    labels: Mapping[str, str] | None = None,
) -> Image:
    """``base`` with ``layers`` on top and its run settings changed where given (as Dockerfile instructions
    would: ``env`` adds to the base's environment, ``cmd`` without ``entrypoint`` keeps the base's entrypoint
    only when ``entrypoint`` is None)."""
    config: dict[str, Any] = json.loads(json.dumps(base.config)) if base else {}
    config["architecture"] = config.get("architecture") or GOARCH.get(platform.machine(), platform.machine())
    config["os"] = config.get("os") or "linux"
    run: dict[str, Any] = dict(config.get("config") or {})
    merged = dict(item.split("=", 1) for item in run.get("Env") or [] if "=" in item)
    merged.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    merged |= dict(env or {})
    run["Env"] = [f"{key}={value}" for key, value in merged.items()]
    if entrypoint is not None:
        run["Entrypoint"] = entrypoint or None
        if cmd is None:
            run.pop("Cmd", None)
    if cmd is not None:
        run["Cmd"] = cmd
    if workdir is not None:
        run["WorkingDir"] = workdir
    if user is not None:
        run["User"] = user
    if ports:
        run["ExposedPorts"] = {**(run.get("ExposedPorts") or {}), **{f"{port}/tcp": {} for port in ports}}
    if labels:
        run["Labels"] = {**(run.get("Labels") or {}), **labels}
    config["config"] = {key: value for key, value in run.items() if value is not None}
    all_layers = [*(base.layers if base else []), *layers]
    config["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in all_layers]}
    # the base's history and creation time describe other layers (and a time breaks reproducibility)
    config.pop("history", None)
    config.pop("created", None)
    config.pop("container", None)
    config.pop("container_config", None)
    return Image(config=config, layers=all_layers)


# writing -----------------------------------------------------------------------------------------------
def _place(source: Path, target: Path) -> None:
    """Put a blob into a layout: a hard link when on the same file system, else a copy."""
    if target.exists():
        return
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:
        shutil.copyfile(source, partial)
    partial.replace(target)


def write_layout(image: Image, folder: Path, reference: str = "") -> str:
    """Write ``image`` as an OCI image layout in ``folder`` (blobs kept, ``index.json`` replaced); return
    the manifest digest. ``reference`` (``name:tag``) is recorded as the ref name annotations."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for layer in image.layers:
        _place(layer.path, blobs / layer.digest.split(":", 1)[1])
    manifest = image.manifest_bytes()
    for data in (image.config_bytes(), manifest):
        target = blobs / digest_bytes(data).split(":", 1)[1]
        if not target.exists():
            target.write_bytes(data)
    (folder / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    descriptor: dict[str, Any] = {
        "mediaType": MANIFEST_TYPE,
        "digest": digest_bytes(manifest),
        "size": len(manifest),
    }
    if reference:
        tag = reference.rsplit(":", 1)[1] if ":" in reference.rsplit("/", 1)[-1] else "latest"
        descriptor["annotations"] = {
            "io.containerd.image.name": reference,
            "org.opencontainers.image.ref.name": tag,
        }
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [descriptor]}
    (folder / "index.json").write_bytes(canonical_json(index))
    return digest_bytes(manifest)


def write_archive(image: Image, out: Path, reference: str) -> str:
    """An OCI archive (a layout as one tar) naming ``reference``, for ``ctr images import``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".layout-") as scratch:
        digest = write_layout(image, Path(scratch), reference)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(Path(scratch).rglob("*")):
                if path.is_file():
                    info = tar.gettarinfo(str(path), path.relative_to(scratch).as_posix())
                    info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
                    with path.open("rb") as source:
                        tar.addfile(info, source)
        partial.replace(out)
    return digest


# reading -----------------------------------------------------------------------------------------------
def _layers_from_manifest(manifest: dict[str, Any], config: dict[str, Any], blob_path: Any) -> list[Blob]:
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    descriptors = manifest.get("layers") or []
    if len(diff_ids) != len(descriptors):
        raise BuildError("the image's config and manifest disagree on the number of layers")
    layers = []
    for descriptor, diff_id in zip(descriptors, diff_ids, strict=True):
        media_type = DOCKER_LAYER_TYPES.get(descriptor["mediaType"], descriptor["mediaType"])
        if media_type not in (LAYER_TYPE, LAYER_GZIP_TYPE):
            raise BuildError(f"unsupported layer type {descriptor['mediaType']}")
        layers.append(
            Blob(
                blob_path(descriptor["digest"]), descriptor["digest"], descriptor["size"], media_type, diff_id
            )
        )
    return layers


def image_from_blobs(manifest_bytes: bytes, blob_path: Any) -> Image:
    """The image whose manifest is ``manifest_bytes``, its blobs found by ``blob_path(digest)``."""
    manifest = json.loads(manifest_bytes)
    config = json.loads(Path(blob_path(manifest["config"]["digest"])).read_bytes())
    return Image(config=config, layers=_layers_from_manifest(manifest, config, blob_path))


def _pick_manifest(index: dict[str, Any], read_blob: Any) -> bytes:
    """The manifest for this machine's platform from an index (nested indexes followed)."""
    arch = GOARCH.get(platform.machine(), platform.machine())
    manifests = index.get("manifests") or []
    if not manifests:
        raise BuildError("the image index lists no manifest")
    chosen = next(
        (m for m in manifests if (m.get("platform") or {}).get("architecture") == arch),
        manifests[0],
    )
    data: bytes = read_blob(chosen["digest"])
    body = json.loads(data)
    if body.get("mediaType") in (INDEX_TYPE, DOCKER_LIST_TYPE) or (
        "manifests" in body and "layers" not in body
    ):
        return _pick_manifest(body, read_blob)
    return data


def read_layout(folder: Path) -> Image:
    blobs = folder / "blobs" / "sha256"

    def path_of(digest: str) -> Path:
        path = blobs / digest.split(":", 1)[1]
        if not path.is_file():
            raise BuildError(f"{folder} lacks blob {digest}")
        return path

    try:
        index = json.loads((folder / "index.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise BuildError(f"{folder} is not an OCI image layout (index.json: {exc})") from exc
    manifest = _pick_manifest(index, lambda digest: path_of(digest).read_bytes())
    return image_from_blobs(manifest, path_of)


def _read_docker_archive(folder: Path) -> Image:
    """A ``docker save`` archive, unpacked: its layer tars are uncompressed, so digest == diff ID."""
    entries = json.loads((folder / "manifest.json").read_bytes())
    if not entries:
        raise BuildError("the docker archive holds no image")
    entry = entries[0]
    config = json.loads((folder / entry["Config"]).read_bytes())
    layers = []
    for name, diff_id in zip(entry["Layers"], config["rootfs"]["diff_ids"], strict=True):
        path = folder / name
        layers.append(Blob(path, diff_id, path.stat().st_size, LAYER_TYPE, diff_id))
    return Image(config=config, layers=layers)


def read_image(source: Path, scratch: Path) -> Image:
    """The image in ``source``: an OCI layout folder, an OCI archive or a docker archive (tars are unpacked
    into ``scratch``, which must outlive the image)."""
    if source.is_dir():
        if (source / "index.json").is_file():
            return read_layout(source)
        if (source / "manifest.json").is_file():
            return _read_docker_archive(source)
        raise BuildError(f"{source} is neither an OCI image layout nor an unpacked docker archive")
    if not source.is_file():
        raise BuildError(f"base image {source} not found")
    try:
        with tarfile.open(source) as tar:
            tar.extractall(scratch, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BuildError(f"cannot read {source} as an image archive: {exc}") from exc
    return read_image(scratch, scratch)
