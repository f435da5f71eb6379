"""One command from nothing to a finished Execution on the local control plane.

    .venv/bin/python examples/operator/quickstart.py            # up, apply hello.yaml, follow
    .venv/bin/python examples/operator/quickstart.py other.yaml # apply your own manifest
    .venv/bin/python examples/operator/quickstart.py --down     # stop everything it started

Brings up (or reuses) the local control plane (`python -m e2e.cluster up`), a
Redis server, the CRD, the namespace's Redis Secret (the operator creates the
runner ServiceAccount),
and the operator (`python -m kuberun_operator`) in the background; applies the
manifest, follows its log stream with `kuberun logs -f` until it ends, prints `kubectl get` and
the status. Processes and files live in ~/.cache/kuberun/quickstart; the
commands it runs are printed so you can repeat them by hand.
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
HOME = pathlib.Path.home() / ".cache" / "kuberun" / "quickstart"
PY = sys.executable
REDIS_PORT = 6390
OPERATOR_PORT = 8089
NAMESPACE = "default"


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
    for name in ("operator", "redis"):
        pid_file = HOME / f"{name}.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            pid_file.unlink()
    sh(PY, "-m", "e2e.cluster", "down", cwd=REPO)


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
    redis_url = f"redis://127.0.0.1:{REDIS_PORT}/0"
    background(
        "redis",
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(REDIS_PORT),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        ENV,
    )
    sh("kubectl", "apply", "-f", str(REPO / "crds" / "executions.kuberun.dev.yaml"))
    sh("kubectl", "wait", "--for=condition=Established", "crd/executions.kuberun.dev")
    secret = sh(
        "kubectl",
        "create",
        "secret",
        "generic",
        "kuberun-redis",
        f"--from-literal=url={redis_url}",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    sh("kubectl", "apply", "-f", "-", input=secret)
    background(
        "operator",
        [PY, "-m", "kuberun_operator"],
        {**ENV, "KUBERUN_REDIS_URL": redis_url, "KUBERUN_HTTP_PORT": str(OPERATOR_PORT)},
    )
    for _ in range(100):
        try:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{OPERATOR_PORT}/readyz", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in documents:
        sh("kubectl", "delete", "kx", doc["metadata"]["name"], "--ignore-not-found", "--wait")
    sh("kubectl", "apply", "-f", str(path))
    manifest = documents[0]  # followed to its end; the others keep running
    follow(manifest, redis_url)
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
