"""The log and result API end to end: the chart's API Deployment in front of the real
API server, Redis and PostgreSQL. Logs read through it are the stream's, a reader cut
20 times resumes with no gap and no duplicate, expired logs come whole from the
archive, a trimmed cursor gets 410, and only a token with `view` in the namespace reads."""

from __future__ import annotations

import random
import uuid
from typing import Any

import kubernetes
import pytest
import redis

from e2e import harness
from e2e.operator import apisupport, support
from e2e.operator.apifixtures import api, postgres, viewer
from e2e.operator.apisupport import ApiPod, get_json, ndjson, path, read_events
from e2e.operator.archivesupport import query
from kuberun.contract import keys
from tests.support.postgres_server import PostgresServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["api", "postgres", "viewer"]  # fixtures


def essentials(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["id"], r["level"], r["message"]) for r in records]


def from_stream(client: redis.Redis, namespace: str, uid: str) -> list[tuple[str, str, str]]:
    return [(i, f["level"], f["msg"]) for i, f in support.stream_messages(client, namespace, uid)]


CHATTY = """
import logging, time
log = logging.getLogger("work")
for i in range(200):
    if i % 7 == 0:
        log.warning("warn %d", i)
    elif i % 11 == 0:
        log.error("err %d", i)
    else:
        print("line", i)
    time.sleep(0.03)
result = {"lines": 200}
"""


def test_logs_through_the_api_are_the_stream_and_a_cut_reader_resumes_exactly(
    cluster: harness.Cluster,
    kx_namespace: str,
    api: ApiPod,
    viewer: str,
    redis_client: redis.Redis,
) -> None:
    created = support.create(cluster, kx_namespace, support.execution("chatty", CHATTY))
    uid = created["metadata"]["uid"]
    follow = path(kx_namespace, "chatty", "logs", follow="true")
    rng = random.Random(uuid.uuid4().int)
    cuts = sorted(rng.sample(range(1, 190), 20))
    got: list[dict[str, Any]] = []
    last: str | None = None
    for cut in cuts:
        part, end = read_events(api, follow, viewer, last, stop_after=cut - len(got))
        assert end is None
        got += part
        last = got[-1]["id"]
    rest, end = read_events(api, follow, viewer, last)
    got += rest
    assert end is not None and end["phase"] == "SUCCESS", end
    support.wait_phase(cluster, kx_namespace, "chatty", "SUCCESS")

    stream = from_stream(redis_client, kx_namespace, uid)
    assert essentials(got) == stream  # every record once, in order, ids and text the stream's
    printed = sum(1 for i in range(200) if i % 7 and i % 11)
    assert sum(1 for r in got if r["source"] == "stdout") == printed

    status, headers, whole = ndjson(api, path(kx_namespace, "chatty", "logs"), viewer)
    assert status == 200 and headers["x-kuberun-log-source"] == "redis"
    assert essentials(whole) == stream
    _, _, followed = ndjson(api, path(kx_namespace, "chatty", "logs", follow="true"), viewer)
    assert essentials(followed[:-1]) == stream
    assert followed[-1] == {"end": True, "phase": "SUCCESS", "reason": "Completed"}

    _, _, warnings = ndjson(
        api, path(kx_namespace, "chatty", "logs", level="warning,Error", source="log"), viewer
    )
    assert essentials(warnings) == [r for r in stream if r[1] in ("WARNING", "ERROR")]
    assert len(warnings) == 200 - printed

    status, result = get_json(api, path(kx_namespace, "chatty", "result"), viewer)
    assert status == 200 and result["result"] == {"lines": 200} and result["status"] == "SUCCESS"
    status, listed = get_json(api, path(kx_namespace), viewer)
    [item] = [i for i in listed["items"] if i["name"] == "chatty"]
    assert item["phase"] == "SUCCESS" and item["uid"] == uid and not item["archived"]
    assert item["durationSeconds"] > 0


