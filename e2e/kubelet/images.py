"""The image table: which local command stands in for a container image.

There is no container runtime, so an image name selects a command on this
machine. Each rule matches the image *repository* (the name without tag or
digest, registry prefix ignored) with a glob and says:

* ``entrypoint``: the argv used when the container has no ``command`` (the
  image's ENTRYPOINT); the container's ``args`` are appended;
* ``replace``: program names in a container's own ``command``/``args[0]``
  rewritten to local paths, e.g. ``python`` → the kubelet's interpreter.

``{python}`` in any string is the kubelet's ``sys.executable`` (the project
venv, where ``kuberun`` is installed). The defaults are below; a JSON file
named by ``$KUBERUN_KUBELET_IMAGES`` (``{"rules": [...]}``, same shape)
replaces them. Unknown images run their ``command`` as is (so ``busybox``
style ``sh -c ...`` works with the host's shell); with no command they fail
with the waiting reason ``ErrImagePull``, as an unpullable image would.
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
        "match": "kuberun/runner",
        "entrypoint": ["{python}", "-m", "kuberun.runtime"],
        "replace": PYTHON_NAMES,
    },
    {
        "match": "*/kuberun/runner",
        "entrypoint": ["{python}", "-m", "kuberun.runtime"],
        "replace": PYTHON_NAMES,
    },
    {
        "match": "kuberun/operator",
        "entrypoint": ["{python}", "-m", "kuberun_operator"],
        "replace": PYTHON_NAMES,
    },
    {
        "match": "*/kuberun/operator",
        "entrypoint": ["{python}", "-m", "kuberun_operator"],
        "replace": PYTHON_NAMES,
    },
    {"match": "python", "entrypoint": ["{python}"], "replace": PYTHON_NAMES},
    {"match": "*/python", "entrypoint": ["{python}"], "replace": PYTHON_NAMES},
    {"match": "*", "entrypoint": None, "replace": PYTHON_NAMES},
]


class ImageError(ValueError):
    """The image cannot be run here (reported as ``ErrImagePull``)."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of the table."""

    match: str
    entrypoint: tuple[str, ...] | None
    replace: dict[str, str]


def repository(image: str) -> str:
    """``docker.io/library/python:3.11@sha256:..`` → ``docker.io/library/python``."""
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
        entry: Any = item.get("entrypoint")
        replace: Any = item.get("replace") or {}
        rules.append(
            Rule(
                match=str(item["match"]),
                entrypoint=tuple(str(a) for a in entry) if entry else None,
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
    if command:
        argv = [*command, *args]
    elif rule.entrypoint is not None:
        argv = [*rule.entrypoint, *args]
    else:
        raise ImageError(
            f"image {image!r} has no entrypoint in the image table; give the container a command"
        )
    program = os.path.basename(argv[0])
    if program in rule.replace:
        argv[0] = rule.replace[program]
    return [_expand(a) for a in argv]
