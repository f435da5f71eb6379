"""Code written for bifrost runs with only its import line changed, and gives bifrost's result.

The workspace below is written as bifrost's documentation and examples write
workflows (category, tags, stacked `@param`s with labels and help texts, an
older decorator keyword, the context's organization and caller,
`await context.get_config`, a data provider returning plain strings). The
test changes `from bifrost import` to `from kuberun import` and nothing else,
then runs it through `kuberun run` — the real runner in a child process.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from tests.integration.cli.test_kuberun_run import final, kuberun

BIFROST_WORKSPACE = '''
"""User onboarding for Microsoft 365."""

import logging

from bifrost import ExecutionContext, UserError, data_provider, param, workflow

logger = logging.getLogger(__name__)


@data_provider(
    name="get_available_licenses",
    description="License plans this organization may assign",
    category="m365",
    cache_ttl_seconds=300,
)
async def get_available_licenses(context: ExecutionContext):
    plans = await context.get_config("license_plans", default="E3,E5")
    return [plan.strip() for plan in plans.split(",")]


@workflow(
    name="onboard_user",
    description="Onboard a new M365 user with a license",
    category="user_management",
    tags=["m365", "user"],
    execution_mode="sync",
    timeout_seconds=300,
    expose_in_forms=True,
)
@param("first_name", type="string", label="First Name", required=True,
       help_text="The user's given name")
@param("last_name", type="string", label="Last Name", required=True)
@param("email", type="email", label="Email Address", required=True)
@param("license", type="string", label="License", data_provider="get_available_licenses",
       default_value="E3")
@param("seats", type="int", label="Seats", default_value=1, validation={"min": 1, "max": 10})
@param("send_welcome", type="bool", label="Send welcome email", default_value=True)
async def onboard_user(context: ExecutionContext, first_name, last_name, email, license,
                       seats, send_welcome):
    domain = await context.get_config("email_domain")
    if not email.endswith("@" + domain):
        raise UserError(f"{email} is not an address of {context.org_name}")
    logger.info(f"Onboarding {first_name} {last_name} for {context.org_name} ({context.org_id})")
    logger.info(f"Requested by {context.email}")
    return {
        "success": True,
        "user": {"displayName": f"{first_name} {last_name}", "mail": email},
        "license": license,
        "seats": seats,
        "welcome_sent": send_welcome,
        "org_id": context.org_id,
        "org_name": context.org_name,
        "requested_by": context.email,
        "executed_by": context.executed_by_name,
        "scope": context.scope,
    }
'''

IDENTITY = [
    "--org",
    "org-7f3a",
    "--org-name",
    "Acme Corp",
    "--user",
    "u-42",
    "--user-email",
    "it-admin@acme.com",
    "--user-name",
    "Ada Admin",
    "--config",
    "email_domain=acme.com",
]


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    text = textwrap.dedent(BIFROST_WORKSPACE).lstrip()
    ported = text.replace("from bifrost import", "from kuberun import")
    assert ported.count("kuberun") == 1 and ported.replace("kuberun", "bifrost") == text
    (root / "onboarding.py").write_text(ported)
    return root


def records(stderr: str) -> list[dict[str, Any]]:
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def test_a_bifrost_workflow_gives_bifrosts_result(tmp_path: Path) -> None:
    done = kuberun(
        "run",
        str(workspace(tmp_path)),
        "-e",
        "onboard_user",
        "-p",
        "first_name=Ada",
        "-p",
        "last_name=Lovelace",
        "-p",
        "email=ada@acme.com",
        "-p",
        "seats=2",
        "-p",
        "send_welcome=false",
        *IDENTITY,
        "--output",
        "json",
    )
    assert done.returncode == 0, done.stderr
    outcome = final(done)
    assert outcome["status"] == "SUCCESS"
    assert outcome["result"] == {
        "success": True,
        "user": {"displayName": "Ada Lovelace", "mail": "ada@acme.com"},
        "license": "E3",
        "seats": 2,
        "welcome_sent": False,
        "org_id": "org-7f3a",
        "org_name": "Acme Corp",
        "requested_by": "it-admin@acme.com",
        "executed_by": "Ada Admin",
        "scope": "org-7f3a",
    }
    messages = [r["message"] for r in records(done.stderr)]
    assert "Onboarding Ada Lovelace for Acme Corp (org-7f3a)" in messages
    assert "Requested by it-admin@acme.com" in messages
    warnings = [m for m in messages if "have no meaning in kuberun" in m]
    assert warnings == [
        "@workflow 'onboard_user': argument(s) expose_in_forms have no meaning in kuberun;"
        " kept as metadata"
    ]


def test_bifrost_failures_read_as_in_bifrost(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    wrong_domain = kuberun(
        "run",
        str(root),
        "-e",
        "onboard_user",
        "-p",
        "first_name=Ada",
        "-p",
        "last_name=L",
        "-p",
        "email=ada@elsewhere.org",
        *IDENTITY,
        "--output",
        "json",
    )
    assert wrong_domain.returncode == 11
    outcome = final(wrong_domain)
    assert (outcome["status"], outcome["reason"]) == ("FAILED", "UserError")
    assert outcome["error"]["message"] == "ada@elsewhere.org is not an address of Acme Corp"

    invalid = kuberun(
        "run",
        str(root),
        "-e",
        "onboard_user",
        "-p",
        "last_name=L",
        "-p",
        "email=not-an-address",
        *IDENTITY,
        "--output",
        "json",
    )
    outcome = final(invalid)
    assert (outcome["status"], outcome["reason"]) == ("FAILED", "InvalidParameters")
    assert outcome["error"]["message"] == (
        "parameter 'email' (Email Address): 'not-an-address' is not an email address"
    )
    assert not any("Onboarding" in r["message"] for r in records(invalid.stderr))


def test_a_bifrost_data_provider_returning_strings(tmp_path: Path) -> None:
    done = kuberun(
        "run",
        str(workspace(tmp_path)),
        "-e",
        "get_available_licenses",
        "--config",
        "license_plans=E1, E3 ,E5",
        "--output",
        "json",
    )
    assert done.returncode == 0, done.stderr
    assert final(done)["result"] == [
        {"label": "E1", "value": "E1"},
        {"label": "E3", "value": "E3"},
        {"label": "E5", "value": "E5"},
    ]


def test_kuberun_inspect_lists_the_bifrost_workspace_for_a_form(tmp_path: Path) -> None:
    done = kuberun("inspect", str(workspace(tmp_path)), "--output", "json")
    assert done.returncode == 0, done.stderr
    catalog = json.loads(done.stdout)
    assert catalog["errors"] == [] and catalog["scripts"] == []
    (flow,) = catalog["workflows"]
    (provider,) = catalog["dataProviders"]
    assert (flow["name"], flow["category"], flow["tags"], flow["executionMode"]) == (
        "onboard_user",
        "user_management",
        ["m365", "user"],
        "sync",
    )
    assert flow["extra"] == {"expose_in_forms": True}
    assert flow["specDefaults"] == {"timeoutSeconds": 300}
    fields = {f["name"]: f for f in flow["parameters"]}
    assert list(fields) == ["first_name", "last_name", "email", "license", "seats", "send_welcome"]
    assert fields["first_name"]["helpText"] == "The user's given name"
    assert fields["license"]["dataProvider"] == "get_available_licenses"
    assert (fields["seats"]["type"], fields["seats"]["validation"]) == (
        "int",
        {"min": 1, "max": 10},
    )
    assert (provider["name"], provider["category"], provider["cacheTtlSeconds"]) == (
        "get_available_licenses",
        "m365",
        300,
    )


OLDER_BIFROST_WORKSPACE = '''
"""Written for bifrost's older SDK: sync config and files, OrganizationContext, context.info."""

