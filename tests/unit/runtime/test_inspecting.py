"""`kuberun inspect`: which files are entrypoints, scripts or helpers, and how entrypoints read."""

from __future__ import annotations

import ast
import textwrap

import pytest

from kuberun import ExecutionContext, param, workflow
from kuberun.cli import inspecting
from kuberun.sdk import decorators


@pytest.mark.parametrize(
    "source, filename, kind",
    [
        ("@workflow\ndef f(): ...", "flows.py", "entrypoints"),
        ("@kuberun.data_provider(name='x')\nasync def f(): ...", "p.py", "entrypoints"),
        ("result = 1", "job.py", "script"),
        ("def main(): ...", "job.py", "script"),
        ("await thing()", "job.py", "script"),
        ("print('hi')", "main.py", "script"),
        ("def helper(): ...", "text.py", "helper"),
        ("@other\ndef f(): ...", "text.py", "helper"),
    ],
)
def test_classify(source: str, filename: str, kind: str) -> None:
    tree = ast.parse(textwrap.dedent(source), filename)
    assert inspecting.classify(tree, filename) == kind


def test_describe_gives_a_form_what_it_needs() -> None:
    @workflow(name="onboard", category="Users", tags=["m365"], schedule="0 9 * * *", sla="gold")
    @param("email", "email", label="Email", required=True, help_text="work address")
    async def onboard(context: ExecutionContext, email: str, seats: int = 1) -> None: ...

    info = decorators.entrypoint_info(onboard)
    assert info is not None
    entry = inspecting.describe(onboard, info, "flows.py")
    assert (entry["kind"], entry["name"], entry["category"], entry["tags"]) == (
        "workflow",
        "onboard",
        "Users",
        ["m365"],
    )
    assert (entry["isAsync"], entry["takesContext"], entry["schedule"]) == (True, True, "0 9 * * *")
    assert entry["extra"] == {"sla": "gold"} and entry["allowedMethods"] == ["POST"]
    assert [f["name"] for f in entry["parameters"]] == ["email", "seats"]
    assert entry["parameters"][0]["helpText"] == "work address"
