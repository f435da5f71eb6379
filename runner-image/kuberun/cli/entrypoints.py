"""What a source file declares, read from its syntax alone (nothing is imported). Pure.

Two decisions `kuberun run` and `kuberun submit` make before anything runs:
- `choose`: a file that declares exactly one `@workflow` and no `main` runs
  that workflow when no `--entrypoint` is given (otherwise the file is a
  script, as before);
- `unread`: parameters that nothing will read: for an entrypoint, names that
  its signature lacks (and no `**kwargs` takes) and that no string in the file
  mentions (`context.parameters["x"]`, `@param("x")`); for a script, names the
  file mentions nowhere. They are reported, never silently dropped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

# Parameters that receive the context, not an input (by name; the annotation is not read here).
_CONTEXT_NAMES = {"context", "ctx", "self"}
_DECORATORS = {"workflow": "workflow", "data_provider": "data_provider"}


@dataclass(frozen=True)
class Declared:
    """One decorated function: its declared name, kind and the parameter names it takes."""

    name: str
    function: str
    kind: str  # "workflow" or "data_provider"
    parameters: tuple[str, ...]
    var_keyword: bool


def _decorator(node: ast.expr) -> tuple[str | None, str | None]:
    """(kind, declared name) of a `@workflow`/`@workflow(name=...)`-style decorator."""
    target = node.func if isinstance(node, ast.Call) else node
    base = (
        target.id
        if isinstance(target, ast.Name)
        else target.attr
        if isinstance(target, ast.Attribute)
        else None
    )
    kind = _DECORATORS.get(base or "")
    name = None
    if kind is not None and isinstance(node, ast.Call):
        for keyword in node.keywords:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                name = str(keyword.value.value)
        if node.args and isinstance(node.args[0], ast.Constant) and name is None:
            name = str(node.args[0].value)
    return kind, name


def declared(tree: ast.Module) -> list[Declared]:
    """Top-level decorated workflows and data providers, in file order."""
    found: list[Declared] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            kind, name = _decorator(decorator)
            if kind is None:
                continue
            args = node.args
            names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
            found.append(
                Declared(name or node.name, node.name, kind, tuple(names), args.kwarg is not None)
            )
            break
    return found


def has_main(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
        for node in tree.body
    )


def choose(tree: ast.Module, given: str | None) -> str | None:
    """The entrypoint to run: `given`, else the one workflow of a file without `main`."""
    if given:
        return given
    workflows = [d for d in declared(tree) if d.kind == "workflow"]
    if len(workflows) == 1 and not has_main(tree):
        return workflows[0].name
    return None


def find(tree: ast.Module, entrypoint: str) -> Declared | None:
    name = entrypoint.rpartition(":")[2] if ":" in entrypoint else entrypoint
    for item in declared(tree):
        if name in (item.name, item.function):
            return item
    return None


def _mentioned(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(string constants, identifiers) that appear anywhere in the module."""
    strings: set[str] = set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return strings, names


def unread(trees: Iterable[ast.Module], entry: Declared | None, given: Iterable[str]) -> list[str]:
    """The given parameter names nothing will read (see the module docstring), sorted."""
    strings: set[str] = set()
    names: set[str] = set()
    for tree in trees:
        s, n = _mentioned(tree)
        strings |= s
        names |= n
    missing: list[str] = []
    for key in given:
        if entry is not None:
            if key in entry.parameters or entry.var_keyword or key in strings:
                continue
        elif key in strings or key in names:
            continue
        missing.append(key)
    return sorted(missing)


def describe_unread(keys: list[str], entry: Declared | None, where: str) -> str:
    """The one warning line for `unread`'s answer."""
    listed = ", ".join(repr(k) for k in keys)
    plural = "s" if len(keys) > 1 else ""
    if entry is not None:
        takes = ", ".join(p for p in entry.parameters if p not in _CONTEXT_NAMES) or "nothing"
        return (
            f"parameter{plural} {listed} {'are' if plural else 'is'} read by nothing:"
            f" {entry.name} takes {takes} and {where} never reads context.parameters for"
            f" {'them' if plural else 'it'}"
        )
    return (
        f"parameter{plural} {listed} {'are' if plural else 'is'} read by nothing: {where}"
        f" never mentions {'them' if plural else 'it'}"
    )


def parse(text: str, filename: str) -> ast.Module | None:
    """The module's tree, or None when it does not parse (the runner then reports the error)."""
    try:
        return ast.parse(text, filename)
    except (SyntaxError, ValueError):
        return None
