"""A data provider that counts its computations: the cache tests of the integration and
e2e tiers prove "computed once" with it.

It counts in a file when the runner shares the test's file system (integration), or
in a Redis key when it runs in a pod (e2e), through the Redis URL the runner has.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def counting_provider(
    counter: Path | str,
    *,
    fail: bool = False,
    seconds: float = 1.0,
    ttl: int = 300,
    redis_url: str | None = None,
) -> str:
    """Source of a `regions` provider counting each computation in `counter`.

    A Path is a file that gets a line per computation; a str is a Redis key incremented
    at `redis_url` (the test's own Redis: a runner's credential reaches only its
    namespace's kuberun keys, never a test counter), else at the runner's URL.
    """
    if isinstance(counter, Path):
        count = f"""
            with open({str(counter)!r}, "a") as f:
                f.write("computed\\n")"""
    else:
        count = f"""
            import os, redis
            url = {redis_url!r} or os.environ["KUBERUN_REDIS_URL"]
            redis.Redis.from_url(url).incr({counter!r})"""
    return textwrap.dedent(
        f"""
        import time
        from kuberun import data_provider

        @data_provider(name="regions", cache_ttl_seconds={ttl!r})
        def regions(cloud: str = "aws"):{count}
            time.sleep({seconds!r})
            if {fail!r}:
                raise RuntimeError("backend down")
            return [{{"label": cloud.upper(), "value": cloud}}]
        """
    )
