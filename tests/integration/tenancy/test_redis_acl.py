"""Runner credentials against a real Redis with `requirepass`: the namespace's ACL user
(rules from `tenancy.acl_rules`, applied as the operator does) runs a real runner
process — logs, result, shared cache — and reaches nothing of another namespace or
organization: every such read is `NOPERM`."""

from __future__ import annotations

import asyncio
import json
import statistics
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from kuberun.contract import keys, redisurl
from kuberun.contract.caller import Organization
from kuberun.contract.phases import Phase
from kuberun.runtime import resp
from kuberun.runtime.records import Entry
from kuberun.runtime.transports import RedisStreamTransport
from kuberun_operator import reconciling, redisio, redisusers, tenancy
from tests.integration.runtime import runner
from tests.support.data_providers import counting_provider
from tests.support.redis_server import RedisServer, running_redis

ADMIN_PASSWORD = "operator-secret"


@pytest.fixture(scope="module")
def secured() -> Iterator[RedisServer]:
    """A Redis whose default user needs a password (the operator's privileged one)."""
    with running_redis() as server:
        server.client().config_set("requirepass", ADMIN_PASSWORD)
        yield server


@pytest.fixture
def admin(secured: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host=secured.host, port=secured.port, password=ADMIN_PASSWORD)
    client.flushall()
    yield client
    client.close()


def admin_url(server: RedisServer) -> str:
    return f"redis://:{ADMIN_PASSWORD}@{server.host}:{server.port}/0"


def tenant_url(server: RedisServer, bound: tenancy.Binding, password: str) -> str:
    """Apply the namespace's user as the operator does; the URL its runners get."""

    async def apply() -> None:
        client = aioredis.Redis.from_url(admin_url(server))
        try:
            await redisusers.apply_user(client, bound, password)
        finally:
            await client.aclose()

    asyncio.run(apply())
    return redisurl.with_credentials(admin_url(server), tenancy.acl_user(bound.namespace), password)


def team_a() -> tenancy.Binding:
    return tenancy.Binding(namespace="team-a", organization=Organization(id="acme"))


def test_a_runner_under_its_namespace_user_streams_reports_and_caches(
    tmp_path: Path, secured: RedisServer, admin: redis.Redis
) -> None:
    url = tenant_url(secured, team_a(), "pw-a")
    req = runner.make_request(
        inline=counting_provider(tmp_path / "counter", seconds=0.1, ttl=60),
        entrypoint="regions",
        parameters={"cloud": "gcp"},
    )
    req = req.model_copy(update={"organization": Organization(id="acme")})
    first = runner.run(tmp_path / "first", req, redis_url=url)
    assert first.code == 0, first.stderr
    result = runner.result(admin, req)
    assert result.status is Phase.SUCCESS and result.cache_hit is False
    assert admin.get(keys.cache_entry("acme", "regions", {"cloud": "gcp"})) is not None
    assert runner.messages(admin, req), "the stream was written"
    assert "NOPERM" not in first.stderr and "NOPERM" not in first.stdout

    again = req.model_copy(
        update={"identity": req.identity.model_copy(update={"uid": req.identity.uid + "b"})}
    )
    second = runner.run(tmp_path / "second", again, redis_url=url)
    assert second.code == 0, second.stderr
    assert runner.result(admin, again).cache_hit is True  # lock and entry both reachable


PROBE = textwrap.dedent(
    """
    import os, redis

    def main():
        client = redis.Redis.from_url(os.environ["KUBERUN_REDIS_URL"])
        answers = {}
        for name, call in TRIES.items():
            try:
                call(client)
                answers[name] = "allowed"
            except redis.exceptions.NoPermissionError as exc:
                answers[name] = "NOPERM"
            except redis.RedisError as exc:
                answers[name] = f"{type(exc).__name__}: {exc}"
        return answers

    TRIES = {
        "other stream": lambda c: c.xrange(OTHER_STREAM),
        "other stream by GET": lambda c: c.get(OTHER_STREAM),
        "other result": lambda c: c.get(OTHER_RESULT),
        "other cancel": lambda c: c.set(OTHER_CANCEL, "x"),
        "other cache": lambda c: c.get(OTHER_CACHE),
        "other namespace's own cache": lambda c: c.get(OTHER_NS_CACHE),
        "list keys": lambda c: c.keys("*"),
        "scan": lambda c: c.scan(0),
        "own result": lambda c: c.get(OWN_RESULT),
        "acl": lambda c: c.acl_list(),
        "config": lambda c: c.config_get("requirepass"),
        "flush": lambda c: c.flushall(),
    }
    """
)


