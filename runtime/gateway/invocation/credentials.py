"""Credentials of private functions: per-function API keys (stored hashed) and signed tokens (JWT, PyJWT).

An API key reads ``pfk.<id>.<secret>``: the id finds its record, the SHA-256 of the secret is compared in
constant time (32 random bytes need no slow hash). A token is an HS256 JWT with ``aud`` =
``function:<name>.<namespace>`` or ``namespace:<namespace>``, a required ``exp`` and the ``kid`` of the
signing key that made it. Signing keys form a ring: new tokens are signed with the newest key, every key in
the ring verifies, so rotation is "add a key, let old tokens expire, remove the old key" without downtime.

Both are kept by a :class:`CredentialBackend`. The default is one directory of the gateway's state (0700;
files 0600, replaced atomically) that function sandboxes never show: ``function-keys.json`` (key records,
hashes only) and ``token-keys.json`` (the ring). A *shared* backend (several gateway replicas use it: a
Kubernetes Secret, ``pyfaas.provider.kubernetes.credential_secret``) is written with optimistic concurrency
(a change is re-applied to the newest documents when another replica wrote first), re-read every
``refresh_every`` seconds (revocations reach every replica) and at once, at most once a second, when a
credential is not known here (a key or signing key just made on another replica works at once). Checking a
call never waits for the backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt

from pyfaas.core.errors import Conflict, StateStoreError
from pyfaas.system.atomic_files import atomic_write

__all__ = [
    "KEYS_DOCUMENT",
    "RING_DOCUMENT",
    "CredentialBackend",
    "CredentialStore",
    "Documents",
    "FileBackend",
    "KeyRecord",
    "SharedBackend",
    "StaleVersion",
    "TokenKey",
    "Verdict",
    "backend_for",
    "decode_documents",
    "encode_documents",
]

log = logging.getLogger("pyfaas.gateway")

KEY_PREFIX = "pfk"
ALGORITHM = "HS256"
_CHECKED_MAX = 4096
"""Tokens whose verdict is remembered (all are forgotten when full)."""
KEYS_DOCUMENT = "function-keys.json"
RING_DOCUMENT = "token-keys.json"
_MISS_REREAD = 1.0
"""Seconds between re-reads of a shared backend caused by unknown credentials (a flood of bad ones)."""
_WRITE_ATTEMPTS = 8
SHARED_REFRESH = 2.0
"""Seconds between re-reads of a shared backend: how long a revocation may take to reach every replica."""
CREDENTIALS_SECRET = "pyfaas-function-auth"
"""The Secret of the gateway's namespace that holds the documents in cluster mode."""


class Verdict(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    """Unknown, malformed, expired, revoked or badly signed: 401."""
    OTHER_FUNCTION = "other"
    """Genuine, but made for another function or namespace: 403."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    function: str
    namespace: str
    label: str
    created: float
    sha256: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "function": self.function,
            "namespace": self.namespace,
            "label": self.label,
            "created": self.created,
        }


@dataclass(frozen=True, slots=True)
class TokenKey:
    kid: str
    secret: str
    created: float


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def function_audience(name: str, namespace: str) -> str:
    return f"function:{name}.{namespace}"


def namespace_audience(namespace: str) -> str:
    return f"namespace:{namespace}"


class StaleVersion(Exception):
    """A shared backend was written by someone else since it was read: read again, re-apply the change."""


@dataclass(frozen=True, slots=True)
class Documents:
    keys: dict[str, KeyRecord]
    ring: list[TokenKey]
    version: str | None = None
    """The backend's version of what was read (None: nothing stored yet, or a backend without versions)."""


class CredentialBackend(Protocol):
    shared: bool
    """Several gateways use it: re-read periodically and on a miss; the ring is stored at start."""
    refresh_every: float

    @property
    def where(self) -> str: ...

    async def read(self) -> Documents: ...

    async def write(self, documents: Documents) -> str | None:
        """Store both documents if ``documents.version`` is still current (else ``StaleVersion``); returns
        the new version."""
        ...


def encode_documents(documents: Documents) -> tuple[bytes, bytes]:
    """``function-keys.json`` and ``token-keys.json`` as stored."""
    keys = json.dumps([asdict(r) for r in documents.keys.values()], indent=1).encode()
    return keys, json.dumps([asdict(k) for k in documents.ring], indent=1).encode()


def decode_documents(keys: bytes | None, ring: bytes | None, version: str | None) -> Documents:
    """The documents as ``encode_documents`` wrote them; ``ValueError`` when they are not."""
    try:
        records = {r["id"]: KeyRecord(**r) for r in json.loads(keys)} if keys else {}
        token_keys = [TokenKey(**k) for k in json.loads(ring)] if ring else []
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"unreadable function credentials: {exc}") from exc
    return Documents(records, token_keys, version)


