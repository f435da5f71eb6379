"""Who uses the shared cache, under which key, for how long."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.contract import keys, request, spec
from kuberun.contract.identity import ExecutionIdentity
from kuberun.runtime import caching
from kuberun.sdk import decorators


def make_request(namespace: str = "team-a", **fields: Any) -> request.RunRequest:
    return request.RunRequest(
        identity=ExecutionIdentity(namespace=namespace, name="n", uid="u"),
        spec=spec.ExecutionSpec.model_validate(
            {"source": {"inline": "x"}, "entrypoint": "regions", **fields}
        ),
    )


def info(kind: decorators.Kind, ttl: int | None = 300) -> decorators.EntrypointInfo:
    return decorators.EntrypointInfo(
        kind=kind, name="regions", description=None, parameters=(), cache_ttl_seconds=ttl
    )


PROVIDER = info(decorators.Kind.DATA_PROVIDER)


@pytest.mark.parametrize(
    "fields, entry, expected_ttl, read",
    [
        ({}, PROVIDER, 300, True),
        ({"cache": {"ttlSeconds": 60}}, PROVIDER, 60, True),
        ({"cache": {"bypass": True}}, PROVIDER, 300, False),
        ({"cache": {"ttlSeconds": 0}}, PROVIDER, None, None),
        ({}, info(decorators.Kind.DATA_PROVIDER, ttl=0), None, None),
        ({}, info(decorators.Kind.WORKFLOW), None, None),
        ({}, None, None, None),
    ],
    ids=["decorator-ttl", "spec-ttl", "bypass", "spec-off", "decorator-off", "workflow", "plain"],
)
def test_policy(
    fields: dict[str, Any],
    entry: decorators.EntrypointInfo | None,
    expected_ttl: int | None,
    read: bool | None,
) -> None:
    plan = caching.policy(make_request(**fields), entry)
    if expected_ttl is None:
        assert plan is None
    else:
        assert plan is not None
        assert (plan.ttl_seconds, plan.read) == (expected_ttl, read)


def test_keys_depend_on_parameters_not_their_order() -> None:
    one = caching.policy(make_request(parameters={"a": 1, "b": 2}), PROVIDER)
    two = caching.policy(make_request(parameters={"b": 2, "a": 1}), PROVIDER)
    other = caching.policy(make_request(parameters={"a": 2, "b": 2}), PROVIDER)
    assert one is not None and two is not None and other is not None
    assert one.entry_key == two.entry_key != other.entry_key
    assert one.lock_key == keys.cache_lock("namespace:team-a", "regions", {"a": 1, "b": 2})


def test_organization_shares_across_namespaces_and_namespaces_never_share_without_one() -> None:
    def key(namespace: str, **fields: Any) -> str:
        plan = caching.policy(make_request(namespace, **fields), PROVIDER)
        assert plan is not None
        return plan.entry_key

    assert key("a", organization="acme") == key("b", organization="acme")
    assert key("a") != key("b")
