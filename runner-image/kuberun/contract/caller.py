"""Who an execution runs for: the organization it belongs to and the user who started it.

The runner turns these into the context's identity (`context.org_id`,
`context.email`, ...). In a cluster the operator fills them from the
namespace's binding and the recorded creator of the Execution, never from
anything user code controls; locally `kuberun run --org/--user...` does.
Both models are optional in the request, so a request written before they
existed still reads.
"""

from __future__ import annotations

from pydantic import Field

from kuberun.contract.spec import Model

# The scope of an execution that belongs to no organization, as bifrost names it.
GLOBAL_SCOPE = "GLOBAL"


class Organization(Model):
    """The tenant an execution belongs to."""

    id: str = Field(min_length=1, max_length=253)
    name: str | None = Field(default=None, max_length=253, description="Display name.")


class Caller(Model):
    """The user (or service account) who started the execution."""

    user_id: str = Field(min_length=1, max_length=253)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=253, description="Display name.")
    is_platform_admin: bool = False
