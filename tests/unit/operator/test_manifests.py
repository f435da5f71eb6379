"""The Job and request Secret of an attempt, field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kuberun.contract import request, spec
from kuberun_operator import manifests, naming
from kuberun_operator.settings import Settings

REF = manifests.ExecutionRef(name="report", namespace="team", uid="0f1e-uid")


def build(**fields: Any) -> dict[str, Any]:
    execution = spec.ExecutionSpec.model_validate(
        {"source": {"inline": "print(1)"}, "timeoutSeconds": 60, **fields}
    )
    return manifests.build_job_manifest(REF, execution, 2, Settings())


def test_job_name_labels_and_owner() -> None:
    job = build()
    assert job["metadata"]["name"] == "report-2"
    labels = job["metadata"]["labels"]
    assert labels[naming.UID_LABEL] == "0f1e-uid"
    assert labels[naming.MANAGED_BY_LABEL] == "kuberun"
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Execution", "0f1e-uid", True)


def test_hard_deadline_and_no_kubernetes_retries() -> None:
    job = build(gracePeriodSeconds=7)
    assert job["spec"]["backoffLimit"] == 0
    settings = Settings()
    # A backstop: the start deadline plus the run's; the pod gets the run's at its start.
    assert job["spec"]["activeDeadlineSeconds"] == (
        settings.start_deadline_seconds + 60 + 7 + settings.deadline_slack_seconds
    )
    assert job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 7


def test_pod_is_restricted_without_token() -> None:
    pod = build()["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "kuberun-runner"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["terminationMessagePolicy"] == "File"
    assert container["image"] == "kuberun/runner:0.1.0"


def test_request_is_a_mounted_file_and_redis_comes_from_a_secret() -> None:
    container = build()["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env[request.REQUEST_FILE_ENV]["value"] == request.REQUEST_FILE_DEFAULT
    assert env[request.REDIS_URL_ENV]["valueFrom"]["secretKeyRef"]["name"] == "kuberun-redis-runner"
    assert all("print(1)" not in json.dumps(e) for e in container["env"])
    assert {"name": "request", "mountPath": request.REQUEST_DIR_DEFAULT, "readOnly": True} in (
        container["volumeMounts"]
    )


def test_request_secret_holds_the_run_request() -> None:
    execution = spec.ExecutionSpec.model_validate(
        {"source": {"inline": "x" * 200_000}, "parameters": {"n": 1}}
    )
    secret = manifests.build_request_secret(REF, execution, 3)
    body = json.loads(secret["stringData"][request.REQUEST_FILE_NAME])
    parsed = request.RunRequest.model_validate(body)
    assert parsed.identity.attempt == 3 and parsed.spec.parameters == {"n": 1}
    assert len(parsed.spec.source.inline or "") == 200_000
    assert secret["metadata"]["name"] == "report-3-request"


def test_configmap_source_is_mounted_and_pointed_to() -> None:
    job = build(source={"configMap": {"name": "code", "key": "flow.py"}})
    pod = job["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name") == "code")
    assert "items" not in volume["configMap"]  # every key: a workspace's modules import
    execution = spec.ExecutionSpec.model_validate(
        {"source": {"configMap": {"name": "code", "key": "flow.py"}}}
    )
    assert manifests.source_path(execution) == f"{request.CONFIGMAP_SOURCE_DIR}/flow.py"


@pytest.mark.parametrize(
    "resources, requests, limits",
    [
        (None, {"cpu": "100m", "memory": "128Mi"}, {"memory": "1Gi"}),
        ({"limits": {"memory": "64Mi"}}, {"cpu": "100m"}, {"memory": "64Mi"}),
        ({"requests": {"cpu": "2"}}, {"cpu": "2", "memory": "128Mi"}, {"memory": "1Gi"}),
    ],
    ids=["defaults", "user-limit-below-default-request", "user-cpu"],
)
def test_resources(
    resources: dict[str, Any] | None, requests: dict[str, str], limits: dict[str, str]
) -> None:
    fields = {"resources": resources} if resources else {}
    got = build(**fields)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert got == {"requests": requests, "limits": limits}


def test_long_names_fit_kubernetes_limits() -> None:
    name = "a" * 250
    job_name = naming.job_name(name, 10)
    assert len(job_name) <= 63 and job_name.endswith("-10")
    assert naming.job_name(name, 10) != naming.job_name("a" * 249, 10)
    assert len(naming.labels(name, "u", 1)[naming.NAME_LABEL]) <= 63


def test_root_filesystem_is_read_only_with_temp_for_tmp_and_home() -> None:
    pod = build()["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    temp = {
        m["mountPath"]: m.get("subPath")
        for m in container["volumeMounts"]
        if m["name"] == manifests.TEMP_VOLUME
    }
    assert temp == {request.TEMP_DIR_DEFAULT: "files", "/tmp": "tmp", "/home/runner": "home"}
    assert pod["automountServiceAccountToken"] is False


def _mounts_and_volumes(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = job["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    return mounts, volumes


def test_namespace_configuration_and_secrets_are_optional_read_only_mounts() -> None:
    mounts, volumes = _mounts_and_volumes(build())
    config = mounts[request.CONFIG_DIR_DEFAULT]
    secrets = mounts[request.SECRETS_DIR_DEFAULT]
    assert config["readOnly"] is True and secrets["readOnly"] is True
    assert volumes[config["name"]]["configMap"] == {"name": "kuberun-config", "optional": True}
    assert volumes[secrets["name"]]["secret"] == {
        "secretName": "kuberun-secrets",
        "optional": True,
    }
    container = build()["spec"]["template"]["spec"]["containers"][0]
    assert "envFrom" not in container  # configuration is never put in the environment


def test_configuration_names_come_from_settings() -> None:
    execution = spec.ExecutionSpec.model_validate({"source": {"inline": "print(1)"}})
    settings = Settings(config_map_name="team-config", config_secret_name="team-secrets")
    job = manifests.build_job_manifest(REF, execution, 1, settings)
    _, volumes = _mounts_and_volumes(job)
    assert volumes[manifests.CONFIG_VOLUME]["configMap"]["name"] == "team-config"
    assert volumes[manifests.SECRETS_VOLUME]["secret"]["secretName"] == "team-secrets"


def test_temp_directory_is_a_bounded_writable_empty_dir() -> None:
    mounts, volumes = _mounts_and_volumes(build())
    temp = mounts[request.TEMP_DIR_DEFAULT]
    assert not temp.get("readOnly")
    assert volumes[temp["name"]]["emptyDir"] == {"sizeLimit": "1Gi"}
    execution = spec.ExecutionSpec.model_validate({"source": {"inline": "print(1)"}})
    unbounded = manifests.build_job_manifest(REF, execution, 1, Settings(temp_size_limit=None))
    _, volumes = _mounts_and_volumes(unbounded)
    assert volumes[manifests.TEMP_VOLUME]["emptyDir"] == {}


def test_each_named_integration_gets_its_own_optional_secret_mount() -> None:
    execution = spec.ExecutionSpec.model_validate({"source": {"inline": "print(1)"}})
    job = manifests.build_job_manifest(
        REF, execution, 1, Settings(), integrations=["HaloPSA", "Microsoft Partner", "halopsa"]
    )
    mounts, volumes = _mounts_and_volumes(job)
    halo = mounts[f"{request.INTEGRATIONS_DIR_DEFAULT}/halopsa"]
    partner = mounts[f"{request.INTEGRATIONS_DIR_DEFAULT}/microsoft-partner"]
    assert halo["readOnly"] is True and partner["readOnly"] is True
    assert volumes[halo["name"]]["secret"] == {
        "secretName": "kuberun-integration-halopsa",
        "optional": True,
    }
    assert volumes[partner["name"]]["secret"]["secretName"] == (
        "kuberun-integration-microsoft-partner"
    )
    assert len(volumes) == len(build()["spec"]["template"]["spec"]["volumes"]) + 2


def test_request_names_the_mounted_directories() -> None:
    execution = spec.ExecutionSpec.model_validate({"source": {"inline": "print(1)"}})
    parsed = request.RunRequest.model_validate_json(manifests.run_request(REF, execution, 1))
    assert (parsed.config_dir, parsed.secrets_dir, parsed.integrations_dir, parsed.temp_dir) == (
        request.CONFIG_DIR_DEFAULT,
        request.SECRETS_DIR_DEFAULT,
        request.INTEGRATIONS_DIR_DEFAULT,
        request.TEMP_DIR_DEFAULT,
    )