def test_runner_code_reaches_nothing_of_another_namespace_or_organization(
    tmp_path: Path, secured: RedisServer, admin: redis.Redis
) -> None:
    url = tenant_url(secured, team_a(), "pw-a")
    tenant_url(secured, tenancy.Binding("team-b", Organization(id="globex")), "pw-b")
    other_uid = "b" * 32
    admin.xadd(keys.logs_stream("team-b", other_uid), {"msg": "secret"}, id="1-1")
    admin.set(keys.result("team-b", other_uid, 1), "{}")
    admin.set(keys.cache_entry("globex", "regions", {}), "[]")
    admin.set(keys.cache_entry("namespace:team-b", "regions", {}), "[]")
    constants = {
        "OTHER_STREAM": keys.logs_stream("team-b", other_uid),
        "OTHER_RESULT": keys.result("team-b", other_uid, 1),
        "OTHER_CANCEL": keys.cancel("team-b", other_uid),
        "OTHER_CACHE": keys.cache_entry("globex", "regions", {}),
        "OTHER_NS_CACHE": keys.cache_entry("namespace:team-b", "regions", {}),
        "OWN_RESULT": keys.result("team-a", "a" * 32, 1),
    }
    source = "".join(f"{k} = {v!r}\n" for k, v in constants.items()) + PROBE
    req = runner.make_request(inline=source, entrypoint="main")
    finished = runner.run(tmp_path / "probe", req, redis_url=url)
    assert finished.code == 0, finished.stderr
    answers: dict[str, Any] = runner.result(admin, req).result
    assert answers == {
        "other stream": "NOPERM",
        "other stream by GET": "NOPERM",
        "other result": "NOPERM",
        "other cancel": "NOPERM",
        "other cache": "NOPERM",
        "other namespace's own cache": "NOPERM",
        "list keys": "NOPERM",
        "scan": "NOPERM",
        "own result": "allowed",
        "acl": "NOPERM",
        "config": "NOPERM",
        "flush": "NOPERM",
    }, json.dumps(answers, indent=1)


