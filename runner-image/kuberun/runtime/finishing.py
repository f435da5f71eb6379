"""Ending an attempt: the verdict recorded, every log line delivered, the result
reported — exactly once, by whichever comes first.

Three ways in: the main thread when the code ended (`finalize`), the grace
watchdog when the code ignored a cancel past its grace period (`grace_expired`),
and the code calling `os._exit` (`user_exit`). The verdict goes to the
termination message before anything waits on the network, so the kubelet's hard
stop never finds it empty; then the output capture ends, the engine records and
the final record are sequenced, the sender drains within its budget, and the
result goes to the CLI's pipe or to Redis.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import time
from typing import TYPE_CHECKING, NoReturn

from kuberun.contract.phases import Phase, Reason
from kuberun.runtime import outcomes, reporting, resp
from kuberun.runtime.processhooks import REAL_EXIT
from kuberun.runtime.transports import TransportError

if TYPE_CHECKING:
    from kuberun.contract import outcome
    from kuberun.runtime import cancelling, sequencing
    from kuberun.runtime.delivering import Delivery
    from kuberun.runtime.echoing import Echo, Warn
    from kuberun.runtime.executing import Executor
    from kuberun.runtime.processhooks import ProcessHooks
    from kuberun.runtime.requests import Request
    from kuberun.runtime.settings import Settings
    from kuberun.runtime.transports import PipeTransport
    from kuberun.sdk.context import Cancellation

# Time kept back from the grace period for the final flush when the watchdog
# has to end a run whose code ignored cancellation.
MAX_FLUSH_RESERVE_SECONDS = 2.0
# The result write's socket timeout when log delivery is failing at exit: Redis is
# likely unreachable, and the process must end well before the pod's hard deadline.
FAILING_RESULT_TIMEOUT_SECONDS = 1.0
_LEVEL_OF_VERDICT = {
    Phase.SUCCESS: "INFO",
    Phase.COMPLETED_WITH_ERRORS: "WARNING",
    Phase.CANCELLED: "WARNING",
    Phase.TIMED_OUT: "ERROR",
    Phase.FAILED: "ERROR",
}


def flush_reserve(grace: float) -> float:
    """What the watchdog keeps back from the grace period for the final flush."""
    return min(MAX_FLUSH_RESERVE_SECONDS, grace / 2)


class Finisher:
    """Ends the attempt once; a second caller waits for the process to exit."""

    def __init__(
        self,
        settings: Settings,
        request: Request,
        *,
        started: float,
        grace: float,
        cancellation: Cancellation,
        watcher: cancelling.Watcher,
        sequencer: sequencing.Sequencer,
        delivery: Delivery,
        hooks: ProcessHooks,
        executor: Executor,
        pipe: PipeTransport | None,
        client: resp.Commands | None,
        echo: Echo | None,
        warn: Warn,
    ) -> None:
        self.settings = settings
        self.request = request
        self.started = started
        self.grace = grace
        self.flush_reserve = flush_reserve(grace)
        self.cancellation = cancellation
        self.watcher = watcher
        self.sequencer = sequencer
        self.delivery = delivery
        self.hooks = hooks
        self.executor = executor
        self.pipe = pipe
        self.client = client
        self.echo = echo
        self.warn = warn
        self._finalizing = threading.Lock()

    def grace_expired(self) -> None:
        """The watchdog: the code ignored cancellation for the whole grace period."""
        from kuberun.contract import outcome

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
        REAL_EXIT(self.finalize(verdict, budget=max(0.2, self.flush_reserve - 0.2)))

    def user_exit(self, code: int) -> NoReturn:
        """`os._exit` as the code sees it: deliver everything, report, then exit."""
        if os.getpid() != self.hooks.pid or self._finalizing.locked():
            REAL_EXIT(code)
        if code == 0:
            verdict = outcomes.from_result(None)
        else:
            from kuberun.contract import outcome

            verdict = outcomes.Verdict(
                Phase.FAILED,
                Reason.EXCEPTION,
                error=outcome.ErrorInfo(
                    type="ProcessExit", message=f"the code called os._exit({code})"
                ),
            )
        REAL_EXIT(self.finalize(verdict))

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
                self.delivery.snapshot(),
                self.delivery.pending,
            ),
            self.warn,
        )
        budget = self._flush_budget() if budget is None else budget
        self.hooks.stop_capture(budget)
        verdict = self._redacted(verdict)
        error = verdict.error
        if error is not None:
            if error.traceback:
                self.sequencer.engine("ERROR", f"{error.type}: {error.message}", error.traceback)
            else:
                self.sequencer.engine(
                    _LEVEL_OF_VERDICT.get(verdict.status, "ERROR"), f"{error.type}: {error.message}"
                )
        self.sequencer.finish(
            _LEVEL_OF_VERDICT.get(verdict.status, "ERROR"),
            f"{verdict.status.value} ({verdict.reason.value}) after {duration_ms} ms:".replace(
                "{", "{{"
            ).replace("}", "}}")
            + " {user_lines} line(s), {dropped} dropped",
        )
        undelivered = self.delivery.close(budget)
        counts = self.delivery.snapshot()
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
        from kuberun.contract import outcome  # the result's model: built once the run is over

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
            variables=self.executor.redactor.json(self.executor.variables),
            cache_hit=self.executor.cache_hit,
        )

    def _redacted(self, verdict: outcomes.Verdict) -> outcomes.Verdict:
        """The verdict with every secret value hidden in its result and error."""
        redactor = self.executor.redactor
        if not redactor:
            return verdict
        from kuberun.contract import outcome

        error = verdict.error
        if error is not None:
            error = outcome.ErrorInfo(
                type=error.type,
                message=redactor.text(error.message),
                traceback=redactor.optional_text(error.traceback),
            )
        return dataclasses.replace(verdict, result=redactor.json(verdict.result), error=error)

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
            if not self.delivery.healthy:  # a black-holed Redis would hold this for 5 s
                client = resp.client_for(self.settings.redis_url, FAILING_RESULT_TIMEOUT_SECONDS)
            try:
                reporting.write_result(
                    client, identity.namespace, identity.uid, identity.attempt, result
                )
            except resp.RespError as exc:
                self.warn(f"kuberun: cannot write the result to Redis: {exc}")
            finally:
                if client is not self.client:
                    reporting.safe_close(client)
        if self.echo is not None:
            self.echo.flush()
        if self.executor.created_temp_dir is not None:
            shutil.rmtree(self.executor.created_temp_dir, ignore_errors=True)
