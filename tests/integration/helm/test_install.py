"""Install the chart into a real API server and run the operator with the chart's RBAC.

A private control plane (etcd, kube-apiserver, kube-controller-manager from
`e2e.cluster`, no kubelet: no pod needs to run) gets `helm install`; then the
operator runs on this machine with the chart's environment and the *token of
the chart's ServiceAccount*, so every API call it makes is checked against
the least-privilege RBAC: admit an Execution (Secret, Job, status), cancel
it (pod deletion, CANCELLED), delete it (finalizer). Any 403 fails the test.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "kuberun"
NAMESPACE = "kuberun-system"
RELEASE = "kx"
OPERATOR_ACCOUNT = f"{RELEASE}-kuberun-operator"
pytestmark = pytest.mark.timeout(900)  # a cold binaries build; warm, the module takes ~40 s


class Cluster:
    def __init__(self, kubeconfig: Path, bins: Path) -> None:
        self.kubeconfig = kubeconfig
        self.bins = bins

    def run(self, tool: str, *args: str, stdin: str | None = None) -> str:
        completed = subprocess.run(
            [str(self.bins / tool), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            check=False,
        )
        assert completed.returncode == 0, f"{tool} {args}: {completed.stderr}"
        return completed.stdout

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self.run("kubectl", *args, stdin=stdin)

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    from e2e.cluster import binaries, controlplane

    state_dir = Path(tempfile.mkdtemp(prefix="kuberun-helm-"))
    try:
        state = controlplane.up(state_dir, kubelet=False)
        yield Cluster(state.kubeconfig, binaries.bin_dir())
    finally:
        controlplane.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = probe()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def account_kubeconfig(cluster: Cluster, directory: Path) -> Path:
    """A kubeconfig that authenticates as the chart's operator ServiceAccount."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    ca = server.get("certificate-authority-data")
    if ca is None:
        ca = base64.b64encode(Path(server["certificate-authority"]).read_bytes()).decode()
    token = cluster.kubectl("create", "token", OPERATOR_ACCOUNT, "-n", NAMESPACE).strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server["server"],
                                                "certificate-authority-data": ca}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "c", "user": "operator"}}],
        "current-context": "operator",
    }  # fmt: skip
    path = directory / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def operator_env(cluster: Cluster) -> dict[str, str]:
    """The literal env of the chart's operator container (secret refs left out: no Redis here)."""
    manifest = cluster.run("helm", "get", "manifest", RELEASE, "-n", NAMESPACE)
    deployment = next(d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e["value"] for e in env if "value" in e}


