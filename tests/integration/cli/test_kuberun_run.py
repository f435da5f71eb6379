"""`kuberun run` end to end: both transports, output modes, exit codes, Ctrl-C, deadline kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from kuberun.cli import local
from kuberun.contract import keys, outcome

KUBERUN = [sys.executable, "-m", "kuberun.cli"]


def script(tmp_path: Path, text: str, name: str = "job.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def env_without_redis() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KUBERUN_")}


def kuberun(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KUBERUN, *args], capture_output=True, text=True, timeout=timeout, env=env_without_redis()
    )


def final(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


GREETER = """
    import logging
    from kuberun import ExecutionContext, UserError, workflow
    log = logging.getLogger("greeter")

    @workflow(name="greet")
    def greet(ctx: ExecutionContext, name: str, times: int = 1):
        for i in range(times):
            print(f"hello {name} #{i}")
        log.info("greeted %s", name)
        if name == "nobody":
            raise UserError("nobody to greet")
        return {"greeted": name, "times": times}

    @workflow
    def partial():
        return {"success": False, "error": "1 of 2 failed"}
"""


def test_text_output_over_the_pipe_in_order(tmp_path: Path) -> None:
    path = script(tmp_path, GREETER)
    done = kuberun("run", str(path), "--entrypoint", "greet", "-p", "name=Ada", "-p", "times:=2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("INFO    stdout: hello Ada #0")
    assert lines[1].endswith("INFO    stdout: hello Ada #1")
    assert lines[2].endswith("INFO    greeter: greeted Ada")
    assert "SUCCESS (Completed)" in lines[3]
    assert any(line.startswith("── SUCCESS (Completed)") for line in lines)
    assert '"greeted": "Ada"' in done.stdout


def test_json_output_ends_with_one_object_and_logs_go_to_stderr(tmp_path: Path) -> None:
    path = script(tmp_path, GREETER)
    params = tmp_path / "params.json"
    params.write_text('{"name": "Grace", "times": 1}')
    done = kuberun(
        "run", str(path), "-e", "greet", "--params-file", str(params), "--output", "json"
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1
    data = final(done)
    assert set(data) == {
        "status",
        "reason",
        "result",
        "error",
        "durationMs",
        "logLines",
        "lastSequence",
        "dropped",
    }
    assert (data["status"], data["result"], data["dropped"]) == (
        "SUCCESS",
        {"greeted": "Grace", "times": 1},
        0,
    )
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [r["sequence"] for r in records] == list(range(1, data["lastSequence"] + 1))
    assert records[0]["message"] == "hello Grace #0"


@pytest.mark.parametrize(
    "args, exit_code, status, text",
    [
        (
            ["-e", "greet", "-p", "name=nobody"],
            outcome.ExitCode.FAILED,
            "FAILED",
            "nobody to greet",
        ),
        (
            ["-e", "partial"],
            outcome.ExitCode.COMPLETED_WITH_ERRORS,
            "COMPLETED_WITH_ERRORS",
            "1 of 2",
        ),
        (["-e", "greet"], outcome.ExitCode.FAILED, "FAILED", "missing required parameter 'name'"),
        (
            ["-e", "greet", "-p", "name=x", "-p", "times=many"],
            outcome.ExitCode.FAILED,
            "FAILED",
            "parameter 'times' expects int",
        ),
        (["-e", "gone"], outcome.ExitCode.FAILED, "FAILED", "available: greet, partial"),
    ],
    ids=["user-error", "completed-with-errors", "missing", "wrong-type", "unknown-entrypoint"],
)
def test_exit_codes_and_errors(
    tmp_path: Path, args: list[str], exit_code: int, status: str, text: str
) -> None:
    path = script(tmp_path, GREETER)
    done = kuberun("run", str(path), *args, "--output", "json")
    assert done.returncode == exit_code, done.stderr
    data = final(done)
    assert data["status"] == status
    assert text in data["error"]["message"]


def test_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = script(tmp_path, "x = 1\nprint(x\n", name="broken.py")
    done = kuberun("run", str(path), "--output", "json")
    assert done.returncode == outcome.ExitCode.FAILED
    data = final(done)
    assert data["reason"] == "SyntaxError"
    assert f"{path}, line 2" in data["error"]["message"]


def test_usage_errors(tmp_path: Path) -> None:
    assert kuberun("run", str(tmp_path / "missing.py")).returncode == 2
    path = script(tmp_path, "pass\n")
    done = kuberun("run", str(path), "-p", "oops")
    assert done.returncode == 2 and "KEY=VALUE" in done.stderr


def test_a_source_the_runner_cannot_use_exits_as_the_runner_does(tmp_path: Path) -> None:
    """A workspace directory without an entrypoint: the runner exits 14 (InvalidRequest),
    and so does `kuberun run` (one mapping, `ExitCode.for_verdict`)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "helpers.py").write_text("X = 1\n")
    done = kuberun("run", str(workspace), "--output", "json")
    data = final(done)
    assert data["reason"] == "InvalidRequest", data
    assert done.returncode == int(outcome.ExitCode.INVALID_REQUEST) == 14, done.stderr


