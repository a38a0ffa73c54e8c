"""Private functions (com.pyfaas.private) through the real gateway and local provider: API keys and tokens,
401/403, the credential never reaching the function, key revocation and signing-key rotation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import jwt
import pytest

from pyfaas.core.replica_key import REPLICA_KEY_HEADER
from pyfaas.gateway.invocation.credentials import CredentialStore
from pyfaas.provider.local import sandbox
from tests.support.gateway import running_gateway, wait_available

pytestmark = pytest.mark.timeout(120)

HEADERS = """
import json

def handle(event, context):
    return {"statusCode": 200, "body": json.dumps(dict(event.headers))}
"""


def _spec(name: str, handler: Path, private: bool) -> dict[str, object]:
    notes = {"com.pyfaas.private": "true"} if private else {}
    return {
        "service": name,
        "image": "local",
        "envVars": {"mode": "python", "handler": str(handler)},
        "annotations": notes,
    }


async def test_private_function_needs_its_own_key_or_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler = tmp_path / "fn"
    handler.mkdir()
    (handler / "handler.py").write_text(HEADERS)
    caplog.set_level(logging.DEBUG)
    async with running_gateway(tmp_path / "state", auth=True) as gw, gw.session() as admin:
        for name, private in (("secret-fn", True), ("other-fn", True), ("open-fn", False)):
            async with admin.post("/system/functions", json=_spec(name, handler, private)) as r:
                assert r.status == 202, await r.text()
            await wait_available(admin, name, 1)

        async with aiohttp.ClientSession(gw.url) as anyone:
            # public: as before, no credential needed, Authorization passes through untouched
            async with anyone.post("/function/open-fn", headers={"Authorization": "Bearer mine"}) as r:
                assert r.status == 200
                assert json.loads(await r.text())["Authorization"] == "Bearer mine"
            # private without / with a wrong credential: 401 with a Bearer challenge
            for headers in ({}, {"Authorization": "Bearer pfk.nope.nope"}, {"Authorization": "Basic eDp5"}):
                for path in ("/function/secret-fn", "/function/secret-fn/sub", "/async-function/secret-fn"):
                    async with anyone.post(path, headers=headers) as r:
                        assert r.status == 401, (path, headers)
                        assert r.headers["WWW-Authenticate"].startswith("Bearer ")
                        assert (await r.json())["field"] == "Authorization"

            # keys: created, listed (no secret), used, refused for another function, revoked
            async with admin.post("/system/function-keys/secret-fn", json={"label": "ci"}) as r:
                assert r.status == 201
                created = await r.json()
            key = created["key"]
            async with admin.post("/system/function-keys/other-fn") as r:
                other_key = (await r.json())["key"]
            async with admin.get("/system/function-keys/secret-fn") as r:
                listed = await r.json()
            assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
            async with admin.post("/system/function-keys/missing-fn") as r:
                assert r.status == 404
            stored = (tmp_path / "state" / "function-auth" / "function-keys.json").read_text()
            assert key.split(".")[2] not in stored  # only the hash is kept

            async with anyone.post("/function/secret-fn", headers={"Authorization": f"Bearer {key}"}) as r:
                assert r.status == 200, await r.text()
                seen = json.loads(await r.text())
            assert "Authorization" not in seen and key not in json.dumps(seen)  # never forwarded
            async with anyone.post(
                "/function/secret-fn", headers={"Authorization": f"Bearer {other_key}"}
            ) as r:
                assert r.status == 403
            async with admin.delete(f"/system/function-keys/secret-fn/{created['id']}") as r:
                assert r.status == 204
            async with anyone.post("/function/secret-fn", headers={"Authorization": f"Bearer {key}"}) as r:
                assert r.status == 401

            # tokens: audience = function or namespace, expiry, rotation without downtime
            async with admin.post("/system/function-tokens/secret-fn", json={"ttl": 600}) as r:
                assert r.status == 201
                token = (await r.json())["token"]
            async with admin.post("/system/function-tokens/other-fn", json={"scope": "function"}) as r:
                other_token = (await r.json())["token"]
            async with admin.post("/system/function-tokens/other-fn", json={"scope": "namespace"}) as r:
                namespace_token = (await r.json())["token"]
            async with admin.post("/system/function-tokens/secret-fn", json={"ttl": 0}) as r:
                assert r.status == 400 and (await r.json())["field"] == "ttl"
            for credential, status in ((token, 200), (namespace_token, 200), (other_token, 403)):
                async with anyone.post(
                    "/function/secret-fn", headers={"Authorization": f"Bearer {credential}"}
                ) as r:
                    assert r.status == status, (credential, await r.text())

            store = CredentialStore.open(tmp_path / "state" / "function-auth")
            expired, _ = await store.mint("function:secret-fn.openfaas-fn", -5)
            forged = jwt.encode(
                {"aud": "function:secret-fn.openfaas-fn", "exp": 2**40},
                "a-guessed-secret-of-forty-bytes-0123456789",
                algorithm="HS256",
            )
            for credential in (expired, forged):
                async with anyone.post(
                    "/function/secret-fn", headers={"Authorization": f"Bearer {credential}"}
                ) as r:
                    assert r.status == 401

            async with admin.get("/system/function-token-keys") as r:
                [old] = await r.json()
            async with admin.post("/system/function-token-keys") as r:
                assert r.status == 201
                new = await r.json()
            async with admin.post("/system/function-tokens/secret-fn") as r:
                fresh = (await r.json())["token"]
            assert jwt.get_unverified_header(fresh)["kid"] == new["kid"]
            for credential in (token, fresh):  # both keys verify during the rotation
                async with anyone.post(
                    "/function/secret-fn", headers={"Authorization": f"Bearer {credential}"}
                ) as r:
                    assert r.status == 200
            async with admin.delete(f"/system/function-token-keys/{old['kid']}") as r:
                assert r.status == 204
            async with anyone.post("/function/secret-fn", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 401  # signed by the retired key
            async with anyone.post("/function/secret-fn", headers={"Authorization": f"Bearer {fresh}"}) as r:
                assert r.status == 200
            async with admin.delete(f"/system/function-token-keys/{new['kid']}") as r:
                assert r.status == 400  # the last key stays

            # making a function public again through the API takes effect for the next call
            async with admin.put("/system/functions", json=_spec("secret-fn", handler, False)) as r:
                assert r.status == 202
            async with anyone.post("/function/secret-fn") as r:
                assert r.status == 200

        # the management API is behind the gateway's basic auth
        async with aiohttp.ClientSession(gw.url) as anyone, anyone.get("/system/function-keys/other-fn") as r:
            assert r.status == 401
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for credential in (key, other_key, token, fresh):
        assert credential not in logged


PROBER = """
import glob, json, urllib.error, urllib.request

