"""The PKI and kubeconfig of a throwaway test cluster (openssl, as the kit's up.sh does it).

A CA; the API server's serving certificate (SANs: loopback, the in-cluster Service names and IP, the pod
bridge gateway); an admin client certificate in ``system:masters``; the service-account signing key pair; a
static admin bearer token. The kubeconfig has context ``kit`` (token) and ``kit-cert`` (client certificate).
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pki", "make_pki", "write_kubeconfig"]

DAYS = "3650"


@dataclass(frozen=True)
class Pki:
    directory: Path

    def file(self, name: str) -> Path:
        """``ca.crt``, ``ca.key``, ``apiserver.crt|key``, ``admin.crt|key``, ``sa.key|pub``, ``token.csv``."""
        return self.directory / name

    @property
    def ca_crt(self) -> Path:
        return self.file("ca.crt")

    @property
    def token(self) -> str:
        return self.file("admin.token").read_text()


def _openssl(directory: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        ["openssl", *args], cwd=directory, input=stdin, text=True, check=True, capture_output=True, timeout=60
    )


def make_pki(directory: Path, *, san_ips: list[str]) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(
                lambda key: _openssl(directory, "genrsa", "-out", f"{key}.key", "2048"),
                ("ca", "apiserver", "admin", "sa"),
            )
        )
    _openssl(directory, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
    _openssl(
        directory, "req", "-x509", "-new", "-nodes", "-key", "ca.key", "-subj", "/CN=pyfaas-test-ca",
        "-days", DAYS, "-out", "ca.crt",
    )  # fmt: skip
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    names.append("kubernetes.default.svc.cluster.local")
    sans = ", ".join([f"DNS:{n}" for n in names] + [f"IP:{ip}" for ip in ["127.0.0.1", *san_ips]])
    (directory / "apiserver.cnf").write_text(
        "[req]\ndistinguished_name = dn\nreq_extensions = v3_req\nprompt = no\n[dn]\nCN = kube-apiserver\n"
        "[v3_req]\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n"
        f"subjectAltName = {sans}\n"
    )
    (directory / "client.ext").write_text(
        "keyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = clientAuth\n"
    )
    _openssl(
        directory, "req", "-new", "-key", "apiserver.key", "-config", "apiserver.cnf", "-out", "apiserver.csr"
    )
    _openssl(
        directory, "req", "-new", "-key", "admin.key", "-subj", "/O=system:masters/CN=kube-admin",
        "-out", "admin.csr",
    )  # fmt: skip
    sign = ["x509", "-req", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", DAYS]
    _openssl(directory, *sign, "-in", "apiserver.csr", "-extensions", "v3_req", "-extfile", "apiserver.cnf",
             "-out", "apiserver.crt")  # fmt: skip
    _openssl(directory, *sign, "-in", "admin.csr", "-extfile", "client.ext", "-out", "admin.crt")
    token = secrets.token_hex(24)
    (directory / "admin.token").write_text(token)
    (directory / "token.csv").write_text(f'{token},kube-admin,kube-admin-uid,"system:masters"\n')
    for private in directory.glob("*.key"):
        private.chmod(0o600)
    return Pki(directory)


def write_kubeconfig(path: Path, pki: Pki, server: str) -> None:
    def b64(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: kit
  cluster:
    server: {server}
    certificate-authority-data: {b64(pki.ca_crt)}
users:
- name: kit-admin
  user:
    token: {pki.token}
- name: kit-admin-cert
  user:
    client-certificate-data: {b64(pki.file("admin.crt"))}
    client-key-data: {b64(pki.file("admin.key"))}
contexts:
- name: kit
  context: {{cluster: kit, user: kit-admin, namespace: default}}
- name: kit-cert
  context: {{cluster: kit, user: kit-admin-cert, namespace: default}}
current-context: kit
"""
    )
    path.chmod(0o600)
