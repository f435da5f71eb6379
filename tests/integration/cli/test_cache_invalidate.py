"""`kuberun cache invalidate`: drops exactly the cached entry of a provider and its parameters."""

from __future__ import annotations

import subprocess
import sys

import redis

from kuberun.contract import keys


def kuberun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kuberun.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_invalidate_deletes_only_that_entry(redis_url: str, redis_client: redis.Redis) -> None:
    aws = keys.cache_entry(keys.cache_scope(None, "team-a"), "regions", {"cloud": "aws"})
    gcp = keys.cache_entry(keys.cache_scope(None, "team-a"), "regions", {"cloud": "gcp"})
    org = keys.cache_entry(keys.cache_scope("acme", "team-a"), "regions", {"cloud": "aws"})
    for key in (aws, gcp, org):
        redis_client.set(key, "[]")

    done = kuberun(
        "cache", "invalidate", "regions", "-p", "cloud=aws", "-n", "team-a", "--redis", redis_url
    )
    assert done.returncode == 0, done.stderr
    assert redis_client.exists(aws) == 0 and redis_client.exists(gcp) == 1
    assert redis_client.exists(org) == 1  # another scope

    by_org = kuberun("cache", "invalidate", "regions", "-p", "cloud=aws", "--org", "acme",
                     "--redis", redis_url)  # fmt: skip
    assert by_org.returncode == 0 and redis_client.exists(org) == 0

    again = kuberun(
        "cache", "invalidate", "regions", "-p", "cloud=aws", "-n", "team-a", "--redis", redis_url
    )
    assert again.returncode == 3
    assert again.stderr.count("kuberun:") == 1 and "hint:" in again.stderr
