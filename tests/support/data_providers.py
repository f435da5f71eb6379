"""A data provider that counts its computations in a file: the cache tests of the
integration and e2e tiers prove "computed once" with it."""

from __future__ import annotations

import textwrap
from pathlib import Path


def counting_provider(
    counter: Path, *, fail: bool = False, seconds: float = 1.0, ttl: int = 300
) -> str:
    """Source of a `regions` provider that appends a line to `counter` per computation."""
    return textwrap.dedent(
        f"""
        import time
        from kuberun import data_provider

        @data_provider(name="regions", cache_ttl_seconds={ttl!r})
        def regions(cloud: str = "aws"):
            with open({str(counter)!r}, "a") as f:
                f.write("computed\\n")
            time.sleep({seconds!r})
            if {fail!r}:
                raise RuntimeError("backend down")
            return [{{"label": cloud.upper(), "value": cloud}}]
        """
    )
