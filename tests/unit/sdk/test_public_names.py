"""`kuberun`'s public names are imported on first use: `import kuberun` alone (what the
command line and the operator's contract imports do) loads no SDK module, and every
name in `__all__` is the very object its SDK module defines."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import kuberun


def test_importing_the_package_loads_no_sdk_module() -> None:
    probe = "import sys, kuberun\nprint(sorted(m for m in sys.modules if m.startswith('kuberun.')))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


@pytest.mark.parametrize("name", kuberun.__all__)
def test_every_public_name_is_its_modules_object(name: str) -> None:
    home = kuberun._HOMES[name]
    assert getattr(kuberun, name) is getattr(importlib.import_module(home), name)
    assert name in dir(kuberun)


def test_all_and_the_table_name_the_same_names() -> None:
    assert sorted(kuberun.__all__) == sorted(kuberun._HOMES)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'worklfow'"):
        _ = kuberun.worklfow
    with pytest.raises(ImportError):
        exec("from kuberun import worklfow", {})


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from kuberun import *", namespace)
    assert set(kuberun.__all__) <= set(namespace)
