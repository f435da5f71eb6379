"""The chart's tenancy admission policies in a real kube-apiserver (1.36, no kubelet):
`spec.organization` must be the namespace's label, the creator is stamped from the
request's user (a forged annotation overwritten, a forged `spec.caller` refused), and
the stamp cannot change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helm.test_install import CHART, Cluster, wait_for

NAMESPACE = "kuberun-system"
TENANT = "team-a"
MAPPED = "team-b"  # no label: bound by the chart's tenancy.organizations
pytestmark = pytest.mark.timeout(900)
CREATED_BY = "kuberun.dev/created-by"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    from e2e.cluster import binaries, controlplane

    state_dir = Path(tempfile.mkdtemp(prefix="kuberun-tenancy-"))
    try:
        state = controlplane.up(state_dir, kubelet=False)
        c = Cluster(state.kubeconfig, binaries.bin_dir())
        c.kubectl("create", "namespace", TENANT)
        c.kubectl("create", "namespace", MAPPED)
        c.kubectl("label", "namespace", TENANT, "kuberun.dev/organization=acme")
        c.run(
            "helm", "install", "kx", str(CHART), "-n", NAMESPACE, "--create-namespace",
            "--set", f"watchNamespaces={{{TENANT},{MAPPED}}}",
            "--set", f"tenancy.organizations.{MAPPED}.id=globex",
            "--set", "redis.url=redis://redis.invalid:6379/0",
            "--set", "api.enabled=true",
        )  # fmt: skip
        c.kubectl("-n", TENANT, "create", "serviceaccount", "alice")
        c.kubectl(
            "-n", TENANT, "create", "rolebinding", "alice", "--clusterrole=edit",
            f"--serviceaccount={TENANT}:alice",
        )  # fmt: skip
        yield c
    finally:
        controlplane.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


ALICE = f"system:serviceaccount:{TENANT}:alice"
API_ACCOUNT = f"system:serviceaccount:{NAMESPACE}:kx-kuberun-api"


def apply(
    cluster: Cluster,
    name: str,
    namespace: str = TENANT,
    *,
    user: str | None = None,
    meta: dict[str, Any] | None = None,
    **spec: Any,
) -> subprocess.CompletedProcess[str]:
    body = {
        "apiVersion": "kuberun.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": name, "namespace": namespace, **(meta or {})},
        "spec": {"source": {"inline": "print(1)"}, **spec},
    }
    args = [str(cluster.bins / "kubectl"), "create", "-f", "-"]
    if user is not None:
        args += ["--as", user]
    return subprocess.run(
        args, input=json.dumps(body), capture_output=True, text=True, timeout=60,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}, check=False,
    )  # fmt: skip


def created_by(cluster: Cluster, name: str) -> str:
    body = cluster.get("execution", name, "-n", TENANT)
    return str((body["metadata"].get("annotations") or {}).get(CREATED_BY, ""))


def test_another_organization_is_rejected_and_the_own_accepted(cluster: Cluster) -> None:
    tries = iter(range(1000))

    def refused() -> str | None:
        done = apply(cluster, f"poison-{next(tries)}", organization="globex")
        return done.stderr if "refused" in done.stderr else None

    # The policy's informers start a moment after the install.
    error = wait_for("the organization policy to refuse", refused, timeout=60)
    assert (
        "spec.organization globex refused: namespace team-a belongs to organization acme" in error
    ), error
    assert apply(cluster, "own", organization="acme").returncode == 0
    assert apply(cluster, "none").returncode == 0
    assert apply(cluster, "mapped", MAPPED, organization="globex").returncode == 0
    mapped_wrong = apply(cluster, "mapped-wrong", MAPPED, organization="acme")
    assert "belongs to organization globex" in mapped_wrong.stderr, mapped_wrong.stderr


def test_the_creator_is_stamped_and_cannot_be_forged(cluster: Cluster) -> None:
    tries = iter(range(1000))

    def stamped() -> bool:
        name = f"probe-{next(tries)}"
        return (
            apply(cluster, name, user=ALICE).returncode == 0 and created_by(cluster, name) == ALICE
        )

    wait_for("the creator stamp", stamped, timeout=60)

    forged = apply(cluster, "forged", user=ALICE, caller="ceo@acme.com")
    assert forged.returncode != 0
    assert "spec.caller ceo@acme.com refused" in forged.stderr and ALICE in forged.stderr

    assert apply(cluster, "honest", user=ALICE, caller=ALICE).returncode == 0

    done = apply(cluster, "overwritten", user=ALICE, meta={"annotations": {CREATED_BY: "ceo"}})
    assert done.returncode == 0, done.stderr
    assert created_by(cluster, "overwritten") == ALICE

    changed = subprocess.run(
        [str(cluster.bins / "kubectl"), "-n", TENANT, "annotate", "--overwrite",
         "execution/overwritten", f"{CREATED_BY}=ceo"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}, check=False,
    )  # fmt: skip
    assert changed.returncode != 0 and "cannot change" in changed.stderr, changed.stderr
    # Other updates (a cancel) still go through.
    cluster.kubectl(
        "-n", TENANT, "patch", "execution", "overwritten", "--type", "merge",
        "-p", '{"spec": {"cancel": true}}',
    )  # fmt: skip


def test_only_the_api_account_records_another_caller(cluster: Cluster) -> None:
    """HTTP triggers: the API's ServiceAccount creates the Execution with the caller it
    authenticated in kuberun.dev/created-by, and the policies keep that value; anyone
    else's annotation is still overwritten with their own name."""
    tries = iter(range(1000))

    def kept() -> bool:
        name = f"trigger-{next(tries)}"
        meta = {"annotations": {CREATED_BY: "ada@example.com"}}
        done = apply(cluster, name, user=API_ACCOUNT, meta=meta)
        return done.returncode == 0 and created_by(cluster, name) == "ada@example.com"

    wait_for("the API account's caller kept", kept, timeout=60)
    # without the annotation, the API account is stamped like anyone
    assert apply(cluster, "api-plain", user=API_ACCOUNT).returncode == 0
    assert created_by(cluster, "api-plain") == API_ACCOUNT
    meta = {"annotations": {CREATED_BY: "ada@example.com"}}
    done = apply(cluster, "alice-as-ada", user=ALICE, meta=meta)
    assert done.returncode == 0, done.stderr
    assert created_by(cluster, "alice-as-ada") == ALICE
    # spec.caller stays the creating user's, for the API account too
    forged = apply(cluster, "api-caller", user=API_ACCOUNT, caller="ceo@acme.com")
    assert forged.returncode != 0 and "spec.caller ceo@acme.com refused" in forged.stderr
