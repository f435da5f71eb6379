"""One attempt from start to end: set up capture and delivery, run the code, report.

`Execution.run()` is what `python -m kuberun.runtime` does after reading the
request. User code runs on the main thread; the sender, the watcher (cancel
key, deadline, grace watchdog), the partial-line flusher and the fd readers
run on their own threads, so a CPU-bound user loop never stalls delivery.

Ending is `finalize()`, run exactly once, by whichever comes first: the main
thread when the code ends, the watchdog when the code ignores cancellation
past its grace period, or `os._exit` called by the code (the runtime wraps it
so that every line logged before it is still delivered).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import faulthandler
import inspect
import logging
import os
import shutil
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn

import redis

from kuberun.contract import outcome
from kuberun.contract.phases import Phase, Reason
from kuberun.contract.request import RunRequest
from kuberun.runtime import (
    caching,
    cancelling,
    capturing,
    connecting,
    invoking,
    loading,
    outcomes,
    provisioning,
    redacting,
    reporting,
    sequencing,
    validating,
)
from kuberun.runtime.echoing import Echo, Warn
from kuberun.runtime.sending import Sender
from kuberun.runtime.settings import Settings
from kuberun.runtime.transports import (
    NullTransport,
    PipeTransport,
    RedisStreamTransport,
    Transport,
    TransportError,
)
from kuberun.sdk import context as sdk_context
from kuberun.sdk import decorators, signatures

_real_exit = os._exit
# Time kept back from the grace period for the final flush when the watchdog
# has to end a run whose code ignored cancellation.
MAX_FLUSH_RESERVE_SECONDS = 2.0
_LEVEL_OF_VERDICT = {
    Phase.SUCCESS: "INFO",
    Phase.COMPLETED_WITH_ERRORS: "WARNING",
    Phase.CANCELLED: "WARNING",
    Phase.TIMED_OUT: "ERROR",
    Phase.FAILED: "ERROR",
}


def _cacheable_options(value: Any) -> Any | None:
    """The JSON form of valid data-provider options; None for anything not to be shared."""
    verdict = outcomes.from_result(value, data_provider=True)
    return verdict.result if verdict.status is Phase.SUCCESS else None


# The result write's socket timeout when log delivery is failing at exit: Redis is
# likely unreachable, and the process must end well before the pod's hard deadline.
FAILING_RESULT_TIMEOUT_SECONDS = 1.0


def redis_client(url: str, timeout: float | None = None) -> redis.Redis:
    """A client that fails fast, for one server or a Redis Cluster (`connecting`)."""
    return connecting.redis_client(url, timeout)


class Execution:
    """Everything one attempt needs, created once at startup and passed down."""

    def __init__(self, settings: Settings, request: RunRequest, *, started: float) -> None:
        self.settings = settings
        self.request = request
        self.started = started
        self._started_monotonic = time.monotonic()
        identity, spec = request.identity, request.spec
        self._pid = os.getpid()
        self._out_fd = os.dup(1)
        self._err_fd = os.dup(2)
        self.warn = Warn(self._err_fd)
        self.client = redis_client(settings.redis_url) if settings.redis_url else None
        self.pipe = PipeTransport(settings.record_fd) if settings.record_fd is not None else None
        transport: Transport
        if self.pipe is not None:
            transport = self.pipe
        elif self.client is not None:
            transport = RedisStreamTransport(self.client, identity.namespace, identity.uid)
        else:
            transport = NullTransport()
        self.echo = Echo(self._out_fd) if settings.echo else None
        self.sender = Sender(
            transport,
            capacity=settings.log_buffer_records,
            batch_records=settings.batch_records,
            backpressure_seconds=settings.backpressure_seconds,
            max_retry_seconds=settings.max_retry_seconds,
            after_batch=self.echo.flush if self.echo is not None else None,
            warn=self.warn,
            on_consumer_gone=self._consumer_gone,
        )
        self.sequencer = sequencing.Sequencer(
            attempt=identity.attempt,
            max_lines=settings.max_log_lines,
            max_bytes=settings.max_log_bytes,
            sink=self.sender.offer,
            echo=self.echo,
        )
        self.cancellation = sdk_context.Cancellation()
        self.interrupter = cancelling.Interrupter(self.cancellation)
        self.grace = float(spec.grace_period_seconds)
        self.flush_reserve = min(MAX_FLUSH_RESERVE_SECONDS, self.grace / 2)
        self.timeout = float(spec.timeout_seconds)
        self.logger_name = spec.entrypoint or "script"
        self.context = sdk_context.ExecutionContext(
            execution_id=identity.uid,
            execution_name=identity.name,
            namespace=identity.namespace,
            attempt=identity.attempt,
            organization=provisioning.organization(request),
            caller=provisioning.caller(request),
            parameters=spec.parameters,
            logger=logging.getLogger(self.logger_name),
            deadline=self._started_monotonic + self.timeout,
            cancellation=self.cancellation,
        )
        self.watcher = cancelling.Watcher(
            self.cancellation,
            self.interrupter,
            client=self.client,
            namespace=identity.namespace,
            uid=identity.uid,
            deadline=self._started_monotonic + self.timeout,
            timeout_seconds=self.timeout,
            grace_seconds=max(0.1, self.grace - self.flush_reserve),
            poll_seconds=settings.cancel_poll_seconds,
            on_grace_expired=self._grace_expired,
        )
        self.handler = capturing.LogHandler(
            self.sequencer,
            capturing.Workspace([], [], [self.logger_name]),
            logging.getLevelName(spec.log_level.value),
            self.interrupter,
        )
        self.writers: list[capturing.LineWriter] = []
        self.fd_captures: list[capturing.FdCapture] = []
        self._finalizing = threading.Lock()
        self._loop_runner: asyncio.Runner | None = None
        self._variables: dict[str, Any] | None = None
        self._cache_hit: bool | None = None
        self._partial_stop = threading.Event()
        self.redactor = redacting.Redactor()
        self._created_temp_dir: Path | None = None

    # --- setting up -------------------------------------------------------

    def install(self) -> None:
        """Capture, signal handlers, threads. After this, user output goes to the sequencer."""
        for fd in (self._out_fd, self._err_fd):
            os.set_inheritable(fd, False)
        with contextlib.suppress(Exception):
            faulthandler.enable(file=self._err_fd, all_threads=True)
        if self.settings.capture_fds:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, source in ((1, capturing.STDOUT), (2, capturing.STDERR)):
                try:
                    self.fd_captures.append(capturing.FdCapture(self.sequencer, fd, source))
                except OSError as exc:
                    self.warn(f"kuberun: cannot capture fd {fd}: {exc}")
        self.writers = [
            capturing.LineWriter(self.sequencer, capturing.STDOUT, 1, self.interrupter),
            capturing.LineWriter(self.sequencer, capturing.STDERR, 2, self.interrupter),
        ]
        sys.stdout, sys.stderr = self.writers
        root = logging.getLogger()
        for existing in list(root.handlers):
            root.removeHandler(existing)
        root.addHandler(self.handler)
        root.setLevel(min(logging.getLevelName(self.request.spec.log_level.value), logging.WARNING))
        self.interrupter.install()
        self.watcher.install_signal_handlers()
        os._exit = self._user_exit  # type: ignore[assignment]
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        sdk_context.activate(self.context)
        self.sender.start()
        self.watcher.start()
        threading.Thread(target=self._flush_partials, name="kuberun-partial", daemon=True).start()

    def _consumer_gone(self) -> None:
        """`kuberun run` died (its record pipe broke): nobody will see this run; stop it."""
        self.watcher.request("the kuberun run process reading the records is gone")

    def _after_fork_in_child(self) -> None:
        """A forked child (multiprocessing, os.fork) has no sender thread: its output goes
        as plain text to fd 1/2, which the parent's fd capture reads."""
        if os.getpid() == self._pid:
            return
        # The runner's signal handlers only make sense in the runner: a pool worker
        # must die on SIGTERM (Pool.terminate) as it would without the runner.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(cancelling.INTERRUPT_SIGNAL, signal.SIG_DFL)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        root = logging.getLogger()
        root.removeHandler(self.handler)
        stream_handler = logging.StreamHandler(sys.stderr)
        stream_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(stream_handler)

    def _flush_partials(self) -> None:
        while not self._partial_stop.wait(0.2):
            for writer in self.writers:
                writer.flush_partial(older_than=self.settings.partial_line_seconds)
            if self.echo is not None:
                self.echo.flush()  # also while the sender is stuck retrying an absent Redis

    # --- running ------------------------------------------------------------

    def run(self) -> int:
        self.install()
        self.watcher.check_now()
        verdict = self.execute()
        self._run_atexit()
        return self.finalize(verdict)

    def execute(self) -> outcomes.Verdict:
        """Load and run the code; never raises."""
        try:
            return self._execute()
        except BaseException as exc:
            return outcomes.from_exception(exc, self.cancellation)

    def _execute(self) -> outcomes.Verdict:
        request, spec = self.request, self.request.spec
        self._provision()
        with self.interrupter.sync_code():  # a cancel before the start stops it here
            program = loading.load_program(request)
        namespace: dict[str, Any] | None = None
        if program is not None:
            self.handler.workspace = capturing.Workspace(
                program.workspace_roots,
                [program.filename, *program.workspace_files],
                [self.logger_name],
            )
            module = loading.new_module(program)
            namespace = module.__dict__
            self._run_body(program, namespace)
        else:
            root = str(request.source_path or spec.source.path)
            self.handler.workspace = capturing.Workspace([root], [], [self.logger_name])
        if spec.entrypoint is not None:
            if namespace is not None and program is not None:
                func = loading.find_entrypoint(namespace, spec.entrypoint, program.module_name)
            else:
                with self.interrupter.sync_code():
                    func, _ = loading.import_entrypoint(
                        str(request.source_path or spec.source.path), spec.entrypoint
                    )
            info = decorators.entrypoint_info(func)
            if info is not None and info.timeout_seconds:
                self._shorten_deadline(float(info.timeout_seconds))
            value = self._call_through_cache(func, info)
            kind = info.kind if info is not None else decorators.Kind.WORKFLOW
            return outcomes.from_result(value, data_provider=kind is decorators.Kind.DATA_PROVIDER)
        assert namespace is not None
        main = namespace.get("main")
        if inspect.isfunction(main) or inspect.iscoroutinefunction(main):
            return outcomes.from_result(self._call(main))
        return outcomes.from_result(namespace.get("result"))

    def _provision(self) -> None:
        """Configuration, integrations and directories; their secrets hidden from here on."""
        provisioned = provisioning.load_resources(self.request)
        self._created_temp_dir = provisioned.created_temp_dir
        self.context.resources = provisioned.resources
        self.redactor = redacting.Redactor(provisioned.resources.secret_values())
        if self.redactor:
            self.sequencer.redact = self.redactor.text

    def _call_through_cache(
        self, func: Callable[..., Any], info: decorators.EntrypointInfo | None
    ) -> Any:
        """Call the entrypoint, through the shared cache when it is a cached data provider."""
        plan = caching.policy(self.request, info) if self.client is not None else None
        if plan is None or self.client is None:
            return self._call(func)
        cache = caching.SharedCache(
            self.client,
            check=self.context.check_cancelled,
            note=lambda message: self.sequencer.engine("INFO", message),
        )
        fetched = cache.fetch(
            plan, lambda: self._call(func), lambda v: self.redactor.json(_cacheable_options(v))
        )
        self._cache_hit = fetched.hit
        return fetched.value

    def _shorten_deadline(self, seconds: float) -> None:
        deadline = self._started_monotonic + seconds
        if self.watcher.deadline is None or deadline < self.watcher.deadline:
            self.watcher.deadline = deadline
            self.watcher.timeout_seconds = seconds
            self.context._deadline = deadline

    def _traced(self, code: types.CodeType, run: Callable[[], Any]) -> Any:
        """`run()`, with variable capture of `code` when the spec asks for tracing."""
        if not self.request.spec.tracing:
            return run()
        from kuberun.runtime import tracing  # a colleague's module; only loaded when asked

        capture = tracing.VariableCapture(target_code=code)
        try:
            with capture:
                return run()
        finally:
            self._variables = capture.variables  # also when the code raised

    def _run_body(self, program: loading.Program, namespace: dict[str, Any]) -> None:
        def body() -> None:
            with self.interrupter.sync_code():
                value = eval(program.code, namespace)  # a coroutine with top-level await
            if inspect.iscoroutine(value):
                self._await(value)

        if self.request.spec.entrypoint is None:
            self._traced(program.code, body)  # a script's `main`, if any, is traced after
        else:
            body()

    def _call(self, func: Callable[..., Any]) -> Any:
        inputs = self.context.inputs
        info = decorators.entrypoint_info(func)
        if info is not None and info.params:
            with_defaults = [p.name for p in signatures.input_parameters(func) if not p.required]
            inputs = validating.apply(info.params, inputs, with_defaults)
        call = invoking.bind(func, inputs, self.context)
        self.context.inputs = dict(inputs)
        self.context.parameters = dict(call.extras)
        code = getattr(func, "__code__", None)

        def invoke() -> Any:
            with self.interrupter.sync_code():
                value = func(*call.args, **call.kwargs)
            if inspect.isawaitable(value):
                value = self._await(value)
            return value

        if isinstance(code, types.CodeType):
            return self._traced(code, invoke)
        return invoke()

    def _await(self, awaitable: Any) -> Any:
        async def main() -> Any:
            task = asyncio.current_task()
            assert task is not None
            self.interrupter.enter_async(asyncio.get_running_loop(), task)
            try:
                return await awaitable
            finally:
                self.interrupter.leave_async()

        if self._loop_runner is None:
            self._loop_runner = asyncio.Runner()
        coro: Coroutine[Any, Any, Any] = main()
        return self._loop_runner.run(coro)

    def _run_atexit(self) -> None:
        """The code's atexit handlers, while their output is still captured."""
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()

    # --- ending -------------------------------------------------------------

    def _grace_expired(self) -> None:
        """The watchdog: the code ignored cancellation for the whole grace period."""
        timed_out = self.cancellation.timed_out
        reason = self.cancellation.reason or "cancelled"
        waited = time.monotonic() - (self.watcher.requested_at or time.monotonic())
        message = (
            f"{reason}; the code did not stop within the {self.grace:g} s grace period"
            if waited >= self.grace - self.flush_reserve - 0.05
            else f"{reason}; terminated while the code was still stopping ({waited:.1f} s)"
        )
        verdict = outcomes.Verdict(
            Phase.TIMED_OUT if timed_out else Phase.CANCELLED,
            Reason.DEADLINE_EXCEEDED if timed_out else Reason.CANCELLED,
            error=outcome.ErrorInfo(
                type="ExecutionTimedOut" if timed_out else "ExecutionCancelled", message=message
            ),
        )
        if self.cancellation.terminated:
            verdict = outcomes.terminated_verdict(message)
        _real_exit(self.finalize(verdict, budget=max(0.2, self.flush_reserve - 0.2)))

    def _user_exit(self, code: int) -> NoReturn:
        """`os._exit` as the code sees it: deliver everything, report, then exit."""
        if os.getpid() != self._pid or self._finalizing.locked():
            _real_exit(code)
        if code == 0:
            verdict = outcomes.from_result(None)
        else:
            verdict = outcomes.Verdict(
                Phase.FAILED,
                Reason.EXCEPTION,
                error=outcome.ErrorInfo(
                    type="ProcessExit", message=f"the code called os._exit({code})"
                ),
            )
        _real_exit(self.finalize(verdict))

    def _flush_budget(self) -> float:
        """How long the final flush may wait for the log store."""
        if self.cancellation.requested:
            return max(0.5, self.grace)
        return max(1.0, self.grace)

    def finalize(self, verdict: outcomes.Verdict, budget: float | None = None) -> int:
        """Record the verdict, deliver the logs, report; returns the exit code. Runs once."""
        self._finalizing.acquire()  # never released: a second caller waits for the exit
        self.watcher.finish()
        finished = time.time()
        duration_ms = int((finished - self.started) * 1000)
        # The verdict on disk first: the flush below may wait for an unreachable Redis
        # until the kubelet's hard stop. What is not delivered yet counts as dropped here;
        # the final summary replaces this one.
        reporting.write_summary(
            self.settings.termination_log,
            self._result(
                self._redacted(verdict),
                finished,
                duration_ms,
                self.sequencer.snapshot(),
                self.sender.pending,
            ),
            self.warn,
        )
        budget = self._flush_budget() if budget is None else budget
        self._partial_stop.set()
        for writer in self.writers:
            writer.flush_partial()
        for capture in self.fd_captures:
            with contextlib.suppress(OSError):
                capture.restore(timeout=min(1.0, budget / 2))
        verdict = self._redacted(verdict)
        error = verdict.error
        if error is not None:
            if error.traceback:
                self.sequencer.engine("ERROR", f"{error.type}: {error.message}", error.traceback)
            else:
                self.sequencer.engine(
                    _LEVEL_OF_VERDICT.get(verdict.status, "ERROR"), f"{error.type}: {error.message}"
                )
        counts = self.sequencer.snapshot()
        self.sequencer.engine(
            _LEVEL_OF_VERDICT.get(verdict.status, "ERROR"),
            f"{verdict.status.value} ({verdict.reason.value}) after {duration_ms} ms:"
            f" {counts.user_lines} line(s), {counts.dropped} dropped",
            wait=budget,
        )
        self.sequencer.close()
        undelivered = self.sender.close(budget)
        counts = self.sequencer.snapshot()
        result = self._result(verdict, finished, duration_ms, counts, undelivered)
        if undelivered:
            self.warn(f"kuberun: {undelivered} record(s) could not be delivered before exit")
        self._report(result)
        return reporting.exit_code(result)

    def _result(
        self,
        verdict: outcomes.Verdict,
        finished: float,
        duration_ms: int,
        counts: sequencing.Counts,
        undelivered: int,
    ) -> outcome.RunResult:
        return outcome.RunResult(
            status=verdict.status,
            reason=verdict.reason,
            result=verdict.result,
            error=verdict.error,
            started_at=self.started,
            finished_at=finished,
            duration_ms=duration_ms,
            log_lines=counts.emitted,
            last_sequence=counts.sequenced,
            dropped=counts.dropped + undelivered,
            result_bytes=verdict.result_bytes,
            variables=self.redactor.json(self._variables),
            cache_hit=self._cache_hit,
        )

    def _redacted(self, verdict: outcomes.Verdict) -> outcomes.Verdict:
        """The verdict with every secret value hidden in its result and error."""
        if not self.redactor:
            return verdict
        error = verdict.error
        if error is not None:
            error = outcome.ErrorInfo(
                type=error.type,
                message=self.redactor.text(error.message),
                traceback=self.redactor.optional_text(error.traceback),
            )
        return dataclasses.replace(verdict, result=self.redactor.json(verdict.result), error=error)

    def _report(self, result: outcome.RunResult) -> None:
        identity = self.request.identity
        # The termination message first: it is the verdict the operator trusts, and it
        # needs no network. A Redis that does not answer may hold the result write for
        # its socket timeout, and the kubelet's hard stop must not find the file empty.
        reporting.write_summary(self.settings.termination_log, result, self.warn)
        if self.pipe is not None:
            try:
                self.pipe.send_result(result)
            except TransportError as exc:
                self.warn(f"kuberun: cannot send the result to the CLI: {exc}")
        elif self.client is not None and self.settings.redis_url:
            client = self.client
            if not self.sender.healthy:  # a black-holed Redis would hold this for 5 s
                client = redis_client(self.settings.redis_url, FAILING_RESULT_TIMEOUT_SECONDS)
            try:
                reporting.write_result(
                    client, identity.namespace, identity.uid, identity.attempt, result
                )
            except redis.RedisError as exc:
                self.warn(f"kuberun: cannot write the result to Redis: {exc}")
            finally:
                if client is not self.client:
                    reporting.safe_close(client)
        if self.echo is not None:
            self.echo.flush()
        if self._created_temp_dir is not None:
            shutil.rmtree(self._created_temp_dir, ignore_errors=True)
