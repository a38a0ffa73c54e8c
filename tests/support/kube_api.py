"""A test double of the Kubernetes API server: aiohttp on loopback, schema-validating, pods as processes.

This is **not a cluster**. It implements exactly the API surface ``KubernetesProvider`` uses, with the API's
semantics where the provider depends on them:

* CRUD of namespaces, deployments (+ the ``scale`` subresource), services, secrets; read/list/watch of pods
  and endpointslices; ``pods/{name}/log`` (``container``, ``tailLines``, ``sinceSeconds``, ``timestamps``,
  ``follow``).
* Every request body is validated against the Kubernetes OpenAPI schemas bundled by kubernetes-validate for
  each version in ``versions`` (strict: unknown fields are errors; see :mod:`tests.support.kube_schema`), and
  rejected with 422 ``Invalid`` like a real API server; kind/apiVersion/name/namespace must match the URL.
* ``resourceVersion`` on every object and list; optimistic concurrency on PUT (409 ``Conflict``); 404
  ``NotFound``, 409 ``AlreadyExists``; immutable Deployment selector; foreground deletion (the object stays,
  with ``deletionTimestamp`` and the ``foregroundDeletion`` finalizer, until its pods are gone).
* list + watch streams with label selectors, ``resourceVersion`` replay from an event log, ``timeoutSeconds``,
  and ``410 Gone`` for a version older than the retained log (tests can force it with :meth:`expire_watches`).
* A deployment controller (pods follow ``spec.replicas``; a template change rolls: new pods first, old ones
  stopped once the new are ready, i.e. maxUnavailable 0) and an EndpointSlice controller (slices labelled
  ``kubernetes.io/service-name`` plus the Service's labels, endpoints ``ready``/``serving``/``terminating``).

With ``run_pods=True`` a pod is a real ``python -m pyfaas.watchdog`` process on 127.0.0.1: the container's
env plus ``port=0`` and ``port_file``; the pod becomes ready when its readiness probe path answers 200, and
its EndpointSlice address is ``127.0.0.1`` with the port the watchdog bound (one slice per distinct port, as
the EndpointSlice controller groups endpoints by port). With ``run_pods=False`` pods are ready at once and
nothing listens (for tests that never invoke). Objects the server generates (pods, slices) are validated too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import itertools
import json
import logging
import os
import re
import signal
import ssl
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.kube_schema import SCHEMA_VERSIONS, schema_errors

__all__ = ["KubeAPIServer", "kube_api_server"]

log = logging.getLogger("tests.kube_api")

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENT_LOG_SIZE = 5000
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
POD_TERMINATION_GRACE = "0.3s"
"""healthcheck_interval given to pods unless their env sets it: serve this long after SIGTERM."""


@dataclass(frozen=True)
class Kind:
    plural: str
    kind: str
    api_version: str
    namespaced: bool = True
    writable: bool = True


KINDS = {
    k.plural: k
    for k in (
        Kind("namespaces", "Namespace", "v1", namespaced=False),
        Kind("deployments", "Deployment", "apps/v1"),
        Kind("services", "Service", "v1"),
        Kind("secrets", "Secret", "v1"),
        Kind("pods", "Pod", "v1", writable=False),
        Kind("endpointslices", "EndpointSlice", "discovery.k8s.io/v1", writable=False),
    )
}


def _json(body: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as the API server sends it (clients compare the header verbatim).
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nano_stamp(value: float) -> str:
    whole = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{int((value % 1) * 1e9):09d}Z"


# --- errors -------------------------------------------------------------------------------------------------


class APIError(Exception):
    def __init__(
        self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def response(self) -> web.Response:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }
        return _json(body, status=self.code)


def _not_found(kind: Kind, name: str) -> APIError:
    return APIError(
        404, "NotFound", f'{kind.plural} "{name}" not found', details={"name": name, "kind": kind.plural}
    )


# --- label selectors ----------------------------------------------------------------------------------------

_TERM = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<nkey>[^\s,!=()]+)"
    r"|(?P<key>[^\s,!=()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*$"
)


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return terms


def _requirement(labels: dict[str, str], op: str, key: str, values: frozenset[str]) -> bool:
    if op == "exists":
        return key in labels
    if op == "!exists":
        return key not in labels
    if op == "in":
        return labels.get(key) in values
    return labels.get(key) not in values  # notin, !=


def parse_selector(selector: str) -> Callable[[dict[str, str]], bool]:
    """A Kubernetes label selector as a predicate on a label dict; ValueError when malformed."""
    requirements: list[tuple[str, str, frozenset[str]]] = []
    for term in _split_terms(selector or ""):
        match = _TERM.match(term)
        if not match:
            raise ValueError(f"unable to parse requirement: {term!r}")
        if match["not"]:
            requirements.append(("!exists", match["nkey"], frozenset()))
        elif match["setop"]:
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append((match["setop"], match["key"], values))
        elif match["op"]:
            op = "notin" if match["op"] == "!=" else "in"
            requirements.append((op, match["key"], frozenset({match["value"]})))
        else:
            requirements.append(("exists", match["key"], frozenset()))
    return lambda labels: all(_requirement(labels, *r) for r in requirements)


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = (obj.get("metadata") or {}).get("labels") or {}
    return labels


# --- pods ---------------------------------------------------------------------------------------------------


@dataclass
class PodRecord:
    namespace: str
    name: str
    deployment: str
    template_hash: str
    container: dict[str, Any]
    workdir: Path
    ip: str = "127.0.0.1"
    port: int | None = None
    ready: bool = False
    stopping: bool = False
    process: asyncio.subprocess.Process | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    restarts: int = 0
    finished: bool = False


# --- the server ---------------------------------------------------------------------------------------------


@dataclass
class Watcher:
    kind: Kind
    namespace: str | None
    matches: Callable[[dict[str, str]], bool]
    queue: asyncio.Queue[dict[str, Any] | None]


class KubeAPIServer:
    """See the module docstring. Use :func:`kube_api_server` to run one."""

    def __init__(
        self,
        workdir: Path,
        *,
        versions: tuple[str, ...] = SCHEMA_VERSIONS,
        run_pods: bool = True,
        namespaces: tuple[str, ...] = ("default", "kube-system", "openfaas-fn"),
        python: str = sys.executable,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.workdir = workdir
        self.versions = versions
        self.run_pods = run_pods
        self.python = python
        self.ssl_context = ssl_context
        self.authorizations: list[str] = []
        self.processes: list[asyncio.subprocess.Process] = []
        """Every pod process ever started (all have exited once :meth:`close` returns)."""
        self.forbidden: set[tuple[str, str]] = set()
        """(verb, plural) pairs answered 403, as RBAC would: e.g. ``("list", "namespaces")``."""
        """The Authorization header of every request ("" when absent)."""
        self.url = ""
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {plural: {} for plural in KINDS}
        self.pods: dict[tuple[str, str], PodRecord] = {}
        self.received: list[tuple[str, str, dict[str, Any] | None]] = []
        """Every request: (method, path, body). Bodies were all validated before anything else happened."""
        self.rejected: list[tuple[str, str, list[str]]] = []
        """Requests refused as invalid: (method, path, errors)."""
        self.validated = 0
        self._version = itertools.count(100)
        self._rv = 100
        self._events: list[tuple[int, str, str, dict[str, Any]]] = []
        self._oldest_rv = 100
        self._watchers: list[Watcher] = []
        self._controllers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._dirty: dict[tuple[str, str], asyncio.Event] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._pod_ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None
        for name in namespaces:
            self._store(
                KINDS["namespaces"], self._admit_new(KINDS["namespaces"], {"metadata": {"name": name}}, None)
            )

    # lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> str:
        @web.middleware
        async def record_authorization(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            self.authorizations.append(request.headers.get("Authorization", ""))
            return await handler(request)

        app = web.Application(client_max_size=8 << 20, middlewares=[record_authorization])
        app.router.add_get("/version", self._version_info)
        app.router.add_route("*", "/api/v1/namespaces", self._namespaces)
        app.router.add_route("*", "/api/v1/namespaces/{name}", self._namespace)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", self._pod_log)
        for prefix in ("/api/v1", "/apis/apps/v1", "/apis/discovery.k8s.io/v1"):
            app.router.add_route("*", prefix + "/namespaces/{ns}/{plural}", self._collection)
            app.router.add_route("*", prefix + "/namespaces/{ns}/{plural}/{name}", self._item)
        app.router.add_route("*", "/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", self._scale)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)
        for task in list(self._controllers.values()) + list(self._background):
            task.cancel()
        await asyncio.gather(*self._controllers.values(), *self._background, return_exceptions=True)
        await asyncio.gather(
            *(self._kill_pod(pod) for pod in list(self.pods.values())), return_exceptions=True
        )
        for process in self.processes:  # pods stopped earlier whose wait was interrupted
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    # bookkeeping -------------------------------------------------------------------------------------------
    def _next_rv(self) -> str:
        self._rv = next(self._version)
        return str(self._rv)

    def _admit_new(self, kind: Kind, body: dict[str, Any], namespace: str | None) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        meta = obj.setdefault("metadata", {})
        if namespace is not None:
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now_text()
        meta.pop("resourceVersion", None)
        if kind.kind == "Deployment":
            meta["generation"] = 1
            obj["status"] = {}
        elif kind.kind == "Namespace":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif kind.kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            digest = int(hashlib.sha1(meta["name"].encode()).hexdigest(), 16)
            spec["clusterIP"] = f"10.96.{digest % 250}.{(digest >> 8) % 250 + 2}"
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("sessionAffinity", "None")
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
        elif kind.kind == "Secret":
            obj.setdefault("type", "Opaque")
        return obj

    def _store(self, kind: Kind, obj: dict[str, Any], event: str = "ADDED") -> dict[str, Any]:
        meta = obj["metadata"]
        meta["resourceVersion"] = self._next_rv()
        self.objects[kind.plural][(meta.get("namespace", ""), meta["name"])] = obj
        self._emit(kind, event, obj)
        return obj

    def _remove(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects[kind.plural].pop((namespace, name), None)
        if obj is not None:
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._emit(kind, "DELETED", obj)
        return obj

    def _emit(self, kind: Kind, event: str, obj: dict[str, Any]) -> None:
        snapshot = copy.deepcopy(obj)
        rv = int(snapshot["metadata"]["resourceVersion"])
        self._events.append((rv, kind.plural, event, snapshot))
        if len(self._events) > EVENT_LOG_SIZE:
            dropped = self._events[: len(self._events) - EVENT_LOG_SIZE]
            self._oldest_rv = dropped[-1][0]
            del self._events[: len(dropped)]
        for watcher in self._watchers:
            if self._watched(watcher, kind, snapshot):
                watcher.queue.put_nowait({"type": event, "object": snapshot})

    @staticmethod
    def _watched(watcher: Watcher, kind: Kind, obj: dict[str, Any]) -> bool:
        if watcher.kind.plural != kind.plural:
            return False
        if watcher.namespace is not None and obj["metadata"].get("namespace") != watcher.namespace:
            return False
        return watcher.matches(_labels(obj))

    def expire_watches(self) -> None:
        """Forget the event log and end every watch with 410 Gone, as an API server does after compaction."""
        self._oldest_rv = self._rv
        self._events.clear()
        for watcher in self._watchers:
            gone = APIError(410, "Expired", "too old resource version")
            status = json.loads(gone.response().text or "{}")
            watcher.queue.put_nowait({"type": "ERROR", "object": status})
            watcher.queue.put_nowait(None)

    def _check_body(self, request: web.Request, body: Any) -> None:
        errors: list[str] = []
        for version in self.versions:
            errors += [f"[{version}] {e}" for e in schema_errors(body, version)]
        self.validated += 1
        if errors:
            self.rejected.append((request.method, request.path, errors))
            causes = [{"reason": "FieldValueInvalid", "message": e} for e in errors]
            kind = str(body.get("kind", "")) if isinstance(body, dict) else ""
            raise APIError(422, "Invalid", "; ".join(errors[:10]), details={"kind": kind, "causes": causes})

    async def _read_body(self, request: web.Request) -> dict[str, Any] | None:
        if not request.can_read_body:
            self.received.append((request.method, request.path, None))
            return None
        try:
            body = json.loads(await request.read())
        except ValueError as exc:
            raise APIError(400, "BadRequest", f"invalid JSON: {exc}") from exc
        self.received.append((request.method, request.path, body))
        if not isinstance(body, dict):
            raise APIError(400, "BadRequest", "body must be a JSON object")
        return body

    def _namespace_exists(self, namespace: str) -> None:
        ns = self.objects["namespaces"].get(("", namespace))
        if ns is None:
            raise APIError(
                404, "NotFound", f'namespaces "{namespace}" not found', details={"name": namespace}
            )

    # handlers ----------------------------------------------------------------------------------------------
    async def _version_info(self, request: web.Request) -> web.Response:
        major, minor = self.versions[-1].split(".")
        return _json({"major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0-pyfaas-test"})

    async def _namespaces(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, KINDS["namespaces"], None, None)

    async def _namespace(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, KINDS["namespaces"], None, request.match_info["name"])

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        return await self._guard(request, kind, request.match_info["ns"], None)

    async def _item(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        return await self._guard(request, kind, request.match_info["ns"], request.match_info["name"])

    def _kind(self, request: web.Request) -> Kind:
        plural = request.match_info["plural"]
        kind = KINDS.get(plural)
        prefix = request.path.split("/namespaces/")[0]
        if kind is None or prefix != (
            "/api/v1" if "/" not in kind.api_version else f"/apis/{kind.api_version}"
        ):
            raise web.HTTPNotFound(text=json.dumps({"kind": "Status", "code": 404, "reason": "NotFound"}))
        return kind

    async def _guard(
        self, request: web.Request, kind: Kind, namespace: str | None, name: str | None
    ) -> web.StreamResponse:
        try:
            return await self._dispatch(request, kind, namespace, name)
        except APIError as exc:
            return exc.response()

    async def _dispatch(
        self, request: web.Request, kind: Kind, namespace: str | None, name: str | None
    ) -> web.StreamResponse:
        method = request.method
        verb = {
            ("GET", True): "watch" if request.query.get("watch") in ("true", "1") else "list",
            ("GET", False): "get",
            ("POST", True): "create",
            ("PUT", False): "update",
            ("DELETE", False): "delete",
            ("PATCH", False): "patch",
        }.get((method, name is None), method.lower())
        if (verb, kind.plural) in self.forbidden:
            raise APIError(
                403, "Forbidden", f'{kind.plural} is forbidden: cannot {verb} resource "{kind.plural}"'
            )
        if name is None and method == "GET":
            if request.query.get("watch") in ("true", "1"):
                return await self._watch(request, kind, namespace)
            self.received.append((method, request.path, None))
            return self._list(request, kind, namespace)
        if name is None and method == "POST":
            return self._create(kind, namespace, await self._checked(request, kind, namespace, None))
        if name is not None and method == "GET":
            self.received.append((method, request.path, None))
            return _json(self._get(kind, namespace or "", name))
        if name is not None and method == "PUT":
            return self._replace(kind, namespace, name, await self._checked(request, kind, namespace, name))
        if name is not None and method == "DELETE":
            return await self._delete(request, kind, namespace or "", name)
        if name is not None and method == "PATCH":
            return await self._patch(request, kind, namespace, name)
        raise APIError(405, "MethodNotAllowed", f"{method} is not supported on {request.path}")

    async def _patch(
        self, request: web.Request, kind: Kind, namespace: str | None, name: str
    ) -> web.Response:
        """Server-side apply of a whole object (what the provider sends), and the JSON patch that turns its
        create's managedFields entry into an apply entry; this server keeps no managedFields, so that is a
        no-op. Other patch types are not supported."""
        content_type = request.headers.get("Content-Type", "")
        if content_type == "application/json-patch+json":
            body = json.loads(await request.read())
            self.received.append((request.method, request.path, None))  # ops, not an object body
            if not all(str(op.get("path", "")).startswith("/metadata/managedFields/") for op in body):
                raise APIError(415, "UnsupportedMediaType", "this test server patches only managedFields")
            return _json(self._get(kind, namespace or "", name))
        if content_type != "application/apply-patch+yaml":
            raise APIError(
                415, "UnsupportedMediaType", f"{content_type} is not supported by this test server"
            )
        if not request.query.get("fieldManager"):
            raise APIError(400, "BadRequest", "PATCH with apply requires a fieldManager")
        applied = await self._checked(request, kind, namespace, name)
        if (namespace or "", name) in self.objects[kind.plural]:
            return self._replace(kind, namespace, name, applied)
        if applied["metadata"].get("resourceVersion"):
            raise APIError(409, "Conflict", f'{kind.plural} "{name}": the object no longer exists')
        return self._create(kind, namespace, applied)

    async def _checked(
        self, request: web.Request, kind: Kind, namespace: str | None, name: str | None
    ) -> dict[str, Any]:
        body = await self._read_body(request)
        if body is None:
            raise APIError(400, "BadRequest", "a body is required")
        if not kind.writable:
            raise APIError(
                405, "MethodNotAllowed", f"{kind.plural} are written by controllers in this test server"
            )
        if body.get("kind") != kind.kind or body.get("apiVersion") != kind.api_version:
            raise APIError(
                400,
                "BadRequest",
                f"the body is a {body.get('apiVersion')}/{body.get('kind')}, "
                f"not a {kind.api_version}/{kind.kind}",
            )
        self._check_body(request, body)
        meta = body.get("metadata") or {}
        if not meta.get("name"):
            raise APIError(422, "Invalid", "metadata.name: Required value: name or generateName is required")
        if name is not None and meta["name"] != name:
            raise APIError(400, "BadRequest", "the name of the object does not match the name on the URL")
        if namespace is not None and meta.get("namespace") not in (None, namespace):
            raise APIError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        if namespace is not None:
            self._namespace_exists(namespace)
        return body

    def _get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        obj = self.objects[kind.plural].get((namespace, name))
        if obj is None:
            raise _not_found(kind, name)
        return obj

    def _selected(
        self, request: web.Request, kind: Kind, namespace: str | None
    ) -> Callable[[dict[str, str]], bool]:
        try:
            return parse_selector(request.query.get("labelSelector", ""))
        except ValueError as exc:
            raise APIError(400, "BadRequest", str(exc)) from exc

    def _list(self, request: web.Request, kind: Kind, namespace: str | None) -> web.Response:
        matches = self._selected(request, kind, namespace)
        if request.query.get("fieldSelector"):
            raise APIError(400, "BadRequest", "fieldSelector is not supported by this test server")
        items = []
        for (ns, _), obj in sorted(self.objects[kind.plural].items()):
            if (namespace is None or ns == namespace) and matches(_labels(obj)):
                item = copy.deepcopy(obj)
                item.pop("kind", None)
                item.pop("apiVersion", None)
                items.append(item)
        body = {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }
        return _json(body)

    async def _watch(self, request: web.Request, kind: Kind, namespace: str | None) -> web.StreamResponse:
        self.received.append(
            (
                request.method,
                f"{request.path}?watch&resourceVersion={request.query.get('resourceVersion', '')}",
                None,
            )
        )
        matches = self._selected(request, kind, namespace)
        since_text = request.query.get("resourceVersion", "")
        timeout = float(request.query.get("timeoutSeconds", "1800"))
        watcher = Watcher(kind, namespace, matches, asyncio.Queue())
        initial: list[dict[str, Any]] = []
        if since_text in ("", "0"):
            for (ns, _), obj in sorted(self.objects[kind.plural].items()):
                if (namespace is None or ns == namespace) and matches(_labels(obj)):
                    initial.append({"type": "ADDED", "object": copy.deepcopy(obj)})
        else:
            start = int(since_text)
            if start < self._oldest_rv:
                raise APIError(410, "Expired", f"too old resource version: {start} ({self._oldest_rv})")
            for rv, _plural, change, obj in self._events:
                if rv > start and self._watched(watcher, kind, obj):
                    initial.append({"type": change, "object": obj})
        self._watchers.append(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            await response.prepare(request)
            for event in initial:
                await response.write(json.dumps(event).encode() + b"\n")
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    pending = await asyncio.wait_for(watcher.queue.get(), timeout=left)
                except TimeoutError:
                    break
                if pending is None:
                    break
                await response.write(json.dumps(pending).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._watchers.remove(watcher)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    def _create(self, kind: Kind, namespace: str | None, body: dict[str, Any]) -> web.Response:
        name = body["metadata"]["name"]
        if (namespace or "", name) in self.objects[kind.plural]:
            raise APIError(
                409,
                "AlreadyExists",
                f'{kind.plural} "{name}" already exists',
                details={"name": name, "kind": kind.plural},
            )
        obj = self._store(kind, self._admit_new(kind, body, namespace))
        if kind.kind == "Secret":
            self._secrets_changed(namespace or "")
        if kind.kind == "Deployment":
            self._reconcile(namespace or "", name)
        elif kind.kind == "Service":
            self._sync_slices(namespace or "")
        return _json(obj, status=201)

    def _replace(self, kind: Kind, namespace: str | None, name: str, body: dict[str, Any]) -> web.Response:
        current = self._get(kind, namespace or "", name)
        meta = body["metadata"]
        wanted = meta.get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise APIError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind.plural} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
            )
        obj = copy.deepcopy(body)
        obj["metadata"] = {
            **meta,
            "namespace": current["metadata"].get("namespace"),
            "uid": current["metadata"]["uid"],
            "creationTimestamp": current["metadata"]["creationTimestamp"],
        }
        if obj["metadata"].get("namespace") is None:
            obj["metadata"].pop("namespace")
        for key in ("deletionTimestamp", "finalizers", "generation"):
            if key in current["metadata"]:
                obj["metadata"][key] = current["metadata"][key]
        if kind.kind == "Deployment":
            if obj["spec"].get("selector") != current["spec"].get("selector"):
                raise APIError(422, "Invalid", "spec.selector: Invalid value: field is immutable")
            if obj["spec"] != current["spec"]:
                obj["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            obj["status"] = current.get("status", {})
        elif kind.kind == "Service":
            for key in ("clusterIP", "clusterIPs"):
                obj["spec"].setdefault(key, current["spec"][key])
            if obj["spec"]["clusterIP"] != current["spec"]["clusterIP"]:
                raise APIError(422, "Invalid", "spec.clusterIP: Invalid value: field is immutable")
            obj["spec"].setdefault("sessionAffinity", "None")
        elif kind.kind == "Namespace":
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            obj["spec"], obj["status"] = current["spec"], current["status"]
        obj = self._store(kind, obj, "MODIFIED")
        if kind.kind == "Secret":
            self._secrets_changed(namespace or "")
        if kind.kind == "Deployment":
            self._reconcile(namespace or "", name)
        elif kind.kind == "Service":
            self._sync_slices(namespace or "")
        return _json(obj)

    async def _delete(self, request: web.Request, kind: Kind, namespace: str, name: str) -> web.Response:
        body = await self._read_body(request)
        policy = request.query.get("propagationPolicy")
        if body is not None:
            body = {"apiVersion": "v1", "kind": "DeleteOptions", **body}
            self._check_body(request, body)
            policy = body.get("propagationPolicy", policy)
        if policy not in (None, "Foreground", "Background", "Orphan"):
            raise APIError(400, "BadRequest", f"invalid propagationPolicy {policy!r}")
        if not kind.writable:
            raise APIError(
                405, "MethodNotAllowed", f"{kind.plural} are deleted by controllers in this test server"
            )
        current = self._get(kind, namespace, name)
        if current["metadata"].get("deletionTimestamp"):
            return _json(current)
        if kind.kind == "Deployment":
            if policy == "Foreground":
                obj = copy.deepcopy(current)
                obj["metadata"]["deletionTimestamp"] = _now_text()
                obj["metadata"]["finalizers"] = ["foregroundDeletion"]
                obj = self._store(kind, obj, "MODIFIED")
                self._reconcile(namespace, name)  # stops the pods, then removes the Deployment
                return _json(obj)
            removed = self._remove(kind, namespace, name)
            self._reconcile(namespace, name)
            return _json(removed)
        if kind.kind == "Namespace":
            for plural, objects in self.objects.items():
                for ns, item in [k for k in objects if k[0] == name]:
                    if plural == "deployments":
                        self._remove(KINDS[plural], ns, item)
                        self._reconcile(ns, item)
                    elif plural not in ("pods", "endpointslices"):
                        self._remove(KINDS[plural], ns, item)
            self._sync_slices(name)
            return _json(self._remove(kind, "", name))
        removed = self._remove(kind, namespace, name)
        if kind.kind == "Service":
            self._sync_slices(namespace)
        if kind.kind == "Secret":
            self._secrets_changed(namespace)
        return _json(removed)

    async def _scale(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        kind = KINDS["deployments"]
        try:
            if request.method == "GET":
                self.received.append(("GET", request.path, None))
                return _json(self._scale_body(self._get(kind, namespace, name)))
            if request.method != "PUT":
                raise APIError(
                    405, "MethodNotAllowed", f"{request.method} is not supported on {request.path}"
                )
            body = await self._read_body(request)
            if body is None or body.get("kind") != "Scale" or body.get("apiVersion") != "autoscaling/v1":
                raise APIError(400, "BadRequest", "the body must be an autoscaling/v1 Scale")
            self._check_body(request, body)
            meta = body.get("metadata") or {}
            if meta.get("name") != name or meta.get("namespace") not in (None, namespace):
                raise APIError(400, "BadRequest", "the name of the object does not match the name on the URL")
            current = self._get(kind, namespace, name)
            if (
                meta.get("resourceVersion")
                and meta["resourceVersion"] != current["metadata"]["resourceVersion"]
            ):
                raise APIError(409, "Conflict", f'Operation cannot be fulfilled on deployments.apps "{name}"')
            replicas = (body.get("spec") or {}).get("replicas", 0)
            obj = copy.deepcopy(current)
            if obj["spec"].get("replicas") != replicas:
                obj["spec"]["replicas"] = replicas
                obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            obj = self._store(kind, obj, "MODIFIED")
            self._reconcile(namespace, name)
            return _json(self._scale_body(obj))
        except APIError as exc:
            return exc.response()

    @staticmethod
    def _scale_body(deployment: dict[str, Any]) -> dict[str, Any]:
        meta = deployment["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": deployment["spec"].get("replicas", 0)},
            "status": {
                "replicas": deployment.get("status", {}).get("replicas", 0),
                "selector": ",".join(
                    f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
                ),
            },
        }

    # deployment controller ---------------------------------------------------------------------------------
    def _reconcile(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        self._dirty.setdefault(key, asyncio.Event()).set()
        task = self._controllers.get(key)
        if task is None or task.done():
            self._controllers[key] = asyncio.create_task(self._control(namespace, name))

    async def _control(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        dirty = self._dirty[key]
        while dirty.is_set():
            dirty.clear()
            try:
                await self._converge(namespace, name)
            except Exception:
                log.exception("deployment controller for %s/%s failed", namespace, name)
        self._controllers.pop(key, None)

    async def _converge(self, namespace: str, name: str) -> None:
        deployment = self.objects["deployments"].get((namespace, name))
        mine = [
            p
            for p in self.pods.values()
            if p.namespace == namespace and p.deployment == name and not p.stopping
        ]
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            await asyncio.gather(*(self._stop_pod(p) for p in mine))
            if deployment is not None:
                self._remove(KINDS["deployments"], namespace, name)
            return
        template = deployment["spec"]["template"]
        template_hash = hashlib.sha1(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        desired = int(deployment["spec"].get("replicas", 1))
        current = [p for p in mine if p.template_hash == template_hash]
        outdated = [p for p in mine if p.template_hash != template_hash]
        while len(current) < desired:
            current.append(self._start_pod(namespace, name, template_hash, template))
        surplus, current = current[desired:], current[:desired]
        await asyncio.gather(*(self._stop_pod(p) for p in surplus))
        self._update_status(namespace, name)
        if current:
            # maxUnavailable 0: old pods go once the new ones are ready (or gave up).
            deadline = time.monotonic() + READY_TIMEOUT
            while not all(p.ready or p.finished for p in current) and time.monotonic() < deadline:
                if self._dirty[(namespace, name)].is_set():
                    break
                await asyncio.sleep(0.02)
        if not self._dirty[(namespace, name)].is_set() or not current:
            await asyncio.gather(*(self._stop_pod(p) for p in outdated))
        self._update_status(namespace, name)

    def _update_status(self, namespace: str, name: str) -> None:
        deployment = self.objects["deployments"].get((namespace, name))
        if deployment is None:
            return
        template_hash = hashlib.sha1(
            json.dumps(deployment["spec"]["template"], sort_keys=True).encode()
        ).hexdigest()
        live = [
            p
            for p in self.pods.values()
            if p.namespace == namespace and p.deployment == name and not p.stopping
        ]
        ready = [p for p in live if p.ready]
        updated = [p for p in live if p.template_hash == template_hash[:10]]
        status = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": len(live),
            "updatedReplicas": len(updated),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "unavailableReplicas": max(0, int(deployment["spec"].get("replicas", 1)) - len(ready)),
        }
        status = {k: v for k, v in status.items() if v}
        if deployment.get("status") != status:
            obj = copy.deepcopy(deployment)
            obj["status"] = status
            self._store(KINDS["deployments"], obj, "MODIFIED")

    # pods --------------------------------------------------------------------------------------------------
    def _pod_object(self, pod: PodRecord, template: dict[str, Any] | None = None) -> dict[str, Any]:
        existing = self.objects["pods"].get((pod.namespace, pod.name))
        if existing is not None:
            obj = copy.deepcopy(existing)
        else:
            assert template is not None
            obj = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod.name,
                    "namespace": pod.namespace,
                    "labels": {
                        **template["metadata"].get("labels", {}),
                        "pod-template-hash": pod.template_hash,
                    },
                    "annotations": dict(template["metadata"].get("annotations", {})),
                    "uid": str(uuid.uuid4()),
                    "creationTimestamp": _now_text(),
                },
                "spec": {**copy.deepcopy(template["spec"]), "nodeName": "pyfaas-test-node"},
                "status": {},
            }
        ready = "True" if pod.ready else "False"
        obj["status"] = {
            "phase": "Succeeded" if pod.finished else ("Running" if pod.port else "Pending"),
            "podIP": pod.ip,
            "podIPs": [{"ip": pod.ip}],
            "hostIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": ready}, {"type": "ContainersReady", "status": ready}],
            "containerStatuses": [
                {
                    "name": pod.container["name"],
                    "image": pod.container.get("image", ""),
                    "imageID": "",
                    "ready": pod.ready,
                    "restartCount": pod.restarts,
                    "started": pod.port is not None,
                }
            ],
        }
        if pod.stopping:
            obj["metadata"]["deletionTimestamp"] = obj["metadata"].get("deletionTimestamp") or _now_text()
        return obj

    def _publish_pod(self, pod: PodRecord, template: dict[str, Any] | None = None) -> None:
        obj = self._pod_object(pod, template)
        errors = [e for v in self.versions for e in schema_errors(obj, v)]
        assert not errors, f"the test server generated an invalid Pod: {errors}"
        existed = (pod.namespace, pod.name) in self.objects["pods"]
        self._store(KINDS["pods"], obj, "MODIFIED" if existed else "ADDED")
        self._sync_slices(pod.namespace)

    def _start_pod(
        self, namespace: str, name: str, template_hash: str, template: dict[str, Any]
    ) -> PodRecord:
        pod_name = f"{name}-{template_hash[:8]}-{next(self._pod_ids):05d}"
        workdir = self.workdir / "pods" / namespace / pod_name
        workdir.mkdir(parents=True, exist_ok=True)
        container = copy.deepcopy(template["spec"]["containers"][0])
        pod = PodRecord(namespace, pod_name, name, template_hash, container, workdir)
        self.pods[(namespace, pod_name)] = pod
        self._publish_pod(pod, template)
        if self.run_pods:
            pod.tasks.append(asyncio.create_task(self._run_pod(pod)))
        else:
            # Nothing listens: give each pod its own cluster-style IP with the container port, as a CNI would.
            serial = int(pod_name.rsplit("-", 1)[1])
            pod.ip = f"10.244.{serial // 250}.{serial % 250 + 2}"
            pod.port = int(container["ports"][0]["containerPort"])
            pod.ready = True
            self._publish_pod(pod)
        return pod

    def _pod_env(self, pod: PodRecord) -> dict[str, str]:
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL") if k in os.environ}
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["TMPDIR"] = str(pod.workdir)
        # After SIGTERM the watchdog serves on for healthcheck_interval (default: write_timeout) so that the
        # endpoint removal reaches every client first, as in a cluster; a short grace keeps tests fast.
        env["healthcheck_interval"] = POD_TERMINATION_GRACE
        env["metrics_port"] = "0"
        for item in pod.container.get("env") or []:
            env[item["name"]] = item.get("value", "")
        # The projected secrets volume is materialised in the pod directory (no root, no real mount here);
        # functions find it through secret_mount_path, as in local mode.
        for mount in pod.container.get("volumeMounts") or []:
            if mount["name"] in self._projected(pod):
                env.setdefault("secret_mount_path", str(pod.workdir / "volumes" / mount["name"]))
        env.update(
            {"port": "0", "port_file": str(pod.workdir / "port"), "lock_path": str(pod.workdir / ".lock")}
        )
        return env

    def _projected(self, pod: PodRecord) -> dict[str, list[str]]:
        """Projected volumes of the pod: volume name → secret names."""
        pod_obj = self.objects["pods"].get((pod.namespace, pod.name)) or {}
        volumes = (pod_obj.get("spec") or {}).get("volumes") or []
        return {
            v["name"]: [
                src["secret"]["name"] for src in v["projected"].get("sources") or [] if "secret" in src
            ]
            for v in volumes
            if "projected" in v
        }

    def _project_secrets(self, pod: PodRecord) -> None:
        """Write every key of every projected secret as a file, as the kubelet does (here: at once)."""
        for volume, secrets in self._projected(pod).items():
            directory = pod.workdir / "volumes" / volume
            directory.mkdir(parents=True, exist_ok=True)
            wanted: dict[str, bytes] = {}
            for name in secrets:
                secret = self.objects["secrets"].get((pod.namespace, name))
                for key, value in ((secret or {}).get("data") or {}).items():
                    wanted[key] = base64.b64decode(value)
            for stale in directory.iterdir():
                if stale.name not in wanted:
                    stale.unlink()
            for key, data in wanted.items():
                temporary = directory / f".{key}.tmp"
                temporary.write_bytes(data)
                temporary.chmod(0o600)
                temporary.replace(directory / key)

    async def _run_pod(self, pod: PodRecord) -> None:
        self._project_secrets(pod)
        while not pod.stopping:
            port_file = pod.workdir / "port"
            port_file.unlink(missing_ok=True)
            pod.process = await asyncio.create_subprocess_exec(
                self.python,
                "-m",
                "pyfaas.watchdog",
                cwd=pod.workdir,
                env=self._pod_env(pod),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes.append(pod.process)
            reader = asyncio.create_task(self._read_output(pod, pod.process))
            await self._probe_until_ready(pod, port_file)
            await pod.process.wait()
            await reader
            if pod.stopping:
                break
            # The container exited on its own: not ready, restarted in place (restartPolicy Always).
            pod.ready, pod.port = False, None
            pod.restarts += 1
            self._publish_pod(pod)
            self._update_status(pod.namespace, pod.deployment)
            await asyncio.sleep(min(2.0, 0.1 * 2**pod.restarts))
        pod.finished = True

    async def _read_output(self, pod: PodRecord, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            pod.lines.append((time.time(), raw.decode(errors="replace").rstrip("\n")))
            async with pod.changed:
                pod.changed.notify_all()

    async def _probe_until_ready(self, pod: PodRecord, port_file: Path) -> None:
        assert pod.process is not None and self._http is not None
        probe = (pod.container.get("readinessProbe") or {}).get("httpGet") or {}
        path = probe.get("path", "/_/health")
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and pod.process.returncode is None and not pod.stopping:
            if pod.port is None and port_file.is_file():  # noqa: ASYNC240 - a few bytes on a local disk
                text = port_file.read_text().strip()  # noqa: ASYNC240
                if text.isdigit():
                    pod.port = int(text)
                    self._publish_pod(pod)
            if pod.port is not None:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with self._http.get(f"http://127.0.0.1:{pod.port}{path}") as response:
                        if response.status == 200:
                            pod.ready = True
                            self._publish_pod(pod)
                            self._update_status(pod.namespace, pod.deployment)
                            return
            await asyncio.sleep(0.02)

    async def _stop_pod(self, pod: PodRecord) -> None:
        if pod.stopping:
            return
        pod.stopping, pod.ready = True, False
        self._publish_pod(pod)  # endpoint terminating first, then the signal
        self._update_status(pod.namespace, pod.deployment)
        process = pod.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)
            except TimeoutError:
                await self._kill_pod(pod)
        for task in pod.tasks:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, timeout=STOP_TIMEOUT)
        pod.finished = True
        async with pod.changed:
            pod.changed.notify_all()
        self.pods.pop((pod.namespace, pod.name), None)
        self._remove(KINDS["pods"], pod.namespace, pod.name)
        self._sync_slices(pod.namespace)

    async def _kill_pod(self, pod: PodRecord) -> None:
        pod.stopping = True
        process = pod.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)
        for task in pod.tasks:
            task.cancel()

    def _secrets_changed(self, namespace: str) -> None:
        if self.run_pods:
            for pod in list(self.pods.values()):
                if pod.namespace == namespace and not pod.stopping:
                    self._project_secrets(pod)

    # EndpointSlice controller ------------------------------------------------------------------------------
    def _sync_slices(self, namespace: str) -> None:
        wanted: dict[str, dict[str, Any]] = {}
        for (ns, service_name), service in self.objects["services"].items():
            if ns != namespace or not (service.get("spec") or {}).get("selector"):
                continue
            selector = service["spec"]["selector"]
            port_spec = (service["spec"].get("ports") or [{}])[0]
            groups: dict[int, list[dict[str, Any]]] = {}
            for pod in sorted(self.pods.values(), key=lambda p: p.name):
                pod_obj = self.objects["pods"].get((pod.namespace, pod.name))
                if pod.namespace != namespace or pod.port is None or pod_obj is None or pod.finished:
                    continue
                if any(_labels(pod_obj).get(k) != v for k, v in selector.items()):
                    continue
                groups.setdefault(pod.port, []).append(
                    {
                        "addresses": [pod.ip],
                        "conditions": {
                            "ready": pod.ready and not pod.stopping,
                            "serving": pod.ready,
                            "terminating": pod.stopping,
                        },
                        "targetRef": {
                            "kind": "Pod",
                            "namespace": namespace,
                            "name": pod.name,
                            "uid": pod_obj["metadata"]["uid"],
                        },
                        "nodeName": "pyfaas-test-node",
                    }
                )
            labels = {
                **_labels(service),
                "kubernetes.io/service-name": service_name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            }
            owner = {
                "apiVersion": "v1",
                "kind": "Service",
                "name": service_name,
                "uid": service["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
            if not groups:
                groups = {0: []}  # the controller keeps one placeholder slice for a Service without endpoints
            for port, endpoints in groups.items():
                slice_name = f"{service_name}-{'none' if port == 0 else port}"
                body: dict[str, Any] = {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": slice_name,
                        "namespace": namespace,
                        "labels": labels,
                        "ownerReferences": [owner],
                    },
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                    "ports": []
                    if port == 0
                    else [{"name": port_spec.get("name", ""), "protocol": "TCP", "port": port}],
                }
                wanted[slice_name] = body
        slices = KINDS["endpointslices"]
        for ns, slice_name in [k for k in self.objects["endpointslices"] if k[0] == namespace]:
            if slice_name not in wanted:
                self._remove(slices, ns, slice_name)
        for slice_name, body in wanted.items():
            errors = [e for v in self.versions for e in schema_errors(body, v)]
            assert not errors, f"the test server generated an invalid EndpointSlice: {errors}"
            existing = self.objects["endpointslices"].get((namespace, slice_name))
            if existing is None:
                body["metadata"]["uid"] = str(uuid.uuid4())
                body["metadata"]["creationTimestamp"] = _now_text()
                self._store(slices, body)
                continue
            comparable = {**existing, "metadata": {**existing["metadata"]}}
            for key in ("uid", "creationTimestamp", "resourceVersion"):
                body["metadata"][key] = existing["metadata"][key]
            comparable["metadata"]["resourceVersion"] = body["metadata"]["resourceVersion"]
            if comparable != body:
                self._store(slices, body, "MODIFIED")

    # logs --------------------------------------------------------------------------------------------------
    async def _pod_log(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["ns"], request.match_info["name"]
        self.received.append(("GET", request.path, None))
        try:
            self._get(KINDS["pods"], namespace, name)
            pod = self.pods.get((namespace, name))
            if pod is None:
                raise _not_found(KINDS["pods"], name)
            container = request.query.get("container", pod.container["name"])
            if container != pod.container["name"]:
                raise APIError(400, "BadRequest", f"container {container} is not valid for pod {name}")
            tail = int(request.query["tailLines"]) if "tailLines" in request.query else None
            since = int(request.query["sinceSeconds"]) if "sinceSeconds" in request.query else None
        except APIError as exc:
            return exc.response()
        except ValueError:
            return APIError(400, "BadRequest", "tailLines and sinceSeconds must be integers").response()
        stamps = request.query.get("timestamps") in ("true", "1")
        follow = request.query.get("follow") in ("true", "1")
        lines = [line for line in pod.lines if since is None or line[0] >= time.time() - since]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)

        def render(line: tuple[float, str]) -> bytes:
            return ((f"{_nano_stamp(line[0])} " if stamps else "") + line[1] + "\n").encode()

        try:
            for line in lines:
                await response.write(render(line))
            sent = len(pod.lines)
            while follow and not pod.finished:
                async with pod.changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(pod.changed.wait(), timeout=1.0)
                for line in pod.lines[sent:]:
                    await response.write(render(line))
                sent = len(pod.lines)
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response


@asynccontextmanager
async def kube_api_server(workdir: Path, **options: Any) -> AsyncIterator[KubeAPIServer]:
    """Run a :class:`KubeAPIServer` on a loopback port; every pod process is killed on exit."""
    server = KubeAPIServer(workdir, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
