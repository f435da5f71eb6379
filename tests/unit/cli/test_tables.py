"""How get/list show Executions, and how a run's end shows its error once."""

from __future__ import annotations

import datetime
import json
import re

import pytest
import yaml

from kuberun.cli import remote, rendering, tables
from kuberun.contract import logrecord, outcome
from kuberun.contract.phases import Phase, Reason

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def execution(name: str, phase: str | None = "RUNNING", **status: object) -> dict[str, object]:
    return {
        "apiVersion": "kuberun.dev/v1alpha1",
        "kind": "Execution",
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-01-01T11:59:00Z"},
        "spec": {"source": {"inline": "x = 1"}, "entrypoint": "greet"},
        "status": {"phase": phase, "attempt": 1, **status} if phase else {},
    }


ITEMS = [execution("a", "SUCCESS", reason="Completed", duration="1.2s"), execution("b", None)]


def test_json_is_a_kubectl_style_list() -> None:
    parsed = json.loads(tables.render(ITEMS, "json", NOW))
    assert parsed["kind"] == "List" and [i["metadata"]["name"] for i in parsed["items"]] == [
        "a",
        "b",
    ]


def test_yaml_round_trips() -> None:
    assert yaml.safe_load(tables.render(ITEMS, "yaml", NOW))["items"] == ITEMS


def test_names() -> None:
    assert tables.render(ITEMS, "name", NOW).split() == [
        "execution.kuberun.dev/a",
        "execution.kuberun.dev/b",
    ]


def test_table_and_wide() -> None:
    lines = tables.render(ITEMS, "table", NOW).splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "REASON", "ATTEMPT", "DURATION", "AGE"]
    assert lines[1].split() == ["a", "SUCCESS", "Completed", "1", "1.2s", "60s"]
    assert lines[2].split()[:2] == ["b", "PENDING"]  # no status yet: queued to be seen
    wide = tables.render(ITEMS, "wide", NOW).splitlines()
    assert wide[0].split()[-3:] == ["QUEUE", "ENTRYPOINT", "MESSAGE"] and "greet" in wide[1]


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in tables.render(ITEMS, "table", NOW, colour=False)
    coloured = tables.render(ITEMS, "table", NOW, colour=True)
    assert "\x1b[32mSUCCESS\x1b[0m" in coloured
    plain = tables.render(ITEMS, "table", NOW)
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain  # colour never shifts the columns


@pytest.mark.parametrize(
    "created, expected",
    [
        ("2026-01-01T11:59:30Z", "30s"),
        ("2026-01-01T11:00:00Z", "60m"),
        ("2025-12-25T12:00:00Z", "7d"),
        (None, "<unknown>"),
    ],
)
def test_age(created: str | None, expected: str) -> None:
    assert tables.age(created, NOW) == expected


def test_the_summary_repeats_no_error_the_logs_showed() -> None:
    failed = execution(
        "x", "FAILED", reason="UserError", error={"type": "UserError", "message": "bad input"}
    )
    assert "error: UserError: bad input" in remote.summary(failed, [], False)
    assert "bad input" not in remote.summary(failed, ["UserError: bad input"], False)


def _record(message: str, exception: str | None) -> logrecord.LogRecord:
    return logrecord.LogRecord(
        sequence=1,
        timestamp=0.0,
        level="ERROR",
        logger="kuberun",
        message=message,
        exception=exception,
    )


def test_an_exception_record_says_its_error_once() -> None:
    tb = 'Traceback (most recent call last):\n  File "f.py", line 1\nValueError: boom'
    text = rendering.record_text(_record("ValueError: boom", tb))
    assert text.count("ValueError: boom") == 1 and "Traceback" in text.splitlines()[0]
    other = rendering.record_text(_record("something else", tb))
    assert "something else" in other and "ValueError: boom" in other


def test_a_local_runs_end_repeats_no_error_already_shown() -> None:
    result = outcome.RunResult(
        status=Phase.FAILED,
        reason=Reason.EXCEPTION,
        error=outcome.ErrorInfo(type="ValueError", message="boom"),
        duration_ms=5,
    )
    assert "error: ValueError: boom" in rendering.final_text(result)
    assert "boom" not in rendering.final_text(result, ["ValueError: boom"])
