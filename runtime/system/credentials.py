"""Basic-auth credentials as OpenFaaS keeps them: two files, ``basic-auth-user`` and ``basic-auth-password``,
in a directory (``secret_mount_path``), read whitespace-trimmed.

The gateway checks requests against them, the idler and the gateway's remote provider call with them,
local mode writes them (0600, atomically) and points Prometheus at the password file.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from pathlib import Path

from pyfaas.core.errors import ConfigError
from pyfaas.system.atomic_files import atomic_write

__all__ = [
    "PASSWORD_FILE",
    "USER_FILE",
    "BasicAuthCredentials",
    "load_user",
    "write_credential_file",
]

USER_FILE = "basic-auth-user"
PASSWORD_FILE = "basic-auth-password"
_FIELD = "secret_mount_path"


@dataclass(frozen=True, slots=True)
class BasicAuthCredentials:
    user: str
    password: str

    @classmethod
    def load(cls, directory: str | Path) -> BasicAuthCredentials:
        """Both files; a missing or unreadable one is a ``ConfigError`` naming ``secret_mount_path``."""
        base = Path(directory)
        return cls(user=_read(base / USER_FILE), password=_read(base / PASSWORD_FILE))

    @classmethod
    def load_if_present(cls, directory: str | Path) -> BasicAuthCredentials | None:
        """Both files, or None when neither exists (a gateway without basic auth); one without the other
        is still a ``ConfigError``."""
        base = Path(directory)
        if not (base / USER_FILE).exists() and not (base / PASSWORD_FILE).exists():
            return None
        return cls.load(base)

    def pair(self) -> tuple[str, str]:
        return self.user, self.password

    def check(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries these credentials; the user name and the password are
        both compared in constant time (OpenFaaS compares only the password so)."""
        if not authorization or authorization[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        if not sep:
            return False
        user_ok = hmac.compare_digest(user, self.user.encode())
        password_ok = hmac.compare_digest(password, self.password.encode())
        return user_ok and password_ok


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the credential file {path}: {exc.strerror}", field=_FIELD) from exc


def load_user(directory: str | Path) -> str:
    """The user name alone (Prometheus reads the password from its file itself)."""
    return _read(Path(directory) / USER_FILE)


def write_credential_file(path: Path, value: str) -> None:
    """Write one credential file (0600, atomically) unless it already holds ``value`` with that mode."""
    try:
        current = path.read_text().strip()
    except OSError:
        current = None
    if current != value or path.stat().st_mode & 0o077:
        atomic_write(path, value.encode(), mode=0o600)
