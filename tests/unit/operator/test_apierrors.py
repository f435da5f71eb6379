"""The API error table: which failed calls are permanent (end the Execution) or temporary."""

from __future__ import annotations

import pytest

from kuberun_operator import apierrors
from kuberun_operator.apierrors import Outcome


@pytest.mark.parametrize(
    ("status", "message", "outcome", "kind"),
    [
        (400, "bad request", Outcome.PERMANENT, apierrors.PermanentError),
        (
            403,
            'pods "x" is forbidden: User cannot create',
            Outcome.PERMANENT,
            apierrors.PermanentError,
        ),
        (
            403,
            'jobs.batch "x" is forbidden: exceeded quota: q, requested: count/jobs.batch=1',
            Outcome.TEMPORARY,
            apierrors.TemporaryError,
        ),
        (404, 'serviceaccounts "nope" not found', Outcome.PERMANENT, apierrors.NotFound),
        (413, "Request entity too large", Outcome.PERMANENT, apierrors.PermanentError),
        (
            422,
            "must be less than or equal to memory limit",
            Outcome.PERMANENT,
            apierrors.PermanentError,
        ),
        (422, 'Secret "x" is invalid: data: Too long', Outcome.PERMANENT, apierrors.PermanentError),
        (401, "Unauthorized", Outcome.TEMPORARY, apierrors.TemporaryError),
        (408, "timeout", Outcome.TEMPORARY, apierrors.TemporaryError),
        (409, "already exists", Outcome.TEMPORARY, apierrors.Conflict),
        (429, "too many requests", Outcome.TEMPORARY, apierrors.TemporaryError),
        (500, "etcdserver: leader changed", Outcome.TEMPORARY, apierrors.TemporaryError),
        (503, "unavailable", Outcome.TEMPORARY, apierrors.TemporaryError),
        (504, "timeout", Outcome.TEMPORARY, apierrors.TemporaryError),
        (0, "connection refused", Outcome.TEMPORARY, apierrors.TemporaryError),
    ],
)
def test_api_error_to_outcome(
    status: int, message: str, outcome: Outcome, kind: type[apierrors.KubeError]
) -> None:
    assert apierrors.classify(status, message) is outcome
    error = apierrors.from_status(status, message)
    assert type(error) is kind
    assert error.permanent == (outcome is Outcome.PERMANENT)
    assert (error.status, error.reason) == (status, message)


def test_the_tree() -> None:
    assert issubclass(apierrors.NotFound, apierrors.PermanentError)
    assert issubclass(apierrors.Conflict, apierrors.TemporaryError)
    for kind in (apierrors.PermanentError, apierrors.TemporaryError):
        assert issubclass(kind, apierrors.KubeError)
