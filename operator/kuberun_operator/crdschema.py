"""Generate the `executions.kuberun.dev` CRD from the contract models.

Pure. `python -m kuberun_operator.crdschema > crds/executions.kuberun.dev.yaml`
writes the file; a unit test fails when the file and the models disagree, so
the API server validates exactly what the operator and the runner accept.

Pydantic's JSON Schema is turned into a *structural* OpenAPI v3 schema: `$ref`s
inlined, `Optional` collapsed, free-form JSON marked
`x-kubernetes-preserve-unknown-fields`, and the rules JSON Schema cannot say
(exactly one source, which outcomes may be retried, map keys, a spec that only
`cancel` may change after creation) added as CEL and enums.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml

from kuberun.contract import spec, status
from kuberun.contract.phases import Phase

CRD_NAME = f"{spec.PLURAL}.{spec.GROUP}"
ONE_SOURCE_RULE = (
    "(has(self.inline) ? 1 : 0) + (has(self.configMap) ? 1 : 0) + (has(self.path) ? 1 : 0) == 1"
)
ONE_SOURCE_MESSAGE = "source must set exactly one of inline, configMap or path"
RETRYABLE = [Phase.FAILED.value, Phase.TIMED_OUT.value, Phase.COMPLETED_WITH_ERRORS.value]
# Spec fields a user may change after creation. `cancel` is the GitOps way to stop
# a run; every other field describes the run itself, which has started (or is queued
# as it was asked): changing it would silently not apply, so the API server refuses.
MUTABLE_SPEC_FIELDS = frozenset({"cancel"})

# What a map's key pattern means, for the CRD's error message.
KEY_KINDS = {
    spec.LABEL_KEY_PATTERN: "a label key ([prefix/]name, e.g. example.com/team)",
    spec.EXTENDED_RESOURCE_PATTERN: "a domain-qualified resource name (e.g. nvidia.com/gpu)",
}

_KEEP = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "enum",
    "description",
    "maxProperties",
)


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """One JSON Schema node as a structural OpenAPI v3 node."""
    if "$ref" in node:
        target = _structural(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        if "description" in node:
            target["description"] = node["description"]
        return target
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            merged = _structural(options[0], defs)
            for key in ("description",):
                if key in node:
                    merged[key] = node[key]
            return merged
        return _free(node)
    kind = node.get("type")
    if kind is None and "enum" in node:
        kind = "string"
    if kind is None:
        return _free(node)
    out: dict[str, Any] = {"type": kind}
    out.update({k: node[k] for k in _KEEP if k in node})
    if kind == "object":
        props = node.get("properties")
        if not props and (
            node.get("patternProperties") or isinstance(node.get("additionalProperties"), dict)
        ):
            return _map(node, out, defs)
        if not props:
            out["x-kubernetes-preserve-unknown-fields"] = True
            return out
        out["properties"] = {name: _structural(sub, defs) for name, sub in props.items()}
        if node.get("required"):
            out["required"] = list(node["required"])
    elif kind == "array":
        out["items"] = _structural(node.get("items", {}), defs)
        if "maxItems" in node:
            out["maxItems"] = node["maxItems"]
        if "minItems" in node:
            out["minItems"] = node["minItems"]
    return out


def _map(node: dict[str, Any], out: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A `dict[K, V]`: a map of V, its keys' pattern and length checked in CEL.

    Structural schemas have no patternProperties or propertyNames, so the key rule
    pydantic states as those becomes an `x-kubernetes-validations` rule.
    """
    patterns = node.get("patternProperties") or {}
    if len(patterns) > 1:
        raise ValueError(f"a map may have one key pattern, not {sorted(patterns)}")
    if patterns:
        ((key_pattern, value),) = patterns.items()
    else:
        key_pattern, value = None, node["additionalProperties"]
    out["additionalProperties"] = _structural(value, defs)
    checks = []
    if key_pattern is not None:
        checks.append(f"k.matches({_cel_string(key_pattern)})")
    max_key = (node.get("propertyNames") or {}).get("maxLength")
    if max_key is not None:
        checks.append(f"size(k) <= {max_key}")
    if checks:
        out["x-kubernetes-validations"] = [
            {
                "rule": f"self.all(k, {' && '.join(checks)})",
                "message": f"every key must be {KEY_KINDS.get(key_pattern or '', 'valid')}"
                + (f", at most {max_key} characters" if max_key else ""),
            }
        ]
    return out


