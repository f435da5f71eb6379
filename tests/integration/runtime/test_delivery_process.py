"""The delivery process (`KUBERUN_DELIVERY_PROCESS=1`) where it differs from the thread:
the code's process can die without taking what it logged with it."""

from __future__ import annotations

import contextlib
import json
import textwrap
import time
from pathlib import Path

import psutil
import redis

from kuberun.runtime.settings import DELIVERY_PROCESS_ENV
from tests.integration.runtime import runner

PROCESS = {DELIVERY_PROCESS_ENV: "1"}


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def test_lines_before_a_sigkill_of_the_code_are_kept(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """The OOM killer's way to end code: nothing in the code's process runs after it. What
    it printed before is kept, in order, and the delivery process does not outlive it."""
    req = runner.make_request(
        inline=code(
            """
            import os, signal, time
            for i in range(3000):
                print("line", i)
            time.sleep(0.5)
            me = os.getpid()
            print(open(f"/proc/{me}/task/{me}/children").read().split())
            for i in range(3000):
                print("late", i)
            os.kill(me, signal.SIGKILL)
            """
        )
    )
    finished = runner.run(tmp_path, req, redis_url=redis_url, env=PROCESS)
    assert finished.code == -9
    deadline = time.monotonic() + 10
    while len(runner.messages(redis_client, req)) < 3001 and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = runner.messages(redis_client, req)
    assert messages[:3000] == [f"line {i}" for i in range(3000)]
    children = [int(pid) for pid in json.loads(messages[3000].replace("'", '"'))]
    assert len(children) == 1  # the delivery process
    late = messages[3001:]  # what the delivery process had at the kill: a gapless prefix
    assert late == [f"late {i}" for i in range(len(late))]
    deadline = time.monotonic() + 10  # an orphan flushes for at most 5 s, then exits
    while psutil.pid_exists(children[0]) and time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(children[0]).status() == psutil.STATUS_ZOMBIE:
                break
        time.sleep(0.1)
    alive = psutil.pid_exists(children[0])
    with contextlib.suppress(psutil.Error):
        alive = alive and psutil.Process(children[0]).status() != psutil.STATUS_ZOMBIE
    assert not alive, "the delivery process outlived the code's"
