"""The runner's own Redis protocol: URLs read as redis-py reads them, commands packed and
replies parsed as the server speaks them."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from redis.connection import Connection, parse_url

from kuberun.runtime import resp

URLS = [
    "redis://localhost",
    "redis://127.0.0.1:6380/2",
    "redis://:s3cr%40t@redis.kuberun.svc:6379/0",
    "redis://runner:pw@10.0.0.7",
    "redis://[::1]:7000/1",
    "redis://host?db=3",
    "rediss://cache.example.com:6380/0?ssl_cert_reqs=none",
    "unix:///var/run/redis.sock?db=4",
    "unix://user:pw@/tmp/redis.sock",
]


@pytest.mark.parametrize("url", URLS, ids=URLS)
def test_urls_read_as_redis_py_reads_them(url: str) -> None:
    address = resp.parse_url(url)
    expected: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
    if "path" in expected:
        assert address.unix_path == expected["path"]
    else:
        assert (address.host, address.port) == (expected["host"], expected.get("port", 6379))
    assert address.db == int(expected.get("db", 0))
    assert address.username == expected.get("username")
    assert address.password == expected.get("password")
    assert address.tls is url.startswith("rediss://")
    assert address.tls_verify is ("ssl_cert_reqs=none" not in url)


@pytest.mark.parametrize(
    "url",
    ["http://host", "redis://host?socket_timeout=1", "redis://host:port", "redis://h/x", "unix://"],
)
def test_what_it_cannot_honour_is_refused_with_a_message(url: str) -> None:
    with pytest.raises(ValueError):
        resp.parse_url(url)


def test_commands_are_packed_as_redis_py_packs_them() -> None:
    args = ("SET", "k:{x}", "héllo\r\n$3", "EX", 86400)
    connection: Any = Connection  # redis-py leaves Connection untyped
    assert resp.pack(*args) == b"".join(connection().pack_command(*args))


def _serve(replies: bytes) -> resp.Connection:
    """A connection whose server answers `replies` to whatever it is sent."""
    ours, theirs = socket.socketpair()

    def server() -> None:
        theirs.recv(65536)
        theirs.sendall(replies)

    threading.Thread(target=server, daemon=True).start()
    connection = resp.Connection(resp.Address())
    connection._sock = ours  # connected already: the pair stands for the server
    return connection


def test_replies_of_every_kind() -> None:
    connection = _serve(b"+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n-ERR no\r\n")
    connection.send(b"anything")
    assert connection.read_reply() == "OK"
    assert connection.read_reply() == 42
    assert connection.read_reply() == b"hello"
    assert connection.read_reply() is None
    assert connection.read_reply() == [b"a", 1]
    with pytest.raises(resp.ReplyError, match="ERR no"):
        connection.read_reply()


def test_expected_replies_are_compared_and_anything_else_is_parsed() -> None:
    expected = b"$3\r\n1-1\r\n$3\r\n1-2\r\n:1\r\n"
    connection = _serve(expected)
    connection.send(b"x")
    assert connection.expect(expected, 3) == []
    rejected = (
        b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"
    )
    connection = _serve(b"$3\r\n1-1\r\n" + rejected + b":1\r\n")
    connection.send(b"x")
    errors = connection.expect(expected, 3)
    assert [(i, str(e)) for i, e in errors] == [(1, rejected[1:-2].decode())]


def test_a_closed_connection_is_a_connection_lost() -> None:
    ours, theirs = socket.socketpair()
    theirs.close()
    connection = resp.Connection(resp.Address())
    connection._sock = ours
    with pytest.raises(resp.ConnectionLost):
        connection.read_reply()
    assert not connection.connected
