"""The trigger decisions: parameters from a call, methods, public tokens, the Execution made."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kuberun.contract import endpoint, spec
from kuberun_operator.api import triggering


def found(**overrides: Any) -> triggering.Endpoint:
    body = {
        "metadata": {"namespace": "team-a", "name": "lookup"},
        "spec": {
            "executionTemplate": {
                "metadata": {"labels": {"team": "a"}},
                "spec": {
                    "source": {"path": "/workspace"},
                    "entrypoint": "lookup",
                    "parameters": {"region": "eu", "limit": 5},
                },
            },
            **overrides,
        },
    }
    return triggering.Endpoint.from_body(body)


@pytest.mark.parametrize(
    ("method", "query", "body", "ctype", "expected"),
    [
        ("POST", {}, b'{"a": 1, "b": [2]}', "application/json", {"a": 1, "b": [2]}),
        ("POST", {}, b"", "", {}),
        ("PUT", {}, b'{"a": "x"}', "application/merge-patch+json", {"a": "x"}),
        ("POST", {}, b'{"a": 1}', "", {"a": 1}),
        ("GET", {"a": ["1"], "b": ["x", "y"]}, b"", "", {"a": "1", "b": ["x", "y"]}),
        ("DELETE", {"id": ["7"]}, b"", "", {"id": "7"}),
    ],
    ids=["post-json", "post-empty", "put-plus-json", "no-content-type", "get-query", "delete"],
)
def test_parameters(
    method: str, query: dict[str, list[str]], body: bytes, ctype: str, expected: dict[str, Any]
) -> None:
    assert triggering.parameters(method, query, body, ctype) == expected


@pytest.mark.parametrize(
    ("body", "ctype", "status"),
    [
        (b"{nope", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'"text"', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"a=1", "application/x-www-form-urlencoded", 415),
        (b"{" + b" " * triggering.MAX_BODY_BYTES + b"}", "application/json", 413),
    ],
    ids=["bad-json", "array", "string", "not-utf8", "form", "too-large"],
)
def test_bad_bodies(body: bytes, ctype: str, status: int) -> None:
    with pytest.raises(triggering.TriggerError) as refused:
        triggering.parameters("POST", {}, body, ctype)
    assert refused.value.status == status


def test_a_method_not_allowed_is_405_with_allow() -> None:
    target = found(allowedMethods=["POST", "GET"])
    triggering.check_method(target, "GET")
    with pytest.raises(triggering.TriggerError) as refused:
        triggering.check_method(target, "DELETE")
    assert refused.value.status == 405 and refused.value.allow == "POST, GET"


TOKEN = "s3cret-token-0123456789"


@pytest.mark.parametrize(
    ("public", "presented", "configured", "expected"),
    [
        (True, TOKEN, TOKEN, True),
        (True, TOKEN + "x", TOKEN, False),
        (True, None, TOKEN, False),
        (True, TOKEN, None, False),
        (True, "short", "short", False),  # a configured token under 16 characters is none
        (False, TOKEN, TOKEN, False),  # a private endpoint has no public token
    ],
    ids=["match", "mismatch", "none-presented", "none-configured", "too-short", "not-public"],
)
def test_public_access(
    public: bool, presented: str | None, configured: str | None, expected: bool
) -> None:
    assert triggering.public_access(found(public=public), presented, configured) is expected


def test_public_calls_need_the_namespace_opt_in() -> None:
    target = found(public=True)
    assert triggering.public_refusal(target, {endpoint.PUBLIC_NAMESPACE_LABEL: "true"}) is None
    for labels in ({}, {endpoint.PUBLIC_NAMESPACE_LABEL: "yes"}):
        refusal = triggering.public_refusal(target, labels)
        assert refusal is not None and endpoint.PUBLIC_NAMESPACE_LABEL in refusal


def test_the_execution_carries_the_call_and_its_creator() -> None:
    manifest = triggering.execution_manifest(found(), {"limit": 9, "customer": "c1"}, "ada")
    assert manifest["metadata"]["generateName"] == "lookup-"
    assert manifest["metadata"]["namespace"] == "team-a"
    assert manifest["metadata"]["labels"] == {"team": "a", endpoint.ENDPOINT_LABEL: "lookup"}
    assert manifest["metadata"]["annotations"] == {"kuberun.dev/created-by": "ada"}
    # the template's parameters are defaults; the call's win key by key
    assert manifest["spec"]["parameters"] == {"region": "eu", "limit": 9, "customer": "c1"}
    assert manifest["spec"]["entrypoint"] == "lookup"
    spec.ExecutionSpec.model_validate(manifest["spec"])
    json.dumps(manifest)


def test_an_endpoint_the_crd_would_refuse_is_a_clear_500() -> None:
    with pytest.raises(triggering.TriggerError) as refused:
        triggering.Endpoint.from_body(
            {"metadata": {"namespace": "a", "name": "b"}, "spec": {"allowedMethods": ["TRACE"]}}
        )
    assert refused.value.status == 500 and "a/b" in refused.value.message


@pytest.mark.parametrize(
    ("phase", "reason", "status"),
    [
        ("SUCCESS", "Completed", 200),
        ("FAILED", "InvalidParameters", 422),
        ("FAILED", "UserError", 500),
        ("COMPLETED_WITH_ERRORS", "ReportedErrors", 500),
        ("TIMED_OUT", "DeadlineExceeded", 504),
        ("CANCELLED", "Cancelled", 409),
        (None, "Deleted", 500),
    ],
)
def test_sync_status_by_outcome(phase: str | None, reason: str, status: int) -> None:
    assert triggering.sync_status(phase, reason) == status


def test_links() -> None:
    assert triggering.links("", "a", "x-1") == {
        "execution": "/api/v1/namespaces/a/executions/x-1",
        "result": "/api/v1/namespaces/a/executions/x-1/result",
        "logs": "/api/v1/namespaces/a/executions/x-1/logs",
    }
