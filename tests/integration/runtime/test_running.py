"""The runner as a real process against a real Redis: logs, results, summaries, statuses."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
import redis

from kuberun.contract import keys, outcome
from kuberun.contract.phases import Phase, Reason
from tests.integration.runtime import runner
from tests.integration.runtime.modes import delivery_mode

__all__ = ["delivery_mode"]  # every test here runs with the pipeline as a thread and as a process


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def test_script_end_to_end_stream_result_summary(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(
        inline=code(
            """
            import asyncio, logging, threading
            log = logging.getLogger("etl")
            print("one")
            log.info("two %d", 2)
            t = threading.Thread(target=lambda: log.warning("three from a thread"))
            t.start(); t.join()
            async def task():
                log.debug("four from a task")
            await asyncio.create_task(task())
            print("five", end="")
            result = {"rows": 5}
            """
        )
    )
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert finished.code == 0, finished.stderr
    entries = runner.stream(redis_client, req)
    assert [ident for ident, _ in entries] == [f"1-{n}" for n in range(1, len(entries) + 1)]
    records = [record for _, record in entries]
    assert [r.message for r in records[:5]] == [
        "one",
        "two 2",
        "three from a thread",
        "four from a task",
        "five",
    ]
    assert [r.source.value for r in records[:5]] == ["stdout", "log", "log", "log", "stdout"]
    assert records[1].logger == "etl" and records[1].level == "INFO"
    final = records[-1]
    assert final.source.value == "engine" and final.message.startswith("SUCCESS (Completed)")
    assert "0 dropped" in final.message
    result = runner.result(redis_client, req)
    assert (result.status, result.result, result.last_sequence, result.dropped) == (
        Phase.SUCCESS,
        {"rows": 5},
        len(records),
        0,
    )
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.last_sequence) == (
        Phase.SUCCESS,
        len(records),
    )
    ident = req.identity
    stream_key = keys.logs_stream(ident.namespace, ident.uid)
    assert 0 < runner.ttl(redis_client, stream_key) <= keys.DEFAULT_TTL_SECONDS
    result_key = keys.result(ident.namespace, ident.uid, 1)
    assert 0 < runner.ttl(redis_client, result_key) <= keys.DEFAULT_TTL_SECONDS
    assert "one" in finished.stdout and "SUCCESS (Completed)" in finished.stdout  # the echo


def test_workspace_workflow_levels_and_helper_modules(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    workspace = tmp_path / "ws"
    (workspace / "lib").mkdir(parents=True)
    (workspace / "lib" / "__init__.py").write_text("")
    (workspace / "lib" / "helpers.py").write_text(
        code(
            """
            import logging
            log = logging.getLogger(__name__)
            def double(x):
                log.debug("helper debug")
                log.info("helper info")
                return 2 * x
            """
        )
    )
    (workspace / "flows.py").write_text(
        code(
            """
            import logging
            from kuberun import ExecutionContext, workflow
            from lib.helpers import double
            import thirdparty
            @workflow(name="nightly")
            def run(ctx: ExecutionContext, count: int, **extra):
                ctx.logger.info("count=%r extra=%r", count, extra)
                thirdparty.chatter()
                return {
                    "doubled": double(count),
                    "params": ctx.parameters,
                    "inputs": ctx.inputs,
                    "id": ctx.execution_id,
                }
            """
        )
    )
    site = tmp_path / "site"
    site.mkdir()
    (site / "thirdparty.py").write_text(
        code(
            """
            import logging
            log = logging.getLogger("thirdparty")
            def chatter():
                log.info("third-party info is hidden")
                log.warning("third-party warning is shown")
            """
        )
    )
    req = runner.make_request(
        path=workspace,
        entrypoint="nightly",
        parameters={"count": "21", "region": "eu"},
        log_level="INFO",
    )
    finished = runner.run(tmp_path / "run", req, redis_url=redis_url, env={"PYTHONPATH": str(site)})
    assert finished.code == 0, finished.stderr
    messages = runner.messages(redis_client, req)
    assert messages[:3] == [
        "count=21 extra={'region': 'eu'}",
        "third-party warning is shown",
        "helper info",
    ]
    result = runner.result(redis_client, req)
    assert result.result == {
        "doubled": 42,
        "params": {"region": "eu"},  # what the signature does not name, as in bifrost
        "inputs": {"count": "21", "region": "eu"},
        "id": req.identity.uid,
    }


def test_async_workflow_by_module_function_and_context_proxy(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "jobs.py").write_text(
        code(
            """
            import asyncio
            import kuberun
            async def fetch(context, n: int = 1):
                await asyncio.sleep(0.01)
                kuberun.context.logger.info("fetched %d", n)
                return {"n": n, "remaining": kuberun.context.time_remaining() > 0}
            """
        )
    )
    req = runner.make_request(path=workspace, entrypoint="jobs:fetch", parameters={"n": 3})
    finished = runner.run(tmp_path / "run", req, redis_url=redis_url)
    assert finished.code == 0, finished.stderr
    assert runner.messages(redis_client, req)[0] == "fetched 3"
    assert runner.result(redis_client, req).result == {"n": 3, "remaining": True}


@pytest.mark.parametrize(
    "source, entrypoint, status, reason, exit_code, message",
    [
        (
            "from kuberun import UserError\nraise UserError('Customer 42 not found')\n",
            None,
            Phase.FAILED,
            Reason.USER_ERROR,
            outcome.ExitCode.FAILED,
            "Customer 42 not found",
        ),
        (
            "def main():\n    return {'success': False, 'error': 'half failed'}\n",
            None,
            Phase.COMPLETED_WITH_ERRORS,
            Reason.COMPLETED_WITH_ERRORS,
            outcome.ExitCode.COMPLETED_WITH_ERRORS,
            "half failed",
        ),
        (
            "import threading\nresult = {'lock': threading.Lock()}\n",
            None,
            Phase.FAILED,
            Reason.INVALID_RESULT,
            outcome.ExitCode.FAILED,
            "result['lock'] is of type _thread.lock",
        ),
        (
            "from kuberun import data_provider\n"
            "@data_provider(name='regions')\ndef regions():\n    return [{'label': 'EU'}]\n",
            "regions",
            Phase.FAILED,
            Reason.INVALID_RESULT,
            outcome.ExitCode.FAILED,
            "option 0 is missing value",
        ),
        (
            "x = 1\nif x:\n  y = (\n",
            None,
            Phase.FAILED,
            Reason.SYNTAX_ERROR,
            outcome.ExitCode.FAILED,
            "<inline>, line 3",
        ),
        (
            "from kuberun import workflow\n"
            "@workflow\ndef alpha(): pass\n@workflow\ndef beta(): pass\n",
            "gamma",
            Phase.FAILED,
            Reason.ENTRYPOINT_NOT_FOUND,
            outcome.ExitCode.FAILED,
            "entrypoint 'gamma' not found; available: alpha, beta",
        ),
        (
            "def needs(context, customer_id: int, region: str):\n    pass\n",
            "needs",
            Phase.FAILED,
            Reason.INVALID_PARAMETERS,
            outcome.ExitCode.FAILED,
            "missing required parameters 'customer_id', 'region'",
        ),
    ],
    ids=[
        "user-error",
        "completed-with-errors",
        "not-json",
        "bad-options",
        "syntax-error",
        "unknown-entrypoint",
        "missing-parameter",
    ],
)
def test_failures_are_explained(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    source: str,
    entrypoint: str | None,
    status: Phase,
    reason: Reason,
    exit_code: int,
    message: str,
) -> None:
    req = runner.make_request(inline=source, entrypoint=entrypoint)
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert finished.code == exit_code, finished.stderr
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.reason) == (status, reason)
    result = runner.result(redis_client, req)
    shown = (result.error.message if result.error else "") or ""
    assert message in shown
    assert runner.stream(redis_client, req)[-1][1].source.value == "engine"


def test_exception_traceback_goes_to_the_logs(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(
        inline="def helper():\n    raise ValueError('bad row 7')\n\ndef main():\n    helper()\n"
    )
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert finished.code == outcome.ExitCode.FAILED
    assert finished.summary is not None
    assert (finished.summary.error_type, finished.summary.message) == ("ValueError", "bad row 7")
    error_record = runner.stream(redis_client, req)[-2][1]
    assert error_record.level == "ERROR" and error_record.message == "ValueError: bad row 7"
    assert error_record.exception is not None
    assert 'File "<inline>", line 2, in helper' in error_record.exception
    assert "raise ValueError('bad row 7')" in error_record.exception
    assert "kuberun/runtime" not in error_record.exception


def test_wrong_type_and_coercion(tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> None:
    source = "def total(context, amount: float, count: int):\n    return amount * count\n"
    good = runner.make_request(
        inline=source, entrypoint="total", parameters={"amount": "1.5", "count": "2"}
    )
    assert runner.run(tmp_path / "good", good, redis_url=redis_url).code == 0
    assert runner.result(redis_client, good).result == 3.0
    bad = runner.make_request(
        inline=source, entrypoint="total", parameters={"amount": 1, "count": "two"}
    )
    finished = runner.run(tmp_path / "bad", bad, redis_url=redis_url)
    assert finished.summary is not None and finished.summary.reason == Reason.INVALID_PARAMETERS
    assert "parameter 'count' expects int, got str 'two'" in (finished.summary.message or "")


def test_a_one_megabyte_parameter(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    blob = "x" * 1_000_000
    req = runner.make_request(
        inline="def main(context, blob: str):\n    return {'size': len(blob), 'tail': blob[-3:]}\n",
        parameters={"blob": blob},
    )
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert finished.code == 0, finished.stderr
    assert runner.result(redis_client, req).result == {"size": 1_000_000, "tail": "xxx"}


def test_invalid_utf8_partial_lines_and_fd_level_output(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(
        inline=code(
            """
            import os, subprocess, sys, time
            sys.stdout.buffer.write(b"bad \\xff\\xfe bytes\\n")
            print("no newline at the end", end="")
            time.sleep(0.8)
            sys.stdout.write("\\n")
            subprocess.run(["echo", "from a child process"], check=True)
            os.write(1, b"raw fd write \\xc3\\n")
            os.write(2, b"to fd 2 without newline")
            time.sleep(0.5)
            """
        )
    )
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert finished.code == 0, finished.stderr
    records = [record for _, record in runner.stream(redis_client, req)]
    by_message = {r.message: r for r in records}
    assert "bad \ufffd\ufffd bytes" in by_message
    assert "no newline at the end" in by_message  # flushed after the partial-line delay
    assert "" in by_message  # the lone newline that followed it
    assert by_message["from a child process"].source.value == "stdout"
    assert by_message["raw fd write \ufffd"].source.value == "stdout"
    assert by_message["to fd 2 without newline"].source.value == "stderr"


def test_os_exit_midway_delivers_every_line_before_it(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(
        inline="import os\nfor i in range(2000):\n    print('line', i)\n"
        "os._exit(3)\nprint('never')\n"
    )
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert finished.code == outcome.ExitCode.FAILED
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.error_type) == (Phase.FAILED, "ProcessExit")
    assert "os._exit(3)" in (finished.summary.message or "")
    messages = runner.messages(redis_client, req)
    assert messages[:2000] == [f"line {i}" for i in range(2000)]
    assert "never" not in messages
    assert finished.summary.dropped == 0


def test_log_line_limit_leaves_one_marker_and_counts(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(inline="for i in range(50):\n    print(i)\n")
    finished = runner.run(tmp_path, req, redis_url=redis_url, env={"KUBERUN_MAX_LOG_LINES": "10"})
    assert finished.code == 0
    messages = runner.messages(redis_client, req)
    assert messages[:10] == [str(i) for i in range(10)]
    assert "log limit reached" in messages[10]
    assert "40 dropped" in messages[11]
    assert finished.summary is not None and finished.summary.dropped == 40


def test_invalid_request_file(tmp_path: Path) -> None:
    (tmp_path / "request.json").write_text(json.dumps({"identity": {}, "spec": {}}))
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.update(
        KUBERUN_REQUEST_FILE=str(tmp_path / "request.json"),
        KUBERUN_TERMINATION_LOG=str(tmp_path / "term"),
    )
    done = subprocess.run([sys.executable, "-m", "kuberun.runtime"], env=env, capture_output=True)
    assert done.returncode == outcome.ExitCode.INVALID_REQUEST
    summary = outcome.TerminationSummary.decode((tmp_path / "term").read_bytes())
    assert summary.reason == Reason.INVALID_REQUEST
    assert b"is not a valid request" in done.stderr


def test_termination_summary_stays_within_4096_bytes(tmp_path: Path) -> None:
    req = runner.make_request(
        inline="from kuberun import UserError\nraise UserError('é' * 20000)\n"
    )
    finished = runner.run(tmp_path, req)
    assert finished.summary is not None and finished.summary.error_type == "UserError"
    assert finished.summary_bytes <= outcome.SUMMARY_MAX_BYTES


@pytest.mark.parametrize(
    "source, entrypoint, variables",
    [
        (
            "def calc(context, n: int = 3):\n    total = 0\n    api_token = 'abc'\n"
            "    for i in range(n):\n        total += i\n    return total\n",
            "calc",
            {"n": 3, "total": 3, "api_token": "***", "i": 2},
        ),
        (
            "import asyncio\nx = 41\nawait asyncio.sleep(0)\nresult = x + 1\n",
            None,
            {"x": 41, "result": 42},
        ),
    ],
    ids=["workflow", "script"],
)
def test_tracing_puts_variables_in_the_result(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    source: str,
    entrypoint: str | None,
    variables: dict[str, object],
) -> None:
    req = runner.make_request(inline=source, entrypoint=entrypoint)
    req = req.model_copy(update={"spec": req.spec.model_copy(update={"tracing": True})})
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert finished.code == 0, finished.stderr
    captured = runner.result(redis_client, req).variables
    assert captured is not None
    assert {k: captured[k] for k in variables} == variables


def test_sync_code_does_not_block_delivery(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    source = code(
        """
        import time
        print("before the busy loop")
        end = time.monotonic() + 6
        while time.monotonic() < end:
            pass
        """
    )
    req = runner.make_request(inline=source)
    started = runner.start(tmp_path, req, redis_url=redis_url)
    seen_at = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and started.process.poll() is None:
        if "before the busy loop" in runner.messages(redis_client, req):
            seen_at = time.monotonic() - t0
            break
        time.sleep(0.02)
    assert started.process.poll() is None, "the busy loop ended before the line arrived"
    assert seen_at is not None and seen_at < 5
    assert started.wait(30).code == 0


def test_output_of_forked_children_is_captured(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    source = code(
        """
        import logging, os
        children = []
        for n in (1, 2):
            pid = os.fork()
            if pid == 0:
                print("child prints", n)
                logging.getLogger("child").warning("child logs %d", n)
                os._exit(0)
            children.append(pid)
        result = [os.waitpid(pid, 0)[1] for pid in children]
        """
    )
    req = runner.make_request(inline=source)
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert finished.code == 0, finished.stderr
    messages = runner.messages(redis_client, req)
    for n in (1, 2):
        assert f"child prints {n}" in messages
        assert f"WARNING child: child logs {n}" in messages
    assert runner.result(redis_client, req).result == [0, 0]


def test_multiprocessing_pool_workers_behave_as_without_the_runner(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    source = code(
        """
        import multiprocessing
        def work(n):
            print("worker got", n)
            return n * n
        with multiprocessing.get_context("fork").Pool(2) as pool:  # terminate() on exit
            result = pool.map(work, range(6))
        """
    )
    req = runner.make_request(inline=source)
    finished = runner.run(tmp_path, req, redis_url=redis_url, timeout=20)
    assert finished.code == 0, finished.stderr
    assert runner.result(redis_client, req).result == [0, 1, 4, 9, 16, 25]
    messages = runner.messages(redis_client, req)
    assert sorted(m for m in messages if m.startswith("worker got")) == [
        f"worker got {n}" for n in range(6)
    ]


def test_an_unwritable_termination_log_is_reported_and_ignored(tmp_path: Path) -> None:
    req = runner.make_request(inline="result = 1\n")
    finished = runner.run(
        tmp_path, req, env={"KUBERUN_TERMINATION_LOG": str(tmp_path / "missing" / "term")}
    )
    assert finished.code == 0
    assert "cannot write the termination summary" in finished.stderr
    assert "SUCCESS (Completed)" in finished.stdout