class FileBackend:
    """The two documents in one directory of this gateway's state (one gateway)."""

    shared = False
    refresh_every = 0.0

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keys_file = directory / KEYS_DOCUMENT
        self._ring_file = directory / RING_DOCUMENT

    @property
    def where(self) -> str:
        return str(self.directory)

    def read_now(self) -> Documents:
        try:
            keys = self._keys_file.read_bytes() if self._keys_file.exists() else None
            ring = self._ring_file.read_bytes() if self._ring_file.exists() else None
            return decode_documents(keys, ring, None)
        except (OSError, ValueError) as exc:
            raise StateStoreError(f"cannot read function credentials in {self.directory}: {exc}") from exc

    async def read(self) -> Documents:
        return self.read_now()

    async def write(self, documents: Documents) -> str | None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)
        except OSError as exc:
            raise StateStoreError(f"cannot create {self.directory}: {exc.strerror or exc}") from exc
        keys, ring = encode_documents(documents)
        atomic_write(self._keys_file, keys, mode=0o600)
        atomic_write(self._ring_file, ring, mode=0o600)
        return None


class RawDocuments(Protocol):
    """Named documents stored whole with a version (``pyfaas.provider.kubernetes.platform_secret``)."""

    @property
    def where(self) -> str: ...

    async def read(self) -> tuple[dict[str, bytes], str | None]: ...

    async def write(self, documents: dict[str, bytes], version: str | None) -> str | None:
        """Raises ``pyfaas.core.errors.Conflict`` when ``version`` is no longer current."""
        ...


class SharedBackend:
    """The two documents in a store every gateway replica uses (a Kubernetes Secret in cluster mode)."""

    shared = True

    def __init__(self, documents: RawDocuments, *, refresh_every: float = SHARED_REFRESH) -> None:
        self._documents = documents
        self.refresh_every = refresh_every

    @property
    def where(self) -> str:
        return self._documents.where

    async def read(self) -> Documents:
        raw, version = await self._documents.read()
        try:
            return decode_documents(raw.get(KEYS_DOCUMENT), raw.get(RING_DOCUMENT), version)
        except ValueError as exc:
            raise StateStoreError(f"cannot read function credentials in {self.where}: {exc}") from exc

    async def write(self, documents: Documents) -> str | None:
        keys, ring = encode_documents(documents)
        try:
            return await self._documents.write({KEYS_DOCUMENT: keys, RING_DOCUMENT: ring}, documents.version)
        except Conflict as exc:
            raise StaleVersion(str(exc)) from exc


def backend_for(directory: Path, provider: object) -> CredentialBackend:
    """Where the gateway keeps the credentials: shared through a Kubernetes provider that knows the
    gateway's namespace (every replica sees the same keys and signing ring), else its state directory."""
    namespace = getattr(getattr(provider, "config", None), "gateway_namespace", None)
    if not isinstance(namespace, str) or not namespace:
        return FileBackend(directory)
    # lightkube only when it is used
    from pyfaas.provider.kubernetes import KubernetesProvider
    from pyfaas.provider.kubernetes.platform_secret import PlatformSecret

    if not isinstance(provider, KubernetesProvider):
        return FileBackend(directory)
    kubernetes = provider
    return SharedBackend(PlatformSecret(lambda: kubernetes.client, namespace, CREDENTIALS_SECRET))


