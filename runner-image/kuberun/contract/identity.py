"""Who an execution is: the identity every key, record and Job name derives from."""

from __future__ import annotations

from pydantic import Field

from kuberun.contract.spec import Model


class ExecutionIdentity(Model):
    """Namespace, name and uid of the Execution, and the attempt being run.

    The uid (not the name) scopes Redis keys, so deleting and re-creating an
    Execution of the same name never reads the old one's logs or result.
    """

    namespace: str = Field(min_length=1, max_length=253)
    name: str = Field(min_length=1, max_length=253)
    uid: str = Field(min_length=1, max_length=128)
    attempt: int = Field(default=1, ge=1)
