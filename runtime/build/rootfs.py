"""What a base image holds, read from its layer tars: which files exist and what a few of them say.

The builder needs to know where the base's Python is (``/usr/local/bin/python3.N`` in the official python
images, ``/usr/bin/python3.N`` in Debian's), which users ``/etc/passwd`` has, and whether ``/bin`` is a link
to ``/usr/bin``. Layers are applied in order; whiteouts (``.wh.NAME``) delete what lower layers added.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass

from pyfaas.build.errors import BuildError
from pyfaas.build.oci import Image

__all__ = ["BaseFiles", "PythonInfo"]

PYTHON = re.compile(r"^(usr/local/bin|usr/bin)/python3\.(\d+)$")


@dataclass(frozen=True)
class PythonInfo:
    executable: str
    """Absolute path in the image, e.g. ``/usr/bin/python3.11``."""
    minor: int
    site: str
    """Where packages go, relative to the root: ``usr/local/lib/python3.N/{site,dist}-packages``."""


class BaseFiles:
    """The merged file list of an image's layers (path -> (layer index, tar member))."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.entries: dict[str, tuple[int, tarfile.TarInfo]] = {}
        for index, layer in enumerate(image.layers):
            try:
                with tarfile.open(layer.path, "r:*") as tar:
                    for member in tar:
                        self._apply(index, member)
            except (tarfile.TarError, OSError) as exc:
                raise BuildError(f"cannot read base layer {layer.digest}: {exc}") from exc

    def _apply(self, index: int, member: tarfile.TarInfo) -> None:
        name = member.name.removeprefix("./").strip("/")
        folder, _, base = name.rpartition("/")
        if base == ".wh..wh..opq":
            prefix = f"{folder}/"
            for key in [key for key in self.entries if key.startswith(prefix)]:
                del self.entries[key]
            return
        if base.startswith(".wh."):
            gone = f"{folder}/{base[4:]}".strip("/")
            for key in [key for key in self.entries if key == gone or key.startswith(gone + "/")]:
                del self.entries[key]
            return
        if name:
            self.entries[name] = (index, member)

    def is_symlink(self, path: str) -> bool:
        entry = self.entries.get(path.strip("/"))
        return entry is not None and entry[1].issym()

    def read(self, path: str) -> bytes | None:
        """The content of a regular file, or None when the image has none there."""
        entry = self.entries.get(path.strip("/"))
        if entry is None or not entry[1].isfile():
            return None
        index, member = entry
        with tarfile.open(self.image.layers[index].path, "r:*") as tar:
            for candidate in tar:
                if candidate.name == member.name:
                    extracted = tar.extractfile(candidate)
                    return extracted.read() if extracted else None
        return None

    def usr_path(self, path: str) -> str:
        """``path`` (``bin/x``) where a layer should write it: below ``usr/`` when ``/bin`` is a link there
        (merged /usr, as in Debian), since a layer entry below a symlinked folder is not portable."""
        top, _, rest = path.strip("/").partition("/")
        if top in ("bin", "sbin", "lib") and self.is_symlink(top):
            return f"usr/{top}/{rest}"
        return path.strip("/")

    def python(self) -> PythonInfo:
        found = sorted(
            (match.group(1) != "usr/local/bin", int(match.group(2)), name)
            for name in self.entries
            if (match := PYTHON.match(name))
        )
        if not found:
            raise BuildError(
                "the base image has no python3.N in /usr/local/bin or /usr/bin: use a Python base"
            )
        not_local, minor, name = found[0]
        site = f"usr/local/lib/python3.{minor}/" + ("dist-packages" if not_local else "site-packages")
        return PythonInfo(executable=f"/{name}", minor=minor, site=site)

    def with_user(self, name: str, uid: int, gid: int, home: str) -> dict[str, bytes]:
        """``etc/passwd`` and ``etc/group`` of the base with ``name`` added (``useradd``'s effect)."""
        passwd = (self.read("etc/passwd") or b"").decode()
        group = (self.read("etc/group") or b"").decode()
        if not re.search(rf"^{re.escape(name)}:", passwd, re.M):
            passwd += f"{name}:x:{uid}:{gid}::{home}:/usr/sbin/nologin\n"
        if not re.search(rf"^{re.escape(name)}:", group, re.M):
            group += f"{name}:x:{gid}:\n"
        return {"etc/passwd": passwd.encode(), "etc/group": group.encode()}