def _new_token_key() -> TokenKey:
    return TokenKey(secrets.token_hex(4), secrets.token_urlsafe(48), round(time.time(), 3))


_Change = Callable[[dict[str, KeyRecord], list[TokenKey]], tuple[dict[str, KeyRecord], list[TokenKey]]]


class CredentialStore:
    def __init__(self, backend: CredentialBackend) -> None:
        self.backend = backend
        self._keys: dict[str, KeyRecord] = {}
        self._ring: list[TokenKey] = [_new_token_key()]
        """Kept in memory until the first token (or key) needs it stored."""
        self._version: str | None = None
        self._checked: dict[tuple[str, str, str], tuple[Verdict, float]] = {}
        self._ring_saved = False
        self._write_lock = asyncio.Lock()
        self._read_at = 0.0
        self._refresher: asyncio.Task[None] | None = None

    @classmethod
    def open(cls, directory: Path) -> CredentialStore:
        """Read what ``directory`` holds; nothing is created until a key or token is made, so a gateway whose
        state directory cannot be written (a read-only pod with no private functions) starts all the same."""
        backend = FileBackend(directory)
        store = cls(backend)
        store._adopt(backend.read_now())
        return store

    def _adopt(self, documents: Documents) -> None:
        if documents.ring and [k.kid for k in documents.ring] != [k.kid for k in self._ring]:
            self._checked.clear()  # a retired key's tokens stop at once
        self._keys = documents.keys
        if documents.ring:
            self._ring = documents.ring
            self._ring_saved = True
        self._version = documents.version

    async def start(self) -> None:
        """Read the backend; a shared one also gets a signing ring if it has none (another replica's wins)
        and is re-read from then on."""
        await self._refresh()
        if not self.backend.shared:
            return
        if not self._ring_saved:
            mine = list(self._ring)
            await self._change(lambda keys, ring: (keys, ring or mine))
        if self.backend.refresh_every > 0:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher

    async def _refresh(self) -> None:
        self._read_at = time.monotonic()
        self._adopt(await self.backend.read())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.backend.refresh_every)
            try:
                await self._refresh()
            except Exception as exc:  # the API server away for a while: keep what we have
                log.warning("cannot re-read function credentials from %s: %s", self.backend.where, exc)

    async def refreshed(self) -> bool:
        """After a miss: re-read a shared backend (at most once a second); True when something changed."""
        if not self.backend.shared or time.monotonic() - self._read_at < _MISS_REREAD:
            return False
        before = self._version
        try:
            await self._refresh()
        except Exception as exc:
            log.warning("cannot re-read function credentials from %s: %s", self.backend.where, exc)
            return False
        return self._version != before

    async def _change(self, change: _Change) -> None:
        """Apply ``change`` to the newest documents and store them (a failed write changes nothing)."""
        async with self._write_lock:
            for _ in range(_WRITE_ATTEMPTS):
                if self.backend.shared:
                    await self._refresh()
                keys, ring = change(dict(self._keys), list(self._ring))
                try:
                    version = await self.backend.write(Documents(keys, ring, self._version))
                except StaleVersion:
                    continue
                self._checked.clear()
                self._adopt(Documents(keys, ring, version))
                return
            raise StateStoreError(f"function credentials in {self.backend.where} keep changing: try again")

    # API keys --------------------------------------------------------------------------------------
    async def create_key(self, function: str, namespace: str, label: str) -> tuple[KeyRecord, str]:
        """A new key; its plain text is returned once and never stored."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = KeyRecord(key_id, function, namespace, label, round(time.time(), 3), _digest(secret))
        await self._change(lambda keys, ring: ({**keys, key_id: record}, ring))
        return record, f"{KEY_PREFIX}.{key_id}.{secret}"

    def keys_of(self, function: str, namespace: str) -> list[KeyRecord]:
        return [r for r in self._keys.values() if (r.function, r.namespace) == (function, namespace)]

    async def revoke(self, function: str, namespace: str, key_id: str) -> bool:
        if self.backend.shared:
            await self._refresh()
        record = self._keys.get(key_id)
        if record is None or (record.function, record.namespace) != (function, namespace):
            return False
        await self._change(lambda keys, ring: ({k: r for k, r in keys.items() if k != key_id}, ring))
        return True

    # token signing keys ----------------------------------------------------------------------------
    @property
    def ring(self) -> list[TokenKey]:
        return list(self._ring)

    async def rotate(self) -> TokenKey:
        """Add a signing key; new tokens are signed with it, older keys still verify."""
        key = _new_token_key()
        await self._change(lambda keys, ring: (keys, [*ring, key]))
        return key

    async def retire(self, kid: str) -> bool:
        """Remove a signing key (tokens it signed stop working at once); the last key cannot go."""
        if self.backend.shared:
            await self._refresh()
        kept = [k for k in self._ring if k.kid != kid]
        if len(kept) == len(self._ring) or not kept:
            return False
        await self._change(lambda keys, ring: (keys, [k for k in ring if k.kid != kid] or ring))
        return True

    async def mint(self, audience: str, ttl: float, extra: dict[str, Any] | None = None) -> tuple[str, int]:
        if not self._ring_saved:  # the first token: its key must outlive a restart of the gateway
            mine = list(self._ring)
            try:
                await self._change(lambda keys, ring: (keys, ring or mine))
            except StateStoreError as exc:
                log.warning("token signing keys kept in memory only (tokens end with a restart): %s", exc)
                self._ring_saved = True  # said once
        key = self._ring[-1]
        expires = int(time.time() + ttl)
        claims = {"aud": audience, "exp": expires, "iat": int(time.time()), **(extra or {})}
        return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid}), expires

    # checking --------------------------------------------------------------------------------------
    def verify(self, credential: str, function: str, namespace: str) -> Verdict:
        if credential.startswith(KEY_PREFIX + "."):
            return self._verify_key(credential, function, namespace)
        return self._verify_token(credential, function, namespace)

    def _verify_key(self, credential: str, function: str, namespace: str) -> Verdict:
        _, _, rest = credential.partition(".")
        key_id, dot, secret = rest.partition(".")
        record = self._keys.get(key_id)
        if not dot or record is None or not hmac.compare_digest(record.sha256, _digest(secret)):
            return Verdict.INVALID
        if (record.function, record.namespace) != (function, namespace):
            return Verdict.OTHER_FUNCTION
        return Verdict.VALID

    def _verify_token(self, credential: str, function: str, namespace: str) -> Verdict:
        # A token checked once gives the same answer until it expires or its key is retired (the cache is
        # cleared then): decoding costs ~0.2 ms, a lookup nothing. Keyed by the whole token and the target.
        cache_key = (credential, function, namespace)
        if (cached := self._checked.get(cache_key)) is not None:
            if time.time() < cached[1]:
                return cached[0]
            del self._checked[cache_key]
            return Verdict.INVALID
        verdict, expires = self._decode(credential, function, namespace)
        if expires is not None:
            if len(self._checked) >= _CHECKED_MAX:
                self._checked.clear()
            self._checked[cache_key] = (verdict, expires)
        return verdict

    def _decode(self, credential: str, function: str, namespace: str) -> tuple[Verdict, float | None]:
        """The verdict, and the token's expiry when the signature was good (what may be cached)."""
        try:
            kid = jwt.get_unverified_header(credential).get("kid")
        except jwt.InvalidTokenError:
            return Verdict.INVALID, None
        key = next((k for k in self._ring if k.kid == kid), None)
        if key is None:
            return Verdict.INVALID, None
        accepted = [function_audience(function, namespace), namespace_audience(namespace)]
        try:
            claims = jwt.decode(
                credential,
                key.secret,
                algorithms=[ALGORITHM],
                audience=accepted,
                options={"require": ["exp", "aud"]},
            )
        except jwt.InvalidAudienceError:  # raised only once the signature and expiry were verified
            expiry = jwt.decode(credential, key.secret, algorithms=[ALGORITHM], options={"verify_aud": False})
            return Verdict.OTHER_FUNCTION, float(expiry["exp"])
        except jwt.InvalidTokenError:
            return Verdict.INVALID, None
        return Verdict.VALID, float(claims["exp"])
