"""Basic auth as OpenFaaS does it: credentials from two files, 401 ``invalid credentials``.

The files ``basic-auth-user`` and ``basic-auth-password`` under ``secret_mount_path`` are read once at
start-up and whitespace-trimmed; a missing file is a configuration error. Both the user name and the
password are compared in constant time (OpenFaaS compares only the password so).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from pyfaas.core.errors import ConfigError

__all__ = ["BasicAuthCredentials", "is_protected", "unauthorized"]

USER_FILE = "basic-auth-user"
PASSWORD_FILE = "basic-auth-password"


@dataclass(frozen=True, slots=True)
class BasicAuthCredentials:
    user: str
    password: str

    @classmethod
    def load(cls, secret_mount_path: str) -> BasicAuthCredentials:
        base = Path(secret_mount_path)
        values: list[str] = []
        for name in (USER_FILE, PASSWORD_FILE):
            try:
                values.append((base / name).read_text().strip())
            except OSError as exc:
                raise ConfigError(
                    f"basic_auth=true but {base / name} cannot be read: {exc.strerror}",
                    field="secret_mount_path",
                ) from exc
        return cls(user=values[0], password=values[1])

    def check(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries these credentials."""
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


def unauthorized() -> web.Response:
    """OpenFaaS's exact 401: plain body without newline and the ``Restricted`` realm."""
    return web.Response(
        status=401,
        text="invalid credentials",
        headers={"WWW-Authenticate": 'Basic realm="Restricted"'},
    )


def is_protected(path: str) -> bool:
    """Every system route and the UI are behind auth; ``/``, ``/healthz`` and ``/function/*`` are open."""
    return path.startswith("/system/") or path == "/ui" or path.startswith("/ui/")
