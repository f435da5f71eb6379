"""ScheduledExecutions on the real node: runs on time, Forbid, history, suspend, catch-up.

Standard five-field cron (`*/1 * * * *`) and the real clock: each test waits for
real minute boundaries, so each takes two to three minutes. The operator is the
chart's, as everywhere in e2e/operator; the outage is a `helm uninstall` and a
new `helm install` of the same release.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import kubernetes
import pytest

from e2e import harness
from e2e.operator import support
from kuberun.contract import schedule
from kuberun.contract import spec as contract

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

SCHEDULE_CRD = support.REPO / "crds" / "scheduledexecutions.kuberun.dev.yaml"


@pytest.fixture(scope="module")
def schedule_crd(cluster: harness.Cluster) -> None:
    cluster.kubectl("apply", "-f", str(SCHEDULE_CRD))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        f"crd/{schedule.PLURAL}.{contract.GROUP}",
        "--timeout=60s",
    )


@pytest.fixture
def schedules_ns(cluster: harness.Cluster, kx_namespace: str, schedule_crd: None) -> Iterator[str]:
    """The namespace; afterwards (the operator gone) its schedules' finalizers released."""
    yield kx_namespace
    listed = cluster.custom.list_namespaced_custom_object(
        contract.GROUP, contract.VERSION, kx_namespace, schedule.PLURAL
    )
    for item in listed.get("items", []):
        with contextlib.suppress(Exception):
            cluster.custom.patch_namespaced_custom_object(
                contract.GROUP,
                contract.VERSION,
                kx_namespace,
                schedule.PLURAL,
                item["metadata"]["name"],
                {"metadata": {"finalizers": None}},
            )
    support.release_finalizers(cluster, kx_namespace)


def scheduled(name: str, code: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": contract.API_VERSION,
        "kind": schedule.KIND,
        "metadata": {"name": name},
        "spec": {
            "schedule": "*/1 * * * *",
            "executionTemplate": {
                "metadata": {"labels": {"team": "e2e"}},
                "spec": {"source": {"inline": code}, "timeoutSeconds": 300},
            },
            **fields,
        },
    }


def create_schedule(cluster: harness.Cluster, ns: str, body: dict[str, Any]) -> None:
    cluster.custom.create_namespaced_custom_object(
        contract.GROUP, contract.VERSION, ns, schedule.PLURAL, body
    )


def get_schedule(cluster: harness.Cluster, ns: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
        contract.GROUP, contract.VERSION, ns, schedule.PLURAL, name
    )
    return found


def runs(cluster: harness.Cluster, ns: str, name: str) -> list[dict[str, Any]]:
    """The schedule's Executions (not being deleted), oldest first."""
    listed = cluster.custom.list_namespaced_custom_object(
        contract.GROUP,
        contract.VERSION,
        ns,
        contract.PLURAL,
        label_selector=f"{schedule.SCHEDULE_LABEL}={name}",
    )
    items = [i for i in listed.get("items", []) if not i["metadata"].get("deletionTimestamp")]
    return sorted(items, key=lambda i: i["metadata"]["name"])


def first_runs(cluster: harness.Cluster, ns: str, name: str) -> list[dict[str, Any]] | None:
    return runs(cluster, ns, name) or None


def minute_of(run: dict[str, Any]) -> int:
    return int(run["metadata"]["name"].rsplit("-", 1)[1])


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def events(cluster: harness.Cluster, ns: str, name: str) -> list[tuple[str, str]]:
    listed = cluster.core.list_namespaced_event(
        ns, field_selector=f"involvedObject.name={name},involvedObject.kind={schedule.KIND}"
    )
    return [(e.reason, e.message) for e in listed.items]


