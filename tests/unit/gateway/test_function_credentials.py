"""The credential store of private functions on a real directory: keys hashed, verdicts, token expiry and
signing-key retirement (including tokens whose verdict was remembered)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import jwt
import pytest

from pyfaas.core.errors import StateStoreError
from pyfaas.gateway.invocation.credentials import CredentialStore, Verdict


async def test_keys_are_stored_hashed_and_checked_per_function(tmp_path: Path) -> None:
    store = CredentialStore.open(tmp_path / "auth")
    record, key = await store.create_key("a", "ns", "ci")
    assert key.split(".")[2] not in (tmp_path / "auth" / "function-keys.json").read_text()
    assert oct((tmp_path / "auth" / "function-keys.json").stat().st_mode & 0o777) == "0o600"
    assert store.verify(key, "a", "ns") is Verdict.VALID
    assert store.verify(key, "b", "ns") is Verdict.OTHER_FUNCTION
    assert store.verify(key + "x", "a", "ns") is Verdict.INVALID
    assert store.verify("pfk.nothing", "a", "ns") is Verdict.INVALID
    reopened = CredentialStore.open(tmp_path / "auth")  # a gateway restart keeps keys and the ring
    assert reopened.verify(key, "a", "ns") is Verdict.VALID
    assert await reopened.revoke("a", "ns", record.id) and reopened.verify(key, "a", "ns") is Verdict.INVALID


async def test_tokens_expire_even_when_their_verdict_is_remembered(tmp_path: Path) -> None:
    store = CredentialStore.open(tmp_path / "auth")
    token, expires = await store.mint("function:a.ns", 1.5)
    assert store.verify(token, "a", "ns") is Verdict.VALID
    assert store.verify(token, "a", "ns") is Verdict.VALID  # remembered
    assert store.verify(token, "b", "ns") is Verdict.OTHER_FUNCTION
    # the token's lifetime must pass (its expiry is wall-clock seconds): wait until that instant
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.01)
    assert store.verify(token, "a", "ns") is Verdict.INVALID
    namespace_wide, _ = await store.mint("namespace:ns", 60)
    assert store.verify(namespace_wide, "b", "ns") is Verdict.VALID
    assert store.verify(namespace_wide, "b", "other") is Verdict.OTHER_FUNCTION


async def test_retiring_a_signing_key_ends_its_tokens_at_once(tmp_path: Path) -> None:
    store = CredentialStore.open(tmp_path / "auth")
    [old] = store.ring
    token, _ = await store.mint("function:a.ns", 60)
    assert store.verify(token, "a", "ns") is Verdict.VALID
    new = await store.rotate()
    fresh, _ = await store.mint("function:a.ns", 60)
    assert jwt.get_unverified_header(fresh)["kid"] == new.kid
    assert store.verify(token, "a", "ns") is Verdict.VALID and store.verify(fresh, "a", "ns") is Verdict.VALID
    assert await store.retire(old.kid)
    assert store.verify(token, "a", "ns") is Verdict.INVALID
    assert store.verify(fresh, "a", "ns") is Verdict.VALID
    assert not await store.retire(new.kid)  # the last key stays
    unsigned = jwt.encode({"aud": "function:a.ns", "exp": 2**40}, "x" * 40, algorithm="HS256")
    assert store.verify(unsigned, "a", "ns") is Verdict.INVALID
    assert store.verify("not a token", "a", "ns") is Verdict.INVALID


async def test_nothing_is_written_until_needed_and_an_unwritable_directory_does_not_stop_the_gateway(
    tmp_path: Path,
) -> None:
    store = CredentialStore.open(tmp_path / "auth")
    assert not (tmp_path / "auth").exists()  # a gateway without private functions writes nothing
    token, _ = await store.mint("function:a.ns", 60)
    assert (tmp_path / "auth" / "token-keys.json").is_file()  # the key of a token outlives a restart
    assert CredentialStore.open(tmp_path / "auth").verify(token, "a", "ns") is Verdict.VALID

    (tmp_path / "file").write_text("not a folder")
    readonly = CredentialStore.open(tmp_path / "file" / "auth")  # e.g. a read-only root in a pod
    token, _ = await readonly.mint("function:a.ns", 60)  # in memory only, said in the log
    assert readonly.verify(token, "a", "ns") is Verdict.VALID
    with pytest.raises(StateStoreError, match="cannot create"):
        await readonly.create_key("a", "ns", "")
