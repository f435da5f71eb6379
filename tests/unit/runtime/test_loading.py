"""Compiling sources and finding entrypoints (pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun import workflow
from kuberun.runtime import errors, loading


def test_syntax_error_names_file_and_line() -> None:
    with pytest.raises(errors.SourceSyntaxError) as raised:
        loading.compile_source("x = 1\ndef broken(:\n    pass\n", "/ws/flow.py")
    message = str(raised.value)
    assert message.startswith("/ws/flow.py, line 2: invalid syntax")
    assert "def broken(:" in message


def test_top_level_await_compiles_as_a_coroutine_body() -> None:
    code = loading.compile_source("import asyncio\nawait asyncio.sleep(0)\n", "<inline>")
    program = loading.Program(code, "inline", "<inline>")
    assert program.is_async
    assert not loading.Program(loading.compile_source("x = 1", "<inline>"), "m", "f").is_async


@workflow(name="nightly-sync")
def _decorated() -> None: ...


def _plain() -> None: ...


def test_find_entrypoint_by_declared_name_or_function_name() -> None:
    namespace: dict[str, Any] = {"_decorated": _decorated, "plain": _plain}
    assert loading.find_entrypoint(namespace, "nightly-sync", __name__) is _decorated
    assert loading.find_entrypoint(namespace, "plain", __name__) is _plain


def test_unknown_entrypoint_lists_the_available_ones() -> None:
    namespace: dict[str, Any] = {"_decorated": _decorated, "plain": _plain}
    with pytest.raises(
        errors.EntrypointNotFound, match="'nope' not found; available: nightly-sync"
    ):
        loading.find_entrypoint(namespace, "nope", __name__)
