"""Integrations: `await integrations.get(name)` and bifrost's older `await oauth.get(provider)`.

Each integration is one Secret, mounted at `<integrations dir>/<name>/` (one
file per key). The keys, all optional:

- the OAuth token: `access_token`, `refresh_token`, `token_type` (default
  `Bearer`), `expires_at` (ISO 8601);
- the OAuth client: `client_id`, `client_secret`, `token_url`,
  `authorization_url`, `scopes` (space-separated);
- `entity_id`, `entity_name`: what this organization is called in the service;
- `config`: a JSON object of further settings; any other key is a further
  setting (text), merged into `config`.

Token refresh stays the platform's job: it rewrites the Secret and the
kubelet updates the mounted files. Every value except the public ones
(`PUBLIC_KEYS`) is redacted in logs, results and captured variables. A name
that matches no mounted integration raises `IntegrationError` naming the ones
that are configured.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kuberun.sdk import awaiting, errors, mounts

OAUTH_KEYS = (
    "access_token",
    "refresh_token",
    "token_type",
    "expires_at",
    "client_id",
    "client_secret",
    "token_url",
    "authorization_url",
    "scopes",
)
# Values safe to show: identifiers and URLs, not credentials.
PUBLIC_KEYS = frozenset(
    {
        "token_type",
        "expires_at",
        "client_id",
        "token_url",
        "authorization_url",
        "scopes",
        "entity_id",
        "entity_name",
    }
)


def slug(name: str) -> str:
    """An integration name as a Secret/directory name: `Microsoft Partner` → `microsoft-partner`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class OAuthCredentials:
    """An integration's OAuth token and client, as bifrost's `OAuthCredentials`."""

    connection_name: str
    access_token: str | None = None
    token_type: str = "Bearer"
    expires_at: datetime | None = None
    refresh_token: str | None = None
    scopes: list[str] = field(default_factory=list)
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    authorization_url: str | None = None

    def is_expired(self) -> bool:
        """True once `expires_at` has passed (False when the Secret gives no expiry)."""
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)

    def get_auth_header(self) -> str:
        """`Bearer <token>`, for an `Authorization` header."""
        if not self.access_token:
            raise errors.IntegrationError(
                f"integration {self.connection_name!r} has no access_token"
            )
        return f"{self.token_type} {self.access_token}"

    def to_dict(self) -> dict[str, Any]:
        """bifrost's `oauth.get` dictionary."""
        return {
            "connection_name": self.connection_name,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "authorization_url": self.authorization_url,
            "token_url": self.token_url,
            "scopes": " ".join(self.scopes),
            "refresh_token": self.refresh_token,
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True)
class IntegrationData:
    """One configured integration, as bifrost's `IntegrationData`."""

    name: str
    entity_id: str | None = None
    entity_name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    oauth: OAuthCredentials | None = None

    @property
    def integration_id(self) -> str:
        return self.name


@dataclass(frozen=True)
class Integration:
    """A mounted integration Secret: its raw values, and what of them must be redacted."""

    name: str
    values: dict[str, str]

    def secret_values(self) -> list[str]:
        return [v for k, v in self.values.items() if k not in PUBLIC_KEYS and v]

    def data(self) -> IntegrationData:
        """The values as bifrost's shape; IntegrationError for a malformed key."""
        values = self.values
        extra: dict[str, Any] = {}
        raw_config = values.get("config")
        if raw_config:
            try:
                parsed = json.loads(raw_config)
            except ValueError as exc:
                raise errors.IntegrationError(
                    f"integration {self.name!r}: its `config` key is not JSON ({exc})"
                ) from None
            if not isinstance(parsed, dict):
                raise errors.IntegrationError(
                    f"integration {self.name!r}: its `config` key must be a JSON object"
                )
            extra.update(parsed)
        for key, value in values.items():
            if key not in OAUTH_KEYS and key not in ("config", "entity_id", "entity_name"):
                extra.setdefault(key, value)
        oauth = None
        if values.get("access_token") or values.get("client_id"):
            oauth = OAuthCredentials(
                connection_name=self.name,
                access_token=values.get("access_token") or None,
                token_type=values.get("token_type") or "Bearer",
                expires_at=_timestamp(self.name, values.get("expires_at")),
                refresh_token=values.get("refresh_token") or None,
                scopes=(values.get("scopes") or "").replace(",", " ").split(),
                client_id=values.get("client_id") or None,
                client_secret=values.get("client_secret") or None,
                token_url=values.get("token_url") or None,
                authorization_url=values.get("authorization_url") or None,
            )
        return IntegrationData(
            name=self.name,
            entity_id=values.get("entity_id") or None,
            entity_name=values.get("entity_name") or None,
            config=extra,
            oauth=oauth,
        )


