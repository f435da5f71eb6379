"""The shared data-provider cache with real runner processes and a real Redis:
concurrent misses compute once, hits skip the code, failures are never shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from kuberun.contract import keys, spec
from kuberun.contract.phases import Phase
from tests.integration.runtime import runner
from tests.support.data_providers import counting_provider


def provider_request(source: str, **spec_fields: Any) -> Any:
    req = runner.make_request(inline=source, entrypoint="regions", parameters={"cloud": "gcp"})
    fields = {"organization": "acme", **spec_fields}
    return req.model_copy(update={"spec": req.spec.model_copy(update=fields)})


def computations(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_concurrent_misses_compute_once_and_all_get_the_result(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    counter = tmp_path / "counter"
    source = counting_provider(counter, ttl=60)
    started = [
        runner.start(tmp_path / f"run{i}", provider_request(source), redis_url=redis_url)
        for i in range(6)
    ]
    finished = [s.wait(60) for s in started]
    results = [runner.result(redis_client, s.request) for s in started]

    assert [f.code for f in finished] == [0] * 6, [f.stderr for f in finished]
    assert computations(counter) == 1
    assert all(r.status is Phase.SUCCESS for r in results)
    assert all(r.result == [{"label": "GCP", "value": "gcp"}] for r in results)
    assert sorted(bool(r.cache_hit) for r in results) == [False] + [True] * 5
    assert all(f.summary is not None and f.summary.cache_hit is not None for f in finished)
    entry = keys.cache_entry("acme", "regions", {"cloud": "gcp"})
    assert 0 < runner.ttl(redis_client, entry) <= 60

    again = provider_request(source)
    runner.run(tmp_path / "later", again, redis_url=redis_url)
    assert computations(counter) == 1
    later = runner.result(redis_client, again)
    assert later.cache_hit is True
    assert any("cache hit" in m for m in runner.messages(redis_client, again))


def test_bypass_recomputes_and_refreshes(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    counter = tmp_path / "counter"
    source = counting_provider(counter, ttl=60)
    runner.run(tmp_path / "first", provider_request(source), redis_url=redis_url)
    bypass = provider_request(source, cache=spec.Cache(bypass=True))
    runner.run(tmp_path / "bypass", bypass, redis_url=redis_url)
    assert computations(counter) == 2
    assert runner.result(redis_client, bypass).cache_hit is False


def test_a_failure_is_not_cached_and_waiters_compute_after_it(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    counter = tmp_path / "counter"
    failing = counting_provider(counter, fail=True, ttl=60)
    started = [
        runner.start(tmp_path / f"run{i}", provider_request(failing), redis_url=redis_url)
        for i in range(3)
    ]
    results = [(s.wait(60), runner.result(redis_client, s.request)) for s in started]
    assert all(r.status is Phase.FAILED for _, r in results)
    assert all("backend down" in (r.error.message if r.error else "") for _, r in results)
    assert computations(counter) == 3  # each waiter ran it itself once the holder failed
    assert redis_client.get(keys.cache_entry("acme", "regions", {"cloud": "gcp"})) is None
    assert redis_client.get(keys.cache_lock("acme", "regions", {"cloud": "gcp"})) is None


def test_organizations_do_not_share(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    counter = tmp_path / "counter"
    source = counting_provider(counter, ttl=60)
    runner.run(tmp_path / "acme", provider_request(source), redis_url=redis_url)
    other = provider_request(source, organization="globex")
    runner.run(tmp_path / "globex", other, redis_url=redis_url)
    assert computations(counter) == 2
    assert runner.result(redis_client, other).cache_hit is False
