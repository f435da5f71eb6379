"""The Redis protocol (RESP2) by hand: one blocking connection for the runner's own commands.

Why not redis-py here: importing it costs a runner's start more than
everything else the runner imports (it pulls in asyncio), and its generic
command packing and reply parsing cost the sender thread several µs a record,
which user code pays for under the GIL. The runner needs a handful of
commands (XADD, EXPIRE, GET, SET, plus AUTH/SELECT when connecting), so it
speaks the protocol itself; redis-py is still what the data-provider cache
uses (its token-safe lock), imported only when a cached data provider runs.

    RespError                  every failure of this module
    ├── ConnectionLost         no connection, or it broke: temporary, retry later
    └── ReplyError             the server answered `-ERR ...` (the command is wrong)

URLs: `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS,
certificates verified unless `?ssl_cert_reqs=none`), `unix://[[user]:password@]/path[?db=N]`.
Anything else is refused by `parse_url` with a message saying what is supported.
A Redis Cluster URL (`redis+cluster://`, `rediss+cluster://`, see
`contract.redisurl`) is not for this module: `is_cluster_url` tells the runner to
use redis-py's cluster client for it (`runtime/clustering.py`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_CRLF = b"\r\n"
_READ_CHUNK = 65536
_KNOWN_QUERY = frozenset({"db", "ssl_cert_reqs", "ssl_ca_certs"})
_HEX = frozenset("0123456789abcdefABCDEF")


CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str) -> bool:
    """Whether `url` names a Redis Cluster (which redis-py's cluster client serves)."""
    return url.startswith(CLUSTER_SCHEMES)


def single_server_form(url: str) -> str:
    """A cluster URL's scheme without `+cluster` (the form its nodes' addresses take)."""
    scheme, separator, rest = url.partition("://")
    return f"{scheme.removesuffix('+cluster')}{separator}{rest}"


class Commands(Protocol):
    """The single commands the runner sends from any thread: `Client`, or for a Redis
    Cluster `clustering.ClusterClient`; both raise `RespError` when Redis fails."""

    url: str

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes | str, *, ex: int | None = None) -> None: ...

    def close(self) -> None: ...


class RespError(Exception):
    """Root of this module's errors."""


class ConnectionLost(RespError):
    """The server cannot be reached, or the connection broke mid-command."""


class ReplyError(RespError):
    """The server's error reply (`-ERR ...`), as text."""


@dataclass(frozen=True)
class Address:
    """Where a Redis server is and how to log in; built by `parse_url`."""

    host: str = "localhost"
    port: int = 6379
    unix_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_verify: bool = True
    tls_ca_file: str | None = None


def parse_url(url: str) -> Address:
    """The `Address` of a Redis URL; ValueError says what is wrong with it. Pure.

    Parsed by hand: `urllib.parse` (with `ipaddress`, which it imports) costs the
    runner's start a few milliseconds for a string this simple.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"unsupported Redis URL {url!r} (redis://, rediss:// or unix://)")
    rest, _, query_text = rest.partition("?")
    rest = rest.partition("#")[0]
    query: dict[str, str] = {}
    for item in filter(None, query_text.split("&")):
        name, _, value = item.partition("=")
        query[_unquote(name)] = _unquote(value)
    unknown = sorted(set(query) - _KNOWN_QUERY)
    if unknown:
        raise ValueError(f"unsupported Redis URL option(s) {', '.join(unknown)}")
    userinfo, at, location = rest.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = _unquote(user) or None
        password = _unquote(secret) if colon else None
    if scheme == "unix":
        path = _unquote(location)
        if not path:
            raise ValueError("a unix:// Redis URL needs a socket path")
        return Address(
            unix_path=path,
            db=_db(query.get("db", "")),
            username=username,
            password=password,
        )
    host_port, _, db_text = location.partition("/")
    host, port_text = host_port, ""
    if host_port.startswith("["):  # [IPv6]:port
        host, _, after = host_port[1:].partition("]")
        port_text = after.removeprefix(":")
    elif ":" in host_port:
        host, _, port_text = host_port.rpartition(":")
    try:
        port = int(port_text) if port_text else 6379
    except ValueError:
        raise ValueError(f"bad port in Redis URL: {port_text!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"bad port in Redis URL: {port}")
    verify = query.get("ssl_cert_reqs", "required").lower() not in ("none", "cert_none")
    return Address(
        host=_unquote(host) or "localhost",
        port=port,
        db=_db(db_text.strip("/") or query.get("db", "")),
        username=username,
        password=password,
        tls=scheme == "rediss",
        tls_verify=verify,
        tls_ca_file=query.get("ssl_ca_certs"),
    )


def _db(text: str) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        raise ValueError(f"Redis database must be a number, got {text!r}") from None


def _unquote(text: str) -> str:
    """Percent-decoding (`%40` → `@`), as in a URL's user, password and path."""
    if "%" not in text:
        return text
    parts = text.split("%")
    raw = bytearray(parts[0].encode())
    for part in parts[1:]:
        if len(part) >= 2 and all(c in _HEX for c in part[:2]):
            raw += bytes([int(part[:2], 16)]) + part[2:].encode()
        else:
            raw += b"%" + part.encode()
    return raw.decode("utf-8", "replace")


