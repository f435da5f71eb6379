"""The PostgreSQL archive, end to end: a finished Execution and every line of its log
land in the database, and an operator that crashed before archiving catches up at start."""

from __future__ import annotations

from typing import Any

import pytest

from e2e import harness
from e2e.operator import support
from e2e.operator.archivesupport import postgres, query
from tests.support.postgres_server import PostgresServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
__all__ = ["postgres"]  # fixtures


@pytest.fixture
def operator_env(postgres: PostgresServer) -> dict[str, str]:
    return {"KUBERUN_ARCHIVE_DSN": postgres.dsn}


def archived(dsn: str, uid: str) -> tuple[Any, list[Any]] | None:
    rows = query(dsn, "SELECT phase, result FROM kuberun_executions WHERE uid = $1", uid)
    if not rows:
        return None
    logs = query(
        dsn,
        "SELECT attempt, sequence, source, message FROM kuberun_execution_logs"
        " WHERE uid = $1 ORDER BY attempt, sequence",
        uid,
    )
    return rows[0], logs


def test_a_finished_execution_and_its_logs_are_archived(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    postgres: PostgresServer,
) -> None:
    code = "for i in range(50):\n    print('line', i)\nresult = {'lines': 50}"
    created = support.create(cluster, kx_namespace, support.execution("archived", code))
    uid = created["metadata"]["uid"]
    support.wait_phase(cluster, kx_namespace, "archived", "SUCCESS")

    found = harness.wait_for(
        "the archive row", lambda: archived(postgres.dsn, uid), timeout=20, interval=0.2
    )
    row, logs = found
    assert row["phase"] == "SUCCESS" and row["result"] == '{"lines": 50}'
    user_lines = [r["message"] for r in logs if r["source"] == "stdout"]
    assert user_lines == [f"line {i}" for i in range(50)]
    assert logs[0]["source"] == "engine"  # "queued", before everything else
    assert [(r["attempt"], r["sequence"]) for r in logs] == sorted(
        (r["attempt"], r["sequence"]) for r in logs
    )


def test_executions_ended_while_archiving_was_off_are_archived_at_start(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    postgres: PostgresServer,
) -> None:
    operator.stop()
    without = support.operator_for(
        cluster, kx_namespace, operator.redis_url, operator.log_path
    ).start()
    try:
        created = support.create(
            cluster, kx_namespace, support.execution("early", "result = 'done'")
        )
        support.wait_phase(cluster, kx_namespace, "early", "SUCCESS")
    finally:
        without.stop()
    uid = created["metadata"]["uid"]
    assert archived(postgres.dsn, uid) is None

    operator.start()  # with the archive again: the start-up sweep finds it
    row, logs = harness.wait_for(
        "the sweep", lambda: archived(postgres.dsn, uid), timeout=20, interval=0.2
    )
    assert row["phase"] == "SUCCESS" and row["result"] == '"done"'
    assert any(r["source"] == "engine" for r in logs)
