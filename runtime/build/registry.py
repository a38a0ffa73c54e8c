"""Push and pull images over the OCI distribution API (httpx; no Docker daemon, no other client).

Push is digest-addressed and idempotent: a blob the registry already has (``HEAD``) is not sent again; a new
one goes up in chunks (``POST`` a session, ``PATCH`` with ``Content-Range``, ``PUT ?digest=``); the manifest
goes last, by tag (or by digest alone), and the registry must answer with the digest we computed. Pull takes
a reference with a digest (a tag is resolved to one first), checks every blob's digest while downloading, and
keeps the blobs in a content-addressed cache.

Auth is what registries ask for in ``WWW-Authenticate``: ``Basic`` (the credentials as they are) or
``Bearer`` (a token from the realm, for the repository and actions in the challenge, with the credentials if
any). Credentials come from the caller (``pyfaas push --username`` / ``PYFAAS_REGISTRY_*``) or from
``~/.docker/config.json``'s ``auths`` (the ``auth`` field).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from pyfaas.build.errors import BuildError
from pyfaas.build.oci import (
    DOCKER_LIST_TYPE,
    DOCKER_MANIFEST_TYPE,
    GOARCH,
    INDEX_TYPE,
    MANIFEST_TYPE,
    Image,
    digest_bytes,
    image_from_blobs,
)
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.names import validate_image

__all__ = ["Credentials", "Reference", "RegistryClient", "docker_config_credentials", "parse_reference"]

DEFAULT_REGISTRY = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
CHUNK_SIZE = 8 << 20
ACCEPT = ", ".join((MANIFEST_TYPE, INDEX_TYPE, DOCKER_MANIFEST_TYPE, DOCKER_LIST_TYPE))
LOOPBACK = re.compile(r"^(localhost|127(?:\.\d+){3}|\[::1\])(:\d+)?$")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DEFAULT_REGISTRY else self.registry

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        return text + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_reference(text: str) -> Reference:
    """``[registry/]repository[:tag][@digest]`` as container runtimes read it (Docker Hub by default)."""
    try:
        validate_image(text)
    except ValidationFailed as exc:
        raise BuildError(exc.message) from None
    rest, _, digest = text.partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DEFAULT_REGISTRY, rest
    repository, tag = path, ""
    if ":" in path:
        repository, tag = path.rsplit(":", 1)
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return Reference(registry, repository, tag or ("" if digest else "latest"), digest)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def docker_config_credentials(registry: str, config_dir: Path | None = None) -> Credentials | None:
    """The ``auths`` entry for ``registry`` in Docker's config file (credential helpers are not run)."""
    folder = config_dir or Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        auths = json.loads((folder / "config.json").read_text()).get("auths") or {}
    except (OSError, ValueError, AttributeError):
        return None
    names = [registry, f"https://{registry}", f"http://{registry}"]
    if registry == DEFAULT_REGISTRY:
        names.append("https://index.docker.io/v1/")
    for name in names:
        encoded = (auths.get(name) or {}).get("auth")
        if encoded:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
            return Credentials(username, password)
    return None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class RegistryClient:
    """One registry's API for one repository at a time; tokens are cached per scope."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        plain_http: bool | None = None,
        timeout: float = 300.0,
        progress: Progress | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        host = DOCKER_HUB_API if registry == DEFAULT_REGISTRY else registry
        insecure = LOOPBACK.match(host) is not None if plain_http is None else plain_http
        self.base = f"{'http' if insecure else 'https'}://{host}/v2"
        self.registry = registry
        self.credentials = credentials if credentials is not None else docker_config_credentials(registry)
        self.progress = progress or (lambda _line: None)
        self.http = httpx.Client(timeout=timeout, follow_redirects=True, trust_env=False)
        self._authorization: dict[str, str] = {}
        self.chunk_size = chunk_size

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # requests, with the auth dance --------------------------------------------------------------------
    def _authorize(self, response: httpx.Response, repository: str) -> bool:
        scheme, params = _challenge(response.headers.get("www-authenticate", ""))
        if scheme == "basic":
            if self.credentials is None:
                return False
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            self._authorization[repository] = f"Basic {base64.b64encode(pair).decode()}"
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        query = {key: value for key, value in params.items() if key in ("service", "scope")}
        if "scope" not in query:
            query["scope"] = f"repository:{repository}:pull,push"
        auth = (
            httpx.BasicAuth(self.credentials.username, self.credentials.password)
            if self.credentials
            else None
        )
        try:
            answer = self.http.get(params["realm"], params=query, auth=auth)
        except httpx.HTTPError as exc:
            raise BuildError(f"token request to {params['realm']} failed: {exc}") from exc
        if answer.status_code != 200:
            raise BuildError(
                f"{params['realm']} refused a token ({answer.status_code}): check the credentials"
            )
        body = answer.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise BuildError(f"{params['realm']} answered without a token")
        self._authorization[repository] = f"Bearer {token}"
        return True

    def request(
        self,
        method: str,
        url: str,
        repository: str,
        *,
        ok: tuple[int, ...],
        headers: dict[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        params: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """``method url``; on 401 authorize from the challenge and try once more; a status outside ``ok``
        raises :class:`BuildError` with the registry's error text."""
        target = url if url.startswith("http") else self.base + url
        for attempt in (0, 1):
            sent = dict(headers or {})
            if repository in self._authorization:
                sent["Authorization"] = self._authorization[repository]
            try:
                # merged, not replaced: upload locations carry the registry's own state in their query
                address = httpx.URL(target).copy_merge_params(params) if params else httpx.URL(target)
                request = self.http.build_request(method, address, headers=sent, content=content)
                response = self.http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise BuildError(f"{method} {target}: {exc}") from exc
            if response.status_code == 401 and attempt == 0 and not isinstance(content, Iterator):
                response.close()
                if self._authorize(response, repository):
                    continue
            if response.status_code not in ok:
                if stream:
                    response.read()
                raise BuildError(f"{method} {target}: {response.status_code} {_error_text(response)}")
            return response
        raise AssertionError("unreachable")

    # push ---------------------------------------------------------------------------------------------
    def has_blob(self, repository: str, digest: str) -> bool:
        response = self.request("HEAD", f"/{repository}/blobs/{digest}", repository, ok=(200, 404))
        return response.status_code == 200

    def upload_blob(self, repository: str, path: Path, digest: str, size: int) -> bool:
        """Upload ``path`` unless the registry has ``digest``; True when it was sent."""
        if self.has_blob(repository, digest):
            return False
        started = self.request("POST", f"/{repository}/blobs/uploads/", repository, ok=(202,))
        location = started.headers["location"]
        offset = 0
        with path.open("rb") as source:
            while chunk := source.read(self.chunk_size):
                end = offset + len(chunk) - 1
                response = self.request(
                    "PATCH",
                    _absolute(self.base, location),
                    repository,
                    ok=(202,),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{end}",
                        "Content-Length": str(len(chunk)),
                    },
                    content=chunk,
                )
                location = response.headers["location"]
                offset = end + 1
        if offset != size:
            raise BuildError(f"{path} is {offset} bytes, its descriptor says {size}")
        self.request(
            "PUT",
            _absolute(self.base, location),
            repository,
            ok=(201,),
            params={"digest": digest},
            headers={"Content-Length": "0"},
        )
        return True

    def push(self, image: Image, reference: Reference) -> str:
        """Push ``image`` as ``reference``; return the manifest digest the registry stored."""
        repository = reference.repository
        sent = 0
        blobs = [*image.layers]
        config = image.config_bytes()
        for layer in blobs:
            if self.upload_blob(repository, layer.path, layer.digest, layer.size):
                sent += 1
                self.progress(f"pushed layer {layer.digest[:19]} ({layer.size} bytes)")
            else:
                self.progress(f"layer {layer.digest[:19]} already present")
        if not self.has_blob(repository, digest_bytes(config)):
            self._put_bytes(repository, config)
        manifest = image.manifest_bytes()
        digest = digest_bytes(manifest)
        if reference.digest and reference.digest != digest:
            raise BuildError(f"{reference} names digest {reference.digest}, the image's is {digest}")
        response = self.request(
            "PUT",
            f"/{repository}/manifests/{reference.tag or digest}",
            repository,
            ok=(201,),
            headers={"Content-Type": MANIFEST_TYPE},
            content=manifest,
        )
        stored = response.headers.get("docker-content-digest", digest)
        if stored != digest:
            raise BuildError(f"the registry stored the manifest as {stored}, not {digest}")
        return digest

    def _put_bytes(self, repository: str, data: bytes) -> None:
        started = self.request("POST", f"/{repository}/blobs/uploads/", repository, ok=(202,))
        self.request(
            "PUT",
            _absolute(self.base, started.headers["location"]),
            repository,
            ok=(201,),
            params={"digest": digest_bytes(data)},
            headers={"Content-Type": "application/octet-stream"},
            content=data,
        )

    # pull ---------------------------------------------------------------------------------------------
    def manifest(self, repository: str, ref: str) -> bytes:
        response = self.request(
            "GET", f"/{repository}/manifests/{ref}", repository, ok=(200,), headers={"Accept": ACCEPT}
        )
        data = response.content
        if ref.startswith("sha256:") and digest_bytes(data) != ref:
            raise BuildError(f"the registry's manifest for {ref} has digest {digest_bytes(data)}")
        return data

    def resolve(self, reference: Reference) -> str:
        """The manifest digest a tag names now."""
        if reference.digest:
            return reference.digest
        return digest_bytes(self.manifest(reference.repository, reference.tag))

    def fetch_blob(self, repository: str, digest: str, cache: Path) -> Path:
        """The blob ``digest`` in ``cache/sha256/``, downloaded (and checked) unless it is there."""
        target = cache / "sha256" / digest.split(":", 1)[1]
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + f".{os.getpid()}.partial")
        hashed = hashlib.sha256()
        response = self.request("GET", f"/{repository}/blobs/{digest}", repository, ok=(200,), stream=True)
        try:
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    hashed.update(chunk)
                    out.write(chunk)
        except httpx.HTTPError as exc:
            raise BuildError(f"downloading {digest}: {exc}") from exc
        finally:
            response.close()
        if f"sha256:{hashed.hexdigest()}" != digest:
            partial.unlink()
            raise BuildError(f"blob {digest} arrived with another digest")
        partial.replace(target)
        return target

    def pull(self, reference: Reference, cache: Path) -> Image:
        """The image ``reference`` names, its blobs in ``cache`` (an index picks this machine's platform)."""
        repository = reference.repository
        data = self.manifest(repository, reference.digest or reference.tag)
        body = json.loads(data)
        if body.get("mediaType") in (INDEX_TYPE, DOCKER_LIST_TYPE) or "manifests" in body:
            arch = GOARCH.get(platform.machine(), platform.machine())
            entries = body.get("manifests") or []
            chosen = next((m for m in entries if (m.get("platform") or {}).get("architecture") == arch), None)
            if chosen is None:
                raise BuildError(f"{reference} has no image for linux/{arch}")
            data = self.manifest(repository, chosen["digest"])

        def path_of(digest: str) -> Path:
            return self.fetch_blob(repository, digest, cache)

        image = image_from_blobs(data, path_of)
        self.progress(f"pulled {reference} ({len(image.layers)} layers)")
        return image


def _absolute(base: str, location: str) -> str:
    if location.startswith("http://") or location.startswith("https://"):
        return location
    root = base.removesuffix("/v2")
    return root + location if location.startswith("/") else f"{root}/{location}"


def _error_text(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or response.text[:200]
    except (ValueError, AttributeError):
        return response.text[:200]
