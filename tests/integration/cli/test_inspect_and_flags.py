"""`kuberun inspect` and the identity and configuration flags of `kuberun run`: usage errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.integration.cli.test_kuberun_run import kuberun


def test_inspect_reports_broken_modules_and_lists_the_rest(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(
        textwrap.dedent(
            """
            from kuberun import data_provider, workflow
            print("module body output goes to stderr, not the listing")

            @workflow(category="Ops")
            def nightly(): ...

            @data_provider
            def colours():
                return ["red"]
            """
        )
    )
    (tmp_path / "broken.py").write_text(
        "from kuberun import workflow\nimport not_installed\n@workflow\ndef f(): ...\n"
    )
    (tmp_path / "job.py").write_text('"""A nightly script."""\nresult = 1\n')
    (tmp_path / "helper.py").write_text("def shout(t):\n    return t.upper()\n")
    done = kuberun("inspect", str(tmp_path), "--output", "json")
    assert done.returncode == 1
    catalog = json.loads(done.stdout)
    assert [w["name"] for w in catalog["workflows"]] == ["nightly"]
    assert [p["name"] for p in catalog["dataProviders"]] == ["colours"]
    assert catalog["scripts"] == [
        {"name": "job", "file": "job.py", "description": "A nightly script."}
    ]
    assert catalog["errors"] == [
        {"file": "broken.py", "error": "ModuleNotFoundError: No module named 'not_installed'"}
    ]
    assert "module body output" in done.stderr
    text = kuberun("inspect", str(tmp_path))
    assert "nightly  (Ops; good.py)" in text.stdout and "error: broken.py" in text.stdout


def test_usage_errors_are_clear(tmp_path: Path) -> None:
    code = tmp_path / "job.py"
    code.write_text("result = 1\n")
    cases = {
        ("--org-name", "Acme"): "--org-name needs --org ID",
        ("--config", "novalue"): "--config 'novalue' must look like KEY=VALUE",
        ("--secret", "bad key=1"): "secret key 'bad key' must consist of letters",
        ("--config-file", str(tmp_path / "absent.env")): "cannot read config file",
        ("--integration", "crm"): "must look like NAME=FILE.json",
    }
    for args, message in cases.items():
        done = kuberun("run", str(code), *args)
        assert done.returncode == 2, args
        assert message in done.stderr, (args, done.stderr)
    missing = kuberun("inspect", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr


def test_inspect_a_single_file_named_like_a_standard_module(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text(
        "from kuberun import workflow\n@workflow\ndef go():\n    return 1\n"
    )
    done = kuberun("inspect", str(tmp_path / "json.py"), "--output", "json")
    assert done.returncode == 0, done.stderr
    catalog = json.loads(done.stdout)  # the real json module still works: the listing parsed
    assert [w["name"] for w in catalog["workflows"]] == ["go"]
