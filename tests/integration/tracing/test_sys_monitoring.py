"""Variable capture on Python 3.12+: the `sys.monitoring` path, which the venv's 3.11 never takes.

Runs every scenario of `tests/unit/tracing/scenarios.py` in a 3.12
interpreter (standard library only, so no second venv is needed). CI has
pyenv's 3.12 at the path below; a missing interpreter fails with a clear
message instead of skipping, so the path can never silently go untested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = ROOT / "tests/unit/tracing/scenarios.py"
PYTHON312_ENV = "KUBERUN_PYTHON312"


def _python312() -> str:
    candidates = [
        os.environ.get(PYTHON312_ENV, ""),
        str(Path.home() / ".pyenv/versions/3.12.1/bin/python"),
        shutil.which("python3.12") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise AssertionError(
        "no Python 3.12 interpreter: install pyenv's 3.12.1 or set"
        f" {PYTHON312_ENV}=/path/to/python3.12 (tried {[c for c in candidates if c]})"
    )


def test_scenarios_under_python312() -> None:
    python = _python312()
    completed = subprocess.run(
        [python, "-I", str(SCENARIOS)],  # -I: no user site, no PYTHONPATH
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    report = completed.stdout + completed.stderr
    assert completed.returncode == 0, report
    assert "python=3.12 backend=sys.monitoring" in completed.stdout, report
    assert "FAIL" not in completed.stdout, report