def test_only_a_token_with_view_in_the_namespace_reads(
    cluster: harness.Cluster, kx_namespace: str, api: ApiPod, viewer: str
) -> None:
    support.create(cluster, kx_namespace, support.execution("secret-work", "print('hidden')"))
    support.wait_phase(cluster, kx_namespace, "secret-work", "SUCCESS")
    urls = [
        path(kx_namespace),
        path(kx_namespace, "secret-work"),
        path(kx_namespace, "secret-work", "result"),
        path(kx_namespace, "secret-work", "logs"),
    ]
    other = f"other-{uuid.uuid4().hex[:5]}"
    cluster.core.create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=other))
    )
    try:
        harness.wait_for(
            "the other namespace's default account",
            lambda: cluster.core.list_namespaced_service_account(other).items,
            timeout=30,
        )
        stranger = apisupport.account_token(cluster, other, "viewer", view=True)
        unbound = apisupport.account_token(cluster, kx_namespace, "nobody", view=False)
        for url in urls:
            status, body = get_json(api, url, None)
            assert (status, body["error"]) == (401, "unauthenticated"), url
            assert get_json(api, url, "not-a-token")[0] == 401, url
            status, body = get_json(api, url, stranger)
            assert (status, body["error"]) == (403, "forbidden"), (url, body)
            assert get_json(api, url, unbound)[0] == 403, url
            assert apisupport.request(api, "GET", url, viewer)[0] == 200, url
        # The stranger passes both reviews in its own namespace, which this release's API
        # (watchNamespaces: the test's namespace) does not serve: a clear 403, not a 5xx.
        status, body = get_json(api, path(other), stranger)
        assert (status, body["error"]) == (403, "forbidden"), body
        assert f"does not serve namespace {other}" in body["message"]
    finally:
        cluster.core.delete_namespace(other)

    # The token in the query is taken for event streams only (EventSource sends no header).
    logs = path(kx_namespace, "secret-work", "logs", access_token=viewer)
    status, _, _ = apisupport.request(api, "GET", logs, headers={"Accept": "application/json"})
    assert status == 401
    status, headers, body = apisupport.request(
        api, "GET", logs, headers={"Accept": "text/event-stream"}
    )
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert b"hidden" in body and b"event: end" in body


def test_expired_logs_come_from_the_archive_and_a_trimmed_cursor_gets_410(
    cluster: harness.Cluster,
    kx_namespace: str,
    api: ApiPod,
    viewer: str,
    redis_client: redis.Redis,
    postgres: PostgresServer,
) -> None:
    code = "for i in range(80):\n    print('a', i)\nresult = {'n': 80}"
    uid = support.create(cluster, kx_namespace, support.execution("kept", code))["metadata"]["uid"]
    support.wait_phase(cluster, kx_namespace, "kept", "SUCCESS")
    harness.wait_for(
        "the archive row",
        lambda: query(postgres.dsn, "SELECT 1 FROM kuberun_executions WHERE uid = $1", uid),
        timeout=30,
        interval=0.2,
    )
    stream = from_stream(redis_client, kx_namespace, uid)
    # Redis's retention passes: the stream and the result are gone.
    redis_client.delete(keys.logs_stream(kx_namespace, uid), keys.result(kx_namespace, uid, 1))

    logs = path(kx_namespace, "kept", "logs")
    status, headers, served = ndjson(api, logs, viewer)
    assert status == 200 and headers["x-kuberun-log-source"] == "archive"
    assert essentials(served) == stream
    middle = served[40]["id"]
    rest, end = read_events(api, path(kx_namespace, "kept", "logs", follow="true"), viewer, middle)
    assert essentials(rest) == stream[41:] and end == {"phase": "SUCCESS", "reason": "Completed"}

    # Deleted from the cluster too: still listed, detailed, its result and logs served.
    cluster.kubectl("-n", kx_namespace, "delete", "execution", "kept", "--wait=true")
    _, listed = get_json(api, path(kx_namespace), viewer)
    [item] = [i for i in listed["items"] if i["name"] == "kept"]
    assert item["archived"] is True and item["phase"] == "SUCCESS" and item["uid"] == uid
    status, detail = get_json(api, path(kx_namespace, "kept"), viewer)
    assert status == 200 and detail["archived"] and detail["spec"]["source"]["inline"] == code
    status, result = get_json(api, path(kx_namespace, "kept", "result"), viewer)
    assert (status, result["result"]) == (200, {"n": 80})
    assert essentials(ndjson(api, logs, viewer)[2]) == stream

    # A finished execution the archive does not have, its stream trimmed: 410, no gap.
    uid = support.create(cluster, kx_namespace, support.execution("trimmed", code))["metadata"][
        "uid"
    ]
    support.wait_phase(cluster, kx_namespace, "trimmed", "SUCCESS")
    harness.wait_for(
        "the archive row",
        lambda: query(postgres.dsn, "SELECT 1 FROM kuberun_executions WHERE uid = $1", uid),
        timeout=30,
        interval=0.2,
    )
    query(postgres.dsn, "DELETE FROM kuberun_executions WHERE uid = $1", uid)
    stream_key = keys.logs_stream(kx_namespace, uid)
    redis_client.xtrim(stream_key, minid="1-30", approximate=False)
    status, body = get_json(api, path(kx_namespace, "trimmed", "logs", after="1-5"), viewer)
    assert (status, body["error"]) == (410, "cursor-expired"), body
    status, headers, _ = apisupport.request(
        api,
        "GET",
        path(kx_namespace, "trimmed", "logs", follow="true"),
        viewer,
        {"Accept": "text/event-stream", "Last-Event-ID": "1-10"},
    )
    assert status == 410
    status, _, kept = ndjson(api, path(kx_namespace, "trimmed", "logs", after="1-29"), viewer)
    assert status == 200 and kept[0]["id"] == "1-30"
    assert get_json(api, path(kx_namespace, "trimmed", "logs", after="nonsense"), viewer)[0] == 400
