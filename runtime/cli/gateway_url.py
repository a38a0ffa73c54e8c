"""Which gateway a command talks to, chosen as faas-cli chooses it.

``--gateway`` (when not the default) > the stack's ``provider.gateway`` (when not the default) >
``OPENFAAS_URL`` > ``http://127.0.0.1:8080``; then lower-cased, trailing ``/`` trimmed, ``http://`` added when
there is no scheme. A stack written by ``new`` names the default gateway, so ``OPENFAAS_URL`` still wins.
"""

from __future__ import annotations

__all__ = ["DEFAULT_GATEWAY", "normalise_gateway", "resolve_gateway"]

DEFAULT_GATEWAY = "http://127.0.0.1:8080"


def normalise_gateway(url: str) -> str:
    url = url.strip().rstrip("/").lower()
    if not url.startswith("http"):
        url = f"http://{url}"
    return url


def resolve_gateway(flag: str | None, stack_gateway: str | None, environment: str | None) -> str:
    if flag and normalise_gateway(flag) != DEFAULT_GATEWAY:
        chosen = flag
    elif stack_gateway and normalise_gateway(stack_gateway) != DEFAULT_GATEWAY:
        chosen = stack_gateway
    elif environment:
        chosen = environment
    else:
        chosen = DEFAULT_GATEWAY
    return normalise_gateway(chosen)
