"""`kuberun submit FILE|DIR`: the code as an Execution's `spec.source`. Pure but for reading
the files.

- a FILE up to `INLINE_LIMIT` bytes goes inline (`source.inline`): one object,
  nothing to clean up;
- a larger FILE, or a DIR, goes into a ConfigMap, one key per file, and the
  spec names its entry file (`source.configMap {name, key}`). The operator
  mounts every key in one directory, so a workspace's modules import each
  other. ConfigMap keys cannot hold `/`, so a DIR must be flat (its `*.py`
  files and data files at the top); nested packages belong in an image
  (`source.path`). Kubernetes caps a ConfigMap at 1 MiB.

Why 64 KiB inline: the whole spec travels in every watch event and status
update of the Execution; a larger source would slow every client that
watches the namespace, while a ConfigMap is read once, at the pod's start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kuberun.cli import entrypoints, errors

INLINE_LIMIT = 64 * 1024
CONFIG_MAP_LIMIT = 1024 * 1024 - 4096  # the API server's cap, less room for metadata
KEY_PATTERN = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
SCRIPT_FILES = ("main.py", "__main__.py")
_SKIP = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".tox", ".mypy_cache"}


@dataclass
class Prepared:
    """What submit creates: the source field, the entrypoint, and maybe a ConfigMap's data."""

    source: dict[str, Any]
    entrypoint: str | None
    files: dict[str, str] = field(default_factory=dict)  # ConfigMap data; empty when inline
    entry: entrypoints.Declared | None = None
    trees: list[Any] = field(default_factory=list)
    entry_file: str = ""

    @property
    def needs_config_map(self) -> bool:
        return bool(self.files)


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        raise errors.UsageError(
            f"{path}: not UTF-8 text", "a ConfigMap source holds text files only"
        ) from None
    except OSError as exc:
        raise errors.UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def prepare(path: str, entrypoint: str | None, config_map_name: str = "") -> Prepared:
    """The source for FILE or DIR; `config_map_name` is filled in later when left empty."""
    target = Path(path)
    if target.is_file():
        return _prepare_file(target, entrypoint, config_map_name)
    if target.is_dir():
        return _prepare_dir(target, entrypoint, config_map_name)
    raise errors.UsageError(
        f"{path}: no such file or directory", "pass a .py file or a workspace directory"
    )


def _prepare_file(target: Path, entrypoint: str | None, config_map_name: str) -> Prepared:
    text = _read(target)
    tree = entrypoints.parse(text, str(target))
    chosen = entrypoints.choose(tree, entrypoint) if tree is not None else entrypoint
    entry = entrypoints.find(tree, chosen) if tree is not None and chosen else None
    trees = [tree] if tree is not None else []
    if len(text.encode()) <= INLINE_LIMIT:
        return Prepared({"inline": text}, chosen, entry=entry, trees=trees, entry_file=target.name)
    key = _key(target.name)
    files = {key: text}
    _check_size(files, str(target))
    return Prepared(
        {"configMap": {"name": config_map_name, "key": key}},
        chosen,
        files,
        entry=entry,
        trees=trees,
        entry_file=key,
    )


def _key(name: str) -> str:
    if not KEY_PATTERN.match(name):
        raise errors.UsageError(
            f"file name {name!r} cannot be a ConfigMap key",
            "rename it to letters, digits, '-', '_' and '.'",
        )
    return name


def _check_size(files: dict[str, str], what: str) -> None:
    size = sum(len(k) + len(v.encode()) for k, v in files.items())
    if size > CONFIG_MAP_LIMIT:
        raise errors.UsageError(
            f"{what} is {size} bytes, more than a ConfigMap holds ({CONFIG_MAP_LIMIT})",
            "build an image with the code and use spec.source.path",
        )


def _prepare_dir(root: Path, entrypoint: str | None, config_map_name: str) -> Prepared:
    files: dict[str, str] = {}
    for item in sorted(root.iterdir()):
        if item.name in _SKIP or item.name.startswith("."):
            continue
        if item.is_dir():
            if any(item.rglob("*.py")):
                raise errors.UsageError(
                    f"{root} has Python code in a subdirectory ({item.name}/)",
                    "a submitted directory must be flat (ConfigMap keys cannot hold '/');"
                    " build an image with the workspace and use spec.source.path",
                )
            continue
        files[_key(item.name)] = _read(item)
    _check_size(files, str(root))
    trees = {
        key: tree
        for key, text in files.items()
        if key.endswith(".py") and (tree := entrypoints.parse(text, key)) is not None
    }
    key, chosen, entry = _entry_of_dir(root, trees, entrypoint)
    return Prepared(
        {"configMap": {"name": config_map_name, "key": key}},
        chosen,
        files,
        entry=entry,
        trees=list(trees.values()),
        entry_file=key,
    )


def _entry_of_dir(
    root: Path, trees: dict[str, Any], entrypoint: str | None
) -> tuple[str, str | None, entrypoints.Declared | None]:
    """(entry file, entrypoint, its declaration): the file the runner loads first."""
    if entrypoint is None:
        for name in SCRIPT_FILES:
            if name in trees:
                return name, None, None
        workflows = [(k, d) for k, t in trees.items() for d in entrypoints.declared(t)]
        only = [(k, d) for k, d in workflows if d.kind == "workflow"]
        if len(only) == 1:
            return only[0][0], only[0][1].name, only[0][1]
        names = ", ".join(sorted(d.name for _, d in workflows)) or "none"
        raise errors.UsageError(
            f"{root} is a workspace: which entrypoint should run? (declared: {names})",
            "pass --entrypoint NAME, or add a main.py to run it as a script",
        )
    if ":" in entrypoint:
        module, _, function = entrypoint.partition(":")
        key = module.replace(".", "/") + ".py"
        if key not in trees:
            raise errors.UsageError(f"module {module!r} is not a file of {root}")
        return key, function, entrypoints.find(trees[key], function)
    for key, tree in trees.items():
        found = entrypoints.find(tree, entrypoint)
        if found is not None:
            return key, found.name, found
    declared = ", ".join(sorted(d.name for t in trees.values() for d in entrypoints.declared(t)))
    raise errors.UsageError(
        f"entrypoint {entrypoint!r} is declared in no file of {root}",
        f"declared here: {declared or 'none'}",
    )
