"""The request's fast path agrees with the contract's model: same values, never more lenient."""

from __future__ import annotations

import copy
import json
from typing import Any

import pydantic
import pytest

from kuberun.contract import request
from kuberun.runtime import requests

OPERATOR_LIKE: dict[str, Any] = {
    "identity": {"namespace": "team-a", "name": "nightly", "uid": "u-1", "attempt": 2},
    "spec": {
        "source": {"configMap": {"name": "code", "key": "main.py"}},
        "entrypoint": "nightly-sync",
        "parameters": {"n": 3, "names": ["a", "b"], "nested": {"x": None}},
        "timeoutSeconds": 60,
        "gracePeriodSeconds": 5,
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
        "image": "runner:1",
        "retry": {"limit": 2, "backoffSeconds": 1.5, "maxBackoffSeconds": 60, "on": ["FAILED"]},
        "cache": {"ttlSeconds": 30, "bypass": True},
        "tracing": True,
        "logLevel": "INFO",
        "cancel": False,
        "organization": "acme",
        "caller": "ci",
        "priority": -5,
        "serviceAccountName": "runner-sa",
        "env": [{"name": "A", "value": "1"}],
        "envFrom": [],
    },
    "sourcePath": "/var/run/kuberun/source/main.py",
    "organization": {"id": "org-1", "name": "Acme"},
    "caller": {"userId": "u-7", "email": "a@example.com", "name": "Ada", "isPlatformAdmin": True},
    "configDir": "/var/run/kuberun/config",
    "secretsDir": "/var/run/kuberun/secrets",
    "integrationsDir": "/var/run/kuberun/integrations",
    "tempDir": "/var/run/kuberun/tmp",
}
OPERATOR_LIKE["spec"]["resources"]["extended"] = {"nvidia.com/gpu": 1}
MINIMAL: dict[str, Any] = {
    "identity": {"namespace": "n", "name": "x", "uid": "u"},
    "spec": {"source": {"inline": "print(1)"}},
}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[part]
    if value is _DROP:
        del target[last]
    else:
        target[last] = value
    return data


_DROP = object()

# Requests the model accepts: the fast path must take them or hand them over, never differ.
VALID = {
    "operator-like": OPERATOR_LIKE,
    "minimal": MINIMAL,
    "path-source": _with(MINIMAL, "spec.source", {"path": "/ws", "inline": None}),
    "snake-case-name": _with(MINIMAL, "spec.timeout_seconds", 5),
    "string-integer": _with(MINIMAL, "spec.timeoutSeconds", "5"),
    "float-integer": _with(MINIMAL, "spec.gracePeriodSeconds", 3.0),
    "null-cache-ttl": _with(MINIMAL, "spec.cache", {"ttlSeconds": None}),
    "bool-integer": _with(MINIMAL, "spec.timeoutSeconds", True),  # lax: the model reads 1
    "organization-id-only": _with(MINIMAL, "organization", {"id": "o"}),
    "caller-id-only": _with(MINIMAL, "caller", {"userId": "u"}),
    "null-identity-models": _with(_with(MINIMAL, "organization", None), "caller", None),
    "snake-case-caller": _with(MINIMAL, "caller", {"user_id": "u"}),
    "null-dirs": _with(MINIMAL, "configDir", None),
    "extended-zero": _with(MINIMAL, "spec.resources", {"extended": {"example.com/fpga": 0}}),
    "env-from-refs": _with(
        MINIMAL, "spec.envFrom", [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "b"}}]
    ),
    "placement": _with(
        MINIMAL,
        "spec.placement",
        {"nodeSelector": {"gpu": "yes"}, "tolerations": [{"key": "gpu", "operator": "Exists"}]},
    ),
}
# Requests the model rejects: the fast path must never accept them.
INVALID = {
    "no-source": _with(MINIMAL, "spec.source", {}),
    "two-sources": _with(MINIMAL, "spec.source", {"inline": "x", "path": "/ws"}),
    "timeout-zero": _with(MINIMAL, "spec.timeoutSeconds", 0),
    "timeout-huge": _with(MINIMAL, "spec.timeoutSeconds", 10**9),
    "grace-negative": _with(MINIMAL, "spec.gracePeriodSeconds", -1),
    "unknown-field": _with(MINIMAL, "spec.colour", "blue"),
    "unknown-top-field": _with(MINIMAL, "extra", 1),
    "bad-entrypoint": _with(MINIMAL, "spec.entrypoint", "1abc"),
    "entrypoint-newline": _with(MINIMAL, "spec.entrypoint", "abc\n"),
    "bad-log-level": _with(MINIMAL, "spec.logLevel", "LOUD"),
    "attempt-zero": _with(MINIMAL, "identity.attempt", 0),
    "empty-uid": _with(MINIMAL, "identity.uid", ""),
    "no-identity": _with(MINIMAL, "identity", _DROP),
    "parameters-list": _with(MINIMAL, "spec.parameters", [1]),
    "retry-success": _with(MINIMAL, "spec.retry", {"on": ["SUCCESS"]}),
    "retry-unhashable": _with(MINIMAL, "spec.retry", {"on": [{"x": 1}]}),
    "bad-quantity": _with(MINIMAL, "spec.resources", {"limits": {"cpu": "lots"}}),
    "bad-service-account": _with(MINIMAL, "spec.serviceAccountName", "Not_A_Name"),
    "env-not-objects": _with(MINIMAL, "spec.env", ["A=1"]),
    "env-no-name": _with(MINIMAL, "spec.env", [{"value": "1"}]),
    "env-empty-name": _with(MINIMAL, "spec.env", [{"name": "", "value": "1"}]),
    "env-from-both": _with(
        MINIMAL, "spec.envFrom", [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]
    ),
    "env-from-neither": _with(MINIMAL, "spec.envFrom", [{"prefix": "X_"}]),
    "image-with-space": _with(MINIMAL, "spec.image", "registry.example/a b"),
    "quantity-negative": _with(MINIMAL, "spec.resources", {"limits": {"cpu": "-1"}}),
    "quantity-two-points": _with(MINIMAL, "spec.resources", {"requests": {"memory": "1.2.3Gi"}}),
    "cache-negative": _with(MINIMAL, "spec.cache", {"ttlSeconds": -1}),
    "configmap-bad-name": _with(MINIMAL, "spec.source", {"configMap": {"name": "A", "key": "k"}}),
    "organization-no-id": _with(MINIMAL, "organization", {"name": "Acme"}),
    "organization-empty-id": _with(MINIMAL, "organization", {"id": ""}),
    "organization-unknown-field": _with(MINIMAL, "organization", {"id": "o", "plan": "x"}),
    "caller-no-id": _with(MINIMAL, "caller", {"email": "a@example.com"}),
    "caller-long-email": _with(MINIMAL, "caller", {"userId": "u", "email": "a" * 321}),
    "caller-admin-text": _with(MINIMAL, "caller", {"userId": "u", "isPlatformAdmin": "maybe"}),
    "dir-not-text": _with(MINIMAL, "tempDir", 5),
    "extended-core-name": _with(MINIMAL, "spec.resources", {"extended": {"cpu": 1}}),
    "extended-too-many": _with(MINIMAL, "spec.resources", {"extended": {"a.io/gpu": 1025}}),
    "extended-negative": _with(MINIMAL, "spec.resources", {"extended": {"a.io/gpu": -1}}),
    "placement-bad-label": _with(MINIMAL, "spec.placement", {"nodeSelector": {"-x": "y"}}),
}


