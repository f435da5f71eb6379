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
