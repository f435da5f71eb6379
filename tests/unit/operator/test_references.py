"""The objects a spec names, checked before an attempt's Job is created."""

from __future__ import annotations

from kuberun.contract import spec
from kuberun_operator import references
from kuberun_operator.references import Reference


def test_what_the_spec_names_each_once_optional_ones_skipped() -> None:
    execution = spec.ExecutionSpec.model_validate(
        {
            "source": {"configMap": {"name": "code", "key": "main.py"}},
            "serviceAccountName": "runner-sa",
            "envFrom": [
                {"configMapRef": {"name": "settings"}},
                {"configMapRef": {"name": "maybe", "optional": True}},
                {"secretRef": {"name": "creds"}},
                {"configMapRef": {"name": "code"}},
            ],
            "env": [
                {"name": "A", "value": "1"},
                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "more", "key": "b"}}},
                {"name": "C", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "c"}}},
            ],
        }
    )
    assert references.required(execution) == [
        Reference("ServiceAccount", "runner-sa", "spec.serviceAccountName"),
        Reference("ConfigMap", "code", "spec.source.configMap.name"),
        Reference("ConfigMap", "settings", "spec.envFrom[0].configMapRef.name"),
        Reference("ConfigMap", "more", "spec.env[1].valueFrom.configMapKeyRef.name"),
    ]


def test_an_inline_spec_needs_nothing() -> None:
    execution = spec.ExecutionSpec.model_validate({"source": {"inline": "print(1)"}})
    assert references.required(execution) == []


def test_the_message_names_the_field_and_keeps_the_servers_words() -> None:
    ref = Reference("ServiceAccount", "nope", "spec.serviceAccountName")
    assert (
        references.missing_message([(ref, 'serviceaccounts "nope" not found')])
        == 'spec.serviceAccountName: serviceaccounts "nope" not found'
    )
