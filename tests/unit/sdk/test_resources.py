"""Mounted configuration, secrets, integrations and files, read the way a pod has them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import kuberun
from kuberun.sdk import configuration, integrations, mounts, workspacefiles
from kuberun.sdk import context as sdk_context
from kuberun.sdk.resources import Resources


def write(directory: Path, values: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (directory / key).write_text(value)
    return directory


def test_a_mounted_configmap_skips_the_volume_bookkeeping(tmp_path: Path) -> None:
    data = write(tmp_path / "..2026_12_01_00_00_00.1", {"api_url": "https://x", "mode": "fast\n"})
    root = tmp_path
    (root / "..data").symlink_to(data.name)
    for key in ("api_url", "mode"):
        (root / key).symlink_to(f"..data/{key}")
    assert mounts.read_directory(root) == {"api_url": "https://x", "mode": "fast\n"}
    assert mounts.read_directory(tmp_path / "absent") == {} and mounts.read_directory(None) == {}


def test_a_value_that_is_not_text_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"\xff\xfe")
    with pytest.raises(mounts.MountError, match="blob is not UTF-8"):
        mounts.read_directory(tmp_path)


def test_secrets_win_over_plain_configuration_and_are_known_as_secret(tmp_path: Path) -> None:
    plain = write(tmp_path / "config", {"url": "https://x", "token": "stale"})
    secret = write(tmp_path / "secrets", {"token": "s3cr3t-token"})
    store = configuration.ConfigStore.load(str(plain), str(secret))
    assert store.get("token") == "s3cr3t-token" and store.get("url") == "https://x"
    assert store.secret_values() == ["s3cr3t-token"]
    with pytest.raises(KeyError, match=r"looked in .*config and .*secrets"):
        store.get("absent")


def test_an_integration_secret_in_bifrosts_shape(tmp_path: Path) -> None:
    write(
        tmp_path / "halopsa",
        {
            "access_token": "tok-123456",
            "refresh_token": "ref-abcdef",
            "expires_at": "2000-01-01T00:00:00Z",
            "client_id": "cid",
            "scopes": "read write",
            "entity_id": "tenant-9",
            "config": '{"api_url": "https://halo"}',
            "region": "eu",
        },
    )
    available = integrations.load(tmp_path)
    item = integrations.find(available, "HaloPSA")
    data = item.data()
    assert (data.entity_id, data.config) == (
        "tenant-9",
        {"api_url": "https://halo", "region": "eu"},
    )
    assert data.oauth is not None
    assert data.oauth.get_auth_header() == "Bearer tok-123456"
    assert data.oauth.is_expired() and data.oauth.scopes == ["read", "write"]
    assert sorted(item.secret_values()) == sorted(
        ["tok-123456", "ref-abcdef", '{"api_url": "https://halo"}', "eu"]
    )
    assert data.oauth.to_dict()["access_token"] == "tok-123456"


@pytest.mark.parametrize(
    "values, problem",
    [
        ({"config": "{nope"}, "its `config` key is not JSON"),
        ({"config": "[1]"}, "must be a JSON object"),
        ({"access_token": "t", "expires_at": "tomorrow"}, "not an ISO 8601 time"),
    ],
)
def test_malformed_integration_keys(tmp_path: Path, values: dict[str, str], problem: str) -> None:
    write(tmp_path / "svc", values)
    with pytest.raises(kuberun.IntegrationError, match=problem):
        integrations.find(integrations.load(tmp_path), "svc").data()


def test_an_unconfigured_integration_names_the_configured_ones(tmp_path: Path) -> None:
    write(tmp_path / "halopsa", {"access_token": "t"})
    sdk_context.activate(
        sdk_context.ExecutionContext(
            execution_id="e", resources=Resources(integrations=integrations.load(tmp_path))
        )
    )

    async def flow() -> list[object]:
        connection = await kuberun.oauth.get("halopsa")
        return [connection["access_token"], await kuberun.integrations.list()]

    assert asyncio.run(flow()) == ["t", ["halopsa"]]
    with pytest.raises(kuberun.IntegrationError, match=r"'Microsoft' is not configured .*halopsa"):
        kuberun.integrations.get_sync("Microsoft")


def activate_files(tmp_path: Path) -> tuple[Path, Path]:
    temp, workspace = tmp_path / "tmp", tmp_path / "ws"
    temp.mkdir()
    workspace.mkdir()
    sdk_context.activate(
        sdk_context.ExecutionContext(
            execution_id="e", resources=Resources(temp_dir=temp, workspace_dir=workspace)
        )
    )
    return temp, workspace


def test_files_in_temp_and_workspace(tmp_path: Path) -> None:
    temp, workspace = activate_files(tmp_path)
    files = kuberun.files

    async def flow() -> list[object]:
        await files.write("out/report.txt", "hello", location="temp")
        return [
            await files.read("out/report.txt", location="temp"),
            await files.exists("out/report.txt", location="temp"),
            await files.exists("out/report.txt"),  # workspace is bifrost's default
        ]

    assert asyncio.run(flow()) == ["hello", True, False]
    assert (temp / "out" / "report.txt").read_text() == "hello"
    files.write_bytes_sync("data.bin", b"\x00\x01")
    assert files.read_bytes_sync("data.bin") == b"\x00\x01"
    assert files.list_sync() == ["data.bin"] and (workspace / "data.bin").exists()
    files.delete("out", location="temp")  # type: ignore[unused-coroutine]  # older bifrost form
    assert files.list_sync(location="temp") == []
    with pytest.raises(FileNotFoundError):
        files.read_sync("absent.txt")


@pytest.mark.parametrize(
    "path", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "link/secret"], ids=str
)
def test_paths_cannot_escape_their_location(tmp_path: Path, path: str) -> None:
    temp, _ = activate_files(tmp_path)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", temp / "link")
    with pytest.raises(ValueError, match="outside the temp directory"):
        kuberun.files.write_sync(path, "x", location="temp")
    assert not kuberun.files.exists_sync(path, location="temp")
    assert not (tmp_path / "escape.txt").exists()


def test_an_absolute_path_inside_the_location_is_fine(tmp_path: Path) -> None:
    temp, _ = activate_files(tmp_path)
    kuberun.files.write_sync(str(temp / "a.txt"), "x", location="temp")
    assert (temp / "a.txt").read_text() == "x"


def test_bad_locations_and_missing_directories(tmp_path: Path) -> None:
    activate_files(tmp_path)
    with pytest.raises(ValueError, match="location must be one of temp, workspace"):
        kuberun.files.read_sync("x", location="uploads")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot delete the temp directory itself"):
        kuberun.files.delete_sync(".", location="temp")
    sdk_context.activate(sdk_context.ExecutionContext(execution_id="inline"))
    with pytest.raises(kuberun.ConfigurationError, match="inline code has no workspace"):
        kuberun.files.read_sync("x")
    assert workspacefiles.resolve(tmp_path, "a/b").name == "b"
