"""Where an interrupt may land: the capture path defers it, user code takes it.

A cancel interrupts the main thread with a signal whose handler raises into
whatever frame is running. Inside the capture path (a `print` or `logging` call
being sequenced, a lock it holds) that would leave the runner's own state half
updated, so the interrupt is deferred until the capture path's way out
(`cancelling.Interrupter.raise_deferred`).

Each module of the capture path says so itself, by name (`capture_path(__name__)`
at its top); the modules that call user code say so too (`invoker(__name__)`),
so the walk up the stack stops there. A module renamed, split or added keeps
its declaration with it — and a unit test (tests/unit/runtime/test_safepoints.py)
profiles real `print`/`logging` calls and fails if any runner module they run
through has not declared itself.
"""

from __future__ import annotations

from types import FrameType

_CAPTURE_PATH: set[str] = set()
_INVOKERS: set[str] = set()


def capture_path(module: str) -> None:
    """Declare `module` part of the capture path: an interrupt inside it is deferred."""
    _CAPTURE_PATH.add(module)


def invoker(module: str) -> None:
    """Declare that `module` calls user code: frames above it are the runner's, not the code's."""
    _INVOKERS.add(module)


def capture_modules() -> frozenset[str]:
    return frozenset(_CAPTURE_PATH)


def in_capture(frame: FrameType | None) -> bool:
    """True when the interrupted code is inside the capture path (any frame up to an invoker's)."""
    while frame is not None:
        module = frame.f_globals.get("__name__")
        if module in _CAPTURE_PATH:
            return True
        if module in _INVOKERS:
            return False
        frame = frame.f_back
    return False
