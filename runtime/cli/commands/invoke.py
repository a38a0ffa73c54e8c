"""``invoke``: call a function with stdin as the body, synchronously or through the async queue."""

from __future__ import annotations

import hashlib
import hmac

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import gateway_client, read_stdin
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import gateway_options, json_option, namespace_option, parse_pairs, stack_option

__all__ = ["invoke"]

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@click.command()
@click.argument("name")
@gateway_options
@namespace_option
@stack_option
@click.option("-a", "--async", "asynchronous", is_flag=True, help="Queue the call (/async-function/NAME).")
@click.option(
    "-H", "--header", "headers", multiple=True, metavar="K=V", help="Request header, K=V or 'K: V'."
)
@click.option("--query", "query", multiple=True, metavar="K=V", help="Query string parameter (repeatable).")
@click.option(
    "-m", "--method", default="POST", show_default=True, help="HTTP method (async calls are always POST)."
)
@click.option("--content-type", default="text/plain", show_default=True, help="Content-Type of the body.")
@click.option("--callback-url", default="", metavar="URL", help="With --async: where the result is POSTed.")
@click.option(
    "--sign", default="", metavar="HEADER", help="Add an HMAC-SHA256 of the body in this header (with --key)."
)
@click.option("--key", default="", metavar="SECRET", help="The HMAC key for --sign.")
@click.option(
    "--function-key",
    default="",
    metavar="KEY",
    help="API key or token of a private function (sent as Authorization: Bearer; env PYFAAS_FUNCTION_KEY).",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=None, help="Seconds to wait for the answer."
)
@json_option
@pass_context
def invoke(
    context: CliContext,
    name: str,
    gateway: str | None,
    tls_no_verify: bool,
    namespace: str,
    stack_file: str | None,
    asynchronous: bool,
    headers: tuple[str, ...],
    query: tuple[str, ...],
    method: str,
    content_type: str,
    callback_url: str,
    sign: str,
    key: str,
    function_key: str,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Invoke a function; the request body is read from stdin, the answer written to stdout."""
    method = method.upper()
    if method not in _METHODS:
        raise CliError(f"--method {method!r} is not supported", hint=f"use one of {', '.join(_METHODS)}")
    if asynchronous and method != "POST":
        raise CliError("async calls are always POST", hint="drop --method, or drop --async")
    if bool(sign) != bool(key):
        raise CliError("--sign and --key go together", hint="e.g. --sign X-Hub-Signature --key SECRET")
    request_headers = {"Content-Type": content_type, **parse_pairs(headers, "--header", separators="=:")}
    function_key = function_key or context.environ.get("PYFAAS_FUNCTION_KEY", "")
    if function_key:
        request_headers["Authorization"] = f"Bearer {function_key.strip()}"
    if callback_url:
        if not asynchronous:
            raise CliError("--callback-url needs --async")
        request_headers["X-Callback-Url"] = callback_url
    params = [(k, v) for k, v in parse_pairs(query, "--query").items()]
    body = b"" if method in ("GET", "HEAD") and context.stdin.isatty() else read_stdin(context)
    if sign:
        digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        request_headers[sign] = f"sha256={digest}"
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        result = client.invoke(
            name,
            body,
            namespace=namespace,
            asynchronous=asynchronous,
            method=method,
            headers=request_headers,
            query=params,
            timeout=timeout,
        )
        url = client.url
    out = context.output
    if asynchronous:
        if result.status != 202:
            raise _call_error(name, result.status, result.body, url, asynchronous=True)
        call_id = result.headers.get("X-Call-Id", "")
        if as_json:
            out.json({"status": result.status, "callId": call_id})
            return
        out.note(
            "Function submitted asynchronously."
            + (f" Follow it with: pyfaas async status {call_id}" if call_id else "")
        )
        if call_id:
            out.line(call_id)
        return
    if as_json:
        out.json(
            {
                "status": result.status,
                "headers": dict(result.headers),
                "body": result.body.decode("utf-8", errors="replace"),
            }
        )
        if result.status >= 400:
            raise click.exceptions.Exit(1)
        return
    if result.status >= 400:
        raise _call_error(name, result.status, result.body, url, asynchronous=False)
    out.raw(result.body)


def _call_error(name: str, status: int, body: bytes, url: str, *, asynchronous: bool) -> CliError:
    from pyfaas.cli.client import body_message

    first = body_message(body, with_field=status != 404)
    detail = f": {first}" if first else ""
    if status == 401:
        return CliError(
            f"{name}: the gateway answered 401{detail}", hint=f"pyfaas login -g {url} --password-stdin"
        )
    if status == 404:
        if asynchronous and first.startswith("no route"):
            return CliError(
                f"the gateway at {url} has no async API (404)", hint="async needs NATS: pyfaas up"
            )
        return CliError(first or f"function {name!r} not found (404)", hint="see pyfaas list")
    hints = {
        429: "the function is at its concurrency limit: retry later",
        502: "the function's replica failed: see pyfaas logs " + name,
        503: f"no ready replica: see pyfaas describe {name} and pyfaas logs {name}",
        504: "the call timed out: raise the function's timeout (com.openfaas.timeout) or use --async",
    }
    return CliError(f"{name} answered {status}{detail}", hint=hints.get(status, f"see pyfaas logs {name}"))