def test_os_exit_over_the_pipe_keeps_every_line(tmp_path: Path) -> None:
    path = script(tmp_path, "import os\nfor i in range(3000):\n    print(i)\nos._exit(3)\n")
    done = kuberun("run", str(path), "--output", "json")
    assert done.returncode == outcome.ExitCode.FAILED
    data = final(done)
    assert data["error"]["type"] == "ProcessExit"
    messages = [
        json.loads(line)["message"] for line in done.stderr.splitlines() if line.startswith("{")
    ]
    assert messages[:3000] == [str(i) for i in range(3000)]


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*KUBERUN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or env_without_redis(),
    )


def wait_started(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + 10
    line = process.stdout.readline()
    assert "started" in line, line
    assert time.monotonic() < deadline


LOOPER = """
    import time
    print("started", flush=True)
    while True:
        time.sleep(0.05)
"""


def test_ctrl_c_cancels_cooperatively(tmp_path: Path) -> None:
    process = start("run", str(script(tmp_path, LOOPER)), "--output", "text")
    wait_started(process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == outcome.ExitCode.CANCELLED, err
    assert "cancelling" in err
    assert "── CANCELLED (Cancelled)" in out


def test_second_ctrl_c_kills_code_that_ignores_the_first(tmp_path: Path) -> None:
    stubborn = """
        import time
        print("started", flush=True)
        while True:
            try:
                time.sleep(0.05)
            except BaseException:
                pass
    """
    process = start("run", str(script(tmp_path, stubborn)), "--grace", "30", "--output", "text")
    wait_started(process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    t0 = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert time.monotonic() - t0 < 10  # not the 30 s grace period
    assert "killing the runner" in err
    assert process.returncode == outcome.ExitCode.CANCELLED
    assert "── CANCELLED (Cancelled)" in out
    assert "terminated while the code was still stopping" in out


def test_deadline_plus_grace_kills_a_runner_that_cannot_answer(tmp_path: Path) -> None:
    frozen = """
        import os, signal
        print("started", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
    """
    t0 = time.monotonic()
    done = kuberun(
        "run", str(script(tmp_path, frozen)), "--timeout", "1", "--grace", "1", "--output", "json"
    )
    elapsed = time.monotonic() - t0
    assert 2.0 <= elapsed < 15.0
    assert done.returncode == outcome.ExitCode.TIMED_OUT, done.stderr
    data = final(done)
    assert (data["status"], data["reason"]) == ("TIMED_OUT", "DeadlineExceeded")
    assert "killed" in data["error"]["message"]
    assert "deadline plus grace period passed" in done.stderr


def test_code_ignoring_sigterm_is_stopped_after_the_grace_period(tmp_path: Path) -> None:
    ignorer = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("started", flush=True)
        while True:
            try:
                time.sleep(0.05)
            except BaseException:
                print("ignored a stop request", flush=True)
    """
    t0 = time.monotonic()
    done = kuberun(
        "run", str(script(tmp_path, ignorer)), "--timeout", "1", "--grace", "2", "--output", "json"
    )
    assert time.monotonic() - t0 < 15
    assert done.returncode == outcome.ExitCode.TIMED_OUT, done.stderr
    data = final(done)
    assert data["status"] == "TIMED_OUT"
    assert "did not stop within the 2 s grace period" in data["error"]["message"]
    assert "ignored a stop request" in done.stderr


def test_redis_transport_uses_the_real_stream_result_and_cancel_key(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    env = env_without_redis()
    process = start(
        "run", str(script(tmp_path, LOOPER)), "--redis", redis_url, "--output", "json", env=env
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    assert json.loads(first)["message"] == "started"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == outcome.ExitCode.CANCELLED, err
    data = json.loads(out.splitlines()[-1])
    assert data["error"]["message"] == local.CANCEL_REASON
    streams: Any = redis_client.keys(f"{keys.PREFIX}:{{{local.LOCAL_NAMESPACE}:*}}:logs")
    assert len(streams) == 1
    entries: Any = redis_client.xrange(streams[0])
    assert len(entries) == data["lastSequence"]
    assert redis_client.keys(f"{keys.PREFIX}:{{{local.LOCAL_NAMESPACE}:*}}:result:1")
    assert redis_client.keys(f"{keys.PREFIX}:{{{local.LOCAL_NAMESPACE}:*}}:cancel")


def test_redis_transport_success(tmp_path: Path, redis_url: str) -> None:
    path = script(tmp_path, GREETER)
    env = env_without_redis()
    env["KUBERUN_REDIS_URL"] = redis_url
    done = subprocess.run(
        [*KUBERUN, "run", str(path), "-e", "greet", "-p", "name=Lin", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    data = final(done)
    assert data["result"] == {"greeted": "Lin", "times": 1}
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [r["message"] for r in records[:2]] == ["hello Lin #0", "greeted Lin"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_runner_never_outlives_the_cli(tmp_path: Path, signum: int) -> None:
    ticker = """
        import time
        print("started", flush=True)
        while True:
            print("tick", flush=True)
            time.sleep(0.05)
    """
    process = start("run", str(script(tmp_path, ticker)), "--output", "text")
    wait_started(process)
    runners = psutil.Process(process.pid).children(recursive=True)
    assert runners
    process.send_signal(signum)
    process.communicate(timeout=20)
    _, alive = psutil.wait_procs(runners, timeout=15)
    assert not alive, f"runner processes left behind: {alive}"


def test_big_parameters_odd_bytes_and_a_missing_newline_over_the_pipe(tmp_path: Path) -> None:
    source = """
        import os, sys
        def main(context, blob: str):
            sys.stdout.buffer.write(b"bad \\xff bytes\\n")
            os.write(1, b"from fd 1 \\xfe\\n")
            print("no newline", end="")
            return len(blob)
    """
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"blob": "x" * 1_000_000}))
    done = kuberun(
        "run", str(script(tmp_path, source)), "--params-file", str(params), "--output", "json"
    )
    assert done.returncode == 0, done.stderr
    assert final(done)["result"] == 1_000_000
    messages = [
        json.loads(line)["message"] for line in done.stderr.splitlines() if line.startswith("{")
    ]
    assert "bad \ufffd bytes" in messages
    assert "from fd 1 \ufffd" in messages
    assert "no newline" in messages


@pytest.mark.timeout(240)
def test_a_million_lines_over_the_pipe_in_bounded_memory(tmp_path: Path) -> None:
    flood = """
        import logging
        log = logging.getLogger("flood")
        for i in range(1_000_000):
            log.info("line %d", i)
    """
    env = env_without_redis()
    env["KUBERUN_MAX_LOG_LINES"] = "2000000"
    records = tmp_path / "records.jsonl"
    t0 = time.monotonic()
    with open(records, "wb") as sink:
        process = subprocess.Popen(
            [*KUBERUN, "run", str(script(tmp_path, flood)), "--output", "json"],
            stdout=subprocess.PIPE,
            stderr=sink,
            env=env,
        )
        cli = psutil.Process(process.pid)
        peak = {"cli": 0, "runner": 0}
        while process.poll() is None:
            try:
                peak["cli"] = max(peak["cli"], cli.memory_info().rss)
                for child in cli.children():
                    peak["runner"] = max(peak["runner"], child.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.05)
        out = process.stdout.read() if process.stdout else b""
    elapsed = time.monotonic() - t0
    assert process.returncode == 0
    data = json.loads(out.decode().splitlines()[-1])
    assert (data["lastSequence"], data["dropped"]) == (1_000_001, 0)  # + the final record
    with open(records, "rb") as lines:
        assert sum(1 for line in lines if line.startswith(b'{"sequence"')) == 1_000_001
    print(
        f"\n1M lines via kuberun run (pipe): {elapsed:.1f} s, peak RSS runner"
        f" {peak['runner'] / 2**20:.0f} MiB, CLI {peak['cli'] / 2**20:.0f} MiB"
    )
    assert peak["runner"] < 200 * 2**20 and peak["cli"] < 200 * 2**20
