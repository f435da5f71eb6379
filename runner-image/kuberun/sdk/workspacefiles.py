"""Files: `await files.read/write/list/exists/delete(path, location="workspace"|"temp")`.

Two places, as in bifrost:
- `temp`: this execution's own directory (an emptyDir in the pod, a fresh
  directory locally), gone when the execution ends;
- `workspace` (bifrost's default): the directory of the code being run. In a
  pod it comes from the image or a ConfigMap and is read-only unless the
  Execution mounts a writable volume there; writing it then fails with the
  operating system's own error.

A path is relative to its location (an absolute path must lie inside it);
after resolving `..` and symlinks it must still lie inside, or ValueError says
so: code cannot read or write outside its two places by accident. The methods
work awaited or not (bifrost's current and older forms); each has a `_sync`
twin, the explicit form for sync functions.
"""

from __future__ import annotations

import builtins
import shutil
from pathlib import Path
from typing import Literal

from kuberun.sdk import awaiting, errors

Location = Literal["temp", "workspace"]
LOCATIONS = ("temp", "workspace")


def base_directory(location: str) -> Path:
    """The directory of a location for the current execution."""
    from kuberun.sdk import context

    resources = context.current().resources
    if location == "temp":
        base = resources.temp_dir
    elif location == "workspace":
        base = resources.workspace_dir
    else:
        raise ValueError(f"location must be one of {', '.join(LOCATIONS)}, got {location!r}")
    if base is None:
        raise errors.ConfigurationError(
            f"this execution has no {location} directory"
            + (
                " (inline code has no workspace; use location='temp')"
                if location == "workspace"
                else ""
            )
        )
    return base


def resolve(base: Path, path: str, location: str = "workspace") -> Path:
    """`path` inside `base`, resolved; ValueError if it would lie outside. Pure but for stat."""
    if not isinstance(path, str):
        raise TypeError(f"a file path is a string, got {type(path).__name__}")
    if "\x00" in path:
        raise ValueError(f"invalid path {path!r}: NUL byte")
    root = base.resolve()
    candidate = Path(path)
    target = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not target.is_relative_to(root):
        raise ValueError(f"path {path!r} is outside the {location} directory")
    return target


def _path(path: str, location: str) -> Path:
    return resolve(base_directory(location), path, location)


def _read(path: str, location: Location = "workspace") -> str:
    """A text file's contents (UTF-8); FileNotFoundError if it does not exist."""
    return _path(path, location).read_text("utf-8")


def _read_bytes(path: str, location: Location = "workspace") -> bytes:
    """A file's bytes; FileNotFoundError if it does not exist."""
    return _path(path, location).read_bytes()


def _write(path: str, content: str, location: Location = "workspace") -> None:
    """Write text (UTF-8), creating parent directories."""
    target = _path(path, location)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, "utf-8")


def _write_bytes(path: str, content: bytes, location: Location = "workspace") -> None:
    """Write bytes, creating parent directories."""
    target = _path(path, location)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


def _list(directory: str = "", location: Location = "workspace") -> builtins.list[str]:
    """Names in a directory (sorted); FileNotFoundError if it does not exist."""
    target = _path(directory or ".", location)
    if not target.exists():
        raise FileNotFoundError(f"directory not found: {directory!r} in {location}")
    if not target.is_dir():
        raise ValueError(f"not a directory: {directory!r} in {location}")
    return sorted(entry.name for entry in target.iterdir())


def _exists(path: str, location: Location = "workspace") -> bool:
    """True if the path exists inside the location (False for a path outside it)."""
    try:
        return _path(path, location).exists()
    except ValueError:
        return False


def _delete(path: str, location: Location = "workspace") -> None:
    """Delete a file or a directory tree; FileNotFoundError if it does not exist."""
    target = _path(path, location)
    if target == base_directory(location).resolve():
        raise ValueError(f"cannot delete the {location} directory itself")
    if not target.exists():
        raise FileNotFoundError(f"path not found: {path!r} in {location}")
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()


class files:  # bifrost's lower-case name: `from kuberun import files`
    """Reading and writing the execution's temp and workspace directories.

    Each call works awaited (`await files.read(p)`) or not (`files.read(p)`), see
    `kuberun.sdk.awaiting`; the `_sync` twins are the explicit, typed sync form.
    """

    read = staticmethod(awaiting.dual(_read))
    read_bytes = staticmethod(awaiting.dual(_read_bytes))
    write = staticmethod(awaiting.dual(_write))
    write_bytes = staticmethod(awaiting.dual(_write_bytes))
    list = staticmethod(awaiting.dual(_list))
    exists = staticmethod(awaiting.dual(_exists))
    delete = staticmethod(awaiting.dual(_delete))
    read_sync = staticmethod(_read)
    read_bytes_sync = staticmethod(_read_bytes)
    write_sync = staticmethod(_write)
    write_bytes_sync = staticmethod(_write_bytes)
    list_sync = staticmethod(_list)
    exists_sync = staticmethod(_exists)
    delete_sync = staticmethod(_delete)
