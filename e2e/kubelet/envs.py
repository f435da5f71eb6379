"""A container's environment, resolved the way the real kubelet does it.

Order and precedence follow upstream: the base variables (PATH, HOSTNAME,
HOME), the ``kubernetes`` service variables, then ``envFrom`` sources, then
``env`` entries, each ``env`` value expanding ``$(NAME)`` references to
variables defined before it (``$$`` escapes). ``valueFrom`` reads Secrets and
ConfigMaps from the API (``optional`` honoured) and downward-API fields.

The ``kubernetes`` service variables point at the API server on loopback, not
at the service ClusterIP: pods run on the host network and there is no
kube-proxy, so in-cluster clients must dial 127.0.0.1 directly.

Used by :mod:`e2e.kubelet.podworkers`; :func:`expand` also serves command/args.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from typing import Any
from urllib.parse import urlparse

from e2e.kubelet import fields, kubeapi

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ConfigError(Exception):
    """The environment references something missing (reason ``CreateContainerConfigError``)."""


def expand(value: str, env: dict[str, str]) -> str:
    """Expand ``$(VAR)`` with ``env``; unknown references stay as written; ``$$`` → ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, value)


def base(pod: dict[str, Any], api_server: str) -> dict[str, str]:
    """Variables every container gets before its own."""
    url = urlparse(api_server)
    host, port = url.hostname or "127.0.0.1", str(url.port or 443)
    venv_bin = os.path.dirname(sys.executable)
    return {
        "PATH": f"{venv_bin}:{BASE_PATH}",
        "HOSTNAME": pod["metadata"]["name"],
        "HOME": "/root",
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        "KUBERNETES_PORT_443_TCP": f"tcp://{host}:{port}",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": port,
        "KUBERNETES_PORT_443_TCP_ADDR": host,
    }


async def _object(
    client: kubeapi.Client, namespace: str, kind: str, name: str
) -> dict[str, Any] | None:
    try:
        return await client.get(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
    except kubeapi.NotFound:
        return None


def _values(obj: dict[str, Any], kind: str) -> dict[str, str]:
    if kind == "secrets":
        return {
            k: base64.b64decode(v).decode(errors="replace") for k, v in obj.get("data", {}).items()
        }
    return dict(obj.get("data", {}))


async def _key_ref(
    client: kubeapi.Client, namespace: str, kind: str, ref: dict[str, Any]
) -> str | None:
    optional = bool(ref.get("optional", False))
    obj = await _object(client, namespace, kind, ref["name"])
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{kind[:-1]} "{ref["name"]}" not found')
    values = _values(obj, kind)
    if ref["key"] not in values:
        if optional:
            return None
        raise ConfigError(
            f"couldn't find key {ref['key']} in {kind[:-1]} {namespace}/{ref['name']}"
        )
    return values[ref["key"]]


async def resolve(
    client: kubeapi.Client, pod: dict[str, Any], container: dict[str, Any], api_server: str
) -> dict[str, str]:
    """The full environment of ``container`` in ``pod``."""
    namespace = pod["metadata"]["namespace"]
    env = base(pod, api_server)
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        for kind, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            if key not in source:
                continue
            ref = source[key]
            obj = await _object(client, namespace, kind, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{kind[:-1]} "{ref["name"]}" not found')
            for name, value in _values(obj, kind).items():
                env[prefix + name] = value
    for item in container.get("env", []):
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(item.get("value", ""), env)
            continue
        source = item["valueFrom"]
        resolved: str | None
        if "secretKeyRef" in source:
            resolved = await _key_ref(client, namespace, "secrets", source["secretKeyRef"])
        elif "configMapKeyRef" in source:
            resolved = await _key_ref(client, namespace, "configmaps", source["configMapKeyRef"])
        elif "fieldRef" in source:
            resolved = fields.field_ref(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            resolved = fields.resource_field_ref(pod, source["resourceFieldRef"], container["name"])
        else:
            raise ConfigError(f"unsupported valueFrom in env {name!r}")
        if resolved is not None:
            env[name] = resolved
    return env