def test_runs_on_time_with_forbid_history_and_suspend(
    cluster: harness.Cluster, schedules_ns: str, operator: support.Operator
) -> None:
    ns = schedules_ns
    # Created well inside a minute, so the first boundary after creation is one the
    # operator's daemon has surely seen the schedule before (not one it starts after).
    if 60 - time.time() % 60 < 20:
        sleep_until((int(time.time()) // 60 + 1) * 60 + 1)
    # "quick" runs for a moment each minute and keeps one success; "slow" runs for 75 s,
    # longer than its interval, under Forbid (and no starting deadline, as CronJob's
    # default: the blocked time runs when the blocking run ends).
    create_schedule(
        cluster,
        ns,
        scheduled(
            "quick",
            "result = 'tick'",
            concurrencyPolicy="Forbid",
            successfulExecutionsHistoryLimit=1,
        ),
    )
    create_schedule(
        cluster,
        ns,
        scheduled(
            "slow", "import time\ntime.sleep(75)\nresult = 'slow'", concurrencyPolicy="Forbid"
        ),
    )
    created_at = time.time()
    t0 = (int(created_at) // 60 + 1) * 60  # the first minute boundary after creation

    # The first runs, named for their minute, created within seconds of it.
    first = harness.wait_for(
        "quick's first run",
        lambda: runs(cluster, ns, "quick") or None,
        timeout=t0 - time.time() + 30,
    )[0]
    assert minute_of(first) == t0 // 60
    lag = at(first["metadata"]["creationTimestamp"]) - t0
    print(f"first run created {lag:.1f}s after its minute")
    assert 0 <= lag < 10
    assert first["metadata"]["ownerReferences"][0]["kind"] == schedule.KIND
    assert first["metadata"]["labels"]["team"] == "e2e"
    support.wait_phase(cluster, ns, first["metadata"]["name"], "SUCCESS", timeout=50)
    slow_first = harness.wait_for(
        "slow's first run", lambda: runs(cluster, ns, "slow") or None, timeout=20
    )[0]
    assert minute_of(slow_first) == t0 // 60

    # The next minute: quick fires again (twice in two minutes) and its first success is
    # pruned (history limit 1); slow is blocked by its own running first run.
    second = harness.wait_for(
        "quick's second run",
        lambda: next((r for r in runs(cluster, ns, "quick") if minute_of(r) == t0 // 60 + 1), None),
        timeout=t0 + 60 - time.time() + 30,
    )
    support.wait_phase(cluster, ns, second["metadata"]["name"], "SUCCESS", timeout=50)
    harness.wait_for(
        "quick's first run pruned",
        lambda: (
            [r["metadata"]["name"] for r in runs(cluster, ns, "quick")]
            == [second["metadata"]["name"]]
        ),
        timeout=20,
    )
    second_time = datetime.fromtimestamp(t0 + 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = harness.wait_for(
        "quick's status after its second run",
        lambda: (
            current
            if (current := get_schedule(cluster, ns, "quick").get("status", {})).get("active") == []
            and current.get("lastScheduleTime") == second_time
            else None
        ),
        timeout=10,
    )
    assert status["lastSuccessfulTime"] and at(status["lastSuccessfulTime"]) > t0 + 60

    sleep_until(t0 + 70)
    slow_runs = runs(cluster, ns, "slow")
    assert [r["metadata"]["name"] for r in slow_runs] == [slow_first["metadata"]["name"]], (
        "Forbid: no second run while the first is running"
    )
    slow_status = get_schedule(cluster, ns, "slow")["status"]
    assert [a["name"] for a in slow_status["active"]] == [slow_first["metadata"]["name"]]
    assert any(reason == "ExecutionAlreadyActive" for reason, _ in events(cluster, ns, "slow"))

    # Suspend quick before its third minute: nothing more is created.
    cluster.custom.patch_namespaced_custom_object(
        contract.GROUP, contract.VERSION, ns, schedule.PLURAL, "quick", {"spec": {"suspend": True}}
    )
    harness.wait_for(
        "quick reports Suspended",
        lambda: any(
            c["type"] == "Ready" and c["reason"] == "Suspended"
            for c in get_schedule(cluster, ns, "quick").get("status", {}).get("conditions", [])
        ),
        timeout=10,
    )

    # slow's first run ends (75 s): the blocked minute's run starts only then.
    ended = support.wait_phase(cluster, ns, slow_first["metadata"]["name"], "SUCCESS", timeout=60)
    slow_second = harness.wait_for(
        "slow's second run", lambda: runs(cluster, ns, "slow")[1:] or None, timeout=30
    )[0]
    assert minute_of(slow_second) == t0 // 60 + 1, "the blocked time, run late"
    assert at(slow_second["metadata"]["creationTimestamp"]) >= at(ended["completionTime"]) - 1

    sleep_until(t0 + 130)
    assert [r["metadata"]["name"] for r in runs(cluster, ns, "quick")] == [
        second["metadata"]["name"]
    ], "suspended: no run at the third minute"
    table = cluster.kubectl("-n", ns, "get", schedule.PLURAL).stdout
    print(table)
    assert "*/1 * * * *" in table and "LAST SCHEDULE" in table


def test_a_missed_run_is_caught_up_once_after_an_outage(
    cluster: harness.Cluster, schedules_ns: str, operator: support.Operator
) -> None:
    ns = schedules_ns
    # "catchup" has no starting deadline: the latest missed time runs once, late.
    # "strict" must start within 5 s of its time: after the outage nothing is run,
    # and a MissedSchedule event says so.
    create_schedule(cluster, ns, scheduled("catchup", "result = 1"))
    create_schedule(cluster, ns, scheduled("strict", "result = 1", startingDeadlineSeconds=5))
    t0 = (int(time.time()) // 60 + 1) * 60
    for name in ("catchup", "strict"):
        first = harness.wait_for(
            f"{name}'s first run",
            functools.partial(first_runs, cluster, ns, name),
            timeout=t0 - time.time() + 30,
        )[0]
        support.wait_phase(cluster, ns, first["metadata"]["name"], "SUCCESS", timeout=50)

    operator.stop()  # the outage: two scheduled times (t0+60, t0+120) pass without it
    down_at = time.time()
    sleep_until(t0 + 127)  # more than strict's 5 s past t0+120
    operator.start()
    up_at = time.time()
    print(f"operator down {up_at - down_at:.0f}s")
    assert up_at < t0 + 180, "the outage ran into a third minute; the test cannot tell"

    caught = harness.wait_for(
        "the catch-up run", lambda: runs(cluster, ns, "catchup")[1:] or None, timeout=30
    )
    assert [minute_of(r) for r in caught] == [t0 // 60 + 2], "only the latest missed time"
    time.sleep(5)
    assert [minute_of(r) for r in runs(cluster, ns, "catchup")] == [t0 // 60, t0 // 60 + 2]
    assert [minute_of(r) for r in runs(cluster, ns, "strict")] == [t0 // 60]
    harness.wait_for(
        "strict's MissedSchedule event",
        lambda: any(reason == "MissedSchedule" for reason, _ in events(cluster, ns, "strict")),
        timeout=10,
    )
    strict = get_schedule(cluster, ns, "strict")["status"]
    assert at(strict["lastScheduleTime"]) == t0


def test_a_bad_schedule_is_stalled_with_an_event(
    cluster: harness.Cluster, schedules_ns: str, operator: support.Operator
) -> None:
    ns = schedules_ns
    create_schedule(cluster, ns, scheduled("typo", "result = 1", schedule="*/1 * * *"))
    harness.wait_for(
        "typo Stalled",
        lambda: any(
            c["type"] == "Stalled" and c["status"] == "True" and c["reason"] == "InvalidSchedule"
            for c in get_schedule(cluster, ns, "typo").get("status", {}).get("conditions", [])
        ),
        timeout=30,
    )
    assert any(reason == "InvalidSchedule" for reason, _ in events(cluster, ns, "typo"))
    with pytest.raises(kubernetes.client.ApiException) as refused:  # a name too long
        create_schedule(cluster, ns, scheduled("x" * 53, "result = 1"))
    assert refused.value.status == 422 and "at most 52 characters" in str(refused.value.body)