def bulk(value: bytes) -> bytes:
    """One bulk string: `$<length>\\r\\n<bytes>\\r\\n`."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack(*args: bytes | str | int) -> bytes:
    """One command as the server reads it (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode("utf-8", "surrogatepass")
        parts.append(bulk(raw))
    return b"".join(parts)


class Connection:
    """One socket to the server; not thread-safe (each thread that talks has its own)."""

    def __init__(
        self, address: Address, *, connect_timeout: float = 1.0, socket_timeout: float = 5.0
    ) -> None:
        self.address = address
        self._connect_timeout = connect_timeout
        self._socket_timeout = socket_timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the socket and log in (AUTH, SELECT); ConnectionLost or ReplyError."""
        address = self.address
        try:
            if address.unix_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self._connect_timeout)
                sock.connect(address.unix_path)
            else:
                sock = socket.create_connection(
                    (address.host, address.port), timeout=self._connect_timeout
                )
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if address.tls:
                sock = _wrap_tls(sock, address)
            sock.settimeout(self._socket_timeout)
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to Redis: {exc}") from exc
        self._sock = sock
        self._buffer.clear()
        login: list[bytes] = []
        if address.password is not None:
            user = [address.username] if address.username else []
            login.append(pack("AUTH", *user, address.password))
        if address.db:
            login.append(pack("SELECT", address.db))
        if login:
            try:
                self.send(b"".join(login))
                for _ in login:
                    self.read_reply()
            except RespError:
                # A refused login (a Redis restarted without its ACL users yet) must not
                # leave an unauthenticated socket behind: every later command on it would
                # fail with NOAUTH instead of logging in again.
                self.close()
                raise

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buffer.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def send(self, data: bytes) -> None:
        """Write `data` whole (connecting first if needed)."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"Redis connection broke: {exc}") from exc

    def _fill(self) -> None:
        if self._sock is None:
            raise ConnectionLost("not connected")
        try:
            chunk = self._sock.recv(_READ_CHUNK)
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"Redis connection broke: {exc}") from exc
        if not chunk:
            self.close()
            raise ConnectionLost("Redis closed the connection")
        self._buffer += chunk

    def expect(self, expected: bytes, count: int) -> list[tuple[int, ReplyError]]:
        """Read `count` replies; [] when they are exactly `expected`, else the error replies
        with their places (from 0) among the `count`.

        The sender knows what a good answer to its pipeline looks like (the ids
        it gave, then `:1`), so comparing bytes replaces parsing a thousand
        replies; only an unexpected answer is parsed reply by reply.
        """
        buffer, size = self._buffer, len(expected)
        checked = 0
        while len(buffer) < size:
            if buffer[checked:] != expected[checked : len(buffer)]:
                break
            checked = len(buffer)
            self._fill()
            buffer = self._buffer
        if buffer[:size] == expected:
            del buffer[:size]
            return []
        errors: list[tuple[int, ReplyError]] = []
        for index in range(count):
            reply = self.read_reply(raise_error=False)
            if isinstance(reply, ReplyError):
                errors.append((index, reply))
        return errors

    def read_reply(self, *, raise_error: bool = True) -> Any:
        """One reply: str for simple strings, int, bytes or None for bulk, list for arrays."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode("utf-8", "replace")
        if kind == b"-":
            error = ReplyError(rest.decode("utf-8", "replace"))
            if raise_error:
                raise error
            return error
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            while len(self._buffer) < length + 2:
                self._fill()
            data = bytes(self._buffer[:length])
            del self._buffer[: length + 2]
            return data
        if kind == b"*":
            length = int(rest)
            if length < 0:
                return None
            return [self.read_reply(raise_error=raise_error) for _ in range(length)]
        self.close()
        raise ConnectionLost(f"unexpected reply from Redis: {line[:80]!r}")

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(_CRLF)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            self._fill()

    def call(self, *args: bytes | str | int) -> Any:
        """One command, one reply (raises ReplyError for an error reply)."""
        self.send(pack(*args))
        return self.read_reply()


def _wrap_tls(sock: socket.socket, address: Address) -> socket.socket:
    import ssl  # only for rediss:// URLs; the module costs a plain start several ms

    context = ssl.create_default_context(cafile=address.tls_ca_file)
    if not address.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock, server_hostname=address.host)


class Client:
    """Single commands from any thread (one shared connection under a lock).

    A command that finds its connection broken is tried once more on a fresh
    one: GET and SET are safe to repeat, and a server restart should cost one
    reconnect, not an error.
    """

    def __init__(
        self, url: str, *, connect_timeout: float = 1.0, socket_timeout: float = 5.0
    ) -> None:
        self.url = url
        self.address = parse_url(url)
        self._timeouts = (connect_timeout, socket_timeout)
        self._lock = threading.Lock()
        self._connection = self.connection()

    def connection(self) -> Connection:
        """A new, separate connection to the same server (not yet connected)."""
        connect_timeout, socket_timeout = self._timeouts
        return Connection(
            self.address, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )

    def call(self, *args: bytes | str | int) -> Any:
        with self._lock:
            reused = self._connection.connected
            try:
                return self._connection.call(*args)
            except ConnectionLost:
                if not reused:
                    raise
                return self._connection.call(*args)

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self.call("GET", key)
        return value

    def set(self, key: str, value: bytes | str, *, ex: int | None = None) -> None:
        expiry: Sequence[bytes | str | int] = ("EX", ex) if ex is not None else ()
        self.call("SET", key, value, *expiry)

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def client_for(url: str, timeout: float | None = None) -> Commands:
    """A client that fails fast: the sender retries, so a long socket wait only delays that.

    One server: this module's `Client`. A Redis Cluster (`redis+cluster://`,
    `rediss+cluster://`): redis-py's cluster client behind the same interface
    (`clustering`), imported only then.
    """
    if is_cluster_url(url):
        from kuberun.runtime import clustering

        return clustering.ClusterClient(url, timeout)
    return Client(url, connect_timeout=1.0, socket_timeout=5.0 if timeout is None else timeout)
