"""``pyfaas-operator`` / ``python -m pyfaas.operator``: the Function operator process.

Settings come from ``os.environ`` (:class:`~pyfaas.operator.settings.OperatorSettings`). With leader election
(the default) kopf runs only while this replica holds the Lease; SIGTERM/SIGINT stop it and release the Lease.
kopf logs in the way it does by default (``KUBECONFIG`` or the in-cluster service account); the client that
writes Deployments and Services reads the same settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

import httpx2
import kopf
from lightkube import AsyncClient

from pyfaas.core.errors import ConfigError
from pyfaas.operator.handlers import build_registry, kopf_settings
from pyfaas.operator.leader import LeaderElection
from pyfaas.operator.login import connection_info
from pyfaas.operator.reconcile import FIELD_MANAGER, Reconciler
from pyfaas.operator.settings import OperatorSettings
from pyfaas.provider.kubernetes.config import kube_config

log = logging.getLogger("pyfaas.operator")


async def run(settings: OperatorSettings, shutdown: asyncio.Event) -> None:
    config = settings.config()
    kube = kube_config(config)
    client = AsyncClient(
        kube,
        timeout=httpx2.Timeout(config.request_timeout),
        field_manager=FIELD_MANAGER,
        trust_env=False,
    )
    reconciler = Reconciler(client, config.workload)
    namespaces = settings.namespaces()

    async def lead(stop: asyncio.Event) -> None:
        registry = build_registry(
            reconciler,
            login=connection_info(kube),
            retry_initial=settings.retry_initial,
            retry_max=settings.retry_max,
        )
        health = (
            f"http://0.0.0.0:{settings.operator_health_port}/healthz"
            if settings.operator_health_port
            else None
        )
        await kopf.operator(
            registry=registry,
            settings=kopf_settings(),
            standalone=True,  # leadership is the Lease's job (kopf's peering is priority-based)
            clusterwide=not namespaces,
            namespaces=namespaces,
            stop_flag=stop,
            liveness_endpoint=health,
        )

    try:
        if settings.leader_election:
            await LeaderElection(client, settings.lease()).run(lead, shutdown)
        else:
            await lead(shutdown)
    finally:
        await client.close()


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per API request otherwise
    if logging.getLogger().level > logging.DEBUG:
        # kopf says "Handler ... succeeded" for every watch event of every pod; our own lines say what changed
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    try:
        settings = OperatorSettings.from_env(os.environ)
        settings.config()
    except ConfigError as exc:
        print(f"pyfaas-operator: {exc.message}", file=sys.stderr)
        sys.exit(2)

    async def _main() -> None:
        shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, shutdown.set)
        await run(settings, shutdown)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())


if __name__ == "__main__":
    main()