def _fields(req: Any) -> dict[str, Any]:
    spec, source, cache = req.spec, req.spec.source, req.spec.cache
    return {
        "identity": (
            req.identity.namespace,
            req.identity.name,
            req.identity.uid,
            req.identity.attempt,
        ),
        "source": (
            source.inline,
            source.path,
            None if source.config_map is None else (source.config_map.name, source.config_map.key),
        ),
        "spec": (
            spec.entrypoint,
            spec.parameters,
            spec.timeout_seconds,
            spec.grace_period_seconds,
            spec.tracing,
            str(spec.log_level),
            spec.organization,
            spec.caller,
        ),
        "cache": None if cache is None else (cache.ttl_seconds, cache.bypass),
        "source_path": req.source_path,
        "organization": None
        if req.organization is None
        else (req.organization.id, req.organization.name),
        "caller": None
        if req.caller is None
        else (req.caller.user_id, req.caller.email, req.caller.name, req.caller.is_platform_admin),
        "dirs": (req.config_dir, req.secrets_dir, req.integrations_dir, req.temp_dir),
    }


@pytest.mark.parametrize("data", VALID.values(), ids=VALID.keys())
def test_a_valid_request_reads_as_the_model_reads_it(data: dict[str, Any]) -> None:
    raw = json.dumps(data).encode()
    model = request.RunRequest.model_validate_json(raw)
    assert _fields(requests.read(raw)) == _fields(model)


@pytest.mark.parametrize("data", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_request_is_never_taken_by_the_fast_path(data: dict[str, Any]) -> None:
    raw = json.dumps(data).encode()
    with pytest.raises(requests.NotPlain):
        requests.parse_plain(raw)
    with pytest.raises(pydantic.ValidationError):
        requests.read(raw)  # the model's verdict, with its message


def test_what_the_operator_writes_takes_the_fast_path() -> None:
    model = request.RunRequest.model_validate(OPERATOR_LIKE)
    raw = model.model_dump_json(by_alias=True, exclude_none=True).encode()
    assert isinstance(requests.read(raw), requests.PlainRequest)
    assert isinstance(requests.read(json.dumps(MINIMAL).encode()), requests.PlainRequest)
    assert not isinstance(requests.read(json.dumps(VALID["snake-case-name"]).encode()),
                          requests.PlainRequest)  # fmt: skip


def test_plain_values_are_frozen() -> None:
    plain = requests.parse_plain(json.dumps(MINIMAL).encode())
    with pytest.raises(AttributeError):
        plain.spec.timeout_seconds = 5


def test_the_fast_path_knows_every_field_of_the_models() -> None:
    """A field added to the request or spec model must be read (or handed over) on purpose:
    until then every request carrying it goes to the model, and this fails."""
    from kuberun.contract import caller, spec

    def aliases(model: type[pydantic.BaseModel]) -> set[str]:
        return {field.alias or name for name, field in model.model_fields.items()}

    assert aliases(request.RunRequest) == requests._REQUEST_FIELDS
    assert aliases(spec.ExecutionSpec) == requests._SPEC_FIELDS
    assert aliases(spec.Resources) == {"requests", "limits", "extended"}
    assert aliases(caller.Organization) == {"id", "name"}
    assert aliases(caller.Caller) == {"userId", "email", "name", "isPlatformAdmin"}


def test_a_placement_is_left_to_the_model() -> None:
    raw = json.dumps(VALID["placement"]).encode()
    with pytest.raises(requests.NotPlain):
        requests.parse_plain(raw)
    assert isinstance(requests.read(raw), request.RunRequest)
