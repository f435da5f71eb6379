"""Cooperative cancellation: watch for a stop request, then stop the user's code.

Requests come from: the Redis cancel key (`keys.cancel`, value = reason,
polled by the watcher thread), the soft deadline (`timeoutSeconds` → a
TIMED_OUT request), SIGTERM (the kubelet deleting the pod; a cancel only when
the cancel key is set, else a stop whose verdict is FAILED/Terminated, since
only spec.cancel may cancel) and SIGINT (local Ctrl-C
relayed by `kuberun run`). Every request goes through `Watcher.request`, which
sets the shared `Cancellation` (so `context.check_cancelled()` raises) and
asks the `Interrupter` to stop the code:

- sync code (runs on the main thread): the main thread gets `INTERRUPT_SIGNAL`
  via `pthread_kill`, whose handler raises `ExecutionCancelled` there — this
  also wakes `time.sleep`, lock waits and other interruptible system calls;
- async code: the main task is cancelled (`CancelledError` at its next await).

Code that ignores all that is stopped by the grace watchdog: `grace` seconds
after the request (or at once on a SIGTERM after the request), the runtime
reports the outcome itself and exits; the kubelet's SIGKILL remains the last
resort.

The deadline, signals and the watchdog never wait for Redis: the cancel key is
read by a thread of its own (`KeyPoller`), whose reads may block for the
client's socket timeout while Redis is unreachable (a black-holed connection
answers nothing), while the watcher thread keeps to the local clock. A SIGTERM
is a cancel only when the poller has seen the key or can read it within
`TERM_REASON_WAIT_SECONDS`; else it is FAILED/Terminated, and the operator,
which knows whether `spec.cancel` was set, judges.
"""

from __future__ import annotations

import contextlib
import enum
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING

from kuberun.contract import keys
from kuberun.runtime import resp, safepoints
from kuberun.sdk.context import Cancellation

if TYPE_CHECKING:  # the runtime imports asyncio only for async code
    import asyncio

# The signal that interrupts the main thread for sync code. SIGUSR1 is free in
# the runner (user code that installs its own SIGUSR1 handler opts out of the
# interrupt; the grace watchdog still ends the run).
INTERRUPT_SIGNAL = signal.SIGUSR1
TERMINATED_REASON = "terminated"
# A SIGTERM with no cancel request behind it: the pod was deleted, evicted or drained.
UNREQUESTED_TERMINATION = "terminated (SIGTERM) without a cancel request"
INTERRUPTED_REASON = "interrupted"
# How long async code gets to reach an `await` after its task was cancelled, before
# the main thread is interrupted as for sync code (only when the loop is blocked).
ASYNC_ESCALATE_SECONDS = 1.0
# While an interrupt is deferred, the watcher retries this often.
_DEFERRED_RETRY_SECONDS = 0.01
# How long a SIGTERM waits for the cancel key's reason before it says "terminated".
TERM_REASON_WAIT_SECONDS = 1.0


class KeyPoller:
    """A thread that reads the cancel key every `poll` seconds and reports a set key once.

    Separate from the watcher so a Redis that does not answer delays only this
    thread, never the deadline or a signal.
    """

    def __init__(
        self,
        client: resp.Commands | None,
        key: str,
        poll_seconds: float,
        on_found: Callable[[str], None],
    ) -> None:
        self._client = client
        self._key = key
        self._poll = poll_seconds
        self._on_found = on_found
        self._wake = threading.Event()
        self._finished = threading.Event()
        self._cond = threading.Condition()
        self._reads = 0
        self.seen: str | None = None
        self._thread = threading.Thread(target=self._run, name="kuberun-cancel-key", daemon=True)

    def start(self) -> None:
        if self._client is not None:
            self._thread.start()

    def finish(self) -> None:
        self._finished.set()
        self._wake.set()

    def read(self) -> str | None:
        """The key's reason now (None when unset or Redis does not answer); blocks for I/O."""
        if self._client is None:
            return None
        try:
            value = self._client.get(self._key)
        except resp.RespError:
            return None  # the sender reports an unreachable Redis; keep polling
        if value is None:
            return None
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        return text or "cancelled"

    def reason(self, timeout: float) -> str | None:
        """The key's reason if seen, else after a fresh read of at most `timeout` seconds."""
        if self.seen is not None or self._client is None or not self._thread.is_alive():
            return self.seen
        with self._cond:
            reads = self._reads
            self._wake.set()
            self._cond.wait_for(lambda: self._reads > reads, timeout)
        return self.seen

    def _run(self) -> None:
        while not self._finished.is_set():
            reason = self.read()
            with self._cond:
                if reason is not None and self.seen is None:
                    self.seen = reason
                self._reads += 1
                self._cond.notify_all()
            if reason is not None and not self._finished.is_set():
                self._on_found(reason)
                return  # the first request wins: nothing more to learn from the key
            self._wake.wait(self._poll)
            self._wake.clear()


