"""Reading a mounted ConfigMap or Secret: a directory with one file per key. Pure but for reads.

Kubernetes writes such a volume as `..data/` (a symlink to a timestamped
directory) plus one symlink per key; the names starting with `..` are its
bookkeeping and are skipped. Values are read as UTF-8 text, exactly as stored
(no newline is stripped: a value is what `kubectl create` was given).
"""

from __future__ import annotations

from pathlib import Path

# A key file larger than this is refused: configuration, not data (a Secret is
# at most 1 MiB anyway).
MAX_VALUE_BYTES = 1024 * 1024


class MountError(ValueError):
    """A mounted key that cannot be read as text."""


def is_key_name(name: str) -> bool:
    """False for the volume's own bookkeeping entries (`..data`, `..2024_01_01...`)."""
    return not name.startswith("..") and not name.startswith(".")


def read_directory(path: str | Path | None) -> dict[str, str]:
    """Every key of a mounted ConfigMap/Secret directory; {} when there is none."""
    if path is None:
        return {}
    root = Path(path)
    if not root.is_dir():
        return {}
    values: dict[str, str] = {}
    for entry in sorted(root.iterdir()):
        if not is_key_name(entry.name) or not entry.is_file():
            continue
        values[entry.name] = read_value(entry)
    return values


def read_value(path: Path) -> str:
    """One key's text; MountError if it is too large or not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MountError(f"cannot read {path}: {exc}") from exc
    if len(raw) > MAX_VALUE_BYTES:
        raise MountError(f"{path} holds {len(raw)} bytes; a value may hold {MAX_VALUE_BYTES}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MountError(f"{path} is not UTF-8 text: {exc}") from exc


def subdirectories(path: str | Path | None) -> dict[str, Path]:
    """Name → directory of the subdirectories (one mounted Secret each); {} when none."""
    if path is None:
        return {}
    root = Path(path)
    if not root.is_dir():
        return {}
    return {
        entry.name: entry
        for entry in sorted(root.iterdir())
        if is_key_name(entry.name) and entry.is_dir()
    }
