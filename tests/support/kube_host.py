"""What a test cluster changes on the host, how it is undone, and the check that nothing was left behind.

Set up before the components start: the pod bridge with the node/gateway address, a route that keeps
ClusterIP traffic on the bridge, IP forwarding + ``br_netfilter`` (ClusterIP traffic between pods), and the
``KUBEKIT-ISOLATE`` chain that drops forwarding between the bridge and every other interface (pods reach
nothing off the host). The kubelet changes some kernel settings itself; all are saved first and restored.

Undone after the components stopped: mounts under the cluster folder, the route and bridge, the iptables
chains of kube-proxy/kubelet/portmap and ours, empty ``kubepods`` cgroups, the kernel settings, and the
``/run/containerd`` folders containerd 1.6 creates whatever its configuration says.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HostNetwork",
    "leftovers",
    "mounts_under",
    "remove_kubepods_cgroups",
    "remove_run_containerd",
    "restore_sysctls",
    "save_sysctls",
    "unmount_all",
]

SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
ISOLATE = "KUBEKIT-ISOLATE"
OWNED_CHAINS = re.compile(r"KUBE-[A-Z0-9-]+|CNI-HOSTPORT-[A-Z]+|CNI-DN-[0-9a-f]+")
LEFTOVER_CHAINS = re.compile(r"^:((?:KUBE-|KUBEKIT-)\S*)", re.MULTILINE)
RUN_CONTAINERD = Path("/run/containerd")


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=60)


def save_sysctls() -> dict[str, str]:
    saved = {}
    for key in SYSCTLS:
        with contextlib.suppress(OSError):
            saved[key] = _sysctl_path(key).read_text().strip()
    return saved


def restore_sysctls(saved: dict[str, str]) -> None:
    for key, value in saved.items():
        path = _sysctl_path(key)
        with contextlib.suppress(OSError):
            if path.read_text().strip() != value:
                path.write_text(value)


def mounts_under(directory: Path) -> list[str]:
    prefix = str(directory) + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            found.append(point)
    return found


def unmount_all(directory: Path) -> None:
    """Pod volumes, rootfs overlays, network namespaces, the kubelet's bind mount of its root dir."""
    for _ in range(3):
        points = sorted(mounts_under(directory), reverse=True)  # deepest first
        if not points:
            return
        for point in points:
            if _run("umount", point, check=False).returncode != 0:
                _run("umount", "-l", point, check=False)