def _timestamp(name: str, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise errors.IntegrationError(
            f"integration {name!r}: expires_at {text!r} is not an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load(directory: str | Path | None) -> dict[str, Integration]:
    """Every integration mounted under `directory`, by directory name."""
    return {
        name: Integration(name, mounts.read_directory(path))
        for name, path in mounts.subdirectories(directory).items()
    }


def find(available: Mapping[str, Integration], name: str) -> Integration:
    """The integration called `name` (exactly, or by its slug); IntegrationError if none."""
    if not isinstance(name, str) or not name:
        raise errors.IntegrationError(f"an integration name is a non-empty string, got {name!r}")
    found = available.get(name) or available.get(slug(name))
    if found is None:
        by_slug = {slug(key): value for key, value in available.items()}
        found = by_slug.get(slug(name))
    if found is None:
        listing = ", ".join(sorted(available)) or "none"
        raise errors.IntegrationError(
            f"integration {name!r} is not configured for this namespace (configured: {listing});"
            f" create the Secret for it (see docs/sdk.md, Integrations)"
        )
    return found


def _available() -> Mapping[str, Integration]:
    from kuberun.sdk import context

    return context.current().resources.integrations


def _get(name: str, scope: str | None = None, oauth_scope: str | None = None) -> IntegrationData:
    """The integration's configuration and OAuth credentials; IntegrationError if none."""
    if oauth_scope is not None:
        raise errors.IntegrationError(
            f"integration {name!r}: oauth_scope asks for a fresh token, which is the"
            " platform's job; mount a Secret with a token of that scope instead"
        )
    return find(_available(), name).data()


def _names() -> builtins.list[str]:
    """The names of the configured integrations."""
    return sorted(_available())


def _oauth_get(provider: str, org_id: str | None = None) -> dict[str, Any]:
    """bifrost's connection dict (tokens, client, URLs); IntegrationError if none."""
    data = find(_available(), provider).data()
    if data.oauth is None:
        raise errors.IntegrationError(
            f"integration {provider!r} has no OAuth credentials (no access_token or client_id)"
        )
    return data.oauth.to_dict()


def _oauth_providers(org_id: str | None = None) -> builtins.list[str]:
    """Integrations that carry OAuth credentials."""
    return sorted(name for name, item in _available().items() if item.data().oauth is not None)


def credentials(name: str) -> OAuthCredentials:
    """An integration's OAuth credentials; IntegrationError if it has none."""
    data = _get(name)
    if data.oauth is None:
        raise errors.IntegrationError(
            f"integration {name!r} has no OAuth credentials (no access_token or client_id)"
        )
    return data.oauth


class integrations:  # bifrost's lower-case name: `from kuberun import integrations`
    """The execution's integrations: `await integrations.get(name)` (or without `await`)."""

    get = staticmethod(awaiting.dual(_get))
    list = staticmethod(awaiting.dual(_names))
    get_sync = staticmethod(_get)
    list_sync = staticmethod(_names)


class oauth:  # bifrost's older API: `await oauth.get("microsoft")` → a dict
    """OAuth connections by provider name: the same Secrets as `integrations`."""

    get = staticmethod(awaiting.dual(_oauth_get))
    list_providers = staticmethod(awaiting.dual(_oauth_providers))
    get_sync = staticmethod(_oauth_get)
