"""One command from nothing to a finished Execution on the local control plane.

    .venv/bin/python examples/operator/quickstart.py            # up, apply hello.yaml, follow
    .venv/bin/python examples/operator/quickstart.py other.yaml # apply your own manifest
    .venv/bin/python examples/operator/quickstart.py --down     # stop everything it started

Brings up (or reuses) the local cluster (`python -m e2e.cluster up`: control
plane, containerd and the kubelet, with the runner and operator images built
from our Dockerfiles), a Redis server on the cluster's bridge, and installs
kuberun with its Helm chart (CRD, RBAC, the operator running in the cluster
from its image); applies the manifest, follows its log stream with
`kuberun logs -f` until it ends, prints `kubectl get` and the status. Files
live in ~/.cache/kuberun/quickstart; the commands it runs are printed so you
can repeat them by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from e2e.cluster import binaries, controlplane  # noqa: E402 - the repository's own tooling
from e2e.node import images  # noqa: E402

HOME = pathlib.Path.home() / ".cache" / "kuberun" / "quickstart"
PY = sys.executable
REDIS_PORT = 6390
NAMESPACE = "default"
RELEASE, RELEASE_NAMESPACE = "kuberun", "kuberun-system"


def sh(*args: str, check: bool = True, quiet: bool = False, **kw: object) -> str:
    if not quiet:
        print("$", " ".join(args), flush=True)
    done = subprocess.run(args, capture_output=True, text=True, env=ENV, **kw)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{done.stderr}")
    return str(done.stdout)


ENV = dict(os.environ)


def cluster_up() -> None:
    lines = sh(PY, "-m", "e2e.cluster", "up", cwd=REPO)
    for line in lines.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            ENV[key] = value.strip("'\"")


def background(name: str, argv: list[str], env: dict[str, str]) -> None:
    pid_file = HOME / f"{name}.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), 0)
            return  # already running
        except (ProcessLookupError, ValueError):
            pass
    log = open(HOME / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    print(f"$ {' '.join(argv)} > {HOME / (name + '.log')} &", flush=True)
    proc = subprocess.Popen(
        argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
    )
    pid_file.write_text(str(proc.pid))


def down() -> None:
    for name in ("redis",):
        pid_file = HOME / f"{name}.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            pid_file.unlink()
    sh(PY, "-m", "e2e.cluster", "down", cwd=REPO)


def install(state: controlplane.State, redis_url: str) -> None:
    """`helm upgrade --install` of our chart with the locally built images."""
    built = images.planned()
    repository, tag = built.operator.ref.rsplit(":", 1)
    values = {
        "watchNamespaces": [NAMESPACE],
        "operator": {
            "image": {"repository": repository, "tag": tag},
            # No kube-proxy on the local node: the API server's own address.
            "extraEnv": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": state.node_ip},
                {"name": "KUBERNETES_SERVICE_PORT", "value": str(state.apiserver_port)},
            ],
        },
        "runner": {"image": built.runner.ref},
        "redis": {"url": redis_url},
    }
    (HOME / "values.json").write_text(json.dumps(values, indent=2))
    helm = str(binaries.helm_path())
    sh(helm, "upgrade", "--install", RELEASE, str(REPO / "helm" / "kuberun"),
       "--namespace", RELEASE_NAMESPACE, "--create-namespace",
       "-f", str(HOME / "values.json"), "--wait", "--timeout", "180s")  # fmt: skip
    sh("kubectl", "-n", RELEASE_NAMESPACE, "get", "pods", "-o", "wide")


def follow(manifest: dict[str, Any], redis_url: str) -> None:
    """`kuberun logs -f`: the Execution's log stream, live, until it ends."""
    name = manifest["metadata"]["name"]
    while not sh("kubectl", "get", "kx", name, "--ignore-not-found", "-o", "name", quiet=True):
        time.sleep(0.2)
    argv = [PY, "-m", "kuberun.cli", "logs", name, "-n", NAMESPACE, "-f", "--redis", redis_url]
    print("$", " ".join(argv), flush=True)
    subprocess.run(argv, env=ENV, check=False)


def main(argv: list[str]) -> int:
    HOME.mkdir(parents=True, exist_ok=True)
    if argv[:1] == ["--down"]:
        down()
        return 0
    path = pathlib.Path(argv[0]) if argv else REPO / "examples" / "operator" / "hello.yaml"
    cluster_up()
    state = controlplane.State.load(controlplane.default_state_dir())
    assert state is not None, "the cluster did not come up"
    # Pods reach the host at the bridge's address; Redis listens there (and on loopback).
    redis_url = f"redis://{state.node_ip}:{REDIS_PORT}/0"
    background(
        "redis",
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(REDIS_PORT),
            "--bind",
            "127.0.0.1",
            state.node_ip,
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        ENV,
    )
    install(state, redis_url)
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in documents:
        sh("kubectl", "delete", "kx", doc["metadata"]["name"], "--ignore-not-found", "--wait")
    sh("kubectl", "apply", "-f", str(path))
    manifest = documents[0]  # followed to its end; the others keep running
    follow(manifest, f"redis://127.0.0.1:{REDIS_PORT}/0")
    print(sh("kubectl", "get", "kx", manifest["metadata"]["name"], "-o", "wide"))
    status = json.loads(
        sh("kubectl", "get", "kx", manifest["metadata"]["name"], "-o", "jsonpath={.status}")
    )
    for field in ("phase", "reason", "message", "result", "error", "duration", "attempt"):
        if status.get(field) not in (None, ""):
            print(f"{field:10} {json.dumps(status[field])}")
    print(
        "\nnext: KUBECONFIG=" + ENV.get("KUBECONFIG", "") + " kubectl get kx -w;"
        f" stop everything: {PY} {__file__} --down"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
