"""HTTP triggers of WorkflowEndpoints: the decisions, without I/O (`triggers` applies them).

- `parameters`: the request's inputs. A JSON object body for POST/PUT/PATCH (an
  empty body is `{}`), the query string for GET and DELETE (a repeated key becomes
  a list). Types are not checked here: the runner's `@param` validation coerces
  and checks them, and a bad one ends the Execution FAILED/InvalidParameters with
  the field named, as for any Execution.
- `public_access`, `public_refusal`: whether a request holds an endpoint's public
  token, and whether its namespace allows public calls at all.
- `execution_manifest`: the Execution an endpoint creates for one call.
- `sync_status`: the HTTP status of a sync answer, by outcome (the table below).

Errors are `TriggerError(status, code, message)`, answered in the API's shape
`{"error": code, "message": message}`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kuberun.contract import endpoint, spec
from kuberun.contract.phases import Phase
from kuberun_operator import tenancy

#: Bodies above this are refused (413) before they are parsed. The parameters end up
#: in the Execution object (etcd keeps objects under 1.5 MiB) and in the runner's
#: request; bulk data belongs in a ConfigMap, an object store or the workflow's own
#: fetch, not in a trigger's body.
MAX_BODY_BYTES = 256 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

#: Sync answers by outcome, first match wins:
#:   SUCCESS                               200
#:   FAILED / InvalidParameters            422  (the caller's parameters were refused)
#:   COMPLETED_WITH_ERRORS, FAILED (other) 500  (the workflow failed; body says how)
#:   TIMED_OUT                             504
#:   CANCELLED                             409
SYNC_STATUS: dict[str, int] = {
    Phase.SUCCESS.value: 200,
    Phase.COMPLETED_WITH_ERRORS.value: 500,
    Phase.FAILED.value: 500,
    Phase.TIMED_OUT.value: 504,
    Phase.CANCELLED.value: 409,
}
INVALID_PARAMETERS = "InvalidParameters"


class TriggerError(Exception):
    """A request the endpoint refuses, answered `{"error": code, "message": message}`."""

    def __init__(self, status: int, code: str, message: str, allow: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.allow = status, code, message, allow


@dataclass(frozen=True)
class Endpoint:
    """A WorkflowEndpoint as read from the API server, its spec parsed by the contract."""

    namespace: str
    name: str
    spec: endpoint.WorkflowEndpointSpec

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Endpoint:
        meta = body.get("metadata") or {}
        try:
            parsed = endpoint.WorkflowEndpointSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            # Only possible where the CRD's schema was not applied (or is older).
            raise TriggerError(
                500,
                "bad-endpoint",
                f"WorkflowEndpoint {meta.get('namespace')}/{meta.get('name')} is not valid: {exc}",
            ) from None
        return cls(str(meta.get("namespace", "")), str(meta.get("name", "")), parsed)

    @property
    def allowed(self) -> list[str]:
        return [m.value for m in self.spec.allowed_methods]


def check_method(found: Endpoint, method: str) -> None:
    """405 with an `Allow` header when `method` may not start this endpoint."""
    if method not in found.allowed:
        allow = ", ".join(found.allowed)
        raise TriggerError(
            405,
            "method-not-allowed",
            f"endpoint {found.namespace}/{found.name} answers {allow}, not {method}",
            allow=allow,
        )


def parameters(
    method: str, query: Mapping[str, list[str]], body: bytes, content_type: str
) -> dict[str, Any]:
    """The call's parameters (see the module docstring); TriggerError 400/413/415."""
    if len(body) > MAX_BODY_BYTES:
        raise too_large()
    if method not in BODY_METHODS:
        return {k: v[0] if len(v) == 1 else list(v) for k, v in query.items()}
    if not body.strip():
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise TriggerError(
            415, "unsupported-media-type", f"send the parameters as application/json, not {kind}"
        )
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TriggerError(400, "bad-request", f"the body is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise TriggerError(
            400,
            "bad-request",
            f"the body must be a JSON object of parameters, not {type(parsed).__name__}",
        )
    return parsed


def too_large() -> TriggerError:
    return TriggerError(
        413, "too-large", f"the body is over {MAX_BODY_BYTES} bytes; pass a reference instead"
    )


def public_access(found: Endpoint, presented: str | None, configured: str | None) -> bool:
    """Whether `presented` is this public endpoint's own token (else it is taken for a
    Kubernetes token). Compared in constant time; a configured token shorter than
    `MIN_PUBLIC_TOKEN_LENGTH` counts as none, so a careless Secret fails closed."""
    if not found.spec.public or not presented or not configured:
        return False
    if len(configured) < endpoint.MIN_PUBLIC_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(presented.encode(), configured.encode())


def public_refusal(found: Endpoint, namespace_labels: Mapping[str, str]) -> str | None:
    """Why a public call without the namespace's opt-in is refused (None: it opted in)."""
    if namespace_labels.get(endpoint.PUBLIC_NAMESPACE_LABEL) == "true":
        return None
    return (
        f"public endpoints are off in namespace {found.namespace}: the platform allows them"
        f" with the namespace label {endpoint.PUBLIC_NAMESPACE_LABEL}=true"
    )


def execution_manifest(found: Endpoint, params: Mapping[str, Any], creator: str) -> dict[str, Any]:
    """The Execution one call creates.

    The template's parameters are defaults the call's override key by key. The
    creator goes into `kuberun.dev/created-by`, which the chart's admission
    policies let only the API's own ServiceAccount set (docs/tenancy.md).
    """
    template = found.spec.execution_template
    execution = template.spec.model_dump(by_alias=True, mode="json", exclude_unset=True)
    execution["parameters"] = {**template.spec.parameters, **params}
    spec.ExecutionSpec.model_validate(execution)  # the template was valid; still is
    labels = dict(template.metadata.labels) if template.metadata else {}
    annotations = dict(template.metadata.annotations) if template.metadata else {}
    labels[endpoint.ENDPOINT_LABEL] = found.name
    annotations[tenancy.CREATED_BY_ANNOTATION] = creator
    return {
        "apiVersion": spec.API_VERSION,
        "kind": spec.KIND,
        "metadata": {
            "generateName": f"{found.name}-",
            "namespace": found.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": execution,
    }


def sync_status(phase: str | None, reason: str | None) -> int:
    """The HTTP status of a finished sync call (the SYNC_STATUS table)."""
    if phase == Phase.FAILED.value and reason == INVALID_PARAMETERS:
        return 422
    return SYNC_STATUS.get(phase or "", 500)


def links(base: str, namespace: str, name: str) -> dict[str, str]:
    """The URLs of an Execution in the log/result API."""
    execution = f"{base}/api/v1/namespaces/{namespace}/executions/{name}"
    return {
        "execution": execution,
        "result": f"{execution}/result",
        "logs": f"{execution}/logs",
    }
