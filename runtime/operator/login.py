"""kopf's credentials from the same lightkube configuration the rest of the operator uses.

kopf's built-in logins read ``KUBECONFIG`` themselves and need a client library for anything beyond the
basics; this one takes the settings' resolved configuration (``kube_api_server``, kubeconfig and context, or
the in-cluster service account), so both clients always talk to the same API as the same user. A token file
is read at each login, so kopf's re-login after a 401 picks up a rotated service-account token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kopf
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import User

__all__ = ["connection_info"]


def _path(value: str | None, base: Path | None) -> str | None:
    if not value:
        return None
    path = Path(value)
    return str(path if path.is_absolute() or base is None else base / path)


def connection_info(config: SingleConfig) -> kopf.ConnectionInfo:
    cluster, user = config.cluster, config.user or User()
    fname = getattr(config, "fname", None)
    base = Path(fname).parent if fname else None
    token = user.token
    if not token and user.token_file:
        token = Path(_path(user.token_file, base) or "").read_text().strip()
    options: dict[str, Any] = {
        "server": cluster.server,
        "default_namespace": config.namespace,
        "insecure": cluster.insecure or None,
        "ca_path": _path(cluster.certificate_auth, base),
        "ca_data": cluster.certificate_auth_data,
        "token": token,
        "username": user.username,
        "password": user.password,
        "certificate_path": _path(user.client_cert, base),
        "certificate_data": user.client_cert_data,
        "private_key_path": _path(user.client_key, base),
        "private_key_data": user.client_key_data,
    }
    return kopf.ConnectionInfo(**{k: v for k, v in options.items() if v is not None})
