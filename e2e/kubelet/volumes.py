"""Pod volumes materialised as directories, and the bind mounts that show them.

Each volume becomes ``<pod dir>/volumes/<name>/``: ``emptyDir`` an empty
directory; ``configMap``, ``secret``, ``downwardAPI`` and ``projected``
(including ``serviceAccountToken``, requested through the TokenRequest API
bound to the pod, as the ServiceAccount admission plugin's
``kube-api-access-*`` volume needs) files with their ``items``, ``path`` and
modes; ``hostPath`` the host path itself. Contents are written once, when the
pod starts: later changes to a ConfigMap or Secret do not propagate.

:func:`mounts` turns a container's ``volumeMounts`` (with ``subPath`` and
``readOnly``) into bind mounts for :mod:`e2e.kubelet.shim`.
"""

from __future__ import annotations

import base64
import os
import pathlib
import shutil
from typing import Any

from e2e.kubelet import fields, kubeapi


class VolumeError(Exception):
    """A volume cannot be set up (a missing Secret, an unsupported type)."""


def _write(directory: pathlib.Path, relative: str, content: bytes, mode: int) -> None:
    target = directory / relative
    if ".." in pathlib.PurePosixPath(relative).parts or relative.startswith("/"):
        raise VolumeError(f"invalid path {relative!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    target.chmod(mode)


def _entries(obj: dict[str, Any], binary: bool) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    for key, value in obj.get("data", {}).items():
        data[key] = base64.b64decode(value) if binary else str(value).encode()
    for key, value in obj.get("binaryData", {}).items():
        data[key] = base64.b64decode(value)
    return data


async def _keyed(
    client: kubeapi.Client,
    namespace: str,
    kind: str,
    name: str,
    source: dict[str, Any],
    directory: pathlib.Path,
    default_mode: int,
) -> None:
    """Write a ConfigMap's or Secret's keys (or just ``items``) into ``directory``."""
    try:
        obj = await client.get(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
    except kubeapi.NotFound:
        if source.get("optional"):
            return
        raise VolumeError(f'{kind[:-1]} "{name}" not found') from None
    data = _entries(obj, binary=kind == "secrets")
    items = source.get("items")
    if not items:
        for key, value in data.items():
            _write(directory, key, value, default_mode)
        return
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f"key {item['key']!r} not found in {kind[:-1]} {name!r}")
        _write(directory, item["path"], data[item["key"]], int(item.get("mode", default_mode)))


def _downward(
    pod: dict[str, Any], items: list[dict[str, Any]], directory: pathlib.Path, default_mode: int
) -> None:
    first = pod["spec"]["containers"][0]["name"]
    for item in items:
        if "fieldRef" in item:
            value = fields.field_ref(pod, item["fieldRef"]["fieldPath"])
        else:
            value = fields.resource_field_ref(pod, item["resourceFieldRef"], first)
        _write(directory, item["path"], value.encode(), int(item.get("mode", default_mode)))


async def _token(
    client: kubeapi.Client,
    pod: dict[str, Any],
    source: dict[str, Any],
    directory: pathlib.Path,
    default_mode: int,
) -> None:
    meta = pod["metadata"]
    account = pod["spec"].get("serviceAccountName") or "default"
    spec: dict[str, Any] = {
        "expirationSeconds": int(source.get("expirationSeconds", 3600)),
        "boundObjectRef": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "uid": meta["uid"],
        },
    }
    if source.get("audience"):
        spec["audiences"] = [source["audience"]]
    answer = await client.create(
        f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )
    _write(directory, source["path"], answer["status"]["token"].encode(), default_mode)


def _host_path(source: dict[str, Any]) -> pathlib.Path:
    """A hostPath volume is the host path itself, created when its type asks for it."""
    host = pathlib.Path(source["path"])
    kind = source.get("type", "")
    if kind in ("DirectoryOrCreate", "") and not host.exists():
        host.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not host.exists():
        host.parent.mkdir(parents=True, exist_ok=True)
        host.touch()
    return host


def existing(pod: dict[str, Any], root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Name → directory of volumes materialised earlier (by a previous kubelet process).

    Adopted containers have these bind-mounted: rewriting them would replace the
    directories under the mounts, so a restarted kubelet reuses them as they are.
    """
    paths: dict[str, pathlib.Path] = {}
    for volume in pod["spec"].get("volumes", []):
        name = volume["name"]
        paths[name] = (
            pathlib.Path(volume["hostPath"]["path"]) if "hostPath" in volume else root / name
        )
    return paths


async def materialise(
    client: kubeapi.Client, pod: dict[str, Any], root: pathlib.Path
) -> dict[str, pathlib.Path]:
    """Create every volume of ``pod`` under ``root``; return name → directory (or host path)."""
    namespace = pod["metadata"]["namespace"]
    paths: dict[str, pathlib.Path] = {}
    for volume in pod["spec"].get("volumes", []):
        name = volume["name"]
        directory = root / name
        if "hostPath" in volume:
            paths[name] = _host_path(volume["hostPath"])
            continue
        if directory.exists() and "emptyDir" not in volume:
            shutil.rmtree(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths[name] = directory
        if "emptyDir" in volume:
            continue
        if "configMap" in volume:
            src = volume["configMap"]
            await _keyed(
                client,
                namespace,
                "configmaps",
                src["name"],
                src,
                directory,
                int(src.get("defaultMode", 0o644)),
            )
        elif "secret" in volume:
            src = volume["secret"]
            await _keyed(
                client,
                namespace,
                "secrets",
                src["secretName"],
                src,
                directory,
                int(src.get("defaultMode", 0o644)),
            )
        elif "downwardAPI" in volume:
            src = volume["downwardAPI"]
            _downward(pod, src.get("items", []), directory, int(src.get("defaultMode", 0o644)))
        elif "projected" in volume:
            src = volume["projected"]
            mode = int(src.get("defaultMode", 0o644))
            for source in src.get("sources", []):
                if "serviceAccountToken" in source:
                    await _token(client, pod, source["serviceAccountToken"], directory, mode)
                elif "configMap" in source:
                    await _keyed(
                        client,
                        namespace,
                        "configmaps",
                        source["configMap"]["name"],
                        source["configMap"],
                        directory,
                        mode,
                    )
                elif "secret" in source:
                    await _keyed(
                        client,
                        namespace,
                        "secrets",
                        source["secret"]["name"],
                        source["secret"],
                        directory,
                        mode,
                    )
                elif "downwardAPI" in source:
                    _downward(pod, source["downwardAPI"].get("items", []), directory, mode)
                else:
                    raise VolumeError(f"unsupported projected source in volume {name!r}")
        else:
            kinds = sorted(set(volume) - {"name"})
            raise VolumeError(f"volume {name!r}: unsupported type {kinds}")
    return paths


def mounts(
    container: dict[str, Any], paths: dict[str, pathlib.Path], termination_log: pathlib.Path
) -> list[dict[str, Any]]:
    """Bind mounts for ``container``: its volumeMounts plus the termination-message file."""
    result = []
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in paths:
            raise VolumeError(f"volumeMount {mount['name']!r} names no volume")
        source = paths[mount["name"]]
        if mount.get("subPath"):
            source = source / mount["subPath"]
            if not source.exists():
                source.mkdir(parents=True)
        result.append(
            {
                "source": str(source),
                "target": mount["mountPath"],
                "readOnly": bool(mount.get("readOnly", False)),
            }
        )
    target = container.get("terminationMessagePath") or "/dev/termination-log"
    result.append({"source": str(termination_log), "target": target, "readOnly": False})
    os.chmod(termination_log, 0o666)
    return result
