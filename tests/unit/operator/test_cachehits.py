"""A data provider answered from the shared cache ends SUCCESS without a pod."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.contract import keys, spec, status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import cachehits
from kuberun_operator import reconciling as rc
from tests.unit.operator.test_reconciling import decide, kinds, make_spec, started

OPTIONS = [{"label": "GCP", "value": "gcp"}]


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"entrypoint": "regions", "parameters": {"cloud": "gcp"}, "organization": "acme"},
         keys.cache_entry("acme", "regions", {"cloud": "gcp"})),
        ({"entrypoint": "regions"}, keys.cache_entry("namespace:team", "regions", {})),
        ({}, None),
        ({"entrypoint": "regions", "cache": {"bypass": True}}, None),
        ({"entrypoint": "regions", "cache": {"ttlSeconds": 0}}, None),
        ({"entrypoint": "regions", "cancel": True}, None),
    ],
    ids=["organization", "namespace-scope", "script", "bypass", "ttl-off", "cancelled"],
)  # fmt: skip
def test_lookup_key(fields: dict[str, Any], expected: str | None) -> None:
    assert cachehits.lookup_key(make_spec(**fields), "team") == expected


def test_a_hit_ends_the_queued_execution_without_a_job() -> None:
    cached = rc.CachedResult(key="k", value=OPTIONS)
    got = decide(status.ExecutionStatus(), cached=cached, execution=make_spec(entrypoint="r"))
    assert (got.status.phase, got.status.reason) == (Phase.SUCCESS, Reason.CACHE_HIT)
    assert got.status.result == OPTIONS and got.status.result_available is True
    assert got.status.cache == status.CacheStatus(hit=True)
    assert "CreateAttempt" not in kinds(got)
    records = [a for a in got.actions if isinstance(a, rc.EngineRecord)]
    assert [r.kind for r in records] == ["queued", "cache_hit"]
    conditions = {c.type: c.status for c in got.status.conditions}
    assert conditions["Finished"] == "True" and conditions["Succeeded"] == "True"


def test_a_large_cached_result_is_referenced() -> None:
    cached = rc.CachedResult(key="the-key", value=[{"label": "x" * 20_000, "value": 1}])
    got = decide(status.ExecutionStatus(), cached=cached)
    assert got.status.result is None
    assert got.status.result_ref is not None and got.status.result_ref.redis_key == "the-key"


def test_a_running_execution_ignores_the_cache() -> None:
    got = decide(started(phase=Phase.PENDING), cached=rc.CachedResult(key="k", value=OPTIONS))
    assert got.status.phase is not Phase.SUCCESS


def test_cancel_wins_over_a_hit() -> None:
    execution = spec.ExecutionSpec.model_validate(
        {"source": {"inline": "x"}, "entrypoint": "r", "cancel": True}
    )
    got = decide(
        status.ExecutionStatus(), execution=execution, cached=rc.CachedResult(key="k", value=[])
    )
    assert got.status.phase is Phase.CANCELLED
