"""Function, secret and namespace name rules.

New functions must be DNS-1123 labels (as faas-netes requires), so the same name works as a Kubernetes
object, a process label and a NATS subject token. ``name.namespace`` is split at the **last** dot, as every
OpenFaaS component does.
"""

from __future__ import annotations

import re

from pyfaas.core.errors import ValidationFailed

__all__ = [
    "DNS1035_LABEL",
    "DNS1035_RULE",
    "DNS1123_LABEL",
    "DNS1123_RULE",
    "qualified_name",
    "split_name",
    "validate_function_name",
    "validate_image",
    "validate_kubernetes_function_name",
    "validate_namespace",
    "validate_secret_name",
]

DNS1123_LABEL = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")  # \Z: "$" would accept a trailing newline
DNS1123_RULE = (
    "must be a DNS-1123 label: at most 63 lowercase letters, digits or '-', starting and ending "
    "with a letter or digit"
)
DNS1035_LABEL = re.compile(r"\A[a-z]([-a-z0-9]*[a-z0-9])?\Z")
DNS1035_RULE = (
    "must be a DNS-1035 label on Kubernetes (a Service name): at most 63 lowercase letters, digits or '-', "
    "starting with a letter and ending with a letter or digit"
)
# Kubernetes secret names are DNS-1123 subdomains; dots are allowed but path separators never are.
_SECRET_NAME = re.compile(r"\A[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z")


def _check_label(value: str, field: str, what: str) -> str:
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        raise ValidationFailed(f"{what} {value!r} is invalid: {DNS1123_RULE}", field=field)
    return value


def validate_function_name(name: str, field: str = "service") -> str:
    """Return ``name`` if it is a valid new function name, else raise ``ValidationFailed`` for ``field``."""
    return _check_label(name, field, "function name")


def validate_kubernetes_function_name(name: str, field: str = "service") -> str:
    """A function name Kubernetes can hold: its Service name must be a DNS-1035 label (no leading digit).

    Stricter than :func:`validate_function_name` (OpenFaaS's DNS-1123 rule, kept for local mode); checked
    before any object is written, so the Deployment is never created for a name its Service would refuse.
    """
    validate_function_name(name, field)
    if not DNS1035_LABEL.match(name):
        raise ValidationFailed(f"function name {name!r} is invalid: {DNS1035_RULE}", field=field)
    return name


# An image reference as container runtimes parse it (distribution/reference's grammar, without IPv6 hosts).
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"\A(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?\Z"
)


def validate_image(image: str, field: str = "image") -> str:
    """Return ``image`` if it is an image reference a container runtime accepts, else ``ValidationFailed``.

    Kubernetes stores any string and only refuses the pods (surrounding spaces) or fails to pull them
    (``InvalidImageName``) later, so a bad reference is refused here, before anything is written.
    """
    if not image or len(image) > 4096 or not _IMAGE.match(image):
        raise ValidationFailed(
            f"image {image!r} is not a valid image reference ([registry/]name[:tag][@digest], lowercase "
            "name, no spaces)",
            field=field,
        )
    return image


def validate_namespace(namespace: str, field: str = "namespace") -> str:
    return _check_label(namespace, field, "namespace")


def validate_secret_name(name: str, field: str = "name") -> str:
    if len(name) > 253 or not _SECRET_NAME.match(name) or ".." in name:
        raise ValidationFailed(
            f"secret name {name!r} is invalid: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit",
            field=field,
        )
    return name


def split_name(qualified: str, default_namespace: str) -> tuple[str, str]:
    """Split ``name.namespace`` at the last dot; no dot means ``default_namespace``."""
    name, dot, namespace = qualified.rpartition(".")
    if not dot:
        return qualified, default_namespace
    if not name:
        return qualified, default_namespace
    return name, namespace or default_namespace


def qualified_name(name: str, namespace: str) -> str:
    """The ``function_name`` label value used in metrics and alerts: ``name.namespace``."""
    return f"{name}.{namespace}" if namespace else name