def handle(event, context):
    asked = json.loads(event.body)
    request = urllib.request.Request(asked["url"], data=b"x", headers=asked.get("headers", {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, body = answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode()
    environs = ""
    for path in glob.glob("/proc/[0-9]*/environ"):
        try:
            environs += open(path, "rb").read().decode("latin-1")
        except OSError:
            pass
    return {"statusCode": 200, "body": json.dumps({"status": status, "body": body, "environs": environs})}
"""


@pytest.mark.skipif(not sandbox.probe().available, reason=sandbox.probe().reason)
async def test_a_function_cannot_call_another_functions_replica_directly(tmp_path: Path) -> None:
    """Replicas share the loopback network: only the gateway's per-replica key gets a call through."""
    target, prober = tmp_path / "target", tmp_path / "prober"
    for folder, source in ((target, HEADERS), (prober, PROBER)):
        folder.mkdir()
        (folder / "handler.py").write_text(source)
    async with running_gateway(tmp_path / "state", auth=True, sandbox=True) as gw, gw.session() as admin:
        for name, folder, private in (("target", target, True), ("prober", prober, False)):
            async with admin.post("/system/functions", json=_spec(name, folder, private)) as r:
                assert r.status == 202, await r.text()
            await wait_available(admin, name, 1)
        [replica] = await gw.provider.ready_replicas("target", "openfaas-fn")
        assert replica.key
        async with admin.post("/system/function-keys/target") as r:
            key = (await r.json())["key"]

        async def probe(url: str, headers: dict[str, str]) -> dict[str, str]:
            body = json.dumps({"url": url, "headers": headers})
            async with admin.post("/function/prober", data=body) as r:
                assert r.status == 200, await r.text()
                return json.loads(await r.text())  # type: ignore[no-any-return]

        # straight to the replica's port, with or without a credential or a guessed replica key: refused
        for headers in ({}, {"Authorization": f"Bearer {key}"}, {REPLICA_KEY_HEADER: "guess"}):
            direct = await probe(replica.url + "/", headers)
            assert direct["status"] == 403, (headers, direct)
            assert "reached through the gateway only" in direct["body"]  # the watchdog's, not the function's
        # through the gateway with the function's key: it works, and the function sees no replica key
        via = await probe(f"{gw.url}/function/target", {"Authorization": f"Bearer {key}"})
        assert via["status"] == 200, via
        assert REPLICA_KEY_HEADER.lower() not in via["body"].lower() and replica.key not in via["body"]
        # no process the prober can see holds the target's key in its environment
        assert via["environs"] and replica.key not in via["environs"]
