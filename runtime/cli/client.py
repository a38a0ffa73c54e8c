"""A synchronous client of the OpenFaaS gateway API (any OpenFaaS-compatible gateway, pyfaas or not).

Every failure becomes a :class:`CliError` whose one line says what went wrong and what to do: connection
refused → "is it running? (pyfaas up)", 401 → ``pyfaas login``, 404 → the missing function/secret, other
statuses → the gateway's own message (the ``error`` of pyfaas's JSON bodies, or the first line of text).
The pydantic wire models are imported by the methods that parse them (start-up time, see ``__main__``).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from pyfaas.cli.errors import CliError

if TYPE_CHECKING:
    from pyfaas.core.models import FunctionDeployment, LogMessage, Secret

__all__ = ["LOCAL_PROVIDER", "DeployResult", "GatewayClient", "InvokeResult"]

LOCAL_PROVIDER = "pyfaas-local"
"""``provider.provider`` of ``/system/info`` on a pyfaas gateway in local mode."""


@dataclass(frozen=True, slots=True)
class DeployResult:
    name: str
    status: int
    method: str
    """``PUT`` (updated) or ``POST`` (created)."""


@dataclass(frozen=True, slots=True)
class InvokeResult:
    status: int
    headers: httpx.Headers
    body: bytes


def _message(response: httpx.Response) -> str:
    """The gateway's explanation: pyfaas's ``{"error": ...}``, else the first line of the text body."""
    return body_message(response.content) or response.reason_phrase or f"HTTP {response.status_code}"


def body_message(content: bytes, *, with_field: bool = True) -> str:
    """An error body's explanation: the ``error`` of a JSON body (with its field, unless ``with_field`` is
    false: a 404's field only says where the missing name came from), else its first line."""
    text = content.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(error := body.get("error"), str):
        field = body.get("field")
        return f"{error} (field {field})" if with_field and isinstance(field, str) and field else error
    first = text.splitlines()[0] if text else ""
    return first[:300]


