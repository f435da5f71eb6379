"""Configuration, secrets and integrations for `kuberun run`, laid out as a pod sees them. Pure
but for reading the files named on the command line and writing the run's directories.

- `--config KEY=VALUE` (repeatable) and `--config-file FILE`, `--secret KEY=VALUE`
  and `--secrets-file FILE`: a file is a JSON object, or `KEY=VALUE` lines
  (blank lines and `#` comments skipped); later values override earlier ones.
- `--integration NAME=FILE`: FILE is a JSON object of the integration's keys
  (`access_token`, `client_id`, `config`, ...; see docs/sdk.md).

`write_tree` writes them as the operator's mounts look: one file per key, so
the runner reads local runs and pods through the same code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# The key grammar of ConfigMaps and Secrets, so a local key also works in a cluster.
KEY_PATTERN = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


class ConfigError(ValueError):
    """A configuration argument or file that cannot be used."""


def check_key(key: str, what: str = "config key") -> str:
    if not KEY_PATTERN.match(key) or key in (".", "..") or key.startswith(".."):
        raise ConfigError(
            f"{what} {key!r} must consist of letters, digits, '-', '_' and '.' (as in a ConfigMap)"
        )
    return key


def text(value: Any) -> str:
    """A value as the text a mounted file holds (non-strings as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def parse_pair(pair: str, what: str = "config") -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep:
        raise ConfigError(f"--{what} {pair!r} must look like KEY=VALUE")
    return check_key(key.strip(), f"{what} key"), value


def load_file(path: str, what: str = "config") -> dict[str, str]:
    """A JSON object, or KEY=VALUE lines."""
    try:
        raw = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc}") from None
    stripped = raw.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise ConfigError(f"{what} file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):  # pragma: no cover - starts with "{"
            raise ConfigError(f"{what} file {path} must hold a JSON object")
        return {check_key(str(k), f"{what} key"): text(v) for k, v in data.items()}
    values: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigError(f"{what} file {path}, line {number}: expected KEY=VALUE")
        key, value = parse_pair(line, what)
        values[key] = value
    return values


def collect(pairs: Iterable[str], files: Iterable[str], what: str = "config") -> dict[str, str]:
    """Files first (in order), then pairs, later ones overriding earlier ones."""
    values: dict[str, str] = {}
    for path in files:
        values.update(load_file(path, what))
    for pair in pairs:
        key, value = parse_pair(pair, what)
        values[key] = value
    return values


def load_integrations(pairs: Iterable[str]) -> dict[str, dict[str, str]]:
    """`NAME=FILE` pairs → integration name → its keys."""
    found: dict[str, dict[str, str]] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path:
            raise ConfigError(f"--integration {pair!r} must look like NAME=FILE.json")
        try:
            data = json.loads(Path(path).read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read integration file {path}: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"integration file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"integration file {path} must hold a JSON object")
        found[check_key(name.strip(), "integration name")] = {
            check_key(str(k), "integration key"): text(v) for k, v in data.items()
        }
    return found


def write_values(directory: Path, values: Mapping[str, str]) -> None:
    """One file per key, private to the user (they may be secrets)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key, value in values.items():
        target = directory / check_key(key)
        target.write_text(value, "utf-8")
        target.chmod(0o600)
