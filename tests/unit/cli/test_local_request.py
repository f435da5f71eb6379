"""`kuberun run` writes its request without building the models: the document it builds
is the request the model would build, the runner's fast path vouches for it, and what
the fast path cannot vouch for is the model's to accept or explain before any runner."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from kuberun.cli import local
from kuberun.contract.request import RunRequest
from kuberun.runtime import requests

OPTION_SETS = [
    local.Options(path="flow.py"),
    local.Options(
        path="jobs/Nightly Report.py",
        entrypoint="report.build",
        parameters={"n": 2, "names": ["a", "b"], "deep": {"x": None}},
        timeout_seconds=30,
        grace_seconds=0,
        tracing=True,
        log_level="info",
        organization_id="org-1",
        organization_name="Org One",
        user_id="ada",
        user_email="ada@example.com",
        user_name="Ada",
        platform_admin=True,
    ),
    local.Options(path="x.py", organization_id="org-2", log_level="WARNING"),
]


@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("with_dirs", [False, True])
def test_the_written_request_is_the_models_request(
    options: local.Options, with_dirs: bool, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run" if with_dirs else None
    document = local.request_document(options, uid="u1", run_dir=run_dir)
    text, parsed = local.prepare_request(document)
    assert isinstance(parsed, requests.PlainRequest)  # no model was needed
    written = RunRequest.model_validate_json(text)
    assert written == local.build_request(options, uid="u1", run_dir=run_dir)
    assert parsed.identity.uid == written.identity.uid == "u1"
    assert parsed.spec.log_level == written.spec.log_level.value
    assert parsed.config_dir == written.config_dir
    assert (parsed.config_dir is not None) == with_dirs


def test_a_value_the_fast_path_refuses_is_explained_by_the_model() -> None:
    document = local.request_document(local.Options(path="x.py", entrypoint="bad name"))
    with pytest.raises(local.InvalidOptions, match="entrypoint"):
        local.prepare_request(document)


def test_a_value_json_cannot_hold_goes_through_the_model() -> None:
    when = datetime.date(2026, 12, 1)
    document = local.request_document(local.Options(path="x.py", parameters={"day": when}))
    text, parsed = local.prepare_request(document)
    assert isinstance(parsed, RunRequest)
    assert json.loads(text)["spec"]["parameters"] == {"day": "2026-12-01"}


def test_a_too_long_organization_is_invalid_before_any_runner(tmp_path: Path) -> None:
    options = local.Options(path=str(tmp_path / "x.py"), organization_id="o" * 300)
    with pytest.raises(local.InvalidOptions, match="organization"):
        local.LocalRun(options, on_record=lambda record: None, notice=lambda text: None)
