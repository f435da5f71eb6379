"""The image table: which local command stands in for a container image.

There is no container runtime, so an image name selects a command on this
machine. Each rule matches the image *repository* (the name without tag or
digest, ``docker.io/library/`` ignored) with a glob and gives what the image
itself would:

* ``entrypoint``: the image's ENTRYPOINT (may be empty);
* ``cmd``: the image's CMD, used when the container has no ``args``;
* ``replace``: program names rewritten when they start the argv, e.g.
  ``python`` → the kubelet's interpreter.

Kubernetes' rules then apply: ``command`` replaces ENTRYPOINT (and drops CMD),
``args`` replace CMD. ``{python}`` in any string is the kubelet's
``sys.executable`` (the project venv, where ``kuberun`` is installed). The
defaults below mirror the Dockerfiles (``ENTRYPOINT ["python", "-m",
"kuberun.runtime"]``) and the ``python`` images (CMD ``python3``); any other
image has an empty ENTRYPOINT and no CMD, so ``busybox``-style ``args: [sh,
-c, ...]`` run with the host's programs, and a container with neither
``command`` nor ``args`` fails with ``ErrImagePull``, as an unknown image would.
A JSON file named by ``$KUBERUN_KUBELET_IMAGES`` (``{"rules": [...]}``, same
shape) replaces the defaults.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

PYTHON_NAMES = {
    "python": "{python}",
    "python3": "{python}",
    "python3.11": "{python}",
    "python3.12": "{python}",
    "python3.13": "{python}",
}

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "match": pattern,
        "entrypoint": ["{python}", "-m", module],
        "cmd": None,
        "replace": PYTHON_NAMES,
    }
    for pattern, module in (
        ("kuberun/runner", "kuberun.runtime"),
        ("*/kuberun/runner", "kuberun.runtime"),
        ("kuberun/operator", "kuberun_operator"),
        ("*/kuberun/operator", "kuberun_operator"),
    )
] + [
    {"match": "python", "entrypoint": [], "cmd": ["{python}"], "replace": PYTHON_NAMES},
    {"match": "*/python", "entrypoint": [], "cmd": ["{python}"], "replace": PYTHON_NAMES},
    {"match": "*", "entrypoint": [], "cmd": None, "replace": PYTHON_NAMES},
]


class ImageError(ValueError):
    """The image cannot be run here (reported as ``ErrImagePull``)."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of the table."""

    match: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] | None
    replace: dict[str, str]


def repository(image: str) -> str:
    """``docker.io/library/python:3.11@sha256:..`` → ``python``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def load(path: str | None = None) -> list[Rule]:
    """The rules from ``path`` or ``$KUBERUN_KUBELET_IMAGES``, else the defaults."""
    path = path or os.environ.get("KUBERUN_KUBELET_IMAGES")
    raw = DEFAULT_RULES if not path else json.loads(pathlib.Path(path).read_text())["rules"]
    rules = []
    for item in raw:
        cmd: Any = item.get("cmd")
        replace: Any = item.get("replace") or {}
        rules.append(
            Rule(
                match=str(item["match"]),
                entrypoint=tuple(str(a) for a in item.get("entrypoint") or ()),
                cmd=tuple(str(a) for a in cmd) if cmd is not None else None,
                replace={str(k): str(v) for k, v in replace.items()},
            )
        )
    return rules


def _expand(value: str) -> str:
    return value.replace("{python}", sys.executable)


def resolve(
    rules: Sequence[Rule], image: str, command: Sequence[str], args: Sequence[str]
) -> list[str]:
    """The argv to run for a container, following Kubernetes' command/args rules."""
    repo = repository(image)
    rule = next((r for r in rules if fnmatch.fnmatchcase(repo, r.match)), None)
    if rule is None:
        raise ImageError(f"no rule in the image table matches {image!r}")
    # command replaces ENTRYPOINT and drops CMD; args alone replace CMD.
    argv = [*command, *args] if command else [*rule.entrypoint, *(args or rule.cmd or ())]
    if not argv:
        raise ImageError(
            f"image {image!r} has no entrypoint in the image table; give the container a command"
        )
    program = os.path.basename(argv[0])
    if program in rule.replace:
        argv[0] = rule.replace[program]
    return [_expand(a) for a in argv]