def test_the_default_user_and_a_wrong_password_are_refused(secured: RedisServer) -> None:
    tenant_url(secured, team_a(), "pw-a")
    anonymous = redis.Redis(host=secured.host, port=secured.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("x")
    wrong = redis.Redis(
        host=secured.host, port=secured.port, username="kuberun-ns-team-a", password="nope"
    )
    with pytest.raises(redis.AuthenticationError):
        wrong.get("x")


def test_a_changed_binding_replaces_the_users_rules(
    secured: RedisServer, admin: redis.Redis
) -> None:
    url = tenant_url(secured, team_a(), "pw-a")
    moved = tenancy.Binding(namespace="team-a", organization=Organization(id="initech"))
    tenant_url(secured, moved, "pw-a")
    client = redis.Redis.from_url(url)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.get(keys.cache_entry("acme", "regions", {}))
    assert client.get(keys.cache_entry("initech", "regions", {})) is None


def test_acl_setuser_costs_well_under_a_millisecond(secured: RedisServer) -> None:
    """The figure behind one user per namespace, applied before every attempt (docs)."""

    async def measure() -> tuple[float, float]:
        client = aioredis.Redis.from_url(admin_url(secured))
        try:
            for i in range(1000):  # a Redis that already holds 1000 users
                bound = tenancy.Binding(f"ns-{i}", Organization(id=f"org-{i}"))
                await redisusers.apply_user(client, bound, f"pw-{i}")
            samples = []
            for i in range(500):
                bound = tenancy.Binding(f"ns-{i}", Organization(id=f"org-{i}"))
                start = time.perf_counter()
                await redisusers.apply_user(client, bound, f"pw-{i}")
                samples.append(time.perf_counter() - start)
            samples.sort()
            return statistics.median(samples), samples[int(len(samples) * 0.99)]
        finally:
            await client.aclose()

    median, p99 = asyncio.run(measure())
    print(f"ACL SETUSER round trip: median {median * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs")
    assert median < 0.002


def test_users_a_restarted_redis_forgot_are_restored_and_others_left_alone(
    secured: RedisServer, admin: redis.Redis
) -> None:
    admin.acl_deluser("kuberun-ns-team-b")  # from an earlier test of the module
    known = {
        "team-a": (team_a(), "pw-a"),
        "team-b": (tenancy.Binding("team-b", Organization(id="globex")), "pw-b"),
    }

    async def restore() -> tuple[list[str], set[str]]:
        client = aioredis.Redis.from_url(admin_url(secured))
        try:
            restored = await redisusers.restore_users(client, known)
            return restored, await redisusers.existing_users(client)
        finally:
            await client.aclose()

    tenant_url(secured, team_a(), "pw-a")
    restored, present = asyncio.run(restore())
    assert restored == ["team-b"] and {"kuberun-ns-team-a", "kuberun-ns-team-b"} <= present

    secured.stop()  # no ACL file: a restart forgets every user (and the password)
    secured.start()
    secured.client().config_set("requirepass", ADMIN_PASSWORD)
    url = redisurl.with_credentials(admin_url(secured), "kuberun-ns-team-a", "pw-a")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(url).ping()
    restored, _ = asyncio.run(restore())
    assert sorted(restored) == ["team-a", "team-b"]
    assert redis.Redis.from_url(url).ping()


OPERATOR_RULES = (  # the operator's own user as docs/tenancy.md gives it
    "on >op-pw ~kuberun:* resetchannels +@read +@write +@stream +@keyspace +@scripting"
    " +@connection +cluster +acl|setuser +acl|users"
)


def test_the_documented_operator_user_runs_the_operator_calls(
    secured: RedisServer, admin: redis.Redis
) -> None:
    admin.acl_setuser("kuberun-operator", reset=True)
    raw: Any = admin  # ACL SETUSER with rules as Redis spells them: untyped in redis-py
    raw.execute_command("ACL", "SETUSER", "kuberun-operator", *OPERATOR_RULES.split())
    url = redisurl.with_credentials(admin_url(secured), "kuberun-operator", "op-pw")

    async def exercise() -> None:
        io = redisio.RedisIO(url, 2.0)
        try:
            assert await io.set_cancel("team-a", "u" * 32, "asked")
            record = reconciling.EngineRecord(
                at=reconciling.RecordAt.QUEUED, attempt=1, kind="queued", message="queued"
            )
            assert await io.engine_record("team-a", "u" * 32, record, 1.0)
            assert await io.read_result("team-a", "u" * 32, 1) == (None, True)
            await redisusers.apply_user(io.client, team_a(), "pw-a")
            assert "kuberun-ns-team-a" in await redisusers.existing_users(io.client)
        finally:
            await io.close()

    asyncio.run(exercise())


def test_under_its_namespace_user_the_sender_checks_a_rejected_resend(
    secured: RedisServer, admin: redis.Redis
) -> None:
    """After a reconnect the sender resends what it had on the wire; Redis rejects what it
    stored already, and the sender reads those ids back (XRANGE) to tell its own records
    from another writer's. Without that read allowed, every retry failed on NOPERM and a
    Redis restart mid-run lost the rest of the run's lines."""
    url = tenant_url(secured, team_a(), "pw-a")
    stream = keys.logs_stream("team-a", "c" * 32)
    transport = RedisStreamTransport(resp.Client(url).connection(), "team-a", "c" * 32)
    batch = [Entry(n, float(n), "INFO", "", "stdout", f"m{n}", 1) for n in range(1, 6)]
    try:
        assert transport.send(batch[:3]) is None
        assert transport.send(batch) == 0  # the first three again: ours, not lost
        admin.xadd(stream, {"msg": "not the runner's"}, id="1-7")
        assert transport.send([Entry(7, 7.0, "INFO", "", "stdout", "m7", 1)]) == 1
    finally:
        transport.close()
    entries: Any = admin.xrange(stream)
    assert [e[0] for e in entries] == [b"1-1", b"1-2", b"1-3", b"1-4", b"1-5", b"1-7"]


def test_a_refused_login_is_tried_again_on_the_next_command(
    secured: RedisServer, admin: redis.Redis
) -> None:
    """A restarted Redis refuses the runner's password until the operator restores its user;
    the runner's connections must log in again then, not go on unauthenticated."""
    url = tenant_url(secured, team_a(), "pw-a")
    client = resp.Client(url)
    own = keys.result("team-a", "d" * 32, 1)
    assert client.call("SET", own, "1") == "OK"
    admin.acl_deluser(tenancy.acl_user("team-a"))  # kills its connections, as a restart does
    with pytest.raises(resp.RespError):
        client.call("GET", own)
    with pytest.raises(resp.ReplyError, match="WRONGPASS"):
        client.call("GET", own)
    tenant_url(secured, team_a(), "pw-a")
    assert client.call("GET", own) == b"1"
