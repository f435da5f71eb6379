"""kuberun: run trusted Python code on Kubernetes, one pod per execution.

What user code imports lives here::

    from kuberun import workflow, data_provider, ExecutionContext, context, UserError

`context` is a proxy for the current execution's `ExecutionContext` (an
asyncio-aware context variable, falling back to the process's one execution
in threads the code starts itself).
"""

from __future__ import annotations

from kuberun.sdk.context import ExecutionContext, context
from kuberun.sdk.decorators import data_provider, workflow
from kuberun.sdk.errors import ExecutionCancelled, ExecutionTimedOut, UserError

__all__ = [
    "ExecutionCancelled",
    "ExecutionContext",
    "ExecutionTimedOut",
    "UserError",
    "context",
    "data_provider",
    "workflow",
]
