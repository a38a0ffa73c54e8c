"""State directory: atomic writes, private secrets, exact per-function mounts, failures corrupt nothing."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyfaas.core.errors import StateStoreError
from pyfaas.provider.local.store import StateStore
from pyfaas.system.atomic_files import atomic_write


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a" / "doc.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two" and _mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["doc.json"]


def test_write_below_a_file_is_a_state_store_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(StateStoreError, match="cannot write"):
        atomic_write(tmp_path / "blocker" / "doc.json", b"{}")


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from pyfaas.core.errors import StateStoreError
    from pyfaas.system.atomic_files import atomic_write

    target = Path(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit, write() fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, resource.RLIM_INFINITY))
    try:
        atomic_write(target, b"x" * 4096)
    except StateStoreError as exc:
        print("refused:", exc)
    """
)


def test_a_failed_write_keeps_the_previous_file_intact(tmp_path: Path) -> None:
    # A file size limit stands in for a full disk: the new content cannot be written completely.
    target = tmp_path / "doc.json"
    target.write_bytes(b'{"old": true}')
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(target)], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.startswith("refused:"), result.stderr
    assert target.read_bytes() == b'{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_functions_and_namespaces_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.ensure_layout()
    store.save_function("ns", "fn", {"replicas": 2})
    store.save_namespace("dev", {"name": "dev"})
    assert store.load_functions() == [{"replicas": 2}]
    assert store.load_namespaces() == [{"name": "dev"}]
    store.delete_function("ns", "fn")
    store.delete_function("ns", "fn")  # idempotent
    assert store.load_functions() == []


def test_an_unreadable_record_is_a_state_store_error(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.ensure_layout()
    (tmp_path / "functions" / "ns").mkdir()
    (tmp_path / "functions" / "ns" / "fn.json").write_text("{torn")
    with pytest.raises(StateStoreError):
        store.load_functions()


def test_secrets_are_private_and_mounts_hold_exactly_the_listed_ones(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.ensure_layout()
    assert _mode(tmp_path / "secrets") == 0o700
    store.write_secret("ns", "a", b"1")
    store.write_secret("ns", "b", b"2")
    assert _mode(store.secret_path("ns", "a")) == 0o600
    assert store.secret_names("ns") == ["a", "b"]

    mount = store.sync_mount("ns", "fn", ["a"])
    assert sorted(p.name for p in mount.iterdir()) == ["a"]
    assert _mode(mount / "a") == 0o600 and (mount / "a").read_bytes() == b"1"
    store.sync_mount("ns", "fn", ["b"])
    assert sorted(p.name for p in mount.iterdir()) == ["b"]
    store.delete_secret("ns", "b")
    store.sync_mount("ns", "fn", ["b"])
    assert list(mount.iterdir()) == []
    store.remove_mount("ns", "fn")
    assert not mount.exists()
