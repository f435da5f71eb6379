"""Running the user's code: load it, call its entrypoint (through the shared cache
for a cached data provider), and judge what it returned or raised.

Everything here runs on the main thread, inside the interrupter's sync or async
mode, so a cancel stops the code where it is (`cancelling`). What the run leaves
behind for the ending — captured variables, whether the cache answered, the
redactor for the secrets it was given, the temp directory it created — stays on
the `Executor` for `finishing` to read.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import types
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kuberun.contract.phases import Phase
from kuberun.runtime import (
    capturing,
    invoking,
    loading,
    outcomes,
    provisioning,
    redacting,
    resp,
    safepoints,
    validating,
)
from kuberun.sdk import decorators, signatures

if TYPE_CHECKING:  # imported where needed: a trivial script's start does without them
    import asyncio

    from kuberun.runtime import cancelling, sequencing
    from kuberun.runtime.requests import Request
    from kuberun.sdk.context import Cancellation, ExecutionContext

# Frames above this module's are the runner's: an interrupt walking up from user code
# stops looking for the capture path here.
safepoints.invoker(__name__)


def _cacheable_options(value: Any) -> Any | None:
    """The JSON form of valid data-provider options; None for anything not to be shared."""
    verdict = outcomes.from_result(value, data_provider=True)
    return verdict.result if verdict.status is Phase.SUCCESS else None


class Executor:
    """Loads and runs one attempt's code; `execute()` never raises."""

    def __init__(
        self,
        request: Request,
        context: ExecutionContext,
        *,
        cancellation: Cancellation,
        interrupter: cancelling.Interrupter,
        watcher: cancelling.Watcher,
        handler: capturing.LogHandler,
        sequencer: sequencing.Sequencer,
        client: resp.Commands | None,
        started_monotonic: float,
        logger_name: str,
    ) -> None:
        self.request = request
        self.context = context
        self.cancellation = cancellation
        self.interrupter = interrupter
        self.watcher = watcher
        self.handler = handler
        self.sequencer = sequencer
        self.client = client
        self._started_monotonic = started_monotonic
        self.logger_name = logger_name
        self._loop_runner: asyncio.Runner | None = None
        # What the ending reads (`finishing`).
        self.variables: dict[str, Any] | None = None
        self.cache_hit: bool | None = None
        self.redactor = redacting.Redactor()
        self.created_temp_dir: Path | None = None

    def execute(self) -> outcomes.Verdict:
        """Load and run the code, then the code's atexit handlers; never raises."""
        try:
            return self._execute()
        except BaseException as exc:
            return outcomes.from_exception(exc, self.cancellation)
        finally:
            self._run_atexit()

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
        self.created_temp_dir = provisioned.created_temp_dir
        self.context.resources = provisioned.resources
        self.redactor = redacting.Redactor(provisioned.resources.secret_values())
        if self.redactor:
            self.sequencer.set_redaction(self.redactor)

    def _call_through_cache(
        self, func: Callable[..., Any], info: decorators.EntrypointInfo | None
    ) -> Any:
        """Call the entrypoint, through the shared cache when it is a cached data provider."""
        if self.client is None:
            return self._call(func)
        from kuberun.runtime import caching  # imports redis-py (for its lock)

        plan = caching.policy(self.request, info)
        if plan is None:
            return self._call(func)
        import redis

        from kuberun.runtime import clustering

        cache = caching.SharedCache(
            self.client.redis
            if isinstance(self.client, clustering.ClusterClient)
            else redis.Redis.from_url(
                self.client.url, socket_connect_timeout=1.0, socket_timeout=5.0
            ),
            check=self.context.check_cancelled,
            note=lambda message: self.sequencer.engine("INFO", message),
        )
        fetched = cache.fetch(
            plan, lambda: self._call(func), lambda v: self.redactor.json(_cacheable_options(v))
        )
        self.cache_hit = fetched.hit
        return fetched.value

    def _shorten_deadline(self, seconds: float) -> None:
        """The decorator's `timeout_seconds`, when it is shorter than the spec's."""
        deadline = self._started_monotonic + seconds
        if self.watcher.deadline is None or deadline < self.watcher.deadline:
            self.watcher.deadline = deadline
            self.watcher.timeout_seconds = seconds
            self.context._deadline = deadline

    def _traced(self, code: types.CodeType, run: Callable[[], Any]) -> Any:
        """`run()`, with variable capture of `code` when the spec asks for tracing."""
        if not self.request.spec.tracing:
            return run()
        from kuberun.runtime import tracing  # only loaded when asked

        capture = tracing.VariableCapture(target_code=code)
        try:
            with capture:
                return run()
        finally:
            self.variables = capture.variables  # also when the code raised

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
        import asyncio  # only async code pays for the event loop's machinery

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