from bifrost import OrganizationContext, files, param, workflow


@workflow(
    name="create_ticket",
    description="Open a ticket in the PSA",
    category="PSA",
    tags=["halopsa"],
    requires_approval=False,
    required_permission="canExecuteWorkflows",
)
@param("subject", "string", label="Subject", required=True)
@param("urgent", "boolean", label="Urgent", default_value=False)
async def create_ticket(context: OrganizationContext, subject, urgent):
    board = context.get_config("psa_board", "Service Desk")
    context.info("Creating ticket", {"subject": subject, "board": board})
    files.write("ticket.txt", subject, location="temp")
    context.save_checkpoint("written", {"urgent": urgent})
    return {
        "board": board,
        "urgent": urgent,
        "saved": files.read("ticket.txt", location="temp"),
        "org": context.org.org_id,
        "by": context.executed_by_email,
    }
'''


def test_older_bifrost_code_with_sync_calls_runs_too(tmp_path: Path) -> None:
    root = tmp_path / "older"
    root.mkdir()
    text = textwrap.dedent(OLDER_BIFROST_WORKSPACE).lstrip()
    (root / "tickets.py").write_text(text.replace("from bifrost import", "from kuberun import"))
    done = kuberun(
        "run",
        str(root),
        "-e",
        "create_ticket",
        "-p",
        "subject=Printer on fire",
        "-p",
        "urgent=yes",
        *IDENTITY,
        "--output",
        "json",
    )
    assert done.returncode == 0, done.stderr
    assert final(done)["result"] == {
        "board": "Service Desk",
        "urgent": True,
        "saved": "Printer on fire",
        "org": "org-7f3a",
        "by": "it-admin@acme.com",
    }
    messages = [r["message"] for r in records(done.stderr)]
    assert 'Creating ticket {"subject": "Printer on fire", "board": "Service Desk"}' in messages
    assert 'checkpoint written {"urgent": true}' in messages
    assert not any("RuntimeWarning" in m or "never awaited" in m for m in messages)
