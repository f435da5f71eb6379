from __future__ import annotations

from typing import Any

import pytest

from kuberun_operator.api import access

USER = {"authenticated": True, "user": {"username": "alice", "uid": "u1", "groups": ["dev"]}}


class Reviews:
    def __init__(self, token_status: dict[str, Any], allowed: bool) -> None:
        self.token_status, self.allowed = token_status, allowed
        self.tokens: list[dict[str, Any]] = []
        self.accesses: list[dict[str, Any]] = []
        self.now = 0.0

    async def token(self, body: dict[str, Any]) -> dict[str, Any]:
        self.tokens.append(body)
        return self.token_status

    async def allowing(self, body: dict[str, Any]) -> dict[str, Any]:
        self.accesses.append(body)
        return {"allowed": self.allowed}

    def gate(self) -> access.Gate:
        return access.Gate(self.token, self.allowing, clock=lambda: self.now)


LOGS = access.Permission("get", "team-a", subresource="log", name="job")


async def test_no_token_is_unauthenticated_without_asking() -> None:
    reviews = Reviews(USER, True)
    with pytest.raises(access.Unauthenticated, match="no bearer token"):
        await reviews.gate().allow(None, LOGS)
    assert reviews.tokens == []


async def test_a_rejected_token_is_unauthenticated() -> None:
    reviews = Reviews({"authenticated": False}, True)
    with pytest.raises(access.Unauthenticated, match="not accepted"):
        await reviews.gate().allow("bad", LOGS)
    assert reviews.accesses == []


async def test_the_review_asks_for_the_log_subresource_of_the_identity() -> None:
    reviews = Reviews(USER, True)
    who = await reviews.gate().allow("t", LOGS)
    assert who.username == "alice"
    [review] = reviews.accesses
    assert review["spec"]["user"] == "alice" and review["spec"]["groups"] == ["dev"]
    assert review["spec"]["resourceAttributes"] == {
        "namespace": "team-a",
        "verb": "get",
        "group": "kuberun.dev",
        "resource": "executions",
        "subresource": "log",
        "name": "job",
    }


async def test_denied_is_forbidden() -> None:
    reviews = Reviews(USER, False)
    with pytest.raises(
        access.Forbidden, match="alice may not get executions/log in namespace team-a"
    ):
        await reviews.gate().allow("t", LOGS)


async def test_reviews_are_cached_for_their_ttl_only() -> None:
    reviews = Reviews(USER, True)
    gate = reviews.gate()
    await gate.allow("t", LOGS)
    await gate.allow("t", LOGS)
    assert (len(reviews.tokens), len(reviews.accesses)) == (1, 1)
    reviews.now = access.REVIEW_TTL_SECONDS + 0.1
    await gate.allow("t", LOGS)
    assert (len(reviews.tokens), len(reviews.accesses)) == (1, 2)
    reviews.now = access.TOKEN_TTL_SECONDS + 0.1
    await gate.allow("t", LOGS)
    assert len(reviews.tokens) == 2


async def test_a_denial_is_forgotten_quickly() -> None:
    reviews = Reviews(USER, False)
    gate = reviews.gate()
    with pytest.raises(access.Forbidden):
        await gate.allow("t", LOGS)
    reviews.allowed = True
    with pytest.raises(access.Forbidden):
        await gate.allow("t", LOGS)  # still cached
    reviews.now = access.DENIED_TTL_SECONDS + 0.1
    await gate.allow("t", LOGS)


def test_bearer_header_parsing() -> None:
    assert access.bearer_token("Bearer abc") == "abc"
    assert access.bearer_token("bearer  abc ") == "abc"
    assert access.bearer_token("Basic abc") is None
    assert access.bearer_token("Bearer ") is None
    assert access.bearer_token(None) is None


def test_the_cache_evicts_the_least_recently_used() -> None:
    cache: access.TtlCache[int] = access.TtlCache(clock=lambda: 0.0, max_entries=2)
    cache.put("a", 1, 10)
    cache.put("b", 2, 10)
    assert cache.get("a") == 1
    cache.put("c", 3, 10)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
