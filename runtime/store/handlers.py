"""The handler folder of a store entry on this machine, for local mode (which runs code, not images).

* a catalog read from a file: the folder beside it (``handler`` relative to the index);
* a catalog served over HTTP: the files the entry lists (``files``) fetched one by one relative to the
  index URL (a plain static server cannot list a folder), written to ``cache_dir/handlers/<digest>``;
* an entry with ``git``: ``git clone --depth 1 [--branch ref] repo``, then ``path`` inside it, copied to
  ``cache_dir/handlers/<digest>``.

Folders are keyed by the digest of what they hold, so a changed catalog gives a new folder and a running
replica's folder never changes under it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin

from pyfaas.store.catalog import CatalogError, StoreFunction
from pyfaas.store.fetch import DEFAULT_TIMEOUT, FetchError, fetch

__all__ = ["GIT_TIMEOUT", "handler_folder", "safe_relative"]

GIT_TIMEOUT = 120.0


def safe_relative(path: str, *, field: str) -> PurePosixPath:
    """``path`` as a relative POSIX path inside its folder; CatalogError for absolute paths or ``..``."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts:
        raise CatalogError(f"{field}: {path!r} must be a relative path inside the catalog", field=field)
    return pure


def _digest_of(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:24]


def _keep(files: dict[str, bytes], cache_dir: Path) -> Path:
    target = cache_dir / "handlers" / _digest_of(files)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target.parent))
    for name, data in files.items():
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    try:
        os.rename(staging, target)
    except OSError:  # another process kept the same folder first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _from_http(entry: StoreFunction, index_url: str, cache_dir: Path, timeout: float) -> Path:
    if not entry.files:
        raise CatalogError(
            f"store function {entry.name!r} lists no files: a catalog served over HTTP must list its "
            "handler's files (pyfaas store validate says which)",
            field="files",
        )
    folder = safe_relative(entry.handler, field="handler")
    files: dict[str, bytes] = {}
    for name in entry.files:
        relative = safe_relative(name, field="files")
        url = urljoin(index_url, str(folder / relative))
        try:
            fetched = fetch(url, cache_dir=cache_dir / "files", timeout=timeout)
        except FetchError as exc:
            raise CatalogError(f"store function {entry.name!r}: {exc.message}", field="files") from exc
        if fetched.stale:
            raise CatalogError(
                f"store function {entry.name!r}: cannot fetch {url}: {fetched.error}", field="files"
            )
        files[str(relative)] = fetched.body
    return _keep(files, cache_dir)


def _from_git(entry: StoreFunction, cache_dir: Path) -> Path:
    assert entry.git is not None
    git = shutil.which("git")
    if git is None:
        raise CatalogError(
            f"store function {entry.name!r} is in a git repository and git is not installed", field="git"
        )
    inner = safe_relative(entry.git.path or ".", field="git.path")
    with tempfile.TemporaryDirectory(prefix="pyfaas-store-git-") as scratch:
        argv = [git, "clone", "--quiet", "--depth", "1"]
        if entry.git.ref:
            argv += ["--branch", entry.git.ref]
        argv += ["--", entry.git.repo, f"{scratch}/repo"]
        environ = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=GIT_TIMEOUT, env=environ, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise CatalogError(
                f"store function {entry.name!r}: git clone {entry.git.repo} took over {GIT_TIMEOUT:g} s",
                field="git",
            ) from exc
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
            raise CatalogError(
                f"store function {entry.name!r}: git clone {entry.git.repo}: {reason}", field="git.repo"
            )
        source = Path(scratch, "repo", inner)
        if not source.is_dir():
            raise CatalogError(
                f"store function {entry.name!r}: no folder {inner} in {entry.git.repo}", field="git.path"
            )
        files = {
            str(path.relative_to(source)): path.read_bytes()
            for path in sorted(source.rglob("*"))
            if path.is_file() and ".git" not in path.relative_to(source).parts
        }
    return _keep(files, cache_dir)


def handler_folder(
    entry: StoreFunction, index: str, *, cache_dir: Path, timeout: float = DEFAULT_TIMEOUT
) -> Path:
    """The entry's handler folder on this machine (fetched or cloned when needed).

    ``index`` is where its catalog was read from (a URL or a path). Raises :class:`CatalogError`.
    """
    if entry.git is not None:
        return _from_git(entry, cache_dir)
    if not entry.handler:
        raise CatalogError(f"store function {entry.name!r} names no handler folder", field="handler")
    if entry.handler_path is not None:
        return entry.handler_path
    if index.startswith(("http://", "https://")):
        return _from_http(entry, index, cache_dir, timeout)
    raise CatalogError(
        f"store function {entry.name!r}: handler folder {entry.handler!r} not found beside {index}",
        field="handler",
    )