def _cel_string(text: str) -> str:
    """A CEL raw string literal holding `text` (regexes keep their backslashes)."""
    if "'" in text:
        raise ValueError(f"cannot quote {text!r} for CEL")
    return f"r'{text}'"


def _free(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
    if "description" in node:
        out["description"] = node["description"]
    return out


def _schema_of(model: type[spec.Model]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def spec_schema() -> dict[str, Any]:
    """The spec's structural schema, with the rules pydantic validators express."""
    schema = _schema_of(spec.ExecutionSpec)
    props = schema["properties"]
    source = props["source"]
    source["x-kubernetes-validations"] = [{"rule": ONE_SOURCE_RULE, "message": ONE_SOURCE_MESSAGE}]
    retry_on = props["retry"]["properties"]["on"]["items"]
    retry_on["enum"] = list(RETRYABLE)
    _pod_api_rules(props)
    schema["x-kubernetes-validations"] = immutability_rules(schema)
    return schema


# The Job API's own checks, said at `kubectl apply` with a readable reason instead of a
# 422 on the operator's create (which then ends the Execution FAILED/InvalidRequest).
RESOURCE_NAMES = ("cpu", "memory")
ENV_ITEM: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 4096},
        "value": {"type": "string"},
        "valueFrom": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}
_REF: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 253},
        "optional": {"type": "boolean"},
    },
}
ENV_FROM_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prefix": {"type": "string", "maxLength": 253},
        "configMapRef": copy.deepcopy(_REF),
        "secretRef": copy.deepcopy(_REF),
    },
    "x-kubernetes-validations": [
        {
            "rule": "(has(self.configMapRef) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) == 1",
            "message": spec.ENV_FROM_MESSAGE,
        }
    ],
}


def _readable(node: dict[str, Any], message: str) -> None:
    """A pattern as a CEL rule, so the API server's error says `message`, not the regex."""
    pattern = node.pop("pattern")
    node["x-kubernetes-validations"] = [
        {"rule": f"self.matches({_cel_string(pattern)})", "message": message}
    ]


def requests_within_limits(name: str) -> dict[str, Any]:
    """CEL (Kubernetes' quantity library): a request of `name` no larger than its limit."""
    req, lim = f"self.requests.{name}", f"self.limits.{name}"
    return {
        "rule": (
            f"!has(self.requests) || !has(self.limits) || !has({req}) || !has({lim})"
            f" || !isQuantity({req}) || !isQuantity({lim})"
            f" || quantity({req}).compareTo(quantity({lim})) <= 0"
        ),
        "message": (
            f"resources.requests.{name} must be less than or equal to resources.limits.{name}"
        ),
    }


def _pod_api_rules(props: dict[str, Any]) -> None:
    resources = props["resources"]
    for side in ("requests", "limits"):
        for name in RESOURCE_NAMES:
            _readable(resources["properties"][side]["properties"][name], spec.QUANTITY_MESSAGE)
    resources["x-kubernetes-validations"] = [requests_within_limits(n) for n in RESOURCE_NAMES]
    _readable(props["image"], spec.IMAGE_MESSAGE)
    props["env"]["items"] = copy.deepcopy(ENV_ITEM)
    props["envFrom"]["items"] = copy.deepcopy(ENV_FROM_ITEM)  # no YAML anchors: a copy each


