"""A throwaway single-node Kubernetes v1.24 owned by the test session (the kit's up.sh/down.sh, in Python).

:class:`ThrowawayCluster` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd
(CNI bridge, host-local IPAM), the kubelet (node ``localhost``) and kube-proxy (iptables) as child processes,
with every piece of state in one short temporary folder, and stops them again leaving nothing behind
(:func:`tests.support.kube_host.leftovers` checks). Everything listens on 127.0.0.1 apart from the pod bridge
gateway; pods reach nothing off the host, and containerd's proxy points at a closed loopback port so that any
registry pull fails at once (only locally imported images run: :mod:`tests.support.kube_image`).

The configuration carries every fix from ``../shared/kube/README.md`` ("Gotchas"): ``restrict_oom_score_adj``
(no CAP_SYS_RESOURCE here), the not-ready taint removed by hand (no node-lifecycle controller), a Ready
heartbeat newer than the kubelet's start, ``hairpin-veth``, SIGKILL for the v1.24 scheduler that hangs on
SIGTERM, a resolv.conf with no nameserver, the saved and restored kernel settings, ``br_netfilter``,
``/run/containerd`` cleanup, and ``minSyncPeriod: 0s`` for kube-proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.support.kube_assets import require_tools
from tests.support.kube_host import (
    HostNetwork,
    leftovers,
    mounts_under,
    processes_of,
    remove_kubepods_cgroups,
    remove_run_containerd,
    restore_sysctls,
    save_sysctls,
    unmount_all,
)
from tests.support.kube_image import import_archive, layer_from_files, write_oci_archive
from tests.support.kube_pki import Pki, make_pki, write_kubeconfig

__all__ = [
    "PACKAGE_TOOLS",
    "ClusterError",
    "KitSettings",
    "KubeCluster",
    "ThrowawayCluster",
    "reclaim_orphan",
]

NODE = "localhost"  # the API server reaches the kubelet by this name -> 127.0.0.1
PAUSE_IMAGE = "localhost/kube-kit/pause:1"
PACKAGE_TOOLS = (
    "etcd",
    "containerd",
    "runc",
    "ctr",
    "iptables",
    "ip6tables",
    "conntrack",
    "socat",
    "ip",
    "openssl",
)
"""Executables of the Debian packages the cluster needs (scripts/test.sh installs them)."""
CNI_PLUGINS = Path("/usr/lib/cni")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class KitSettings:
    """Ports and networks (the kit's defaults; only one such cluster can run per machine)."""

    api_port: int = 6443
    etcd_port: int = 2379
    etcd_peer_port: int = 2380
    kcm_port: int = 10257
    scheduler_port: int = 10259
    kubelet_port: int = 10250
    kubelet_healthz_port: int = 10248
    proxy_healthz_port: int = 10256
    proxy_metrics_port: int = 10249
    pod_cidr: str = "10.88.0.0/16"
    pod_gateway: str = "10.88.0.1"
    bridge: str = "kubekit0"
    service_cidr: str = "10.96.0.0/16"
    api_service_ip: str = "10.96.0.1"


@dataclass(frozen=True)
class KubeCluster:
    """What tests need of a running cluster, whoever started it."""

    kubeconfig: Path
    containerd_address: str | None
    """containerd's socket, to import images (None: images cannot be imported, pod tests skip)."""
    pod_gateway: str | None
    owned: bool
    """True when this session started it (and stops it)."""
    startup_seconds: float | None = None
    cluster_dns: str | None = None
    """The kubelet's ``clusterDNS`` (nothing answers there unless a test serves it: :mod:`kube_dns`)."""

    @classmethod
    def existing(cls, kubeconfig: Path) -> KubeCluster:
        """A cluster someone else runs; a kit cluster's ``kit.env`` beside the kubeconfig names containerd."""
        settings: dict[str, str] = {}
        kit_env = kubeconfig.parent / "kit.env"
        if kit_env.is_file():
            for line in kit_env.read_text().splitlines():
                key, _, value = line.partition("=")
                settings[key] = value
        address = settings.get("CONTAINERD_ADDRESS") or os.environ.get("PYFAAS_TEST_CONTAINERD") or None
        return cls(
            kubeconfig,
            address,
            settings.get("KIT_POD_GATEWAY"),
            owned=False,
            cluster_dns=settings.get("KIT_CLUSTER_DNS") or None,
        )


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    stop_grace: float = 15.0


def _port_busy(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, seconds: float, check: Callable[[], bool], alive: Callable[[], None]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        alive()
        with contextlib.suppress(OSError, ValueError, ssl.SSLError, subprocess.SubprocessError):
            if check():
                return
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class ThrowawayCluster:
    """``start()`` -> :class:`KubeCluster`; ``stop()`` always (also after a failed start); ``leftovers()``."""

    binaries: Path
    settings: KitSettings = field(default_factory=KitSettings)
    parent: Path = Path("/tmp")
    directory: Path = field(init=False)
    timings: dict[str, float] = field(default_factory=dict)
    _components: list[_Component] = field(default_factory=list)
    _sysctls: dict[str, str] = field(default_factory=dict)
    _made_run_containerd: bool = False
    _kubelet_started: float = 0.0

    def __post_init__(self) -> None:
        # short: containerd's socket path must stay under 108 bytes
        self.directory = Path(tempfile.mkdtemp(prefix="pyk8s-", dir=self.parent))
        self.network = HostNetwork(
            self.settings.bridge,
            self.settings.pod_gateway,
            self.settings.pod_cidr,
            self.settings.service_cidr,
        )

    # paths ---------------------------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        return self.directory.joinpath(*parts)

    @property
    def socket(self) -> str:
        return str(self.path("run", "containerd.sock"))

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.settings.api_port}"

    # start ---------------------------------------------------------------------------------------------
    def start(self) -> KubeCluster:
        began = time.monotonic()
        missing = require_tools(*PACKAGE_TOOLS)
        if missing or not (CNI_PLUGINS / "bridge").exists():
            raise ClusterError(f"missing tools {missing or ['CNI plugins']}: run scripts/test.sh as root")
        s = self.settings
        for port in (s.api_port, s.etcd_port, s.kubelet_port, s.proxy_healthz_port):
            if _port_busy(port):
                raise ClusterError(f"port {port} is in use: another cluster is running (one per machine)")
        for folder in (
            "run",
            "logs",
            "etc",
            "etcd",
            "certs",
            "containerd",
            "cni/net.d",
            "cni/ipam",
            "kubelet",
        ):
            self.path(folder).mkdir(parents=True, exist_ok=True)
        self.path("etcd").chmod(0o700)
        self._made_run_containerd = not Path("/run/containerd").exists()
        self._sysctls = save_sysctls()
        self.network.set_up()
        pki = make_pki(self.path("pki"), san_ips=[s.api_service_ip, s.pod_gateway])
        write_kubeconfig(self.path("kubeconfig"), pki, self.api_url)
        self._write_configs()
        self._write_kit_env()
        self._mark("host, PKI, configs", began)

        self._launch("etcd", self._etcd_command())
        # a registry pull fails at once: the proxy is a closed loopback port (no DNS, nothing leaves the host)
        proxy = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
        self._launch(
            "containerd", ["/usr/bin/containerd", "--config", str(self.path("etc", "containerd.toml"))], proxy
        )
        self._wait_http("etcd", f"http://127.0.0.1:{s.etcd_port}/health")
        self._launch("kube-apiserver", self._apiserver_command(pki))
        self._wait("containerd", 30, lambda: self._ctr("version").returncode == 0)
        self._import_pause_image()
        self._wait_http("kube-apiserver", f"{self.api_url}/readyz", pki=pki, seconds=90)
        self._mark("etcd, containerd, kube-apiserver", began)

        self._launch("kube-controller-manager", self._kcm_command(pki))
        self._launch("kube-scheduler", self._scheduler_command(), stop_grace=1.0)  # hangs on SIGTERM
        # pods reach the API server through the kubernetes Service: Endpoints = gateway:api_port -> 127.0.0.1
        forward = [
            f"TCP-LISTEN:{s.api_port},bind={s.pod_gateway},fork,reuseaddr",
            f"TCP:127.0.0.1:{s.api_port}",
        ]
        self._launch("apiserver-forward", ["/usr/bin/socat", *forward], stop_grace=3.0)
        self._kubelet_started = time.time()
        self._launch("kubelet", self._kubelet_command())
        self._launch(
            "kube-proxy", [str(self.binaries / "kube-proxy"), f"--config={self.path('etc', 'proxy.yaml')}"]
        )
        self._wait_http("kubelet", f"http://127.0.0.1:{s.kubelet_healthz_port}/healthz")
        self._wait("node Ready", 90, lambda: self._fresh_ready(pki))
        self._untaint(pki)
        self._wait_http("kube-proxy", f"http://127.0.0.1:{s.proxy_healthz_port}/healthz")
        self._wait_http("kube-controller-manager", f"https://127.0.0.1:{s.kcm_port}/healthz", insecure=True)
        self._wait_http("kube-scheduler", f"https://127.0.0.1:{s.scheduler_port}/healthz", insecure=True)
        account = "/api/v1/namespaces/default/serviceaccounts/default"  # made by the controller manager
        self._wait("ServiceAccount default/default", 60, lambda: self._api(pki, "GET", account) is not None)
        self._mark("node Ready", began)
        return KubeCluster(
            self.path("kubeconfig"),
            self.socket,
            s.pod_gateway,
            owned=True,
            startup_seconds=time.monotonic() - began,
            cluster_dns=s.pod_gateway,
        )

    def _mark(self, step: str, began: float) -> None:
        self.timings[step] = round(time.monotonic() - began, 2)

    def _launch(
        self, name: str, command: list[str], env: dict[str, str] | None = None, *, stop_grace: float = 15.0
    ) -> None:
        log = self.path("logs", f"{name}.log").open("ab")
        process = subprocess.Popen(  # own session: killed as a group (socat's children), not by our signals
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": SYSTEM_PATH, "HOME": "/root", **(env or {})},
            start_new_session=True,
        )
        log.close()
        self._components.append(_Component(name, process, stop_grace))
        with contextlib.suppress(OSError, IndexError):  # "PID STARTTIME", as the kit's down.sh reads it
            start_time = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
            self.path("run", "pids", name).write_text(f"{process.pid} {start_time}\n")

    def _check_alive(self) -> None:
        for component in self._components:
            if component.process.poll() is not None:
                tail = self.path("logs", f"{component.name}.log").read_text(errors="replace")[-2000:]
                raise ClusterError(f"{component.name} exited ({component.process.returncode}):\n{tail}")

    def _wait(self, what: str, seconds: float, check: Callable[[], bool]) -> None:
        _wait(what, seconds, check, self._check_alive)

    def _wait_http(
        self, what: str, url: str, *, pki: Pki | None = None, insecure: bool = False, seconds: float = 60
    ) -> None:
        context = ssl.create_default_context(cafile=str(pki.ca_crt) if pki else None)
        if insecure:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        headers = {"Authorization": f"Bearer {pki.token}"} if pki else {}

        def answered() -> bool:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=2, context=context) as answer:
                return bool(answer.status == 200)

        self._wait(what, seconds, answered)

    def _api(self, pki: Pki, method: str, path: str, body: object = None) -> dict[str, object] | None:
        """One call to the API server as admin; None for 404."""
        context = ssl.create_default_context(cafile=str(pki.ca_crt))
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {pki.token}", "Content-Type": "application/merge-patch+json"}
        request = urllib.request.Request(self.api_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as answer:
                loaded: dict[str, object] = json.loads(answer.read())
                return loaded
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def _fresh_ready(self, pki: Pki) -> bool:
        """Ready, reported by this kubelet (a Node object can outlive its kubelet with a stale status)."""
        node = self._api(pki, "GET", f"/api/v1/nodes/{NODE}")
        status = node.get("status", {}) if node else {}
        for condition in status.get("conditions", []) if isinstance(status, dict) else []:
            if condition["type"] == "Ready" and condition["status"] == "True":
                beat = datetime.fromisoformat(condition["lastHeartbeatTime"].replace("Z", "+00:00"))
                return beat.timestamp() >= int(self._kubelet_started)
        return False

    def _untaint(self, pki: Pki) -> None:
        """No node-lifecycle controller runs, so nobody else removes the registration taint."""
        node = self._api(pki, "GET", f"/api/v1/nodes/{NODE}") or {}
        spec = node.get("spec", {})
        taints = spec.get("taints", []) if isinstance(spec, dict) else []
        kept = [t for t in taints if t.get("key") != "node.kubernetes.io/not-ready"]
        if kept != taints:
            self._api(pki, "PATCH", f"/api/v1/nodes/{NODE}", {"spec": {"taints": kept or None}})

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["ctr", "--address", self.socket, *args], capture_output=True, timeout=30, check=False
        )

    def _import_pause_image(self) -> None:
        scratch = self.path("run", "pause")
        scratch.mkdir()
        layer = layer_from_files({"pause": self.binaries / "pause"}, scratch / "layer.tar")
        write_oci_archive(scratch / "pause.tar", PAUSE_IMAGE, [layer], cmd=["/pause"])
        import_archive(self.socket, scratch / "pause.tar")
        for item in scratch.iterdir():
            item.unlink()
        scratch.rmdir()

    def _write_kit_env(self) -> None:
        """The kit's record of a cluster (``kit.env``, ``run/pids/*``, ``bin``), so that a session killed
        before its teardown can still be cleaned up with ``../shared/kube/down.sh DIR``."""
        s = self.settings
        self.path("run", "pids").mkdir(parents=True, exist_ok=True)
        self.path("bin").symlink_to(self.binaries, target_is_directory=True)
        values = {
            "KIT_DIR": self.directory,
            "KUBECONFIG": self.path("kubeconfig"),
            "KIT_POD_CIDR": s.pod_cidr,
            "KIT_POD_GATEWAY": s.pod_gateway,
            "KIT_BRIDGE": s.bridge,
            "KIT_SERVICE_CIDR": s.service_cidr,
            "KIT_API_SERVICE_IP": s.api_service_ip,
            "CONTAINERD_ADDRESS": self.socket,
        }
        self.path("kit.env").write_text("".join(f"{key}={value}\n" for key, value in values.items()))
        saved = "".join(f"{key}={value}\n" for key, value in self._sysctls.items())
        self.path("state").mkdir(exist_ok=True)
        self.path("state", "sysctl.orig").write_text(saved)
        if self._made_run_containerd:
            self.path("state", "made-run-containerd").touch()

    # commands and configuration files ---------------------------------------------------------------------
    def _etcd_command(self) -> list[str]:
        s = self.settings
        client, peer = f"http://127.0.0.1:{s.etcd_port}", f"http://127.0.0.1:{s.etcd_peer_port}"
        return [
            "/usr/bin/etcd", "--name", "kit", "--data-dir", str(self.path("etcd")),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"kit={peer}", "--initial-cluster-state", "new",
            "--quota-backend-bytes", "4294967296",
        ]  # fmt: skip

    def _apiserver_command(self, pki: Pki) -> list[str]:
        s = self.settings
        return [
            str(self.binaries / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{s.etcd_port}",
            "--bind-address=127.0.0.1", f"--secure-port={s.api_port}", f"--advertise-address={s.pod_gateway}",
            f"--service-cluster-ip-range={s.service_cidr}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.file('sa.pub')}",
            f"--service-account-signing-key-file={pki.file('sa.key')}",
            "--authorization-mode=RBAC", f"--token-auth-file={pki.file('token.csv')}",
            f"--client-ca-file={pki.ca_crt}",
            f"--tls-cert-file={pki.file('apiserver.crt')}",
            f"--tls-private-key-file={pki.file('apiserver.key')}",
            f"--cert-dir={self.path('certs')}",
            f"--kubelet-client-certificate={pki.file('admin.crt')}",
            f"--kubelet-client-key={pki.file('admin.key')}",
            "--allow-privileged=true", "--profiling=false",
        ]  # fmt: skip

    def _scheduler_command(self) -> list[str]:
        kubeconfig = self.path("kubeconfig")
        return [
            str(self.binaries / "kube-scheduler"),
            f"--config={self.path('etc', 'kube-scheduler.yaml')}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.settings.scheduler_port}",
        ]

    def _kubelet_command(self) -> list[str]:
        return [
            str(self.binaries / "kubelet"),
            f"--config={self.path('etc', 'kubelet.yaml')}",
            f"--kubeconfig={self.path('kubeconfig')}",
            "--container-runtime=remote",
            f"--container-runtime-endpoint=unix://{self.socket}",
            f"--hostname-override={NODE}",
            f"--node-ip={self.settings.pod_gateway}",
            f"--root-dir={self.path('kubelet')}",
            f"--cert-dir={self.path('kubelet', 'pki')}",
            f"--pod-infra-container-image={PAUSE_IMAGE}",
            "--v=1",
        ]

    def _kcm_command(self, pki: Pki) -> list[str]:
        # no nodeipam/nodelifecycle/cloud/route/service(LB) controllers; no attach-detach or PV binding
        controllers = "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service,-route,-attachdetach,"
        controllers += "-persistentvolume-binder,-persistentvolume-expander,-ttl"
        return [
            str(self.binaries / "kube-controller-manager"), f"--kubeconfig={self.path('kubeconfig')}",
            "--bind-address=127.0.0.1", f"--secure-port={self.settings.kcm_port}",
            f"--cert-dir={self.path('certs')}", "--leader-elect=false",
            f"--service-account-private-key-file={pki.file('sa.key')}", f"--root-ca-file={pki.ca_crt}",
            f"--cluster-signing-cert-file={pki.ca_crt}", f"--cluster-signing-key-file={pki.file('ca.key')}",
            "--use-service-account-credentials=false", f"--controllers={controllers}",
        ]  # fmt: skip

    def _write_configs(self) -> None:
        s, d = self.settings, self.directory
        self.path("cni", "net.d", "10-kit.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "0.4.0",
                    "name": "kit",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": s.bridge,
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "dataDir": str(d / "cni" / "ipam"),
                                "ranges": [[{"subnet": s.pod_cidr, "gateway": s.pod_gateway}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                }
            )
        )
        self.path("etc", "containerd.toml").write_text(
            f"""version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{d}/run/containerd-ttrpc.sock"
[debug]
  address = "{d}/run/containerd-debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true   # negative oom_score_adj needs CAP_SYS_RESOURCE, which these VMs lack
  max_container_log_line_size = 16384
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "{d}/run/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_PLUGINS}"
    conf_dir = "{d}/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
"""
        )
        # No nameserver for pods (nothing may leave the host); with an empty file containerd would copy the
        # host's /etc/resolv.conf, hence the options line.
        self.path("etc", "resolv.conf").write_text(
            "# no nameserver for pods\noptions ndots:1 timeout:1 attempts:1\n"
        )
        self.path("etc", "kubelet.yaml").write_text(
            f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {s.kubelet_port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {s.kubelet_healthz_port}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: false}}
  x509: {{clientCAFile: "{d}/pki/ca.crt"}}
authorization: {{mode: AlwaysAllow}}
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: ["pods"]
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: ["{s.pod_gateway}"]   # the kit's KIT_CLUSTER_DNS: tests that need Service names serve them there
resolvConf: "{d}/etc/resolv.conf"
hairpinMode: hairpin-veth         # the default promiscuous-bridge conflicts with the CNI bridge's hairpinMode
maxPods: 110
nodeStatusUpdateFrequency: 1s     # Ready about 1 s after start instead of 10 s
nodeStatusReportFrequency: 5m
serializeImagePulls: false
imageGCHighThresholdPercent: 100  # never garbage-collect the locally imported images
imageGCLowThresholdPercent: 99
evictionHard:
  {{memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}}
protectKernelDefaults: false
makeIPTablesUtilChains: false
containerLogMaxSize: 10Mi
containerLogMaxFiles: 2
runtimeRequestTimeout: 5m
"""
        )
        self.path("etc", "kube-scheduler.yaml").write_text(
            f"""apiVersion: kubescheduler.config.k8s.io/v1beta3
kind: KubeSchedulerConfiguration
clientConnection: {{kubeconfig: "{d}/kubeconfig"}}
leaderElection: {{leaderElect: false}}
profiles:
- schedulerName: default-scheduler
"""
        )
        self.path("etc", "proxy.yaml").write_text(
            f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: "{d}/kubeconfig"}}
mode: iptables
hostnameOverride: {NODE}
clusterCIDR: {s.pod_cidr}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:{s.proxy_healthz_port}
metricsBindAddress: 127.0.0.1:{s.proxy_metrics_port}
nodePortAddresses: ["{s.pod_gateway}/32"]
conntrack: {{maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}}
iptables: {{masqueradeAll: false, syncPeriod: 10s, minSyncPeriod: 0s}}   # apply Service changes at once
"""
        )

    # stop ------------------------------------------------------------------------------------------------
    def _stop(self, *names: str) -> None:
        """SIGTERM the named components' process groups, wait their grace, then SIGKILL; all in parallel."""
        chosen = [c for c in self._components if c.name in names]
        for component in chosen:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(component.process.pid, signal.SIGTERM)
        for component in chosen:
            try:
                component.process.wait(component.stop_grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(component.process.pid, signal.SIGKILL)
                component.process.wait(10)
            with contextlib.suppress(ProcessLookupError):  # socat's per-connection children
                os.killpg(component.process.pid, signal.SIGKILL)
            self._components.remove(component)

    def stop(self) -> None:
        """Stop everything in reverse order and undo every host change; safe on a half-started cluster."""
        began = time.monotonic()
        self._stop("kube-proxy", "kubelet")
        containerd = any(c.name == "containerd" for c in self._components)
        if containerd and self.path("run", "containerd.sock").exists():
            # every pod sandbox removed through CRI, so CNI releases the veths and pod IPs
            subprocess.run(
                [str(self.binaries / "kit-cri"), "-endpoint", f"unix://{self.socket}", "rmpods"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        self._mark("teardown: kubelet, kube-proxy, pods", began)
        self._stop("containerd", "apiserver-forward", "kube-controller-manager", "kube-scheduler")
        self._stop("kube-apiserver")
        self._stop("etcd")
        self._stop(*[c.name for c in self._components])  # anything left after a failed start
        self._mark("teardown: processes", began)
        unmount_all(self.directory)
        self._mark("teardown: mounts", began)
        self.network.tear_down(self.binaries / "kube-proxy")
        self._mark("teardown: network, iptables", began)
        remove_kubepods_cgroups()
        restore_sysctls(self._sysctls)
        if self._made_run_containerd:
            remove_run_containerd()
        if not self.leftover_mounts():
            subprocess.run(["rm", "-rf", "--one-file-system", str(self.directory)], check=False, timeout=120)
        self._mark("teardown", began)

    def leftover_mounts(self) -> bool:
        return bool(mounts_under(self.directory))

    def leftovers(self) -> list[str]:
        found = leftovers(self.directory, self.settings.bridge)
        if self.directory.exists():
            found.append(f"folder {self.directory}")
        return found


def reclaim_orphan(directory: Path, settings: KitSettings | None = None) -> list[str]:
    """Tear down a throwaway cluster whose pytest process died before its teardown (SIGKILL, a cancelled CI
    job): its pods through CRI, every process rooted in or started from ``directory``, mounts, the bridge
    and iptables chains, cgroups, the folder. Call only while holding the one-cluster-per-machine lock (so
    the cluster has no live owner). Returns what is still left (empty when all is gone)."""
    settings = settings or KitSettings()
    socket_path = directory / "run" / "containerd.sock"
    kit_cri = directory / "bin" / "kit-cri"
    if socket_path.exists() and kit_cri.exists():
        subprocess.run(
            [str(kit_cri), "-endpoint", f"unix://{socket_path}", "rmpods"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    deadline = time.monotonic() + 30
    while (alive := processes_of(directory)) and time.monotonic() < deadline:
        for pid, _ in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)  # the killed processes' exits, then the next look
    unmount_all(directory)
    network = HostNetwork(settings.bridge, settings.pod_gateway, settings.pod_cidr, settings.service_cidr)
    proxy = directory / "bin" / "kube-proxy"
    network.tear_down(proxy if proxy.exists() else None)
    remove_kubepods_cgroups()
    remove_run_containerd()
    if not mounts_under(directory):
        subprocess.run(["rm", "-rf", "--one-file-system", str(directory)], check=False, timeout=120)
    found = leftovers(directory, settings.bridge)
    if directory.exists():
        found.append(f"folder {directory}")
    return found
