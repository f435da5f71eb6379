"""The cluster commands' decisions, with an in-memory stand-in for the API server."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest

from kuberun.cli import errors, remote, sources


class FakeKube:
    """`get_execution` answers from `objects`; each watch yields the next scripted batch."""

    namespace = "ns"

    def __init__(self, first: dict[str, Any], watches: list[list[tuple[str, dict[str, Any]]]]):
        self.first, self.watches, self.gets = first, watches, 0
        self.watch_calls: list[tuple[str | None, str | None, int | None]] = []

    def get_execution(self, name: str) -> dict[str, Any]:
        self.gets += 1
        return self.first

    def watch_executions(
        self, name: str | None, version: str | None, timeout: int | None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        self.watch_calls.append((name, version, timeout))
        yield from self.watches.pop(0) if self.watches else []


def obj(phase: str | None, version: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"name": "x", "namespace": "ns", "resourceVersion": version},
        "status": {"phase": phase} if phase else {},
    }


def test_wait_follows_the_watch_from_the_objects_version() -> None:
    kube = FakeKube(
        obj("PENDING", "7"), [[("MODIFIED", obj("RUNNING")), ("MODIFIED", obj("SUCCESS"))]]
    )
    seen: list[str] = []
    final = remote.wait_terminal(kube, "x", None, seen.append)  # type: ignore[arg-type]
    assert final is not None and final["status"]["phase"] == "SUCCESS"
    assert seen == ["PENDING", "RUNNING", "SUCCESS"]
    assert kube.watch_calls == [("x", "7", 300)] and kube.gets == 1


def test_wait_re_reads_when_the_server_ends_a_watch() -> None:
    kube = FakeKube(obj("RUNNING"), [[], [("MODIFIED", obj("FAILED"))]])
    final = remote.wait_terminal(kube, "x", None)  # type: ignore[arg-type]
    assert final is not None and final["status"]["phase"] == "FAILED" and kube.gets == 2


def test_wait_returns_none_when_the_timeout_passes() -> None:
    kube = FakeKube(obj("RUNNING"), [[] for _ in range(3)])
    assert remote.wait_terminal(kube, "x", 0.0) is None  # type: ignore[arg-type]


def test_a_deleted_execution_ends_the_wait_with_not_found() -> None:
    kube = FakeKube(obj("RUNNING"), [[("DELETED", obj("RUNNING"))]])
    with pytest.raises(errors.NotFound, match="deleted before it finished"):
        remote.wait_terminal(kube, "x", None)  # type: ignore[arg-type]


def args(**kw: Any) -> argparse.Namespace:
    base = {"name": None, "generate_name": None, "timeout": None, "path": "examples/hello.py"}
    return argparse.Namespace(**(base | kw))


def test_submit_builds_a_valid_execution() -> None:
    prepared = sources.Prepared({"inline": "x = 1"}, "greet")
    body = remote.build_execution(args(timeout=30), prepared, {"name": "Ada"})
    assert body["metadata"]["generateName"] == "hello-"
    assert body["spec"] == {
        "source": {"inline": "x = 1"},
        "entrypoint": "greet",
        "parameters": {"name": "Ada"},
        "timeoutSeconds": 30,
    }
    named = remote.build_execution(args(name="mine"), prepared, {})
    assert named["metadata"]["name"] == "mine" and "generateName" not in named["metadata"]


def test_submit_refuses_what_the_api_server_would() -> None:
    prepared = sources.Prepared({"inline": "x = 1"}, "bad entrypoint!")
    with pytest.raises(errors.UsageError, match="would be invalid"):
        remote.build_execution(args(), prepared, {})


def test_retry_copies_the_spec_but_not_the_cancel() -> None:
    old: dict[str, Any] = {
        "metadata": {"name": "nightly-abc12", "generateName": "nightly-", "labels": {"a": "b"}},
        "spec": {"source": {"inline": "x"}, "parameters": {"n": 1}, "cancel": True},
        "status": {"phase": "CANCELLED"},
    }
    new = remote.retry_manifest(old, None)
    assert new["spec"] == {"source": {"inline": "x"}, "parameters": {"n": 1}}
    assert new["metadata"]["generateName"] == "nightly-retry-"
    assert new["metadata"]["labels"] == {"a": "b"}
    assert new["metadata"]["annotations"] == {"kuberun.dev/retry-of": "nightly-abc12"}
    again = remote.retry_manifest({**old, "metadata": {"name": "nightly-retry-x1"}}, None)
    assert again["metadata"]["generateName"] == "nightly-retry-"  # no retry-retry-retry
    assert remote.retry_manifest(old, "fixed")["metadata"]["name"] == "fixed"
    assert old["spec"]["cancel"] is True  # the old object is left alone