def event_reasons(cluster: Cluster, name: str) -> set[str]:
    selector = f"involvedObject.kind=Execution,involvedObject.name={name}"
    listed = cluster.get("events", "-n", NAMESPACE, "--field-selector", selector)
    return {e["reason"] for e in listed["items"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_operator_works_with_the_charts_rbac(cluster: Cluster, tmp_path: Path) -> None:
    cluster.run(
        "helm", "install", RELEASE, str(CHART), "-n", NAMESPACE, "--create-namespace",
        "--set", "redis.url=redis://redis.invalid:6379/0",
    )  # fmt: skip
    runner = cluster.get("serviceaccount", "kuberun-runner", "-n", NAMESPACE)
    assert runner["automountServiceAccountToken"] is False

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KUBERUN_")},
        **operator_env(cluster),
        "KUBERUN_HTTP_HOST": "127.0.0.1",
        "KUBERUN_HTTP_PORT": str(port),
        "KUBECONFIG": str(account_kubeconfig(cluster, tmp_path)),
    }
    log_path = tmp_path / "operator.log"
    with log_path.open("wb") as log:
        operator = subprocess.Popen(
            [sys.executable, "-m", "kuberun_operator"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
    try:
        ready = f"http://127.0.0.1:{port}/readyz"
        wait_for("/readyz", lambda: urllib.request.urlopen(ready, timeout=2).status == 200)

        # Retried: for a few seconds after the CRD is new, the API server answers 503 to
        # Executions until it has the schema the creator-stamping policy needs.
        wait_for(
            "the Execution accepted",
            lambda: cluster.kubectl(
                "apply", "-n", NAMESPACE, "-f", str(ROOT / "examples/executions/hello.yaml")
            ),
        )
        wait_for("the Job", lambda: cluster.get("job", "hello-1", "-n", NAMESPACE))
        status = wait_for(
            "status", lambda: cluster.get("execution", "hello", "-n", NAMESPACE).get("status")
        )
        assert status["phase"] in ("PENDING", "RUNNING"), status

        cluster.kubectl(
            "patch", "execution", "hello", "-n", NAMESPACE, "--type", "merge",
            "-p", '{"spec": {"cancel": true}}',
        )  # fmt: skip
        wait_for(
            "CANCELLED",
            lambda: (
                cluster.get("execution", "hello", "-n", NAMESPACE)["status"]["phase"] == "CANCELLED"
            ),
            timeout=90,
        )
        # The lifecycle Events were accepted by the API server, under the chart's RBAC.
        reasons = wait_for(
            "the lifecycle Events",
            lambda: (
                {"Queued", "Cancelled"} <= event_reasons(cluster, "hello")
                and event_reasons(cluster, "hello")
            ),
            timeout=20,
        )
        assert "Failed" not in reasons
        cluster.kubectl("delete", "execution", "hello", "-n", NAMESPACE, "--timeout=60s")
    except AssertionError as error:
        raise AssertionError(f"{error}\noperator log:\n{log_path.read_text()[-4000:]}") from None
    finally:
        os.killpg(operator.pid, signal.SIGTERM)
        try:
            operator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(operator.pid, signal.SIGKILL)
            operator.wait()
    log_text = log_path.read_text(errors="replace")
    # Not the chart's RBAC: right after the CRD is installed, the API server's owner-reference
    # check may not know the kind yet (403 "cannot find RESTMapping"), which the operator
    # retries as temporary (`apierrors`); every other 403 is a missing permission.
    denials = [
        line
        for line in log_text.splitlines()
        if ("Forbidden" in line or " 403" in line) and "cannot find RESTMapping" not in line
    ]
    assert not denials, "\n".join(denials[-20:]) + "\n" + log_text[-4000:]


def installed(cluster: Cluster) -> None:
    """The chart's release, whichever test of this module runs first."""
    cluster.run(
        "helm", "upgrade", "--install", RELEASE, str(CHART), "-n", NAMESPACE, "--create-namespace",
        "--set", "redis.url=redis://redis.invalid:6379/0",
    )  # fmt: skip


def kubectl_fails(cluster: Cluster, *args: str, stdin: str | None = None) -> str:
    completed = subprocess.run(
        [str(cluster.bins / "kubectl"), *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}, check=False,
    )  # fmt: skip
    assert completed.returncode != 0, f"kubectl {args} succeeded: {completed.stdout}"
    return completed.stderr


def execution_yaml(name: str, **spec: Any) -> str:
    body = {
        "apiVersion": "kuberun.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"source": {"inline": "print(1)"}, "parameters": {"n": 1}, **spec},
    }
    return yaml.safe_dump(body)


def test_helm_upgrade_changes_the_crd(cluster: Cluster, tmp_path: Path) -> None:
    installed(cluster)
    changed = tmp_path / "kuberun"
    shutil.copytree(CHART, changed)
    crd_file = changed / "files" / "crds" / "executions.kuberun.dev.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    columns.append({"name": "Upgraded", "type": "string", "jsonPath": ".status.reason"})
    crd_file.write_text(yaml.safe_dump(crd, sort_keys=False))
    try:
        cluster.run("helm", "upgrade", RELEASE, str(changed), "-n", NAMESPACE, "--reuse-values")
        served = cluster.get("crd", "executions.kuberun.dev")
        names = [c["name"] for c in served["spec"]["versions"][0]["additionalPrinterColumns"]]
        assert "Upgraded" in names
        assert served["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    finally:
        cluster.run("helm", "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values")
    served = cluster.get("crd", "executions.kuberun.dev")
    assert "Upgraded" not in [
        c["name"] for c in served["spec"]["versions"][0]["additionalPrinterColumns"]
    ]


def test_spec_is_immutable_except_cancel(cluster: Cluster) -> None:
    installed(cluster)
    cluster.kubectl("apply", "-f", "-", stdin=execution_yaml("frozen"))
    try:
        # Before any operator writes, the CRD's default makes it "not observed yet".
        status = cluster.get("execution", "frozen", "-n", NAMESPACE)["status"]
        assert status == {"observedGeneration": 0}

        for change in (
            execution_yaml("frozen", image="other:1"),  # a field added
            execution_yaml("frozen", timeoutSeconds=5),
            execution_yaml("frozen", parameters={"n": 2}),  # free-form JSON compares too
        ):
            error = kubectl_fails(cluster, "apply", "-f", "-", stdin=change)
            assert "cannot change after the Execution is created; only spec.cancel can" in error
        error = kubectl_fails(
            cluster, "patch", "execution", "frozen", "-n", NAMESPACE, "--type", "merge",
            "-p", '{"spec": {"source": {"inline": "print(2)"}}}',
        )  # fmt: skip
        assert "spec.source: Forbidden: spec.source cannot change" in error, error

        cluster.kubectl("apply", "-f", "-", stdin=execution_yaml("frozen", cancel=True))
        assert cluster.get("execution", "frozen", "-n", NAMESPACE)["spec"]["cancel"] is True
    finally:
        cluster.kubectl("delete", "execution", "frozen", "-n", NAMESPACE, "--wait=false")


def test_wrong_placement_is_rejected_at_apply(cluster: Cluster) -> None:
    installed(cluster)
    good = {
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "batch-high",
        "annotations": {"karpenter.sh/do-not-disrupt": "true"},
    }
    manifest = execution_yaml(
        "placed", placement=good, resources={"extended": {"nvidia.com/gpu": 1}}
    )
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifest)
    wrong = [
        ({"tolerations": [{"key": "x", "operator": "Maybe"}]}, 'Unsupported value: "Maybe"'),
        ({"nodeSelector": {"bad key!": "x"}}, "every key must be a label key"),
        ({"priorityClassName": "Not_A_Name"}, "priorityClassName"),
        ({"nodeName": "pinned"}, "unknown field"),
    ]
    for placement, expected in wrong:
        error = kubectl_fails(
            cluster, "apply", "--dry-run=server", "-f", "-",
            stdin=execution_yaml("placed", placement=placement),
        )  # fmt: skip
        assert expected in error, error
    error = kubectl_fails(
        cluster, "apply", "--dry-run=server", "-f", "-",
        stdin=execution_yaml("placed", resources={"extended": {"gpu": 1}}),
    )  # fmt: skip
    assert "nvidia.com/gpu" in error, error


def test_helm_install_with_a_misspelt_value_fails_with_the_schemas_message(
    cluster: Cluster,
) -> None:
    completed = subprocess.run(
        [str(cluster.bins / "helm"), "install", "typo", str(CHART), "-n", "typo",
         "--create-namespace", "--set", "admission.maxRuning=5"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}, check=False,
    )  # fmt: skip
    assert completed.returncode != 0
    assert "at '/admission': additional properties 'maxRuning' not allowed" in completed.stderr
    releases = cluster.run("helm", "list", "-A", "-q")
    assert "typo" not in releases.split()
