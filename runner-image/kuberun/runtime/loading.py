"""Find the user's code: compile a script or module, find an entrypoint in it.

Sources (from the request):
- inline text (`spec.source.inline`), compiled as file `<inline>`;
- a `.py` file (`request.source_path`): its directory is the workspace and
  goes on `sys.path`, so helper modules import;
- a directory (a workspace): with an entrypoint `module:function`, or a
  decorated name found in the workspace's modules; without an entrypoint its
  `main.py` (or `__main__.py`) runs as a script.

Compiling and finding are separate from executing: `compile_source` and
`find_entrypoint` are pure; the runtime executes the module body itself
(top-level `await` allowed) so cancellation and capture cover it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import linecache
import os
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kuberun.contract.podenv import CONFIGMAP_SOURCE_DIR
from kuberun.runtime import errors
from kuberun.sdk import decorators

if TYPE_CHECKING:
    from kuberun.runtime.requests import Request

INLINE_FILENAME = "<inline>"
SCRIPT_FILES = ("main.py", "__main__.py")
# Directories never searched for entrypoints: environments and caches.
_SKIP_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", "site-packages", ".tox"}
# A workspace search stops here: a runaway directory must not stall the start.
MAX_WORKSPACE_FILES = 2_000


@dataclass
class Program:
    """Code ready to execute: the module body, and where it lives."""

    code: types.CodeType
    module_name: str
    filename: str
    workspace_roots: list[str] = field(default_factory=list)
    workspace_files: list[str] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        """True when the module body uses top-level `await`."""
        return bool(self.code.co_flags & inspect.CO_COROUTINE)


def compile_source(text: str, filename: str) -> types.CodeType:
    """Compile a module body (top-level `await` allowed); SourceSyntaxError with file and line."""
    try:
        code: types.CodeType = compile(
            text, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        return code
    except SyntaxError as exc:
        raise errors.SourceSyntaxError(describe_syntax_error(exc)) from exc
    except ValueError as exc:  # e.g. source with NUL bytes
        raise errors.SourceSyntaxError(f"{filename}: cannot compile: {exc}") from exc


def describe_syntax_error(exc: SyntaxError) -> str:
    """`file, line N: message` plus the offending line with a caret."""
    where = f"{exc.filename or '<unknown>'}, line {exc.lineno}"
    text = f"{where}: {exc.msg}"
    if exc.text:
        line = exc.text.rstrip("\n")
        stripped = line.lstrip()
        text += f"\n    {stripped}"
        if exc.offset:
            caret = max(0, exc.offset - 1 - (len(line) - len(stripped)))
            text += "\n    " + " " * caret + "^"
    return text


def _register_lines(filename: str, text: str) -> None:
    """Let tracebacks show lines of inline code (mtime None: never evicted)."""
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)


def load_program(request: Request) -> Program | None:
    """The module body to run first; None for a workspace whose entrypoint is imported."""
    inline = request.spec.source.inline
    if inline is not None:
        _register_lines(INLINE_FILENAME, inline)
        return Program(compile_source(inline, INLINE_FILENAME), "inline", INLINE_FILENAME)
    path = request.source_path or request.spec.source.path
    config_map = request.spec.source.config_map
    if path is None and config_map is not None:
        path = f"{CONFIGMAP_SOURCE_DIR}/{config_map.key}"  # where the operator mounts it
    if path is None:
        raise errors.InvalidSource(
            "the request has no code: spec.source.inline is empty and no source_path was given"
            " (for a ConfigMap source the operator must mount it and set source_path)"
        )
    target = Path(path)
    if target.is_dir():
        root = str(target.resolve())
        _add_to_path(root)
        if request.spec.entrypoint is not None:
            return None
        for name in SCRIPT_FILES:
            if (target / name).is_file():
                return _file_program(target / name, root)
        raise errors.InvalidSource(
            f"{path} is a workspace directory: give an entrypoint (`module:function` or a"
            f" workflow name), or add one of {', '.join(SCRIPT_FILES)} to run it as a script"
        )
    if not target.is_file():
        raise errors.InvalidSource(f"source path {path} does not exist")
    root = str(target.resolve().parent)
    _add_to_path(root)
    return _file_program(target, root)


def _file_program(path: Path, root: str) -> Program:
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.InvalidSource(f"cannot read {path}: {exc}") from exc
    filename = str(path.resolve())
    stem = (
        path.stem if path.stem.isidentifier() and path.stem not in sys.modules else "workspace_main"
    )
    return Program(compile_source(text, filename), stem, filename, [root], [filename])


def _add_to_path(root: str) -> None:
    if root not in sys.path:
        sys.path.insert(0, root)


def new_module(program: Program) -> types.ModuleType:
    """The module the body runs in (registered in sys.modules; `__name__` is not `__main__`,
    so an `if __name__ == "__main__": main()` guard does not run `main` twice)."""
    module = types.ModuleType(program.module_name)
    module.__file__ = program.filename
    module.__dict__["__builtins__"] = __builtins__
    sys.modules[program.module_name] = module
    return module


def declared_entrypoints(namespace: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """Decorated workflows and data providers of a module namespace, by declared name."""
    found: dict[str, Callable[..., Any]] = {}
    for value in list(namespace.values()):
        info = decorators.entrypoint_info(value)
        if info is not None and callable(value):
            found.setdefault(info.name, value)
    return found


def public_functions(namespace: Mapping[str, Any], module_name: str) -> list[str]:
    """Plain functions defined in this module (not imported), for an error's list."""
    return sorted(
        name
        for name, value in namespace.items()
        if inspect.isfunction(value)
        and not name.startswith("_")
        and value.__module__ == module_name
    )


