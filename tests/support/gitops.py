"""What GitOps tools see of an Execution: the real kstatus library and Argo CD's Lua check.

Shared by tests/integration/gitops (status fixtures, no cluster) and
e2e/operator/test_gitops.py (Executions read from the API server):

- `build_kstatus(directory)` builds `e2e/go/kstatus` (sigs.k8s.io/cli-utils'
  kstatus, from the Go module proxy) with `go build`; `kstatus_binary` uses
  `$KUBERUN_KSTATUS` instead when set; `kstatus(binary, obj)` runs it on one
  object and returns InProgress, Current, Failed, ...;
- `argocd_health(obj)` runs the shipped `health.lua` in the real `lua5.4`
  interpreter, the object given to it as the global `obj`, as Argo CD does.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[2]
KSTATUS_MODULE = REPO / "e2e" / "go" / "kstatus"
ARGOCD_DIR = (
    REPO / "integrations" / "argocd" / "resource_customizations" / "kuberun.dev" / "Execution"
)
HEALTH_LUA = ARGOCD_DIR / "health.lua"
# A cold build downloads cli-utils and the k8s.io libraries from the module proxy.
BUILD_TIMEOUT = 900


def kstatus_binary(directory: pathlib.Path) -> pathlib.Path:
    """$KUBERUN_KSTATUS when set, else the one `python -m e2e.cluster build` caches.

    `directory` is where a fresh build goes when neither is there (no cache dir).
    """
    prebuilt = os.environ.get("KUBERUN_KSTATUS")
    if prebuilt:
        path = pathlib.Path(prebuilt)
        if not path.is_file():
            raise RuntimeError(f"KUBERUN_KSTATUS={prebuilt} is not a file")
        return path
    from e2e.cluster import binaries

    try:
        return binaries.binary("kstatus")
    except binaries.BuildError:
        return build_kstatus(directory)


def build_kstatus(directory: pathlib.Path) -> pathlib.Path:
    """`go build` the kstatus program into `directory`; returns the binary."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    binary = directory / "kstatus"
    completed = subprocess.run(
        [go, "build", "-trimpath", "-o", str(binary), "."],
        cwd=KSTATUS_MODULE,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env={**os.environ, "CGO_ENABLED": "0"},
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"go build of e2e/go/kstatus failed:\n{completed.stderr}")
    return binary


def kstatus(binary: pathlib.Path, obj: dict[str, Any]) -> dict[str, str]:
    """kstatus's verdict on `obj`: {"name", "status", "message"}."""
    completed = subprocess.run(
        [str(binary)],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"kstatus failed: {completed.stderr}")
    (line,) = completed.stdout.splitlines()
    verdict: dict[str, str] = json.loads(line)
    return verdict


def lua_literal(value: Any) -> str:
    """`value` (parsed JSON/YAML) as a Lua table constructor, as Argo CD hands objects to Lua."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string literal is a valid Lua one for these texts
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = ", ".join(f"[{json.dumps(str(k))}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(f"cannot pass {type(value).__name__} to Lua")


def argocd_health(obj: dict[str, Any], script: pathlib.Path = HEALTH_LUA) -> dict[str, str]:
    """Run the Argo CD health check on `obj` with lua5.4: {"status", "message"}."""
    lua = shutil.which("lua5.4")
    if lua is None:
        raise RuntimeError("lua5.4 is needed (apt-get install lua5.4; scripts/setup.sh does it)")
    driver = (
        f"obj = {lua_literal(obj)}\n"
        f"local check = assert(loadfile({json.dumps(str(script))}))\n"
        "local hs = check()\n"
        'io.write(hs.status, "\\n", hs.message or "")\n'
    )
    completed = subprocess.run(
        [lua, "-"], input=driver, capture_output=True, text=True, timeout=30, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"health.lua failed: {completed.stderr}")
    status, _, message = completed.stdout.partition("\n")
    return {"status": status, "message": message}
