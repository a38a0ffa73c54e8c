"""``pyfaas-operator`` as a real process on the host, against the test cluster (a pod image is issue 15's).

``running_operator(...)`` starts ``python -m pyfaas.operator`` watching one namespace, with short leader
election and retry timings so tests wait seconds, not minutes; its log goes to a file. On exit it gets
SIGTERM (it releases its Lease), then SIGKILL if it has not gone within 15 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OperatorProcess", "kubectl", "kubectl_binary", "running_operator"]

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class OperatorProcess:
    process: subprocess.Popen[bytes]
    log: Path
    identity: str

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up, the Lease stays held until it expires."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=15)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        return self.process.returncode


def operator_env(kubeconfig: Path, namespace: str, identity: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "http_", "https_"))}
    env.update(
        {
            "KUBECONFIG": str(kubeconfig),
            "image_pull_policy": "IfNotPresent",  # the kit has no registry: local images only
            "operator_namespaces": namespace,
            "lease_namespace": namespace,
            "POD_NAME": identity,
            "lease_duration": "4",
            "renew_deadline": "3",
            "retry_period": "500ms",
            "retry_initial": "500ms",
            "retry_max": "2",
            "readiness_probe_period_seconds": "1",
            "readiness_probe_initial_delay_seconds": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def running_operator(
    kubeconfig: Path, namespace: str, log_dir: Path, *, identity: str = "op-a", **extra: str
) -> Iterator[OperatorProcess]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"operator-{identity}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pyfaas.operator"],
            cwd=REPO_ROOT,
            env=operator_env(kubeconfig, namespace, identity, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = OperatorProcess(process, log, identity)
    try:
        yield running
    except BaseException:
        print(f"--- operator {identity} log (last 80 lines) ---")  # shown by pytest for a failed test
        print("\n".join(running.log_text().splitlines()[-80:]))
        raise
    finally:
        running.stop()


def kubectl_binary(kubeconfig: Path) -> Path:
    """The dev kit's (``DIR/bin`` beside its kubeconfig), else the throwaway cluster's assets', else PATH."""
    candidate = kubeconfig.parent / "bin" / "kubectl"
    if candidate.exists():
        return candidate
    assets = os.environ.get("PYFAAS_KUBE_ASSETS")
    if assets:
        from tests.support.kube_assets import resolve_assets

        return resolve_assets(REPO_ROOT / assets) / "kubectl"
    return Path(shutil.which("kubectl") or "kubectl")


def kubectl(kubeconfig: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    """Run the cluster's kubectl (:func:`kubectl_binary`) against ``kubeconfig``."""
    binary = str(kubectl_binary(kubeconfig))
    result = subprocess.run(
        [binary, "--kubeconfig", str(kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result.stdout
