"""The shapes of the operator's two adapters, which the control loops are typed against.

`kubeio.Kube` (the Kubernetes API) and `redisio.RedisIO` (cancel flags, results,
engine log records) are the only code that talks to a server; the per-Execution
loop (`following`, `observing`, `acting`) and admission see them only as
`KubeAPI` and `StreamStore`. Any object with these methods will do, which is how
the loops run in process against the in-memory fakes of
`tests/unit/operator/fakes.py`, in milliseconds and without a server.

Pure: Protocols and one result enum, no I/O.

Both adapters classify failures where they enter (see `apierrors` for the
Kubernetes tree; `StreamStore` swallows every Redis failure into its return
value, since Redis is never a dependency of a status).
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from kuberun.contract import outcome
from kuberun_operator import reconciling


class Written(enum.Enum):
    """What became of an engine record."""

    DONE = "done"  # in the stream (now or by an earlier pass)
    FAILED = "failed"  # Redis did not answer: try again later
    TOO_LATE = "too_late"  # a later attempt's entries are there: its place is gone


class KubeAPI(Protocol):
    """The Kubernetes calls of the operator's loops (implemented by `kubeio.Kube`).

    Failed calls raise `apierrors.KubeError` (permanent or temporary); reads answer
    None for a missing object, deletes treat a missing object as done, and `create`
    answers False when the object already exists (409).
    """

    async def create(self, body: dict[str, Any]) -> bool:
        """Create a Secret, Job, ServiceAccount or Event; False when it already exists."""
        ...

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def read_namespace(self, name: str) -> dict[str, Any] | None: ...

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def missing(self, kind: str, namespace: str, name: str) -> str | None:
        """The 404 message of a ServiceAccount or ConfigMap that does not exist, else None."""
        ...

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...

    async def list_all(
        self, kind: str, selector: str | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Every Job, Pod or Execution (with a label selector), cluster-wide or in a namespace."""
        ...

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch an Execution's status subresource (null removes a field)."""
        ...

    async def set_pod_deadline(self, namespace: str, name: str, seconds: int) -> None: ...

    async def delete_pod(self, namespace: str, name: str, grace_seconds: int) -> None: ...

    async def delete_job(self, namespace: str, name: str) -> None: ...

    def close(self) -> None: ...


class StreamStore(Protocol):
    """The Redis calls of the operator's loops (implemented by `redisio.RedisIO`).

    No call raises: a Redis that does not answer gives False, None or
    `Written.FAILED`, which the loop reads as "not now", never as final.
    """

    async def set_cancel(self, namespace: str, uid: str, reason: str) -> bool:
        """Raise the cooperative cancel flag; False when Redis could not be told."""
        ...

    async def read_cache(self, key: str) -> reconciling.CachedResult | None: ...

    async def read_result(
        self, namespace: str, uid: str, attempt: int
    ) -> tuple[outcome.RunResult | None, bool]:
        """(the attempt's RunResult or None, whether Redis answered)."""
        ...

    async def engine_record(
        self, namespace: str, uid: str, record: reconciling.EngineRecord, now: float
    ) -> Written:
        """Write one engine record where the contract says (idempotently)."""
        ...

    async def runner_sequences(self, namespace: str, uid: str, attempt: int) -> list[int] | None:
        """The sequences of the runner's lines of an attempt, or None (Redis did not answer)."""
        ...

    @property
    def client(self) -> Any:
        """The underlying client, for the archive's stream reader (`archiving`)."""
        ...

    async def close(self) -> None: ...
