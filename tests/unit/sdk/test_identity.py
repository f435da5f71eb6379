"""The context's identity, with bifrost's names and meanings."""

from __future__ import annotations

import asyncio
import logging

import pytest

import kuberun
from kuberun.sdk import configuration
from kuberun.sdk import context as sdk_context
from kuberun.sdk.resources import Resources


def test_an_organization_and_a_caller() -> None:
    ctx = sdk_context.ExecutionContext(
        execution_id="uid-1",
        execution_name="nightly-7",
        organization=sdk_context.Organization(id="acme", name="Acme Corp"),
        caller=sdk_context.Caller(
            user_id="u-1", email="ada@acme.com", name="Ada Lovelace", is_platform_admin=True
        ),
    )
    assert ctx.organization is not None
    assert (ctx.organization.id, ctx.organization.name, ctx.organization.org_id) == (
        "acme",
        "Acme Corp",
        "acme",
    )
    assert (ctx.org_id, ctx.org_name, ctx.scope, ctx.is_global_scope) == (
        "acme",
        "Acme Corp",
        "acme",
        False,
    )
    assert (ctx.user_id, ctx.email, ctx.name, ctx.is_platform_admin) == (
        "u-1",
        "ada@acme.com",
        "Ada Lovelace",
        True,
    )
    assert (ctx.executed_by, ctx.executed_by_email, ctx.executed_by_name) == (
        "u-1",
        "ada@acme.com",
        "Ada Lovelace",
    )
    assert (ctx.execution_id, ctx.execution_name) == ("uid-1", "nightly-7")


def test_no_organization_is_the_global_scope_and_unknown_caller_is_empty() -> None:
    ctx = sdk_context.ExecutionContext(execution_id="e")
    assert (ctx.organization, ctx.org_id, ctx.org_name) == (None, None, None)
    assert (ctx.scope, ctx.is_global_scope) == ("GLOBAL", True)
    assert (ctx.user_id, ctx.email, ctx.name, ctx.is_platform_admin) == ("", "", "", False)


def test_plain_strings_are_ids() -> None:
    ctx = sdk_context.ExecutionContext(execution_id="e", organization="acme", caller="bob")
    assert (ctx.org_id, ctx.org_name, ctx.user_id, ctx.name) == ("acme", "acme", "bob", "bob")


def test_parameters_are_the_extras_and_inputs_all() -> None:
    ctx = sdk_context.ExecutionContext(
        execution_id="e", parameters={"a": 1}, inputs={"a": 1, "b": 2}
    )
    assert (ctx.parameters, ctx.inputs) == ({"a": 1}, {"a": 1, "b": 2})


def test_get_config_awaits_and_raises_key_error_without_a_default() -> None:
    store = configuration.ConfigStore({"api_url": "https://x", "timeout": "30"})
    ctx = sdk_context.ExecutionContext(execution_id="e", resources=Resources(config=store))

    async def flow() -> list[object]:
        return [
            await ctx.get_config("api_url"),
            await ctx.get_config("missing", default=None),
            await ctx.get_config("missing", default=5),
        ]

    assert asyncio.run(flow()) == ["https://x", None, 5]
    assert ctx.get_config_sync("timeout") == "30" and ctx.has_config("timeout")

    async def missing() -> object:
        return await ctx.get_config("missing")

    with pytest.raises(KeyError, match="config key 'missing' is not set"):
        asyncio.run(missing())


def test_get_config_without_await_as_older_bifrost_wrote_it() -> None:
    ctx = sdk_context.ExecutionContext(
        execution_id="e", resources=Resources(config=configuration.ConfigStore({"k": "v"}))
    )
    value: object = ctx.get_config("k")
    assert value == "v"
    assert ctx.get_config("absent", None) is None


def test_secrets_and_bifrosts_logging_helpers(caplog: pytest.LogCaptureFixture) -> None:
    store = configuration.ConfigStore({"plain": "p", "token": "t-1"}, frozenset({"token"}))
    ctx = sdk_context.ExecutionContext(
        execution_id="e",
        organization="acme",
        resources=Resources(config=store),
        logger=logging.getLogger("flow"),
    )

    async def flow() -> object:
        return await ctx.get_secret("token")

    assert asyncio.run(flow()) == "t-1"
    with pytest.raises(KeyError, match="secret 'plain' is not set"):
        ctx._get_secret("plain")
    assert ctx.org is ctx.organization
    with caplog.at_level(logging.DEBUG, logger="flow"):
        ctx.info("User created", {"user_id": "123"})
        ctx.log("warning", "Rate limit approaching")
        ctx.save_checkpoint("after-create", {"n": 1})
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", 'User created {"user_id": "123"}'),
        ("WARNING", "Rate limit approaching"),
        ("INFO", 'checkpoint after-create {"n": 1}'),
    ]
    ctx.set_variable("count", 3)
    assert (ctx.get_variable("count"), ctx.get_variable("none", 0)) == (3, 0)


def test_config_namespace_reads_the_current_execution() -> None:
    store = configuration.ConfigStore({"k": "v"}, frozenset({"k"}))
    sdk_context.activate(
        sdk_context.ExecutionContext(
            execution_id="e", organization="acme", resources=Resources(config=store)
        )
    )

    async def flow() -> list[object]:
        return [
            await kuberun.config.get("k"),
            await kuberun.config.get("nope", default="d"),
            await kuberun.config.list(),
        ]

    assert asyncio.run(flow()) == ["v", "d", {"k": "v"}]
    assert kuberun.config.get_sync("k", org_id="acme") == "v"
    with pytest.raises(kuberun.ConfigurationError, match="only the configuration of this"):
        kuberun.config.get_sync("k", org_id="other")
    with pytest.raises(KeyError):
        kuberun.config.get_sync("nope")


def test_bifrosts_secrets_namespace_gives_none_when_missing() -> None:
    store = configuration.ConfigStore({"plain": "p", "token": "t-1"}, frozenset({"token"}))
    sdk_context.activate(
        sdk_context.ExecutionContext(execution_id="e", resources=Resources(config=store))
    )

    async def flow() -> list[object]:
        return [
            await kuberun.secrets.get("token"),
            await kuberun.secrets.get("plain"),
            await kuberun.secrets.list(),
        ]

    assert asyncio.run(flow()) == ["t-1", None, ["token"]]
