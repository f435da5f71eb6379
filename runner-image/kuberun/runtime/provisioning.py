"""What the runner gives an execution besides its code and inputs: identity and resources.

`organization` and `caller` are pure: the request's identity models, or else
the spec's bare `organization`/`caller` strings (requests written before the
identity models existed). `load_resources` reads the mounted configuration,
Secret and integration directories the request names and prepares the temp
directory; a mount it cannot read is a `ConfigurationError` (FAILED with the
file named), never a crash.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kuberun.sdk import configuration, errors, integrations, mounts
from kuberun.sdk.context import Caller, Organization
from kuberun.sdk.resources import Resources

if TYPE_CHECKING:  # the model or the fast path's plain request (`kuberun.runtime.requests`)
    from kuberun.runtime.requests import Request


def organization(request: Request) -> Organization | None:
    """The execution's organization; its name falls back to its id (bifrost always has one)."""
    given = request.organization
    if given is not None:
        return Organization(id=given.id, name=given.name or given.id)
    if request.spec.organization:
        return Organization(id=request.spec.organization, name=request.spec.organization)
    return None


def caller(request: Request) -> Caller:
    """Who started the execution; unknown parts are empty strings, as bifrost's types are str."""
    given = request.caller
    if given is not None:
        return Caller(
            user_id=given.user_id,
            email=given.email or "",
            name=given.name or given.user_id,
            is_platform_admin=given.is_platform_admin,
        )
    if request.spec.caller:
        return Caller(user_id=request.spec.caller, name=request.spec.caller)
    return Caller()


def workspace_directory(request: Request) -> Path | None:
    """The code's directory (a file's parent); None for inline code."""
    where = request.source_path or request.spec.source.path
    if where is None:
        return None
    path = Path(where)
    return path if path.is_dir() else path.parent


@dataclass(frozen=True)
class Provisioned:
    resources: Resources
    created_temp_dir: Path | None  # made by the runner, so removed by it at the end


def load_resources(request: Request) -> Provisioned:
    """Read the mounts and prepare the temp directory; ConfigurationError names a bad mount."""
    try:
        store = configuration.ConfigStore.load(request.config_dir, request.secrets_dir)
        available = integrations.load(request.integrations_dir)
    except mounts.MountError as exc:
        raise errors.ConfigurationError(str(exc)) from None
    created: Path | None = None
    if request.temp_dir is not None:
        temp = Path(request.temp_dir)
        try:
            temp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.ConfigurationError(
                f"cannot create the temp directory {temp}: {exc}"
            ) from None
    else:
        temp = created = Path(tempfile.mkdtemp(prefix="kuberun-temp-"))
    return Provisioned(
        Resources(
            config=store,
            integrations=available,
            temp_dir=temp,
            workspace_dir=workspace_directory(request),
        ),
        created,
    )
