"""pytest plugin: ``kube_cluster``, a real Kubernetes for the session (listed in ``tests/conftest.py``).

Which cluster (first match wins):

1. ``PYFAAS_TEST_KUBECONFIG=/path/kubeconfig``: an existing cluster, used as it is and never stopped. When a
   kit ``kit.env`` lies beside the kubeconfig (or ``PYFAAS_TEST_CONTAINERD`` names a containerd socket),
   tests can import images into it.
2. ``PYFAAS_KUBE_ASSETS=/folder/of/binaries``: a throwaway cluster (:mod:`tests.support.kube_cluster`) in a
   fresh short temporary folder, started on first use and stopped at the end of the session; teardown fails
   the session if anything is left behind (processes, bridge, iptables chains, mounts, cgroups, the folder).
3. Neither: every test that needs a cluster skips, naming the variables.

The cluster starts only when a test asks for it, so runs without cluster tests pay nothing. The terminal
summary reports start-up and teardown times.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:  # imported where used: every pytest run loads this plugin, few need a cluster
    from lightkube import AsyncClient

    from pyfaas.provider.kubernetes import KubernetesProvider
    from tests.support.kube_cluster import KubeCluster

__all__ = [
    "CONTRACT_NAMESPACES",
    "SKIP_REASON",
    "admin",
    "admin_client",
    "echo_images",
    "kube_cluster",
    "kube_namespace",
    "kubeconfig",
    "live_contract_provider",
]

P = TypeVar("P", bound="KubernetesProvider")

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_NAMESPACES = ("openfaas-fn", "dev")
"""The namespaces the shared provider contract suite works in (fixed names); reset before each test."""

SKIP_REASON = "no Kubernetes cluster: set PYFAAS_TEST_KUBECONFIG (existing) or PYFAAS_KUBE_ASSETS (throwaway)"
_report: list[str] = []


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    from tests.support.kube_assets import AssetError, resolve_assets
    from tests.support.kube_cluster import ClusterError, KubeCluster, ThrowawayCluster, reclaim_orphan

    existing = os.environ.get("PYFAAS_TEST_KUBECONFIG")
    assets = os.environ.get("PYFAAS_KUBE_ASSETS")
    if existing:
        yield KubeCluster.existing(Path(existing))
        return
    if not assets:
        pytest.skip(SKIP_REASON)
    if os.geteuid() != 0:
        pytest.skip("PYFAAS_KUBE_ASSETS is set but a throwaway cluster needs root")
    try:
        binaries = resolve_assets(REPO_ROOT / assets)  # a relative folder is relative to the repository
    except AssetError as exc:
        pytest.fail(f"PYFAAS_KUBE_ASSETS: {exc}")
    machine_lock = _one_cluster_per_machine()
    cluster = ThrowawayCluster(binaries)
    for orphan in sorted(cluster.parent.glob("pyk8s-*")):  # holding the lock: no live session owns these
        if orphan != cluster.directory:
            left = reclaim_orphan(orphan)
            _report.append(f"reclaimed {orphan}, left by a session that died: {left or 'nothing left'}")
    try:
        running = cluster.start()
    except BaseException:
        cluster.stop()
        machine_lock.close()
        raise
    _report.append(f"started in {running.startup_seconds:.1f} s ({cluster.timings}) in {cluster.directory}")
    try:
        yield running
    finally:
        cluster.stop()
        left = cluster.leftovers()
        steps = {k: v for k, v in cluster.timings.items() if k.startswith("teardown:")}
        _report.append(
            f"stopped in {cluster.timings['teardown']:.1f} s ({steps}); left behind: {left or 'nothing'}"
        )
        machine_lock.close()
        if left:
            raise ClusterError(f"the test cluster left things behind: {left}")


MACHINE_LOCK = Path("/run/lock/pyfaas-test-cluster.lock")


def _one_cluster_per_machine() -> IO[str]:
    """An exclusive lock for this session's throwaway cluster: the kit's bridge, ports and iptables chains
    are per machine, so a second cluster (another pytest run, or an xdist worker outside the cluster
    group) fails here with who holds it, instead of half-starting and breaking the first one."""
    MACHINE_LOCK.parent.mkdir(parents=True, exist_ok=True)
    handle = MACHINE_LOCK.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        pytest.fail(f"a throwaway test cluster is already running on this machine ({holder}); one at a time")
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, {os.environ.get('PYTEST_XDIST_WORKER', 'pytest')}\n")
    handle.flush()
    return handle


KUBE_GROUP = "kubernetes"
"""The scheduling group of every test that uses the cluster under pytest-xdist: one worker runs them all, so
one cluster starts per session (a machine runs one kit cluster at a time) while the other workers run the
rest. Marked ``xdist_group`` too, but pytest 9.2 ignores how xdist 3.8 applies that mark (it rewrites a node
id attribute pytest no longer reads), so :class:`_ClusterGroupScheduling` does the grouping."""
_IDS_FILE = "kube_test_ids_file"


def pytest_itemcollected(item: pytest.Item) -> None:
    if "kube_cluster" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.xdist_group(KUBE_GROUP))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # An xdist worker tells the controller's scheduler which of the collected tests use the cluster.
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        # xdist knows tests by node id: items that share one would silently run once (schemathesis's
        # per-operation items do under pytest 9.2). Refuse rather than lose tests.
        counts = collections.Counter(item.nodeid for item in items)
        shared = {nodeid for nodeid, count in counts.items() if count > 1}
        if shared:
            pytest.exit(
                f"{len(shared)} node ids are shared by several tests (e.g. {sorted(shared)[0]}); "
                "pytest-xdist would run one of each: run them in one process (PYFAAS_TEST_WORKERS=0, or "
                "scripts/test.sh without arguments, which runs tests/reliability/fuzz on its own)",
                returncode=pytest.ExitCode.USAGE_ERROR,
            )
    if workerinput and workerinput.get(_IDS_FILE):
        grouped = [item.nodeid for item in items if _in_cluster_group(item)]
        target = Path(f"{workerinput[_IDS_FILE]}.{workerinput['workerid']}")
        partial = target.with_name(target.name + ".partial")
        partial.write_text("\n".join(grouped))
        partial.replace(target)


def _in_cluster_group(item: pytest.Item) -> bool:
    return any(mark.args[:1] == (KUBE_GROUP,) for mark in item.iter_markers("xdist_group"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    node.workerinput[_IDS_FILE] = str(_ids_file(node.config))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ClusterGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """Load scheduling, one test per work unit, except the cluster's tests: one unit, one worker."""

        cluster_ids: set[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.cluster_ids is None:  # each worker wrote its file before it reported its collection
                files = sorted(_ids_file(config).parent.glob("kube-tests.gw*"))
                self.cluster_ids = set(files[0].read_text().splitlines()) if files else set()
            return KUBE_GROUP if nodeid in self.cluster_ids else nodeid

    return ClusterGroupScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    folder: Path | None = getattr(config, "_pyfaas_kube_ids", None)
    if folder is not None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _ids_file(config: pytest.Config) -> Path:
    folder: Path | None = getattr(config, "_pyfaas_kube_ids", None)
    if folder is None:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="pyfaas-xdist-"))
        config._pyfaas_kube_ids = folder  # type: ignore[attr-defined]
    return folder / "kube-tests"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    _report.extend(getattr(node, "workeroutput", {}).get("kube_report", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _report:
        terminalreporter.write_sep("-", "kubernetes test cluster")
        for line in _report:
            terminalreporter.write_line(line)


# the provider contract suite on the live cluster --------------------------------------------------------
@contextlib.asynccontextmanager
async def admin_client(kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    from lightkube import AsyncClient, KubeConfig

    client = AsyncClient(KubeConfig.from_file(kubeconfig), field_manager="pyfaas-tests", trust_env=False)
    try:
        yield client
    finally:
        await client.close()


async def _ignore_missing(call: Any) -> None:
    from lightkube.core.exceptions import ApiError

    try:
        await call
    except ApiError as exc:
        if exc.status.code != 404:
            raise


async def reset_contract_namespaces(client: AsyncClient, *, wait: bool = True) -> None:
    """``openfaas-fn`` present and without functions or pyfaas secrets; ``dev`` absent (waited for).

    Objects go with background propagation: their pods (which never started: the contract's image ``local``
    cannot be pulled here) do not hold anything up.
    """
    from lightkube import operators
    from lightkube.core.exceptions import ApiError
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.apps_v1 import Deployment
    from lightkube.resources.core_v1 import Namespace, Secret, Service

    from pyfaas.core.labels import LABEL_FUNCTION, LABEL_MANAGED_BY

    default, extra = CONTRACT_NAMESPACES
    await _ignore_missing(client.delete(Namespace, extra))
    try:
        await client.get(Namespace, default)
    except ApiError as exc:
        if exc.status.code != 404:
            raise
        await client.create(Namespace(metadata=ObjectMeta(name=default)))
    functions: dict[str, Any] = {LABEL_FUNCTION: operators.exists()}
    deployments = [d.metadata async for d in client.list(Deployment, namespace=default, labels=functions)]
    services = [d.metadata async for d in client.list(Service, namespace=default, labels=functions)]
    for kind, found in ((Deployment, deployments), (Service, services)):
        for meta in found:
            if meta is not None and meta.name:
                await _ignore_missing(client.delete(kind, meta.name, namespace=default))
    for secret in [s async for s in client.list(Secret, namespace=default)]:
        labels = (secret.metadata and secret.metadata.labels) or {}
        if secret.metadata and secret.metadata.name and LABEL_MANAGED_BY in labels:
            await _ignore_missing(client.delete(Secret, secret.metadata.name, namespace=default))
    if not wait:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:  # a namespace's deletion takes the namespace controller a few seconds
        try:
            await client.get(Namespace, extra)
        except ApiError as exc:
            if exc.status.code == 404:
                break
            raise
        assert loop.time() < deadline, f"namespace {extra} still there after 60 s"
        await asyncio.sleep(0.2)
    while [d async for d in client.list(Deployment, namespace=default, labels=functions)]:
        assert loop.time() < deadline, "function Deployments still listed after 60 s"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def live_contract_provider(
    cluster: KubeCluster,
    provider_class: type[P],
    *,
    clear: Callable[[AsyncClient], Awaitable[None]] | None = None,
    **config: Any,
) -> AsyncIterator[P]:
    """A started ``provider_class`` (KubernetesProvider or a subclass) on the live cluster, for the contract
    suite: ``clear`` (if given) and then the namespace reset run before and after it."""
    from pyfaas.provider.kubernetes import KubernetesProviderConfig

    async with admin_client(cluster.kubeconfig) as client:
        if clear is not None:
            await clear(client)
        await reset_contract_namespaces(client)
        config.setdefault("watch_retry_max", 0.5)
        provider = provider_class(
            KubernetesProviderConfig(
                kubeconfig=cluster.kubeconfig, default_namespace=CONTRACT_NAMESPACES[0], **config
            )
        )
        await provider.start()
        try:
            yield provider
        finally:
            await provider.close()
            if clear is not None:
                await clear(client)
            await reset_contract_namespaces(client, wait=False)  # the next test waits


# namespaces and function images for tests on the live cluster ------------------------------------------
@pytest.fixture
def kubeconfig(kube_cluster: KubeCluster) -> Path:
    """The live cluster's kubeconfig."""
    return kube_cluster.kubeconfig


@pytest.fixture
async def admin(kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    """A cluster-admin client of the live cluster, closed after the test."""
    async with admin_client(kubeconfig) as client:
        yield client


@pytest.fixture
async def kube_namespace(kube_cluster: KubeCluster) -> AsyncIterator[str]:
    """A fresh function namespace (``openfaas=1``) for one test; deleted afterwards without waiting."""
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import Namespace

    from pyfaas.core.k8s import FUNCTION_NAMESPACE_VALUE, LABEL_FUNCTION_NAMESPACE

    name = f"k1-{uuid.uuid4().hex[:8]}"
    async with admin_client(kube_cluster.kubeconfig) as client:
        meta = ObjectMeta(name=name, labels={LABEL_FUNCTION_NAMESPACE: FUNCTION_NAMESPACE_VALUE})
        await client.create(Namespace(metadata=meta))
        try:
            yield name
        finally:
            await _ignore_missing(client.delete(Namespace, name))


ECHO_HANDLER = """
import os
import socket

def handle(event, context):
    body = event.body.decode()
    print("called with " + body, flush=True)
    if body.startswith("secret:"):
        folder = os.environ.get("secret_mount_path", "/var/openfaas/secrets")
        try:
            with open(os.path.join(folder, body[len("secret:"):])) as handle:
                return handle.read()
        except FileNotFoundError:
            return {"statusCode": 404, "body": "absent"}
    return "VERSION:" + socket.gethostname() + ":" + body
"""


@pytest.fixture(scope="session")
def echo_images(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two python3-http images, ``…/echo:v1`` and ``…/echo:v2``, imported into the cluster's containerd.

    Their handler logs ``called with <body>`` and answers ``<version>:<pod name>:<body>``, or for a body
    ``secret:<name>`` the content of that secret file (404 when the function has no such secret).
    """
    from tests.support.kube_image import function_image, import_archive

    if kube_cluster.containerd_address is None:
        pytest.skip("images cannot be imported into this cluster (no kit.env beside the kubeconfig)")
    out = tmp_path_factory.mktemp("images")
    references = []
    for version in ("v1", "v2"):
        reference = f"localhost/pyfaas-test/echo:{version}"
        function_image(reference, out / f"{version}.tar", handler=ECHO_HANDLER.replace("VERSION", version))
        import_archive(kube_cluster.containerd_address, out / f"{version}.tar")
        (out / f"{version}.tar").unlink()
        references.append(reference)
    return references[0], references[1]
