"""The `WorkflowEndpoint` resource (`kuberun.dev/v1alpha1`): a workflow started over HTTP.

A namespaced resource the user applies (or commits, for GitOps) that tells the
log/result API service which workflow it may start at
`/api/v1/namespaces/{ns}/endpoints/{name}`, with which Execution template, for
which HTTP methods, whether the caller waits for the result (`sync`) or gets
the Execution's name at once (`async`), and whether a public token may call it.
`kuberun endpoints PATH` writes one per `@workflow(endpoint_enabled=True)`.

The same models generate the CRD schema (`kuberun_operator.endpointcrd`), so
a bad manifest is refused at apply with the field named.
"""

from __future__ import annotations

import enum

from pydantic import Field

from kuberun.contract.schedule import ExecutionTemplate
from kuberun.contract.spec import Model

KIND = "WorkflowEndpoint"
PLURAL = "workflowendpoints"
SINGULAR = "workflowendpoint"
SHORT_NAMES = ("kxe", "kxendpoint")

#: Label on every Execution an endpoint created (its value: the endpoint's name).
ENDPOINT_LABEL = "kuberun.dev/workflow-endpoint"
#: The namespace label that allows public endpoints in it (value "true").
PUBLIC_NAMESPACE_LABEL = "kuberun.dev/public-endpoints"
#: The Secret, in the endpoint's namespace, whose key `<endpoint name>` is that
#: endpoint's public token. One fixed name, so the API may read it by name only.
PUBLIC_TOKEN_SECRET = "kuberun-endpoint-tokens"
#: The shortest public token accepted; a shorter one counts as none (fail closed).
MIN_PUBLIC_TOKEN_LENGTH = 16
#: The creator recorded on Executions a public token started.
PUBLIC_CALLER = "kuberun:public-endpoint"

# Executions are named `<endpoint>-<5 random characters>` (generateName): 52 + 6 <= 63,
# the same bound as a ScheduledExecution's.
MAX_NAME_LENGTH = 52
DEFAULT_SYNC_TIMEOUT_SECONDS = 30
# A caller holding an HTTP connection open longer than five minutes is better
# served by async and polling; proxies commonly cut idle connections at 60-300 s.
MAX_SYNC_TIMEOUT_SECONDS = 300


class Method(enum.StrEnum):
    """The HTTP methods an endpoint may answer (bifrost's set)."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class ExecutionMode(enum.StrEnum):
    """Whether the caller waits for the outcome."""

    SYNC = "sync"  # wait (up to syncTimeoutSeconds) and answer with the result
    ASYNC = "async"  # answer 202 with the Execution's name at once


class WorkflowEndpointSpec(Model):
    """What one trigger starts, and how it answers."""

    allowed_methods: list[Method] = Field(
        default_factory=lambda: [Method.POST],
        min_length=1,
        max_length=5,
        description="HTTP methods that start the workflow; any other is 405. Default POST.",
    )
    execution_mode: ExecutionMode = Field(
        default=ExecutionMode.SYNC,
        description="sync: wait and answer with the result; async: answer 202 with the name.",
    )
    sync_timeout_seconds: int = Field(
        default=DEFAULT_SYNC_TIMEOUT_SECONDS,
        ge=1,
        le=MAX_SYNC_TIMEOUT_SECONDS,
        description="How long a sync call waits; then 202 with the name and a Location to poll.",
    )
    public: bool = Field(
        default=False,
        description=(
            f"Also callable with its own token (Secret {PUBLIC_TOKEN_SECRET}, key = the"
            f" endpoint's name), only in a namespace labelled {PUBLIC_NAMESPACE_LABEL}=true."
        ),
    )
    execution_template: ExecutionTemplate
