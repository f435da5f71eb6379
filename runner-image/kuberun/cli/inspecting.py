"""`kuberun inspect PATH`: a workspace's workflows, data providers and scripts, as data.

What a UI needs to render menus and forms: each entrypoint's decorator
metadata (category, tags, schedule, endpoint settings, ...), its parameters
(`@param` declarations merged with the signature: type, label, help text,
validation, linked data provider, default) and the spec defaults its
decorator implies (`timeoutSeconds`, `retry`, `cache`).

Which files are imported is decided from their syntax first (`classify`,
pure): only modules that use `@workflow`/`@data_provider` are imported, to
read their metadata. A script is never imported — running its top-level code
*is* running the script — it is recognised by its shape (`main.py`, a
`main()` function, a top-level `result`, or top-level `await`). Modules that
are neither (helpers) are not listed. A module that fails to import is
reported under `errors` with its file, and the others are still listed.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kuberun.runtime import loading
from kuberun.sdk import decorators, params, signatures

DECORATOR_NAMES = frozenset({"workflow", "data_provider"})


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def classify(tree: ast.Module, filename: str) -> str:
    """`entrypoints`, `script` or `helper` for a module's syntax tree. Pure."""
    script_like = Path(filename).name in loading.SCRIPT_FILES
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_decorator_name(d) in DECORATOR_NAMES for d in node.decorator_list):
                return "entrypoints"
            if node.name == "main":
                script_like = True
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "result" for t in targets):
                script_like = True
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Await):
            script_like = True
    return "script" if script_like else "helper"


def _first_line(text: str | None) -> str | None:
    text = (text or "").strip()
    return text.splitlines()[0].strip() if text else None


def describe(
    func: Callable[..., Any], info: decorators.EntrypointInfo, file: str
) -> dict[str, Any]:
    """One entrypoint as JSON-safe data. Pure."""
    entry: dict[str, Any] = {
        "kind": info.kind.value,
        "name": info.name,
        "function": getattr(func, "__qualname__", getattr(func, "__name__", "?")),
        "module": getattr(func, "__module__", None),
        "file": file,
        "description": info.description,
        "category": info.category,
        "tags": list(info.tags),
        "isAsync": inspect.iscoroutinefunction(func),
        "takesContext": signatures.context_parameter(func) is not None,
        "timeoutSeconds": info.timeout_seconds,
        "parameters": params.form_fields(func, info.params),
        "specDefaults": decorators.spec_defaults(info),
        "extra": {k: _json(v) for k, v in info.extra.items()},
    }
    if info.kind is decorators.Kind.WORKFLOW:
        entry.update(
            {
                "executionMode": info.execution_mode,
                "schedule": info.schedule,
                "retryPolicy": _json(info.retry_policy),
                "endpointEnabled": info.endpoint_enabled,
                "allowedMethods": list(info.allowed_methods),
                "publicEndpoint": info.public_endpoint,
                "disableGlobalKey": info.disable_global_key,
            }
        )
    else:
        entry["cacheTtlSeconds"] = info.cache_ttl_seconds
    return entry


def _json(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return repr(value)


def _files(root: Path) -> list[tuple[str, Path]]:
    if root.is_file():
        # Never under the name of a module already imported (`json.py` must not replace json).
        usable = root.stem.isidentifier() and root.stem not in sys.modules
        return [(root.stem if usable else "workspace_main", root)]
    return list(loading.workspace_modules(root))


def _import(module_name: str, path: Path, single_file: bool) -> Any:
    if not single_file:
        return importlib.import_module(module_name)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def inspect_path(path: str) -> dict[str, Any]:
    """Everything `kuberun inspect` shows, as JSON-safe data."""
    root = Path(path).resolve()
    base = root.parent if root.is_file() else root
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    catalog: dict[str, Any] = {
        "path": str(root),
        "workflows": [],
        "dataProviders": [],
        "scripts": [],
        "errors": [],
    }
    for module_name, file in _files(root):
        relative = str(file.relative_to(base))
        try:
            text = file.read_text("utf-8")
            tree = ast.parse(text, str(file))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
            catalog["errors"].append({"file": relative, "error": f"{type(exc).__name__}: {exc}"})
            continue
        kind = classify(tree, str(file))
        if kind == "script":
            catalog["scripts"].append(
                {
                    "name": module_name,
                    "file": relative,
                    "description": _first_line(ast.get_docstring(tree)),
                }
            )
            continue
        if kind == "helper":
            continue
        try:
            # Module bodies may print: keep stdout for the listing (`--output json`).
            with contextlib.redirect_stdout(sys.stderr):
                module = _import(module_name, file, root.is_file())
        except BaseException as exc:  # SystemExit, KeyboardInterrupt in a module body too
            if isinstance(exc, KeyboardInterrupt):
                raise
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            catalog["errors"].append({"file": relative, "error": last})
            continue
        for func in loading.declared_entrypoints(vars(module)).values():
            info = decorators.entrypoint_info(func)
            if info is None or getattr(func, "__module__", module_name) != module.__name__:
                continue  # imported from elsewhere: listed where it is defined
            key = "workflows" if info.kind is decorators.Kind.WORKFLOW else "dataProviders"
            catalog[key].append(describe(func, info, relative))
    return catalog


def render_text(catalog: dict[str, Any]) -> str:
    """A human-readable listing."""
    lines: list[str] = []
    for title, key in (("Workflows", "workflows"), ("Data providers", "dataProviders")):
        items = catalog[key]
        lines.append(f"{title} ({len(items)}):")
        for item in items:
            tags = f" [{', '.join(item['tags'])}]" if item["tags"] else ""
            lines.append(
                f"  {item['name']}  ({item['category']}{tags}; {item['file']})"
                + (f" — {item['description']}" if item["description"] else "")
            )
            for field in item["parameters"]:
                required = "required" if field["required"] else "optional"
                extra = (
                    f", default {field['defaultValue']!r}"
                    if field["defaultValue"] is not None
                    else ""
                )
                help_text = f" — {field['helpText']}" if field["helpText"] else ""
                lines.append(
                    f"      {field['name']}: {field['type']} ({required}{extra}) {field['label']!r}"
                    f"{help_text}"
                )
    lines.append(f"Scripts ({len(catalog['scripts'])}):")
    for item in catalog["scripts"]:
        lines.append(
            f"  {item['file']}" + (f" — {item['description']}" if item["description"] else "")
        )
    for problem in catalog["errors"]:
        lines.append(f"error: {problem['file']}: {problem['error']}")
    return "\n".join(lines)
