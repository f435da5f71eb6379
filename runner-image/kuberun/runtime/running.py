"""One attempt from start to end: set up capture and delivery, run the code, report.

`Execution.run()` is what `python -m kuberun.runtime` does after reading the
request. This module only wires the parts, each one concept:

- `processhooks`: the runner's hold on the process — output capture, signal
  handlers, the `os._exit` wrapper, fork hooks, the delivery threads;
- `executing`: loading and calling the code on the main thread, judged into a
  verdict;
- `finishing`: the ending, run exactly once, by whichever comes first — the
  main thread when the code ends, the grace watchdog when the code ignores
  cancellation, or `os._exit` called by the code.

User code runs on the main thread; the sender (or, with `KUBERUN_DELIVERY_PROCESS=1`,
the forwarder to a delivery process: `delivering`), the watcher (deadline, signals,
grace watchdog), the cancel-key poller, the partial-line flusher and the fd
readers run on their own threads, so a CPU-bound user loop never stalls delivery.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kuberun.runtime import cancelling, capturing, provisioning, resp, sequencing
from kuberun.runtime.delivering import Delivery
from kuberun.runtime.echoing import Echo, Warn
from kuberun.runtime.executing import Executor
from kuberun.runtime.finishing import Finisher, flush_reserve
from kuberun.runtime.processhooks import ProcessHooks
from kuberun.runtime.sending import Sender
from kuberun.runtime.settings import Settings
from kuberun.runtime.transports import (
    NullTransport,
    PipeTransport,
    RedisStreamTransport,
    Transport,
)
from kuberun.sdk import context as sdk_context

if TYPE_CHECKING:
    from kuberun.runtime.requests import Request


def _transport(
    pipe: PipeTransport | None, client: resp.Commands | None, namespace: str, uid: str
) -> Transport:
    """Where the records go: the CLI's pipe, one Redis server, a Redis Cluster, or nowhere."""
    if pipe is not None:
        return pipe
    if isinstance(client, resp.Client):
        return RedisStreamTransport(client.connection(), namespace, uid)
    if client is not None:
        from kuberun.runtime import clustering

        assert isinstance(client, clustering.ClusterClient)
        return clustering.ClusterStreamTransport(client, namespace, uid)
    return NullTransport()


class Execution:
    """Everything one attempt needs, created once at startup and passed down."""

    def __init__(self, settings: Settings, request: Request, *, started: float) -> None:
        identity, spec = request.identity, request.spec
        started_monotonic = time.monotonic()
        out_fd, err_fd = os.dup(1), os.dup(2)
        warn = Warn(err_fd)
        client = resp.client_for(settings.redis_url) if settings.redis_url else None
        pipe = PipeTransport(settings.record_fd) if settings.record_fd is not None else None
        echo = Echo(out_fd) if settings.echo else None

        def make_sequencer() -> sequencing.Sequencer:
            return sequencing.Sequencer(
                attempt=identity.attempt,
                max_lines=settings.max_log_lines,
                max_bytes=settings.max_log_bytes,
                capacity=settings.log_buffer_records,
                backpressure_seconds=settings.backpressure_seconds,
                echo=echo,
            )

        owner = os.getpid()

        def make_sender(sequencer: sequencing.Sequencer, after_batch: Callable[[], None]) -> Sender:
            # In the delivery process, its own client: never a connection of this process.
            own = client
            if os.getpid() != owner and settings.redis_url:
                own = resp.client_for(settings.redis_url)
            return Sender(
                _transport(pipe, own, identity.namespace, identity.uid),
                sequencer,
                capacity=settings.log_buffer_records,
                batch_records=settings.batch_records,
                max_retry_seconds=settings.max_retry_seconds,
                after_batch=after_batch,
                warn=warn,
            )

        sequencer = make_sequencer()
        self.delivery = Delivery(
            sequencer,
            make_sequencer,
            make_sender,
            process=settings.delivery_process,
            warn=warn,
            on_consumer_gone=self._consumer_gone,
            after_batch=echo.flush if echo is not None else None,
        )
        cancellation = sdk_context.Cancellation()
        interrupter = cancelling.Interrupter(cancellation)
        grace = float(spec.grace_period_seconds)
        timeout = float(spec.timeout_seconds)
        logger_name = spec.entrypoint or "script"
        level = logging.getLevelNamesMapping()[str(spec.log_level)]
        context = sdk_context.ExecutionContext(
            execution_id=identity.uid,
            execution_name=identity.name,
            namespace=identity.namespace,
            attempt=identity.attempt,
            organization=provisioning.organization(request),
            caller=provisioning.caller(request),
            parameters=spec.parameters,
            logger=logging.getLogger(logger_name),
            deadline=started_monotonic + timeout,
            cancellation=cancellation,
        )
        self.watcher = cancelling.Watcher(
            cancellation,
            interrupter,
            client=client,
            namespace=identity.namespace,
            uid=identity.uid,
            deadline=started_monotonic + timeout,
            timeout_seconds=timeout,
            grace_seconds=max(0.1, grace - flush_reserve(grace)),
            poll_seconds=settings.cancel_poll_seconds,
            on_grace_expired=lambda: self.finisher.grace_expired(),
        )
        handler = capturing.LogHandler(
            sequencer, capturing.Workspace([], [], [logger_name]), level, interrupter
        )
        self.hooks = ProcessHooks(
            settings,
            log_level=level,
            out_fd=out_fd,
            err_fd=err_fd,
            warn=warn,
            echo=echo,
            sequencer=sequencer,
            delivery=self.delivery,
            interrupter=interrupter,
            watcher=self.watcher,
            handler=handler,
            context=context,
            user_exit=lambda code: self.finisher.user_exit(code),
        )
        self.executor = Executor(
            request,
            context,
            cancellation=cancellation,
            interrupter=interrupter,
            watcher=self.watcher,
            handler=handler,
            sequencer=sequencer,
            client=client,
            started_monotonic=started_monotonic,
            logger_name=logger_name,
        )
        self.finisher = Finisher(
            settings,
            request,
            started=started,
            grace=grace,
            cancellation=cancellation,
            watcher=self.watcher,
            sequencer=sequencer,
            delivery=self.delivery,
            hooks=self.hooks,
            executor=self.executor,
            pipe=pipe,
            client=client,
            echo=echo,
            warn=warn,
        )

    def run(self) -> int:
        """Install, run the code, end; returns the process's exit code."""
        self.hooks.install()
        self.watcher.check_now()
        return self.finisher.finalize(self.executor.execute())

    def _consumer_gone(self) -> None:
        """`kuberun run` died (its record pipe broke): nobody will see this run; stop it."""
        self.watcher.request("the kuberun run process reading the records is gone")