def find_entrypoint(
    namespace: Mapping[str, Any], name: str, module_name: str
) -> Callable[..., Any]:
    """A decorated entrypoint by its declared name, or a function by its name in the module."""
    declared = declared_entrypoints(namespace)
    if name in declared:
        return declared[name]
    value = namespace.get(name)
    if callable(value) and (inspect.isfunction(value) or decorators.entrypoint_info(value)):
        return value  # type: ignore[no-any-return]
    available = sorted(declared) or public_functions(namespace, module_name)
    listing = ", ".join(available) if available else "none"
    raise errors.EntrypointNotFound(f"entrypoint {name!r} not found; available: {listing}")


def import_entrypoint(root: str, entrypoint: str) -> tuple[Callable[..., Any], str]:
    """Import a workspace entrypoint: `module:function`, or a decorated name searched for.

    Returns the function and the file it is defined in. Imports run module
    bodies: call this while capture and cancellation are active.
    """
    if ":" in entrypoint:
        module_name, _, attr = entrypoint.partition(":")
        module = _import(module_name)
        return find_entrypoint(vars(module), attr, module.__name__), str(module.__file__)
    available: list[str] = []
    for module_name, path in workspace_modules(Path(root)):
        try:
            text = path.read_text("utf-8", "replace")
        except OSError:
            continue
        if "kuberun" not in text and entrypoint.rpartition(".")[2] not in text:
            continue
        module = _import(module_name)
        declared = declared_entrypoints(vars(module))
        if entrypoint in declared:
            return declared[entrypoint], str(module.__file__)
        available.extend(f"{n} ({module_name})" for n in declared)
    if "." in entrypoint:  # `package.module.function`
        module_name, _, attr = entrypoint.rpartition(".")
        try:
            module = _import(module_name)
        except errors.EntrypointNotFound:
            pass
        else:
            return find_entrypoint(vars(module), attr, module.__name__), str(module.__file__)
    listing = ", ".join(sorted(set(available))) if available else "none"
    raise errors.EntrypointNotFound(
        f"entrypoint {entrypoint!r} not found in workspace {root}; available: {listing}"
    )


def _import(module_name: str) -> types.ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise errors.EntrypointNotFound(f"module {module_name!r} not found") from exc
        raise
    except SyntaxError as exc:
        raise errors.SourceSyntaxError(describe_syntax_error(exc)) from exc


def workspace_modules(root: Path) -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) of the workspace's Python files, shallow first."""
    count = 0
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        rel = Path(directory).relative_to(root)
        if rel.parts and not all(part.isidentifier() for part in rel.parts):
            dirnames[:] = []
            continue
        for filename in sorted(filenames):
            stem = filename[:-3]
            if not filename.endswith(".py") or not stem.isidentifier():
                continue
            count += 1
            if count > MAX_WORKSPACE_FILES:
                return
            parts = [*rel.parts] if stem == "__init__" else [*rel.parts, stem]
            if parts:
                yield ".".join(parts), Path(directory) / filename
