"""bifrost's decorator arguments: accepted, kept, given their engine meaning; unknown ones warn."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kuberun import ExecutionContext, data_provider, param, tool, workflow
from kuberun.sdk import decorators


def test_every_bifrost_workflow_argument_is_kept() -> None:
    @workflow(
        name="onboard",
        description="Onboard a user",
        category="User Management",
        tags=["m365", "user"],
        execution_mode="sync",
        timeout_seconds=300,
        retry_policy={"max_attempts": 3, "backoff": 2},
        schedule="0 9 * * *",
        endpoint_enabled=True,
        allowed_methods=["post", "GET"],
        public_endpoint=True,
        disable_global_key=True,
    )
    async def onboard(context: ExecutionContext, email: str) -> dict[str, Any]:
        return {}

    info = decorators.entrypoint_info(onboard)
    assert info is not None
    assert (info.name, info.description, info.category) == (
        "onboard",
        "Onboard a user",
        "User Management",
    )
    assert info.tags == ("m365", "user")
    assert (info.execution_mode, info.schedule, info.timeout_seconds) == ("sync", "0 9 * * *", 300)
    assert info.retry_policy == {"max_attempts": 3, "backoff": 2}
    assert (info.endpoint_enabled, info.public_endpoint, info.disable_global_key) == (
        True,
        True,
        True,
    )
    assert info.allowed_methods == ("POST", "GET")
    assert info.extra == {}
    assert decorators.spec_defaults(info) == {
        "timeoutSeconds": 300,
        "retry": {"limit": 2, "backoffSeconds": 2.0},
    }


def test_bifrost_defaults() -> None:
    @workflow
    def plain() -> None: ...

    @workflow(endpoint_enabled=True)
    def endpoint() -> None: ...

    info, endpoint_info = decorators.entrypoint_info(plain), decorators.entrypoint_info(endpoint)
    assert info is not None and endpoint_info is not None
    assert (info.category, info.tags, info.allowed_methods) == ("General", (), ("POST",))
    assert info.execution_mode == "async" and endpoint_info.execution_mode == "sync"
    assert decorators.spec_defaults(info) == {}


def test_unknown_arguments_are_metadata_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):

        @workflow(name="old", description="d", requires_org=True, expose_in_forms=False)
        def old() -> None: ...

    info = decorators.entrypoint_info(old)
    assert info is not None and info.extra == {"requires_org": True, "expose_in_forms": False}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "expose_in_forms, requires_org" in warnings[0].getMessage()
    assert warnings[0].name == __name__  # the code's own logger, which the runner shows


def test_known_arguments_only_warn_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):

        @data_provider(name="p", category="m365", cache_ttl_seconds=60)
        def p() -> list[str]:
            return []

    assert not caplog.records


def test_name_and_description_by_position_as_older_bifrost() -> None:
    @workflow("nightly_sync", "Sync everything at night", category="Ops")
    def run() -> None: ...

    @data_provider("get_licenses", "Available licenses", "m365", 60)
    def licenses() -> list[str]:
        return []

    flow, provider = decorators.entrypoint_info(run), decorators.entrypoint_info(licenses)
    assert flow is not None and provider is not None
    assert (flow.name, flow.description, flow.category) == (
        "nightly_sync",
        "Sync everything at night",
        "Ops",
    )
    assert (provider.name, provider.description, provider.category) == (
        "get_licenses",
        "Available licenses",
        "m365",
    )
    assert provider.cache_ttl_seconds == 60


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"execution_mode": "sometimes"}, "execution_mode must be one of"),
        ({"tags": "a-tag-list"}, None),
        ({"tags": [1, 2]}, "tags must be a list of strings"),
        ({"retry_policy": 3}, "retry_policy must be a dict"),
        ({"timeout_seconds": "soon"}, "timeout_seconds must be a number of seconds"),
        ({"schedule": 5}, "schedule must be a cron expression"),
    ],
    ids=["mode", "tag-string", "tags", "retry", "timeout", "schedule"],
)
def test_wrong_values_are_clear_errors_at_import(
    kwargs: dict[str, Any], problem: str | None
) -> None:
    if problem is None:
        workflow(**kwargs)(lambda: None)
        return
    with pytest.raises((TypeError, ValueError), match=problem):
        workflow(**kwargs)(lambda: None)


def test_positional_arguments_must_be_texts() -> None:
    with pytest.raises(TypeError, match="the name given by position must be a string"):
        workflow(1)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="at most 4 arguments by position"):
        data_provider("a", "b", "c", 1, 2)  # type: ignore[call-overload]


def test_params_below_and_above_the_workflow_decorator() -> None:
    @param("first", "string", label="First name", required=True)
    @workflow(name="w")
    @param("email", type="email", help_text="work address")
    @param("seats", "int", default_value=1, validation={"min": 1})
    def w(first: str, email: str, seats: int) -> None: ...

    info = decorators.entrypoint_info(w)
    assert info is not None
    assert [p.name for p in info.params] == ["first", "email", "seats"]
    first, email, seats = info.params
    assert (first.label, first.required, first.type) == ("First name", True, "string")
    assert (email.label, email.help_text, email.type) == ("Email", "work address", "email")
    assert (seats.default_value, seats.validation) == (1, {"min": 1})


def test_data_provider_category_and_string_options_are_declared() -> None:
    @data_provider(name="departments", description="Departments", category="HR", tags=["org"])
    async def departments() -> list[str]:
        return ["Sales"]

    info = decorators.entrypoint_info(departments)
    assert info is not None
    assert (info.category, info.tags, info.cache_ttl_seconds) == ("HR", ("org",), 300)
    assert decorators.spec_defaults(info) == {"cache": {"ttlSeconds": 300}}


def test_parameters_listed_in_the_decorator_as_one_bifrost_version_did(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):

        @workflow(
            name="listed",
            parameters=[
                {"name": "email", "type": "email", "label": "Email", "required": True},
                {"name": "seats", "type": "int", "default_value": 1, "ui": "slider"},
            ],
        )
        @param("seats", "int", label="Seats (stacked wins)")
        def listed(email: str, seats: int) -> None: ...

    info = decorators.entrypoint_info(listed)
    assert info is not None and "parameters" not in info.extra
    assert [(p.name, p.label) for p in info.params] == [
        ("seats", "Seats (stacked wins)"),
        ("email", "Email"),
    ]
    assert not caplog.records

    @param("note", "string", help_text="stacked above")
    @workflow(parameters=[{"name": "email", "type": "email"}])
    def above(email: str, note: str) -> None: ...

    above_info = decorators.entrypoint_info(above)
    assert above_info is not None
    assert [p.name for p in above_info.params] == ["note", "email"]
    with pytest.raises(TypeError, match="each of parameters needs a 'name'"):
        workflow(parameters=[{"type": "int"}])


def test_tool_is_a_workflow_marked_for_agents(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):

        @tool(description="Look a user up by email")
        async def get_user(email: str) -> dict[str, str]:
            return {}

    info = decorators.entrypoint_info(get_user)
    assert info is not None and info.kind is decorators.Kind.WORKFLOW
    assert info.extra == {"is_tool": True, "tool_description": "Look a user up by email"}
    assert not caplog.records
