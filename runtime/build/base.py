"""Where a base image comes from: a local OCI layout, OCI archive or docker archive, or a registry by digest.

A registry base must be named with its digest (``name@sha256:...``, or ``name:tag@sha256:...``), so the
same build gives the same image tomorrow; its blobs are kept in the cache folder, checked by digest.
"""

from __future__ import annotations

from pathlib import Path

from pyfaas.build.errors import BuildError
from pyfaas.build.oci import Image, read_image
from pyfaas.build.registry import Credentials, RegistryClient, parse_reference

__all__ = ["load_base"]


def load_base(
    spec: str,
    *,
    scratch: Path,
    cache: Path,
    credentials: Credentials | None = None,
    plain_http: bool | None = None,
) -> Image:
    """The image ``spec`` names (a path when one exists there, else a registry reference with a digest)."""
    path = Path(spec).expanduser()
    if path.exists():
        return read_image(path, scratch)
    if spec.startswith((".", "/", "~")) or spec.endswith((".tar", ".tar.gz")):
        raise BuildError(f"base image {spec} not found")
    reference = parse_reference(spec)
    if not reference.digest:
        raise BuildError(
            f"base image {spec} has no digest: name it as {spec}@sha256:... so builds are reproducible "
            "(or pass a local OCI layout or archive)"
        )
    with RegistryClient(reference.registry, credentials=credentials, plain_http=plain_http) as client:
        return client.pull(reference, cache)
