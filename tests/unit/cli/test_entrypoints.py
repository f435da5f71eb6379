"""Which entrypoint a file runs without --entrypoint, and which parameters nothing reads."""

from __future__ import annotations

import ast
import textwrap

import pytest

from kuberun.cli import entrypoints

ONE = """
from kuberun import workflow, param

@workflow(name="greet")
@param("loud", "bool")
def greet(context, name: str, times: int = 1):
    if context.parameters.get("extra"):
        pass
    return name * times
"""
KWARGS = "from kuberun import workflow\n@workflow\ndef take(**kwargs):\n    return kwargs\n"
TWO = ONE + "\n@workflow\ndef other():\n    pass\n"
WITH_MAIN = ONE + "\ndef main():\n    return greet(None, 'x')\n"
PROVIDER = ONE + "\n@data_provider(name='regions')\ndef regions():\n    return []\n"
SCRIPT = "import logging\nwho = context.parameters['who']\nresult = {'hi': who}\n"


def tree(text: str) -> ast.Module:
    return ast.parse(textwrap.dedent(text))


@pytest.mark.parametrize(
    "source, given, chosen",
    [
        (ONE, None, "greet"),
        (ONE, "other", "other"),
        (TWO, None, None),
        (WITH_MAIN, None, None),
        (PROVIDER, None, "greet"),
        (SCRIPT, None, None),
        ("from kuberun import workflow\n@workflow()\ndef plain():\n    pass\n", None, "plain"),
    ],
    ids=["one-workflow", "given-wins", "two-workflows", "has-main", "provider-not-counted",
         "script", "decorator-called-without-name"],
)  # fmt: skip
def test_choose(source: str, given: str | None, chosen: str | None) -> None:
    assert entrypoints.choose(tree(source), given) == chosen


@pytest.mark.parametrize(
    "source, entry, given, unread",
    [
        (ONE, "greet", ["name", "times"], []),
        (ONE, "greet", ["name", "nmae"], ["nmae"]),
        (ONE, "greet", ["extra", "loud"], []),  # context.parameters["extra"], @param("loud")
        (KWARGS, "take", ["anything"], []),
        (SCRIPT, None, ["who"], []),
        (SCRIPT, None, ["who", "whom"], ["whom"]),
    ],
    ids=["all-read", "typo", "read-through-context-and-param", "kwargs", "script-reads",
         "script-ignores"],
)  # fmt: skip
def test_unread(source: str, entry: str | None, given: list[str], unread: list[str]) -> None:
    module = tree(source)
    declared = entrypoints.find(module, entry) if entry else None
    assert entrypoints.unread([module], declared, given) == unread


def test_the_warning_names_what_the_entrypoint_takes() -> None:
    declared = entrypoints.find(tree(ONE), "greet")
    text = entrypoints.describe_unread(["nmae"], declared, "flow.py")
    assert "'nmae' is read by nothing" in text and "greet takes name, times" in text
    assert "context" not in text.split("takes", 1)[1].split(" and ")[0]


def test_declared_names_and_kinds() -> None:
    found = entrypoints.declared(tree(PROVIDER))
    assert [(d.name, d.function, d.kind) for d in found] == [
        ("greet", "greet", "workflow"),
        ("regions", "regions", "data_provider"),
    ]
