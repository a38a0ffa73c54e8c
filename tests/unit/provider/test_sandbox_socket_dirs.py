"""Socket folders of sandboxes whose gateway is gone are removed at the next start, and only those."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.provider.local.sandbox import remove_stale_socket_dirs
from pyfaas.system.processes import ProcessRecord


def _gone_owner() -> ProcessRecord:
    process = subprocess.Popen(["sleep", "60"])
    record = ProcessRecord.of(process.pid)
    process.kill()
    process.wait()
    assert record is not None and not record.alive()
    return record


def _folder(root: Path, owner: ProcessRecord, suffix: str) -> Path:
    path = root / f"pyfaas-sandbox-{owner.pid}-{owner.start_time}-{suffix}"
    path.mkdir()
    return path


@pytest.fixture
def short_root() -> Iterator[Path]:
    """A folder with a path short enough for Unix sockets inside it (pytest's tmp_path is too long)."""
    root = Path(tempfile.mkdtemp(prefix="sd-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_only_folders_of_gone_owners_with_nothing_live_in_them_are_removed(short_root: Path) -> None:
    tmp_path = short_root
    gone = _gone_owner()
    me = ProcessRecord.of(os.getpid())
    assert me is not None
    empty = _folder(tmp_path, gone, "empty")
    stale = _folder(tmp_path, gone, "stale")
    with socket.socket(socket.AF_UNIX) as closed:  # a zygote killed before it could remove its socket
        closed.bind(str(stale / "zygote.sock"))
    listening = _folder(tmp_path, gone, "listening")
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(listening / "zygote.sock"))
    live.listen()
    other_file = _folder(tmp_path, gone, "other")
    (other_file / "notes").write_text("not ours to judge")
    mine = _folder(tmp_path, me, "running")  # this process is alive: its folder stays
    legacy = tmp_path / "pyfaas-sandbox-ab12cd_3"  # the old name: whose it is cannot be told
    legacy.mkdir()
    try:
        removed = remove_stale_socket_dirs(tmp_path)
    finally:
        live.close()
    assert sorted(removed) == sorted([empty, stale])
    assert not empty.exists() and not stale.exists()
    for kept in (listening, other_file, mine, legacy):
        assert kept.is_dir(), kept
    assert remove_stale_socket_dirs(tmp_path) == [listening]  # once nothing listens there any more
