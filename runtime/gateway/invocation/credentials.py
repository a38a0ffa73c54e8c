"""Credentials of private functions: per-function API keys (stored hashed) and signed tokens (JWT, PyJWT).

An API key reads ``pfk.<id>.<secret>``: the id finds its record, the SHA-256 of the secret is compared in
constant time (32 random bytes need no slow hash). A token is an HS256 JWT with ``aud`` =
``function:<name>.<namespace>`` or ``namespace:<namespace>``, a required ``exp`` and the ``kid`` of the
signing key that made it. Signing keys form a ring: new tokens are signed with the newest key, every key in
the ring verifies, so rotation is "add a key, let old tokens expire, remove the old key" without downtime.

Both live in one directory of the gateway's state (0700; files 0600, replaced atomically) that function
sandboxes never show: ``function-keys.json`` (key records, hashes only) and ``token-keys.json`` (the ring).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jwt

from pyfaas.core.errors import StateStoreError
from pyfaas.system.atomic_files import atomic_write

__all__ = ["CredentialStore", "KeyRecord", "TokenKey", "Verdict"]

log = logging.getLogger("pyfaas.gateway")

KEY_PREFIX = "pfk"
ALGORITHM = "HS256"
_CHECKED_MAX = 4096
"""Tokens whose verdict is remembered (all are forgotten when full)."""


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


class CredentialStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keys_file = directory / "function-keys.json"
        self._ring_file = directory / "token-keys.json"
        self._keys: dict[str, KeyRecord] = {}
        self._ring: list[TokenKey] = []
        self._checked: dict[tuple[str, str, str], tuple[Verdict, float]] = {}
        self._ring_saved = False

    @classmethod
    def open(cls, directory: Path) -> CredentialStore:
        """Read what ``directory`` holds; nothing is created until a key or token is made, so a gateway whose
        state directory cannot be written (a read-only pod with no private functions) starts all the same."""
        store = cls(directory)
        try:
            if store._keys_file.exists():
                store._keys = {r["id"]: KeyRecord(**r) for r in json.loads(store._keys_file.read_text())}
            if store._ring_file.exists():
                store._ring = [TokenKey(**k) for k in json.loads(store._ring_file.read_text())]
                store._ring_saved = True
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StateStoreError(f"cannot read function credentials in {directory}: {exc}") from exc
        if not store._ring:  # kept in memory until the first token needs it on disk
            store._ring = [TokenKey(secrets.token_hex(4), secrets.token_urlsafe(48), round(time.time(), 3))]
        return store

    def _prepare_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)
        except OSError as exc:
            raise StateStoreError(f"cannot create {self.directory}: {exc.strerror or exc}") from exc

    def _save_keys(self, keys: dict[str, KeyRecord]) -> None:
        """Write ``keys``, then make them the ones in force (a failed write changes nothing)."""
        self._prepare_directory()
        document = [asdict(r) for r in keys.values()]
        atomic_write(self._keys_file, json.dumps(document, indent=1).encode(), mode=0o600)
        self._keys = keys

    def _save_ring(self, ring: list[TokenKey]) -> None:
        """Write ``ring``, then make it the one in force (a failed write changes nothing)."""
        self._prepare_directory()
        document = [asdict(k) for k in ring]
        atomic_write(self._ring_file, json.dumps(document, indent=1).encode(), mode=0o600)
        self._ring = ring
        self._ring_saved = True
        self._checked.clear()

    # API keys --------------------------------------------------------------------------------------
    def create_key(self, function: str, namespace: str, label: str) -> tuple[KeyRecord, str]:
        """A new key; its plain text is returned once and never stored."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = KeyRecord(key_id, function, namespace, label, round(time.time(), 3), _digest(secret))
        self._save_keys({**self._keys, key_id: record})
        return record, f"{KEY_PREFIX}.{key_id}.{secret}"

    def keys_of(self, function: str, namespace: str) -> list[KeyRecord]:
        return [r for r in self._keys.values() if (r.function, r.namespace) == (function, namespace)]

    def revoke(self, function: str, namespace: str, key_id: str) -> bool:
        record = self._keys.get(key_id)
        if record is None or (record.function, record.namespace) != (function, namespace):
            return False
        self._save_keys({k: r for k, r in self._keys.items() if k != key_id})
        return True

    # token signing keys ----------------------------------------------------------------------------
    @property
    def ring(self) -> list[TokenKey]:
        return list(self._ring)

    def rotate(self) -> TokenKey:
        """Add a signing key; new tokens are signed with it, older keys still verify."""
        key = TokenKey(secrets.token_hex(4), secrets.token_urlsafe(48), round(time.time(), 3))
        self._save_ring([*self._ring, key])
        return key

    def retire(self, kid: str) -> bool:
        """Remove a signing key (tokens it signed stop working); the last key cannot go."""
        kept = [k for k in self._ring if k.kid != kid]
        if len(kept) == len(self._ring) or not kept:
            return False
        self._save_ring(kept)  # and forgets remembered verdicts: tokens of the retired key stop working now
        return True

    def mint(self, audience: str, ttl: float, extra: dict[str, Any] | None = None) -> tuple[str, int]:
        if not self._ring_saved:  # the first token: its key must outlive a restart of the gateway
            try:
                self._save_ring(self._ring)
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