class GatewayClient:
    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        verify: bool = True,
        timeout: float = 60.0,
        user_agent: str = "pyfaas-cli",
    ) -> None:
        self.url = url
        self.authenticated = auth is not None
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=url,
            auth=auth,
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # transport --------------------------------------------------------------------------------------
    def _transport_error(self, exc: Exception) -> CliError:
        if isinstance(exc, httpx.ConnectError):
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ssl.SSLError) or "SSL" in str(exc) or "certificate" in str(exc):
                return CliError(
                    f"TLS handshake with {self.url} failed: {exc}",
                    hint="check the certificate, or pass --tls-no-verify",
                )
            return CliError(f"cannot reach gateway at {self.url}", hint="is it running? (pyfaas up)")
        if isinstance(exc, httpx.TimeoutException):
            return CliError(
                f"gateway at {self.url} did not answer within {self._timeout:g}s",
                hint="is it overloaded or stuck? check its logs",
            )
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return CliError(f"invalid gateway URL {self.url!r}: {exc}", hint="pass -g http://HOST:PORT")
        return CliError(
            f"request to {self.url} failed: {exc or type(exc).__name__}", hint="is the URL right?"
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        anonymous: bool = False,
    ) -> httpx.Response:
        """One request; transport failures become CliError, HTTP statuses are left to the caller.
        ``anonymous``: without the saved gateway credentials (function calls: they are not the function's)."""
        query = tuple(params.items()) if isinstance(params, Mapping) else tuple(params or ())
        extra: dict[str, Any] = {}
        if anonymous:
            extra["auth"] = None
        if timeout is not None:
            extra["timeout"] = httpx.Timeout(timeout, connect=10.0)
        try:
            return self._http.request(
                method, path, params=query or None, json=json_body, content=content, headers=headers, **extra
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc

    def fail(self, response: httpx.Response, *, what: str, not_found_hint: str = "") -> CliError:
        """The CliError for an unexpected status of ``what`` (e.g. "deploy echo")."""
        status = response.status_code
        if status == 401:
            if self.authenticated:
                return CliError(
                    f"{what}: the gateway at {self.url} rejected the saved credentials (401)",
                    hint=f"log in again: pyfaas login -g {self.url} --password-stdin",
                )
            return CliError(
                f"{what}: the gateway at {self.url} needs credentials (401)",
                hint=f"pyfaas login -g {self.url} --password-stdin",
            )
        if status == 404 and not_found_hint:
            return CliError(f"{what}: {_message(response)}", hint=not_found_hint)
        hints = {
            400: "check the values sent",
            403: "the credentials lack permission",
            409: "it already exists",
            413: "the request body is too large for the gateway",
            429: "the function is busy: retry later",
            502: "the gateway's provider failed: check the gateway logs",
            503: "not ready yet: retry in a moment",
            504: "the function timed out",
        }
        return CliError(f"{what}: HTTP {status}: {_message(response)}", hint=hints.get(status, ""))

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise CliError(
                f"{what}: the gateway at {self.url} answered {response.status_code} with non-JSON content",
                hint="is this an OpenFaaS gateway URL?",
            ) from exc

    # system -----------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        response = self.send("GET", "/system/info")
        if response.status_code != 200:
            raise self.fail(response, what="gateway info")
        data = self._json(response, "gateway info")
        return data if isinstance(data, dict) else {}

    def is_local(self) -> bool:
        """True for a pyfaas local-mode gateway; a gateway without ``/system/info`` is not one."""
        response = self.send("GET", "/system/info")
        if response.status_code == 401:
            raise self.fail(response, what="gateway info")
        if response.status_code != 200:
            return False
        try:
            provider = response.json().get("provider")
        except (ValueError, AttributeError):
            return False
        return isinstance(provider, dict) and provider.get("provider") == LOCAL_PROVIDER

    def namespaces(self) -> list[str]:
        response = self.send("GET", "/system/namespaces")
        if response.status_code != 200:
            raise self.fail(response, what="list namespaces")
        data = self._json(response, "list namespaces")
        return [str(item) for item in data] if isinstance(data, list) else []

    # functions --------------------------------------------------------------------------------------
    @staticmethod
    def _ns(namespace: str) -> dict[str, str]:
        return {"namespace": namespace} if namespace else {}

    def list_functions_raw(self, namespace: str = "") -> list[dict[str, Any]]:
        response = self.send("GET", "/system/functions", params=self._ns(namespace))
        if response.status_code != 200:
            raise self.fail(response, what="list functions", not_found_hint="check -n/--namespace")
        data = self._json(response, "list functions")
        if not isinstance(data, list):
            raise CliError(
                f"list functions: unexpected answer from {self.url}", hint="is it an OpenFaaS gateway?"
            )
        return [item for item in data if isinstance(item, dict)]

    def get_function_raw(self, name: str, namespace: str = "") -> dict[str, Any]:
        response = self.send("GET", f"/system/function/{name}", params=self._ns(namespace))
        if response.status_code == 404:
            where = f" in namespace {namespace!r}" if namespace else ""
            raise CliError(f"function {name!r} not found{where}", hint="see pyfaas list")
        if response.status_code != 200:
            raise self.fail(response, what=f"describe {name}")
        data = self._json(response, f"describe {name}")
        return data if isinstance(data, dict) else {}

    def deploy(self, spec: FunctionDeployment, *, update: bool = True) -> DeployResult:
        """faas-cli's deploy: PUT (rolling update) first, POST (create) when the PUT answers 404."""
        body = spec.wire()
        what = f"deploy {spec.service}"
        if update:
            response = self.send("PUT", "/system/functions", json_body=body)
            if response.status_code in (200, 201, 202):
                return DeployResult(spec.service, response.status_code, "PUT")
            if response.status_code != 404:
                raise self.fail(response, what=what)
        response = self.send("POST", "/system/functions", json_body=body)
        if response.status_code in (200, 201, 202):
            return DeployResult(spec.service, response.status_code, "POST")
        raise self.fail(response, what=what)

    def _change(
        self, method: str, path: str, body: dict[str, Any], namespace: str, *, what: str, missing: CliError
    ) -> httpx.Response:
        """A change to a named object: the namespace goes in the body and in the query (faas-netes reads it
        only there); 404 raises ``missing``, another non-2xx status the error for ``what``."""
        if namespace:
            body["namespace"] = namespace
        response = self.send(method, path, json_body=body, params=self._ns(namespace))
        if response.status_code == 404:
            raise missing
        if response.status_code not in (200, 202, 204):
            raise self.fail(response, what=what)
        return response

    def delete(self, name: str, namespace: str = "") -> None:
        self._change(
            "DELETE",
            "/system/functions",
            {"functionName": name},
            namespace,
            what=f"remove {name}",
            missing=_function_not_found(name),
        )

    def scale(self, name: str, replicas: int, namespace: str = "") -> httpx.Response:
        return self._change(
            "POST",
            f"/system/scale-function/{name}",
            {"serviceName": name, "replicas": replicas},
            namespace,
            what=f"scale {name}",
            missing=_function_not_found(name),
        )

    # invocation -------------------------------------------------------------------------------------
    def invoke(
        self,
        name: str,
        body: bytes,
        *,
        namespace: str = "",
        asynchronous: bool = False,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        query: Sequence[tuple[str, str]] = (),
        timeout: float | None = None,
    ) -> InvokeResult:
        target = f"{name}.{namespace}" if namespace else name
        path = f"/async-function/{target}" if asynchronous else f"/function/{target}"
        response = self.send(
            "POST" if asynchronous else method,
            path,
            content=body,
            headers=headers,
            params=list(query) or None,
            timeout=timeout,
            anonymous=True,
        )
        return InvokeResult(response.status_code, response.headers, response.content)

    # logs -------------------------------------------------------------------------------------------
    def logs(
        self, name: str, *, namespace: str = "", follow: bool, tail: int | None, since: str | None
    ) -> Iterator[LogMessage]:
        from pyfaas.core.models import LogMessage

        params = {"name": name, "follow": "true" if follow else "false", **self._ns(namespace)}
        if tail is not None:
            params["tail"] = str(tail)
        if since:
            params["since"] = since
        timeout = httpx.Timeout(self._timeout, connect=10.0, read=None if follow else self._timeout)
        try:
            with self._http.stream("GET", "/system/logs", params=params, timeout=timeout) as response:
                if response.status_code == 404:
                    response.read()
                    raise CliError(
                        f"function {name!r} not found: {_message(response)}", hint="see pyfaas list"
                    )
                if response.status_code != 200:
                    response.read()
                    raise self.fail(response, what=f"logs of {name}")
                for line in response.iter_lines():
                    if line.strip():
                        try:
                            yield LogMessage.model_validate_json(line)
                        except ValueError:
                            continue
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
                return  # the gateway ended a followed stream (at its write_timeout)
            raise self._transport_error(exc) from exc

    # secrets ----------------------------------------------------------------------------------------
    def list_secrets(self, namespace: str = "") -> list[Secret]:
        from pyfaas.core.models import Secret

        response = self.send("GET", "/system/secrets", params=self._ns(namespace))
        if response.status_code != 200:
            raise self.fail(
                response, what="list secrets", not_found_hint="does the provider support secrets?"
            )
        data = self._json(response, "list secrets")
        return [Secret.model_validate(item) for item in data] if isinstance(data, list) else []

    def write_secret(self, secret: Secret, *, update: bool) -> None:
        verb = "update" if update else "create"
        response = self.send(
            "PUT" if update else "POST",
            "/system/secrets",
            json_body=secret.wire(),
            params=self._ns(secret.namespace or ""),
        )
        if update and response.status_code == 404:
            raise CliError(
                f"secret {secret.name!r} not found", hint=f"create it: pyfaas secret create {secret.name}"
            )
        if not update and response.status_code == 409:
            raise CliError(
                f"secret {secret.name!r} already exists",
                hint=f"change it: pyfaas secret update {secret.name}",
            )
        if response.status_code not in (200, 201, 202, 204):
            raise self.fail(response, what=f"{verb} secret {secret.name}")

    def delete_secret(self, name: str, namespace: str = "") -> None:
        self._change(
            "DELETE",
            "/system/secrets",
            {"name": name},
            namespace,
            what=f"remove secret {name}",
            missing=CliError(f"secret {name!r} not found", hint="see pyfaas secret list"),
        )

    # async (pyfaas extension) -----------------------------------------------------------------------
    def _async_get(self, path: str, what: str, params: Mapping[str, str] | None = None) -> Any:
        response = self.send("GET", path, params=params)
        if response.status_code == 404:
            if _no_route(response):
                raise CliError(f"{what}: the gateway at {self.url} has no async API", hint=_NO_ASYNC_HINT)
            raise CliError(f"{what}: {_message(response)}", hint="check the call id (records expire)")
        if response.status_code != 200:
            raise self.fail(response, what=what)
        return self._json(response, what)

    def call_status(self, call_id: str) -> dict[str, Any]:
        data = self._async_get(f"/system/async/{call_id}", f"async call {call_id}")
        return data if isinstance(data, dict) else {}

    def dead_letters(self, function: str = "", limit: int = 100) -> dict[str, Any]:
        params = {"limit": str(limit), **({"function": function} if function else {})}
        data = self._async_get("/system/async/dead-letters", "dead letters", params)
        return data if isinstance(data, dict) else {}

    def redrive(self, call_id: str) -> dict[str, Any]:
        response = self.send("POST", f"/system/async/dead-letters/{call_id}/redrive")
        if response.status_code == 404:
            if _no_route(response):
                raise CliError(
                    f"redrive {call_id}: the gateway at {self.url} has no async API", hint=_NO_ASYNC_HINT
                )
            raise CliError(f"redrive {call_id}: {_message(response)}", hint="see pyfaas async dead-letters")
        if response.status_code not in (200, 202):
            raise self.fail(response, what=f"redrive {call_id}")
        data = self._json(response, f"redrive {call_id}")
        return data if isinstance(data, dict) else {}


def _function_not_found(name: str) -> CliError:
    return CliError(f"function {name!r} not found", hint="see pyfaas list")


_NO_ASYNC_HINT = "async calls need a pyfaas gateway with NATS (pyfaas up starts both)"


def _no_route(response: httpx.Response) -> bool:
    """A 404 for the route itself (the gateway has no such API), not for a missing record."""
    try:
        body = response.json()
    except ValueError:
        return True  # aiohttp's and OpenFaaS's plain "404 page not found"
    return not isinstance(body, dict) or str(body.get("error", "")).startswith("no route")
