"""A ``KubernetesProvider`` wired to the schema-validating test API server (:mod:`tests.support.kube_api`).

Only for what a real API server cannot show (forced faults, counting requests, bodies checked against newer
schemas); everything else runs on the session's real cluster (``tests/support/kube_live.py``).
``kube_stack`` yields the server and the provider, for tests that inspect what the provider sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderConfig
from tests.support.kube_api import KubeAPIServer, kube_api_server

__all__ = ["KubeStack", "kube_stack"]


@dataclass
class KubeStack:
    server: KubeAPIServer
    provider: KubernetesProvider

    def assert_every_body_valid(self) -> None:
        """No request was refused as invalid for any stated Kubernetes version."""
        assert self.server.rejected == [], self.server.rejected


@asynccontextmanager
async def kube_stack(
    tmp_path: Path, *, run_pods: bool = True, server_options: dict[str, Any] | None = None, **config: Any
) -> AsyncIterator[KubeStack]:
    """Test API server + started provider; the provider is closed and every pod process killed on exit."""
    async with kube_api_server(tmp_path / "kube-api", run_pods=run_pods, **(server_options or {})) as server:
        config.setdefault("watch_retry_max", 0.5)
        provider = KubernetesProvider(KubernetesProviderConfig(api_server=server.url, **config))
        await provider.start()
        try:
            yield KubeStack(server, provider)
        finally:
            await provider.close()
    leftovers = [p.pid for p in server.processes if p.returncode is None]
    assert not leftovers, f"pod processes still running after teardown: {leftovers}"
