"""Write kubeconfig files for the local control plane.

Certificates are embedded (``*-data``), so a kubeconfig can be copied
elsewhere and still works. JSON is valid YAML, so no YAML library is needed.
"""

from __future__ import annotations

import base64
import json
import pathlib


def _b64(path: pathlib.Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write(
    path: pathlib.Path,
    *,
    server: str,
    ca: pathlib.Path,
    cert: pathlib.Path,
    key: pathlib.Path,
    user: str,
    context: str = "kuberun-e2e",
) -> None:
    """Write a single-context kubeconfig authenticating with a client certificate."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
