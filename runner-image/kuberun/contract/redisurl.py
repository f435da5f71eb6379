"""Redis URLs as kuberun reads them: a plain server, or a Redis Cluster.

`redis://` and `rediss://` (TLS) name one server, as redis-py reads them.
`redis+cluster://` and `rediss+cluster://` name a Redis Cluster by any of its
nodes (the clients discover the rest): the one scheme tells the runner, the
operator and the API which client to build, so a cluster needs no second
setting that could disagree with the URL. Credentials (`user:password@`) work
the same in both forms.

Pure: parsing and rewriting only; the clients are built where they are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

CLUSTER_SUFFIX = "+cluster"
SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")


class RedisURLError(ValueError):
    """A Redis URL kuberun cannot use."""


@dataclass(frozen=True)
class RedisURL:
    """A parsed URL: whether it names a cluster, and the form redis-py reads."""

    cluster: bool
    url: str  # redis:// or rediss://, credentials included


def parse(url: str) -> RedisURL:
    """The URL's kind and redis-py form; RedisURLError for another scheme."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise RedisURLError(
            f"unsupported Redis URL scheme {parts.scheme!r}: use one of {', '.join(SCHEMES)}"
        )
    cluster = parts.scheme.endswith(CLUSTER_SUFFIX)
    scheme = parts.scheme.removesuffix(CLUSTER_SUFFIX)
    return RedisURL(cluster=cluster, url=urlunsplit(parts._replace(scheme=scheme)))


def with_credentials(url: str, username: str, password: str) -> str:
    """The same server(s) and scheme, authenticating as `username` instead."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise RedisURLError(f"unsupported Redis URL scheme {parts.scheme!r}")
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def username(url: str) -> str | None:
    """The user a URL authenticates as (None: the `default` user)."""
    name = urlsplit(url).username
    return unquote(name) if name else None


def redacted(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
