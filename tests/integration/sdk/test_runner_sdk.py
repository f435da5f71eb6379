"""The SDK through the real runner process and a real Redis, with mounts laid out as in a pod:
identity, configuration, secrets (never in logs, results, errors or variables), integrations,
files, @param validation and bifrost's errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import redis

from kuberun.contract import caller, request
from kuberun.contract.phases import Phase, Reason
from tests.integration.runtime import runner

SECRET = "pa55-w0rd-7c1e"
TOKEN = "tok-9f8e7d6c5b"


def mounted(tmp_path: Path) -> dict[str, str]:
    """Directories shaped like the operator's mounts: ConfigMap, Secret, integrations, temp."""
    config, secrets, integrations = tmp_path / "config", tmp_path / "secrets", tmp_path / "integ"
    for directory in (config, secrets, integrations / "halopsa"):
        directory.mkdir(parents=True)
    (config / "api_url").write_text("https://api.example.com")
    (secrets / "api_password").write_text(SECRET)
    (integrations / "halopsa" / "access_token").write_text(TOKEN)
    (integrations / "halopsa" / "client_id").write_text("halo-client")
    (integrations / "halopsa" / "entity_id").write_text("tenant-3")
    return {
        "config_dir": str(config),
        "secrets_dir": str(secrets),
        "integrations_dir": str(integrations),
        "temp_dir": str(tmp_path / "tmp"),
    }


