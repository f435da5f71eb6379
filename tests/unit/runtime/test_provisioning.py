"""Identity from the request (or the older bare spec fields) and resources from its mounts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuberun import ConfigurationError
from kuberun.contract import caller, request, spec
from kuberun.contract.identity import ExecutionIdentity
from kuberun.runtime import provisioning


def make(**fields: object) -> request.RunRequest:
    spec_fields = fields.pop("spec", {})
    assert isinstance(spec_fields, dict)
    return request.RunRequest(
        identity=ExecutionIdentity(namespace="ns", name="n", uid="u"),
        spec=spec.ExecutionSpec.model_validate({"source": {"inline": "x"}, **spec_fields}),
        **fields,  # type: ignore[arg-type]
    )


def test_identity_from_the_request_models() -> None:
    req = make(
        organization=caller.Organization(id="acme", name="Acme"),
        caller=caller.Caller(user_id="u1", email="a@b.c", name="Ada", is_platform_admin=True),
    )
    org = provisioning.organization(req)
    assert org is not None and (org.id, org.name) == ("acme", "Acme")
    who = provisioning.caller(req)
    assert (who.user_id, who.email, who.name, who.is_platform_admin) == ("u1", "a@b.c", "Ada", True)


def test_identity_falls_back_to_the_bare_spec_fields() -> None:
    req = make(spec={"organization": "acme", "caller": "system:serviceaccount:ci:bot"})
    org = provisioning.organization(req)
    assert org is not None and (org.id, org.name) == ("acme", "acme")
    who = provisioning.caller(req)
    assert (who.user_id, who.email, who.name) == (
        "system:serviceaccount:ci:bot",
        "",
        "system:serviceaccount:ci:bot",
    )
    assert provisioning.organization(make()) is None
    assert provisioning.caller(make()).user_id == ""


def test_an_older_request_without_the_new_fields_still_reads() -> None:
    old = (
        '{"identity": {"namespace": "ns", "name": "n", "uid": "u"},'
        ' "spec": {"source": {"inline": "x"}}}'
    )
    req = request.RunRequest.model_validate_json(old)
    assert (req.organization, req.caller, req.config_dir, req.temp_dir) == (None, None, None, None)


def test_resources_from_the_mounts(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "api_key").write_text("k-123456")
    code = tmp_path / "flows.py"
    code.write_text("")
    req = make(
        secrets_dir=str(tmp_path / "secrets"),
        temp_dir=str(tmp_path / "tmp"),
        source_path=str(code),
    )
    provisioned = provisioning.load_resources(req)
    assert provisioned.created_temp_dir is None and (tmp_path / "tmp").is_dir()
    assert provisioned.resources.workspace_dir == tmp_path
    assert provisioned.resources.secret_values() == ["k-123456"]
    made = provisioning.load_resources(make())
    assert made.created_temp_dir is not None and made.created_temp_dir.is_dir()
    assert made.resources.workspace_dir is None
    made.created_temp_dir.rmdir()


def test_an_unreadable_mount_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\xff")
    with pytest.raises(ConfigurationError, match="is not UTF-8"):
        provisioning.load_resources(make(config_dir=str(tmp_path)))