@dataclass(frozen=True)
class HostNetwork:
    bridge: str
    gateway: str
    pod_cidr: str
    service_cidr: str

    def set_up(self) -> None:
        if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
            _run("modprobe", "br_netfilter")
        if _run("ip", "link", "show", self.bridge, check=False).returncode != 0:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
        prefix = self.pod_cidr.split("/")[1]
        address = f"{self.gateway}/{prefix}"
        if f" {address} " not in _run("ip", "-4", "-o", "addr", "show", "dev", self.bridge).stdout:
            _run("ip", "addr", "add", address, "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        # ClusterIPs must never leave by the default route
        _run("ip", "route", "replace", self.service_cidr, "dev", self.bridge, "src", self.gateway)
        _sysctl_path("net.ipv4.ip_forward").write_text("1")
        _sysctl_path("net.bridge.bridge-nf-call-iptables").write_text("1")
        _run("iptables", "-w", "-N", ISOLATE, check=False)
        for rule in (
            ["-i", self.bridge, "!", "-o", self.bridge],
            ["-o", self.bridge, "!", "-i", self.bridge],
        ):
            if _run("iptables", "-w", "-C", ISOLATE, *rule, "-j", "DROP", check=False).returncode != 0:
                _run("iptables", "-w", "-A", ISOLATE, *rule, "-j", "DROP")
        if _run("iptables", "-w", "-C", "FORWARD", "-j", ISOLATE, check=False).returncode != 0:
            _run("iptables", "-w", "-I", "FORWARD", "1", "-j", ISOLATE)

    def tear_down(self, kube_proxy: Path | None) -> None:
        _run("ip", "route", "del", self.service_cidr, "dev", self.bridge, check=False)
        _run("ip", "link", "del", self.bridge, check=False)
        _run("iptables", "-w", "-D", "FORWARD", "-j", ISOLATE, check=False)
        _run("iptables", "-w", "-F", ISOLATE, check=False)
        _run("iptables", "-w", "-X", ISOLATE, check=False)
        if _foreign_kube_processes():
            return  # another cluster's kube-proxy owns the KUBE-* chains now
        if kube_proxy is not None:
            _run(str(kube_proxy), "--cleanup", check=False)
        for tool in ("iptables", "ip6tables"):
            _purge_chains(tool)


def _foreign_kube_processes() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("kubelet", "kube-proxy"):
                    found.append(int(entry.name))
    return found


def _purge_chains(tool: str) -> None:
    """Delete the rules jumping to kube-proxy/kubelet/portmap chains, then flush and delete those chains."""
    for table in ("filter", "nat", "mangle", "raw"):
        saved = _run(f"{tool}-save", "-t", table, check=False).stdout
        for line in saved.splitlines():
            words = shlex.split(line)
            if line.startswith("-A ") and "-j" in words:
                target = words[words.index("-j") + 1]
                if OWNED_CHAINS.fullmatch(target):
                    _run(tool, "-w", "-t", table, "-D", *words[1:], check=False)
        chains = [m.group(0) for m in re.finditer(r"^:(\S+)", saved, re.MULTILINE)]
        owned = [c[1:] for c in chains if OWNED_CHAINS.fullmatch(c[1:])]
        for flag in ("-F", "-X"):
            for chain in owned:
                _run(tool, "-w", "-t", table, flag, chain, check=False)


def remove_kubepods_cgroups() -> None:
    for hierarchy in [*Path("/sys/fs/cgroup").glob("*/kubepods"), Path("/sys/fs/cgroup/kubepods")]:
        if hierarchy.is_dir():
            for folder in sorted((p for p in hierarchy.rglob("*") if p.is_dir()), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                hierarchy.rmdir()


def remove_run_containerd() -> None:
    for folder in ("runc/k8s.io", "runc", "fifo", "s", ""):
        with contextlib.suppress(OSError):
            (RUN_CONTAINERD / folder).rmdir()


def _processes_of(directory: Path) -> list[str]:
    return [f"process {pid}: {command}" for pid, command in processes_of(directory)]


def processes_of(directory: Path) -> list[tuple[int, str]]:
    """Live processes started from, configured in or rooted in ``directory`` (components, shims, pods):
    PID and the start of the command line."""
    needle = str(directory).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes()
            root = os.readlink(entry / "root").encode()
        except OSError:
            continue
        if state != b"Z" and (needle in cmdline or root.startswith(needle)):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")[:120]
            found.append((int(entry.name), command))
    return found


def leftovers(directory: Path, bridge: str, *, settle: float = 10.0) -> list[str]:
    """What a stopped cluster left behind, as the kit's README defines it; empty when the host is clean.

    Processes may take a moment to exit (shims after their tasks), so they are polled for ``settle`` seconds.
    """
    deadline = time.monotonic() + settle
    while (processes := _processes_of(directory)) and time.monotonic() < deadline:
        time.sleep(0.1)
    found = list(processes)
    if Path("/sys/class/net", bridge).exists():
        found.append(f"bridge {bridge}")
    for tool in ("iptables-save", "ip6tables-save"):
        chains = LEFTOVER_CHAINS.findall(_run(tool, check=False).stdout)
        found.extend(f"{tool}: chain {chain}" for chain in sorted(set(chains)))
    found.extend(f"mount {point}" for point in mounts_under(directory))
    found.extend(
        f"cgroup {path}"
        for path in [*Path("/sys/fs/cgroup").glob("*/kubepods"), Path("/sys/fs/cgroup/kubepods")]
        if path.exists()
    )
    return found
