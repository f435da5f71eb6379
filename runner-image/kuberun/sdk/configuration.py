"""Configuration and secrets: `await context.get_config(key)` and the `config` namespace.

Values come from two mounted directories (`kuberun.sdk.mounts`): the
namespace's ConfigMap (plain configuration) and its Secret (secret
configuration). A key in both is the Secret's: a secret set for a tenant must
not be shadowed by a stale plain value. Secret values are handed to the
runtime's redaction before any user code runs, so they never appear in logs,
results or captured variables.

Missing keys raise `KeyError` unless a default is given (`default=None` gives
bifrost's "None when missing"); the error names the key and where it was
looked for, and lists none of the values.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kuberun.sdk import awaiting, errors, mounts


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class ConfigStore:
    """The configuration of one execution, read once at its start."""

    values: Mapping[str, Any] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()
    where: str = "no configuration is mounted"

    @classmethod
    def load(
        cls,
        config_dir: str | None,
        secrets_dir: str | None,
        overrides: Mapping[str, Any] | None = None,
    ) -> ConfigStore:
        """Plain values, then secret values over them, then `overrides` (local runs)."""
        plain = mounts.read_directory(config_dir)
        secret = mounts.read_directory(secrets_dir)
        values: dict[str, Any] = {**plain, **secret, **(overrides or {})}
        places = [p for p in (config_dir, secrets_dir) if p]
        where = " and ".join(places) if places else "no configuration is mounted"
        if overrides:
            where += " (and the command line)"
        return cls(values, frozenset(secret), where)

    def get(self, key: str, default: Any = MISSING) -> Any:
        if not isinstance(key, str):
            raise TypeError(f"a config key is a string, got {type(key).__name__}")
        if key in self.values:
            return self.values[key]
        if default is MISSING:
            raise KeyError(f"config key {key!r} is not set (looked in {self.where})")
        return default

    def has(self, key: str) -> bool:
        return key in self.values

    def all(self) -> dict[str, Any]:
        return dict(self.values)

    def secret_values(self) -> builtins.list[str]:
        """What redaction must hide: every value that came from the Secret."""
        return [str(self.values[k]) for k in self.secret_keys if k in self.values]


def _store() -> ConfigStore:
    from kuberun.sdk import context

    return context.current().resources.config


def _check_org(org_id: str | None) -> None:
    if org_id is None:
        return
    from kuberun.sdk import context

    own = context.current().org_id
    if org_id != own:
        raise errors.ConfigurationError(
            f"only the configuration of this execution's organization ({own or 'GLOBAL'}) is"
            f" available, not {org_id!r}"
        )


def _get(key: str, org_id: str | None = None, default: Any = MISSING) -> Any:
    """The value of `key`; KeyError when it is not set and no default is given."""
    _check_org(org_id)
    return _store().get(key, default)


def _list(org_id: str | None = None) -> dict[str, Any]:
    """Every key and value (secret values included: they are redacted in any output)."""
    _check_org(org_id)
    return _store().all()


class config:  # bifrost's lower-case name: `from kuberun import config`
    """The execution's configuration: `await config.get(key)` (or without `await`)."""

    get = staticmethod(awaiting.dual(_get))
    list = staticmethod(awaiting.dual(_list))
    get_sync = staticmethod(_get)
    list_sync = staticmethod(_list)


def _secret(key: str) -> str | None:
    """A value of the namespace's Secret, or None (bifrost's `secrets.get`)."""
    store = _store()
    return str(store.get(key)) if key in store.secret_keys and store.has(key) else None


def _secret_keys(org_id: str | None = None) -> builtins.list[str]:
    """The Secret's keys, never its values."""
    _check_org(org_id)
    return sorted(_store().secret_keys)


class secrets:  # bifrost's lower-case name: `from kuberun import secrets`
    """The namespace's secret values: `await secrets.get(key)` → the value or None."""

    get = staticmethod(awaiting.dual(_secret))
    list = staticmethod(awaiting.dual(_secret_keys))
    get_sync = staticmethod(_secret)
    list_sync = staticmethod(_secret_keys)
