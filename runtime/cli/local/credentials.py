"""The admin credentials of a local platform: two 0600 files the gateway and idler read (secret_mount_path).

The password is ``PYFAAS_ADMIN_PASSWORD`` when given (written over the file, so the running platform and the
file agree), else the one kept from an earlier run, else a new random one generated once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from pyfaas.system.credentials import PASSWORD_FILE, USER_FILE, write_credential_file

__all__ = ["ADMIN_USER", "Credentials", "ensure_credentials"]

ADMIN_USER = "admin"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    generated: bool
    """True when the password was created by this call (first start without ``PYFAAS_ADMIN_PASSWORD``)."""


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def ensure_credentials(directory: Path, password: str | None = None) -> Credentials:
    """Write (if needed) and return the credentials kept in ``directory``; ``password`` overrides."""
    user_path, password_path = directory / USER_FILE, directory / PASSWORD_FILE
    user = _read(user_path) or ADMIN_USER
    kept = _read(password_path)
    generated = False
    if password and password.strip():
        chosen = password.strip()
    elif kept:
        chosen = kept
    else:
        chosen, generated = secrets.token_urlsafe(18), True
    write_credential_file(user_path, user)
    write_credential_file(password_path, chosen)
    return Credentials(user=user, password=chosen, generated=generated)
