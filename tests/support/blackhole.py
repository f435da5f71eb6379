"""A TCP proxy that can black-hole its connections: the network fault Redis clients fear most.

A refused connection fails at once; a black-holed one answers nothing: bytes
sent are never acknowledged by the other side, replies never come, and new
connections hang in the handshake. `TcpProxy.blackhole()` does that to the
clients of one server (a runner's Redis), without touching the server or any
other client: the proxy stops relaying in both directions (it leaves what
arrives unread) and stops accepting (the kernel's backlog fills, then SYNs go
unanswered). `heal()` resumes. Loopback or a test bridge only; stopped by
`close()`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

_TICK = 0.05


class TcpProxy:
    """Relays `listen_host:port` to `target`, until told to black-hole."""

    def __init__(self, listen_host: str, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind((listen_host, 0))
        self._server.listen(1)  # a small backlog: once black-holed, connects soon hang
        self.host = listen_host
        self.port = int(self._server.getsockname()[1])
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def blackhole(self) -> None:
        """Stop relaying and accepting; connections stay open and answer nothing."""
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            if not self._flowing.wait(_TICK):
                continue
            try:
                ready, _, _ = select.select([self._server], [], [], _TICK)
                if not ready or not self._flowing.is_set():
                    continue
                client, _ = self._server.accept()
                upstream = socket.create_connection(self._target, timeout=5)
            except (OSError, ValueError):  # ValueError: closed meanwhile
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while not self._closed.is_set():
            if not self._flowing.is_set():
                self._flowing.wait(_TICK)  # black-holed: read nothing, send nothing
                continue
            try:
                ready, _, _ = select.select([source], [], [], _TICK)
                if not ready or not self._flowing.is_set():
                    continue
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
            except (OSError, ValueError):
                break
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def tcp_proxy(listen_host: str, target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(listen_host, target_host, target_port)
    try:
        yield proxy
    finally:
        proxy.close()
