"""@workflow / @data_provider metadata and the signature rules for the context parameter."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun import ExecutionContext, data_provider, workflow
from kuberun.sdk import decorators, signatures


def test_bare_workflow_returns_the_function_unchanged_with_inferred_parameters() -> None:
    def greet(context: ExecutionContext, name: str, times: int = 2) -> str:
        """Say hello."""
        return name * times

    marked = workflow(greet)
    assert marked is greet
    info = decorators.entrypoint_info(greet)
    assert info is not None
    assert (info.kind, info.name, info.description) == ("workflow", "greet", "Say hello.")
    assert info.parameters == (
        signatures.ParameterInfo("name", "str", True),
        signatures.ParameterInfo("times", "int", False, 2),
    )


def test_workflow_with_arguments() -> None:
    @workflow(name="nightly", description="the nightly job", timeout_seconds=30)
    async def run(**kwargs: Any) -> None:
        return None

    info = decorators.entrypoint_info(run)
    assert info is not None
    assert (info.name, info.description, info.timeout_seconds) == ("nightly", "the nightly job", 30)
    assert info.parameters == ()


def test_data_provider_metadata() -> None:
    @data_provider(name="regions", cache_ttl_seconds=60)
    def regions(cloud: str = "aws") -> list[dict[str, str]]:
        return []

    info = decorators.entrypoint_info(regions)
    assert info is not None
    assert (info.kind, info.name, info.cache_ttl_seconds) == ("data_provider", "regions", 60)
    assert decorators.entrypoint_info(lambda: None) is None

    @data_provider
    def colors() -> list[dict[str, str]]:
        return []

    bare = decorators.entrypoint_info(colors)
    assert bare is not None
    assert (bare.name, bare.cache_ttl_seconds) == ("colors", decorators.DEFAULT_CACHE_TTL_SECONDS)


def _annotated(ctx: ExecutionContext, a: int) -> None: ...
def _named(context, a): ...
def _string_annotation(ctx: ExecutionContext, a: int) -> None: ...
def _not_first(a: int, context: ExecutionContext) -> None: ...
def _none(a: int) -> None: ...


@pytest.mark.parametrize(
    "func, expected",
    [
        (_annotated, "ctx"),
        (_named, "context"),
        (_string_annotation, "ctx"),
        (_not_first, None),
        (_none, None),
    ],
    ids=["annotation", "name", "string-annotation", "not-first", "none"],
)
def test_context_parameter(func: Any, expected: str | None) -> None:
    assert signatures.context_parameter(func) == expected
