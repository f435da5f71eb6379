"""The certificates and keys of a local control plane, made with the openssl CLI.

One CA signs everything: the API server's serving certificate (valid for
127.0.0.1, the node's bridge address and the in-cluster ``kubernetes.default``
names), the client certificates of the admin, the controller-manager, the
scheduler and the API server's kubelet client; the node's own client and
serving certificates are issued by :mod:`e2e.node.kubelet`. The
service-account signing key pair is separate, as in kubeadm. Elliptic-curve
keys keep generation well under a second.

Called once per ``up`` by :mod:`e2e.cluster.controlplane`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess

SERVER_NAMES = (
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
    "IP:127.0.0.1",
    "IP:10.0.0.1",
)


@dataclasses.dataclass(frozen=True)
class Pki:
    """Paths of every file in the PKI directory."""

    dir: pathlib.Path

    def cert(self, name: str) -> pathlib.Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> pathlib.Path:
        return self.dir / f"{name}.key"

    @property
    def ca(self) -> pathlib.Path:
        return self.cert("ca")

    @property
    def sa_key(self) -> pathlib.Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> pathlib.Path:
        return self.dir / "sa.pub"


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ec_key(path: pathlib.Path) -> None:
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(path),
        cwd=path.parent,
    )


def issue(pki: Pki, name: str, subject: str, *, usage: str, sans: tuple[str, ...] = ()) -> None:
    _ec_key(pki.key(name))
    csr = pki.dir / f"{name}.csr"
    ext = pki.dir / f"{name}.ext"
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "req", "-new", "-key", str(pki.key(name)), "-subj", subject, "-out", str(csr), cwd=pki.dir
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(pki.ca),
        "-CAkey",
        str(pki.key("ca")),
        "-CAcreateserial",
        "-days",
        "3650",
        "-extfile",
        str(ext),
        "-out",
        str(pki.cert(name)),
        cwd=pki.dir,
    )
    csr.unlink()
    ext.unlink()


def create(directory: pathlib.Path, *, node_ip: str) -> Pki:
    """Create a fresh PKI in ``directory`` (idempotent: an existing CA is kept).

    ``node_ip`` (the bridge address the API server listens on) is in the API
    server's certificate, so pods reach it by that address too.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    pki = Pki(directory)
    marker = directory / "node-ip"
    if marker.exists() and marker.read_text() == node_ip:
        return pki
    _ec_key(pki.key("ca"))
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        str(pki.key("ca")),
        "-subj",
        "/CN=kuberun-e2e-ca",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-out",
        str(pki.ca),
        cwd=directory,
    )
    issue(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        usage="serverAuth",
        sans=(*SERVER_NAMES, f"IP:{node_ip}"),
    )
    issue(pki, "admin", "/O=system:masters/CN=kubernetes-admin", usage="clientAuth")
    issue(pki, "controller-manager", "/CN=system:kube-controller-manager", usage="clientAuth")
    issue(pki, "scheduler", "/CN=system:kube-scheduler", usage="clientAuth")
    issue(
        pki,
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        usage="clientAuth",
    )
    _ec_key(pki.sa_key)
    _openssl("pkey", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub), cwd=directory)
    marker.write_text(node_ip)
    return pki
