"""Against a gateway whose provider is not pyfaas-local (here an in-memory provider behind the real gateway
app), ``deploy`` and ``store deploy`` send images as written — what a Kubernetes or OpenFaaS gateway gets —
and deploy is PUT first, POST on 404. The in-memory provider starts no replica, so these deploys pass
``--no-wait``; without it they wait on the gateway's ``availableReplicas`` like any other."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.cli import REPO_ROOT, cli_env, run_cli
from tests.support.gateway import MemoryProvider, running_gateway


async def test_deploy_and_store_deploy_send_images(tmp_path: Path) -> None:
    provider = MemoryProvider()
    async with running_gateway(tmp_path / "state", provider=provider) as gateway:
        env = cli_env(tmp_path, OPENFAAS_URL=gateway.url)
        examples = REPO_ROOT / "examples"

        first = await asyncio.to_thread(
            run_cli, ["deploy", "--filter", "wc", "--no-wait"], env=env, cwd=examples
        )
        assert first.code == 0, first.stderr
        assert "Deployed wc" in first.stdout  # PUT answered 404, then POST created it
        spec = provider.functions[("wc", "openfaas-fn")].spec
        assert spec.image == "ghcr.io/pyfaas/examples-wc:0.1.0" and spec.envProcess == "wc -w"
        assert spec.envVars == {"mode": "fork"}  # as the stack says; nothing added outside local mode

        second = await asyncio.to_thread(
            run_cli,
            ["deploy", "--filter", "wc", "--no-wait", "-e", "extra=1", "-l", "team=a"],
            env=env,
            cwd=examples,
        )
        assert second.code == 0 and "Updated wc" in second.stdout, second.stderr
        spec = provider.functions[("wc", "openfaas-fn")].spec
        assert spec.envVars == {"mode": "fork", "extra": "1"} and spec.labels == {"team": "a"}

        echo = await asyncio.to_thread(
            run_cli, ["deploy", "--filter", "echo", "--no-wait"], env=env, cwd=examples
        )
        assert echo.code == 0, echo.stderr
        echo_spec = provider.functions[("echo", "openfaas-fn")].spec
        assert echo_spec.image == "ghcr.io/pyfaas/examples-echo:0.1.0" and not echo_spec.envVars

        stored = await asyncio.to_thread(
            run_cli,
            ["store", "deploy", "markdown", "--platform", "arm64", "--no-wait"],
            env=env,
            cwd=tmp_path,
        )
        assert stored.code == 0, stored.stderr
        md = provider.functions[("markdown", "openfaas-fn")].spec
        assert md.image == "ghcr.io/pyfaas/store-markdown:0.1.0"
        assert "handler" not in (md.envVars or {}) and md.labels == {"com.openfaas.ui.ext": "html"}
        wrong = await asyncio.to_thread(
            run_cli, ["store", "deploy", "echo", "--platform", "armhf"], env=env, cwd=tmp_path
        )
        wrong.assert_one_error("no image for platform armhf (has: arm64, x86_64)")

        # waiting is the default: no replica ever becomes available here, so a zero wait fails, naming it
        waited = await asyncio.to_thread(
            run_cli, ["deploy", "--filter", "wc", "--wait-timeout", "0"], env=env, cwd=examples
        )
        waited.assert_one_error("wc: no replica ready within 0s")
        provider.functions[("markdown", "openfaas-fn")].desired = 0  # none wanted: nothing to wait for
        unwanted = await asyncio.to_thread(
            run_cli, ["store", "deploy", "markdown", "--platform", "arm64"], env=env, cwd=tmp_path
        )
        assert unwanted.code == 0, unwanted.stderr