def workspace(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir(parents=True)
    (root / "flows.py").write_text(textwrap.dedent(body).lstrip())
    return root


def run(
    tmp_path: Path, redis_url: str, body: str, entrypoint: str, **fields: Any
) -> tuple[runner.Finished, request.RunRequest]:
    root = workspace(tmp_path, body)
    tracing = fields.pop("tracing", False)
    parameters = fields.pop("parameters", {})
    req = runner.make_request(path=root, entrypoint=entrypoint, parameters=parameters)
    req = req.model_copy(
        update={
            **mounted(tmp_path),
            "spec": req.spec.model_copy(update={"tracing": tracing}),
            **fields,
        }
    )
    return runner.run(tmp_path / "run", req, redis_url=redis_url), req


def test_identity_config_integrations_and_files_in_one_workflow(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    body = """
        from kuberun import config, context, files, integrations, oauth, workflow

        @workflow(name="sync_tickets")
        async def sync_tickets(ticket: str, **rest):
            halo = await integrations.get("HaloPSA")
            legacy = await oauth.get("halopsa")
            await files.write("export/tickets.csv", "id\\n1\\n", location="temp")
            return {
                "org": [context.org_id, context.org_name, context.scope, context.is_global_scope],
                "caller": [context.user_id, context.email, context.name, context.is_platform_admin],
                "execution": [context.execution_name, context.execution_id],
                "api_url": await context.get_config("api_url"),
                "listed": sorted(await config.list()),
                "entity": halo.entity_id,
                "client": legacy["client_id"],
                "temp": await files.list("export", location="temp"),
                "workspace": await files.list(),
                "parameters": context.parameters,
                "rest": rest,
            }
    """
    finished, req = run(
        tmp_path,
        redis_url,
        body,
        "sync_tickets",
        parameters={"ticket": "T-1", "priority": "high"},
        organization=caller.Organization(id="org-1", name="Acme"),
        caller=caller.Caller(user_id="u-9", email="ops@acme.com", name="Ops Lead"),
    )
    assert finished.code == 0, finished.stderr
    result = runner.result(redis_client, req).result
    assert result["org"] == ["org-1", "Acme", "org-1", False]
    assert result["caller"] == ["u-9", "ops@acme.com", "Ops Lead", False]
    assert result["execution"] == ["run", req.identity.uid]
    assert result["api_url"] == "https://api.example.com"
    assert result["listed"] == ["api_password", "api_url"]
    assert (result["entity"], result["client"]) == ("tenant-3", "halo-client")
    assert result["temp"] == ["tickets.csv"] and result["workspace"] == ["flows.py"]
    assert result["parameters"] == {"priority": "high"}
    assert result["rest"] == {"priority": "high"}


def test_secret_values_never_leave_the_pod(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    body = """
        import logging
        from kuberun import context, integrations, workflow

        @workflow(name="leaky")
        async def leaky():
            password = await context.get_config("api_password")
            halo = await integrations.get("halopsa")
            header = halo.oauth.get_auth_header()
            disguised = {"value": password, "nested": [header]}
            print("connecting with", password)
            logging.getLogger("flows").warning("token %s", halo.oauth.access_token)
            if context.inputs.get("fail"):
                raise RuntimeError(f"login failed for {password}")
            return {"echo": password, "header": header, "ok": True}
    """
    finished, req = run(tmp_path, redis_url, body, "leaky", tracing=True)
    assert finished.code == 0, finished.stderr
    stream = json.dumps([r.model_dump() for _, r in runner.stream(redis_client, req)])
    result = runner.result(redis_client, req)
    everything = stream + result.model_dump_json() + finished.stdout + finished.stderr
    assert SECRET not in everything and TOKEN not in everything
    assert "connecting with ***" in stream and "token ***" in stream
    assert result.result == {"echo": "***", "header": "Bearer ***", "ok": True}
    assert result.variables is not None
    assert result.variables["disguised"] == {"value": "***", "nested": ["Bearer ***"]}

    failed, req = run(tmp_path / "fails", redis_url, body, "leaky", parameters={"fail": True})
    assert failed.summary is not None and failed.summary.status is Phase.FAILED
    result = runner.result(redis_client, req)
    assert result.error is not None and result.error.message == "login failed for ***"
    stream = json.dumps([r.model_dump() for _, r in runner.stream(redis_client, req)])
    summary = (tmp_path / "fails" / "run" / "termination-log").read_text()
    assert SECRET not in stream + result.model_dump_json() + summary + failed.stdout


def test_params_are_validated_before_the_code_runs(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    body = """
        from kuberun import param, workflow

        @workflow(name="provision")
        @param("seats", "int", label="Seats", required=True, validation={"max": 10})
        @param("owner", "email", label="Owner")
        def provision(seats, owner):
            print("provisioning", seats)
            return {"seats": seats, "owner": owner}
    """
    finished, req = run(tmp_path, redis_url, body, "provision", parameters={"seats": "11"})
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.reason) == (
        Phase.FAILED,
        Reason.INVALID_PARAMETERS,
    )
    assert finished.summary.message == "parameter 'seats' (Seats): must be at most 10, got 11"
    assert not any("provisioning" in m for m in runner.messages(redis_client, req))
    ok, req = run(tmp_path / "ok", redis_url, body, "provision", parameters={"seats": "3"})
    assert ok.code == 0, ok.stderr
    assert runner.result(redis_client, req).result == {"seats": 3, "owner": None}


def test_bifrost_errors_and_missing_pieces_are_clear(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    body = """
        from kuberun import ValidationError, context, files, integrations, workflow

        @workflow(name="check")
        async def check(what: str):
            if what == "validation":
                raise ValidationError("start date must be before end date")
            if what == "integration":
                await integrations.get("Salesforce")
            if what == "config":
                await context.get_config("not_set")
            if what == "escape":
                await files.read("../../../etc/passwd")
            return "unreachable"
    """
    expected = {
        "validation": ("ValidationError", Reason.INVALID_PARAMETERS, "start date must be before"),
        "integration": ("IntegrationError", Reason.USER_ERROR, "'Salesforce' is not configured"),
        "config": ("KeyError", Reason.EXCEPTION, "config key 'not_set' is not set"),
        "escape": ("ValueError", Reason.EXCEPTION, "is outside the workspace directory"),
    }
    for what, (kind, reason, text) in expected.items():
        finished, _ = run(tmp_path / what, redis_url, body, "check", parameters={"what": what})
        assert finished.summary is not None, what
        assert (finished.summary.status, finished.summary.reason) == (Phase.FAILED, reason), what
        assert finished.summary.error_type == kind, what
        assert text in (finished.summary.message or ""), what
