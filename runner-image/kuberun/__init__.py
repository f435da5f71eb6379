"""kuberun: run trusted Python code on Kubernetes, one pod per execution.

What user code imports lives here (bifrost's names, so bifrost code needs
only its import line changed)::

    from kuberun import workflow, data_provider, param, ExecutionContext, context
    from kuberun import config, secrets, files, integrations, oauth
    from kuberun import UserError, WorkflowError, ValidationError, IntegrationError
    from kuberun import ConfigurationError, ExecutionCancelled, ExecutionTimedOut

`context` is a proxy for the current execution's `ExecutionContext` (an
asyncio-aware context variable, falling back to the process's one execution
in threads the code starts itself). See docs/sdk.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kuberun.sdk.configuration import config, secrets
    from kuberun.sdk.context import (
        Caller,
        ExecutionContext,
        Organization,
        OrganizationContext,
        context,
    )
    from kuberun.sdk.decorators import data_provider, tool, workflow
    from kuberun.sdk.errors import (
        ConfigurationError,
        ExecutionCancelled,
        ExecutionTimedOut,
        IntegrationError,
        UserError,
        ValidationError,
        WorkflowError,
    )
    from kuberun.sdk.integrations import IntegrationData, OAuthCredentials, integrations, oauth
    from kuberun.sdk.params import param
    from kuberun.sdk.workspacefiles import files

# Where each public name lives. They are imported on first use (PEP 562), so what
# imports only `kuberun.cli` or `kuberun.contract` (the command line, the operator)
# does not pay for the SDK; `from kuberun import workflow` works as ever.
_HOMES = {
    "config": "kuberun.sdk.configuration",
    "secrets": "kuberun.sdk.configuration",
    "Caller": "kuberun.sdk.context",
    "ExecutionContext": "kuberun.sdk.context",
    "Organization": "kuberun.sdk.context",
    "OrganizationContext": "kuberun.sdk.context",
    "context": "kuberun.sdk.context",
    "data_provider": "kuberun.sdk.decorators",
    "tool": "kuberun.sdk.decorators",
    "workflow": "kuberun.sdk.decorators",
    "ConfigurationError": "kuberun.sdk.errors",
    "ExecutionCancelled": "kuberun.sdk.errors",
    "ExecutionTimedOut": "kuberun.sdk.errors",
    "IntegrationError": "kuberun.sdk.errors",
    "UserError": "kuberun.sdk.errors",
    "ValidationError": "kuberun.sdk.errors",
    "WorkflowError": "kuberun.sdk.errors",
    "IntegrationData": "kuberun.sdk.integrations",
    "OAuthCredentials": "kuberun.sdk.integrations",
    "integrations": "kuberun.sdk.integrations",
    "oauth": "kuberun.sdk.integrations",
    "param": "kuberun.sdk.params",
    "files": "kuberun.sdk.workspacefiles",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kuberun' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "Caller",
    "ConfigurationError",
    "ExecutionCancelled",
    "ExecutionContext",
    "ExecutionTimedOut",
    "IntegrationData",
    "IntegrationError",
    "OAuthCredentials",
    "Organization",
    "OrganizationContext",
    "UserError",
    "ValidationError",
    "WorkflowError",
    "config",
    "context",
    "data_provider",
    "files",
    "integrations",
    "oauth",
    "param",
    "secrets",
    "tool",
    "workflow",
]