def immutability_rules(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """CEL transition rules: every spec field but `cancel` keeps its value after creation.

    One rule per field, so the error names the field. A rule on the spec (not on
    the field) sees a field being added or removed, which a rule on the field
    itself would not: transition rules run only where old and new both exist.
    Free-form JSON (`parameters`, `env`) compares by value too, with one gap CEL
    leaves: a key renamed with its value and the number of keys unchanged compares
    equal (docs/operator.md says so).
    """
    rules = []
    for name in schema["properties"]:
        if name in MUTABLE_SPEC_FIELDS:
            continue
        rules.append(
            {
                "rule": (
                    f"has(self.{name}) == has(oldSelf.{name})"
                    f" && (!has(self.{name}) || self.{name} == oldSelf.{name})"
                ),
                "message": (
                    f"spec.{name} cannot change after the Execution is created; only spec.cancel"
                    " can (create a new Execution to run with other settings)"
                ),
                "fieldPath": f".{name}",
                "reason": "FieldValueForbidden",
            }
        )
    return rules


def status_schema() -> dict[str, Any]:
    """The status's structural schema; conditions are a map list keyed by type (metav1)."""
    schema = _schema_of(status.ExecutionStatus)
    conditions = schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    # Served (defaulted on every read) before the operator has written anything, so a new
    # Execution reads "generation 1 not observed yet": InProgress to kstatus, not Current.
    schema["default"] = {"observedGeneration": 0}
    return schema


PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Reason", "type": "string", "jsonPath": ".status.reason"},
    {"name": "Attempt", "type": "integer", "jsonPath": ".status.attempt"},
    {"name": "Queue", "type": "integer", "jsonPath": ".status.queuePosition", "priority": 1},
    {"name": "Duration", "type": "string", "jsonPath": ".status.duration"},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def namespaced_crd(
    *,
    name: str,
    names: Any,
    description: str,
    printer_columns: list[dict[str, Any]],
    spec_part: dict[str, Any],
    status_part: dict[str, Any] | None = None,
    validations: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One of kuberun's CustomResourceDefinitions: namespaced, one served version.

    `names` is the contract module of the kind (its KIND, PLURAL, SINGULAR and
    SHORT_NAMES); a status part, when given, is a subresource.
    """
    version: dict[str, Any] = {"name": spec.VERSION, "served": True, "storage": True}
    if status_part is not None:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = printer_columns
    root: dict[str, Any] = {"type": "object", "description": description, "required": ["spec"]}
    if validations:
        root["x-kubernetes-validations"] = validations
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec_part,
    }
    if status_part is not None:
        properties["status"] = status_part
    root["properties"] = properties
    version["schema"] = {"openAPIV3Schema": root}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "kuberun"}},
        "spec": {
            "group": spec.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": names.KIND,
                "listKind": f"{names.KIND}List",
                "plural": names.PLURAL,
                "singular": names.SINGULAR,
                "shortNames": list(names.SHORT_NAMES),
                "categories": ["kuberun"],
            },
            "versions": [version],
        },
    }


def with_execution_template(schema: dict[str, Any]) -> dict[str, Any]:
    """A spec schema whose `executionTemplate.spec` is checked as an Execution's spec."""
    execution_spec = spec_schema()
    execution_spec.pop("x-kubernetes-validations", None)  # immutability: Executions only
    schema["properties"]["executionTemplate"]["properties"]["spec"] = execution_spec
    return schema


def build_crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition."""
    return namespaced_crd(
        name=CRD_NAME,
        names=spec,
        description="Run trusted Python code once, in its own pod.",
        printer_columns=PRINTER_COLUMNS,
        spec_part=spec_schema(),
        status_part=status_schema(),
    )


def render_crd(crd: dict[str, Any], generator: str) -> str:
    """A CRD as the YAML stored in `crds/`, naming the module that generates it."""
    header = f"# Generated by `python -m {generator}` from kuberun.contract; do not edit.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=100)


def render() -> str:
    """The Execution CRD as the YAML stored in `crds/`."""
    return render_crd(build_crd(), "kuberun_operator.crdschema")


if __name__ == "__main__":
    sys.stdout.write(render())
