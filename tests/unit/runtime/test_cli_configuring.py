"""`kuberun run --config/--secret/--integration`: parsed, checked, laid out as mounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kuberun.cli import configuring, local


def test_pairs_and_files_later_ones_win(tmp_path: Path) -> None:
    as_json = tmp_path / "c.json"
    as_json.write_text(json.dumps({"url": "https://a", "retries": 3, "flags": ["x"]}))
    as_lines = tmp_path / "c.env"
    as_lines.write_text("# comment\n\nurl=https://b\nempty=\n")
    values = configuring.collect(["url=https://c", "eq=a=b"], [str(as_json), str(as_lines)])
    assert values == {
        "url": "https://c",
        "retries": "3",
        "flags": '["x"]',
        "empty": "",
        "eq": "a=b",
    }


@pytest.mark.parametrize(
    "pair, problem",
    [
        ("novalue", "must look like KEY=VALUE"),
        ("bad key=x", "must consist of letters"),
        ("..data=x", "must consist of letters"),
        ("=x", "must consist of letters"),
    ],
)
def test_bad_pairs(pair: str, problem: str) -> None:
    with pytest.raises(configuring.ConfigError, match=problem):
        configuring.collect([pair], [])


def test_bad_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    lines = tmp_path / "lines"
    lines.write_text("a=1\njust words\n")
    with pytest.raises(configuring.ConfigError, match="is not valid JSON"):
        configuring.collect([], [str(broken)])
    with pytest.raises(configuring.ConfigError, match="line 2: expected KEY=VALUE"):
        configuring.collect([], [str(lines)])
    with pytest.raises(configuring.ConfigError, match="cannot read config file"):
        configuring.collect([], [str(tmp_path / "absent")])
    with pytest.raises(configuring.ConfigError, match="NAME=FILE"):
        configuring.load_integrations(["halo"])
    with pytest.raises(configuring.ConfigError, match="must hold a JSON object"):
        (tmp_path / "list.json").write_text("[1]")
        configuring.load_integrations([f"halo={tmp_path / 'list.json'}"])


def test_the_request_carries_identity_and_mount_directories(tmp_path: Path) -> None:
    code = tmp_path / "flow.py"
    code.write_text("")
    options = local.Options(
        path=str(code),
        organization_id="acme",
        organization_name="Acme",
        user_id="u1",
        user_email="a@acme.com",
        user_name="Ada",
        config={"url": "https://x"},
        secrets={"token": "t-123456"},
        integrations={"halopsa": {"access_token": "a-1"}},
    )
    req = local.build_request(options, run_dir=tmp_path / "run")
    assert req.organization is not None and (req.organization.id, req.organization.name) == (
        "acme",
        "Acme",
    )
    assert req.caller is not None and (req.caller.user_id, req.caller.email) == ("u1", "a@acme.com")
    assert (req.spec.organization, req.spec.caller) == ("acme", "u1")
    local.write_mounts(options, req)
    assert req.config_dir and (Path(req.config_dir) / "url").read_text() == "https://x"
    assert req.secrets_dir and (Path(req.secrets_dir) / "token").read_text() == "t-123456"
    assert (Path(req.secrets_dir) / "token").stat().st_mode & 0o077 == 0
    assert req.integrations_dir
    assert (Path(req.integrations_dir) / "halopsa" / "access_token").read_text() == "a-1"


def test_without_user_the_caller_is_the_local_login() -> None:
    req = local.build_request(local.Options(path="x.py"))
    assert req.caller is not None and req.caller.user_id == local.local_user()
    assert req.organization is None and req.config_dir is None
