"""Key shapes that one ACL pattern per namespace and per cache scope fits exactly, and
the Redis URL forms (a server or a cluster, with a tenant's credentials)."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from kuberun.contract import keys, redisurl


@pytest.mark.parametrize("namespace", ["team", "team-a", "a"])
def test_a_namespace_pattern_matches_its_keys_only(namespace: str) -> None:
    pattern = keys.namespace_pattern(namespace)
    mine = [keys.logs_stream(namespace, "u1"), keys.result(namespace, "u1", 2)]
    mine.append(keys.cancel(namespace, "u1"))
    assert all(fnmatchcase(k, pattern) for k in mine)
    others = [keys.logs_stream(f"{namespace}-b", "u1"), keys.result(f"x{namespace}", "u", 1)]
    others += [
        keys.cache_entry(namespace, "p", {}),
        keys.cache_entry(f"namespace:{namespace}", "p", {}),
    ]
    assert not any(fnmatchcase(k, pattern) for k in others)


@pytest.mark.parametrize("scope", ["acme", "namespace:team", "a b", "org*", "x{y}"])
def test_a_cache_pattern_matches_its_scopes_entries_and_locks_only(scope: str) -> None:
    pattern = keys.cache_pattern(scope)
    assert fnmatchcase(keys.cache_entry(scope, "regions", {"a": 1}), pattern)
    assert fnmatchcase(keys.cache_lock(scope, "regions", {"a": 1}), pattern)
    for other in (f"{scope}:x", f"{scope}x", f"{scope}*", "other"):
        assert not fnmatchcase(keys.cache_entry(other, "regions", {}), pattern), other
    assert not fnmatchcase(keys.logs_stream("acme", "u"), pattern)


def test_scope_tokens_hold_no_separator_brace_or_glob_character() -> None:
    token = keys.scope_token("a:b{c}*?[d]\\ e/f")
    assert not set(token) & set(":{}*?[]\\ /")
    assert keys.scope_token("acme-corp_1.x") == "acme-corp_1.x"


def test_an_entry_and_its_lock_share_one_hash_tag() -> None:
    entry = keys.cache_entry("acme", "regions", {"cloud": "gcp"})
    lock = keys.cache_lock("acme", "regions", {"cloud": "gcp"})

    def tag(key: str) -> str:
        return key[key.index("{") + 1 : key.index("}")]

    assert tag(entry) == tag(lock) and lock == f"{entry}:lock"
    stream, result = keys.logs_stream("ns", "u"), keys.result("ns", "u", 3)
    assert tag(stream) == tag(result) == tag(keys.cancel("ns", "u")) == "ns:u"


@pytest.mark.parametrize(
    ("url", "cluster", "plain"),
    [
        ("redis://r:6379/0", False, "redis://r:6379/0"),
        ("rediss://:pw@r:6380/1", False, "rediss://:pw@r:6380/1"),
        ("redis+cluster://r:7000", True, "redis://r:7000"),
        ("rediss+cluster://u:p@r:7000/0", True, "rediss://u:p@r:7000/0"),
    ],
)
def test_urls_name_a_server_or_a_cluster(url: str, cluster: bool, plain: str) -> None:
    assert redisurl.parse(url) == redisurl.RedisURL(cluster=cluster, url=plain)


def test_another_scheme_is_a_clear_error() -> None:
    with pytest.raises(redisurl.RedisURLError, match="unsupported Redis URL scheme 'http'"):
        redisurl.parse("http://r:6379")


def test_credentials_are_replaced_and_never_logged() -> None:
    given = "redis+cluster://:admin@redis.redis:7000/0"
    tenant = redisurl.with_credentials(given, "kuberun-ns-a", "p@ss/w:rd")
    assert tenant == "redis+cluster://kuberun-ns-a:p%40ss%2Fw%3Ard@redis.redis:7000/0"
    assert redisurl.username(tenant) == "kuberun-ns-a"
    assert redisurl.username("redis://r:6379") is None
    assert redisurl.redacted(tenant) == "redis+cluster://kuberun-ns-a:***@redis.redis:7000/0"
    assert redisurl.with_credentials("redis://[::1]:6379", "u", "p") == "redis://u:p@[::1]:6379"