class Mode(enum.Enum):
    IDLE = "idle"
    SYNC = "sync"
    ASYNC = "async"


class Interrupter:
    """Knows what the main thread is doing, and how to stop it."""

    def __init__(self, cancellation: Cancellation) -> None:
        self._cancellation = cancellation
        self._main = threading.main_thread().ident
        self._lock = threading.Lock()
        self._mode = Mode.IDLE
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None
        self.deferred = False
        self._probe: threading.Event | None = None
        self._cancelled_task_at: float | None = None
        self._escalated = False

    def install(self) -> None:
        signal.signal(INTERRUPT_SIGNAL, self._on_signal)

    @contextlib.contextmanager
    def sync_code(self) -> Iterator[None]:
        """Around a call of sync user code on the main thread."""
        with self._lock:
            self._mode = Mode.SYNC
        try:
            if self._cancellation.requested:
                raise self._cancellation.exception()
            yield
        finally:
            with self._lock:
                self._mode = Mode.IDLE

    def enter_async(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> None:
        """Called from inside the main task when async user code starts."""
        with self._lock:
            self._mode, self._loop, self._task = Mode.ASYNC, loop, task
        if self._cancellation.requested:
            task.cancel(self._cancellation.reason)

    def leave_async(self) -> None:
        with self._lock:
            self._mode, self._loop, self._task = Mode.IDLE, None, None

    def interrupt(self) -> None:
        """Stop the user code now (from any thread)."""
        with self._lock:
            mode, loop, task = self._mode, self._loop, self._task
        if mode is Mode.SYNC and self._main is not None:
            signal.pthread_kill(self._main, INTERRUPT_SIGNAL)
        elif mode is Mode.ASYNC and loop is not None and task is not None:
            probe = threading.Event()
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(task.cancel, self._cancellation.reason)
                loop.call_soon_threadsafe(probe.set)
                self._probe, self._cancelled_task_at = probe, time.monotonic()

    def escalate_if_blocked(self) -> None:
        """Async code that never awaits (a CPU-bound loop) never sees its task cancelled:
        when the loop has not run our probe `ASYNC_ESCALATE_SECONDS` after the cancel,
        interrupt the main thread as for sync code. A loop that is merely busy with
        the code's own async cleanup runs the probe, and is left alone."""
        probe, since = self._probe, self._cancelled_task_at
        if probe is None or since is None or probe.is_set() or self._escalated:
            return
        if self._mode is Mode.ASYNC and time.monotonic() - since >= ASYNC_ESCALATE_SECONDS:
            self._escalated = True
            if self._main is not None:
                signal.pthread_kill(self._main, INTERRUPT_SIGNAL)

    def _raises_now(self) -> bool:
        """Whether an interrupt signal should raise into the code that is running."""
        if not self._cancellation.requested:
            return False
        return self._mode is Mode.SYNC or (self._mode is Mode.ASYNC and self._escalated)

    def raise_deferred(self) -> None:
        """Called by the capture path once it is safe: raise an interrupt it had to defer."""
        if threading.get_ident() != self._main or not self._raises_now():
            return
        self.deferred = False
        raise self._cancellation.exception()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._raises_now():
            return
        if safepoints.in_capture(frame):
            # Inside the capture path (say, sequencing a print, or a lock it takes):
            # raising here could leave its state half-updated. The capture path raises
            # it on its way out (`raise_deferred`); the watcher also re-sends it.
            self.deferred = True
            return
        self.deferred = False
        raise self._cancellation.exception()


class Watcher:
    """A thread that watches the deadline and signals and runs the grace watchdog; the
    cancel key has its own thread (`KeyPoller`)."""

    def __init__(
        self,
        cancellation: Cancellation,
        interrupter: Interrupter,
        *,
        client: resp.Commands | None,
        namespace: str,
        uid: str,
        deadline: float | None,
        timeout_seconds: float | None,
        grace_seconds: float,
        poll_seconds: float,
        on_grace_expired: Callable[[], None],
        on_request: Callable[[str, bool], None] | None = None,
    ) -> None:
        self._cancellation = cancellation
        self._interrupter = interrupter
        self.poller = KeyPoller(client, keys.cancel(namespace, uid), poll_seconds, self.request)
        self.deadline = deadline
        self.timeout_seconds = timeout_seconds
        self._grace = grace_seconds
        self._poll = poll_seconds
        self._on_grace_expired = on_grace_expired
        self._on_request = on_request
        self._wake = threading.Event()
        self._finished = threading.Event()
        self._pending: str | None = None
        self._grace_at: float | None = None
        self._force = False
        self.requested_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="kuberun-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.poller.start()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_interrupt)

    def check_now(self) -> None:
        """Read the cancel key once, before the code starts: a cancelled run never starts."""
        reason = self.poller.read()
        if reason is not None:
            self.request(reason)

    def finish(self) -> None:
        """The run has ended: stop watching (the watchdog no longer applies)."""
        self._finished.set()
        self._wake.set()
        self.poller.finish()

    def request(self, reason: str, *, timed_out: bool = False, terminated: bool = False) -> None:
        """Ask the code to stop (any thread); the first request wins."""
        if self._cancellation.request(reason, timed_out=timed_out, terminated=terminated):
            if self._on_request is not None:
                self._on_request(reason, timed_out)
            self.requested_at = time.monotonic()
            self._grace_at = self.requested_at + self._grace
            self._interrupter.interrupt()
        self._wake.set()

    def _on_terminate(self, signum: int, frame: FrameType | None) -> None:
        # No I/O in a signal handler: the watcher thread reads the key's reason.
        if self._cancellation.requested:
            self._force = True  # asked to stop, then terminated: end now, reporting
        self._pending = TERMINATED_REASON
        self._wake.set()

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self._pending = INTERRUPTED_REASON
        self._wake.set()

    def _stop_for_signal(self, pending: str) -> None:
        """SIGTERM or SIGINT: a cancel only when the cancel key says one was asked for.

        A SIGTERM without the key is the pod being deleted, evicted or drained: the code
        is stopped the same way, but the verdict is FAILED/Terminated, never CANCELLED
        (only spec.cancel may cancel; the operator judges). SIGINT is `kuberun run`'s
        relayed Ctrl-C, which is a cancel request by definition.
        """
        reason = self.poller.reason(TERM_REASON_WAIT_SECONDS)
        if reason is not None:
            self.request(reason)
        elif pending == TERMINATED_REASON:
            self.request(UNREQUESTED_TERMINATION, terminated=True)
        else:
            self.request(pending)

    def _run(self) -> None:
        while not self._finished.is_set():
            self._wake.wait(_DEFERRED_RETRY_SECONDS if self._interrupter.deferred else self._poll)
            self._wake.clear()
            if self._finished.is_set():
                return
            if self._interrupter.deferred:
                self._interrupter.deferred = False
                self._interrupter.interrupt()
            self._interrupter.escalate_if_blocked()
            now = time.monotonic()
            if not self._cancellation.requested:
                pending, self._pending = self._pending, None
                if pending is not None:
                    self._stop_for_signal(pending)
                elif self.deadline is not None and now >= self.deadline:
                    self.request(
                        f"timed out after {self.timeout_seconds:g} s"
                        if self.timeout_seconds
                        else "deadline exceeded",
                        timed_out=True,
                    )
            if self._force or (self._grace_at is not None and time.monotonic() >= self._grace_at):
                if not self._finished.is_set():
                    self._on_grace_expired()
                return
