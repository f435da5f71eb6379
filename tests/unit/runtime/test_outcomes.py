"""The verdict of an attempt from a return value or an exception."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import kuberun
from kuberun import UserError
from kuberun.contract.phases import Phase, Reason
from kuberun.runtime import errors, outcomes
from kuberun.sdk.context import Cancellation
from kuberun.sdk.errors import ExecutionCancelled, ExecutionTimedOut


def test_success_and_result_size() -> None:
    verdict = outcomes.from_result({"n": 1})
    assert (verdict.status, verdict.reason, verdict.result, verdict.result_bytes) == (
        Phase.SUCCESS,
        Reason.COMPLETED,
        {"n": 1},
        7,
    )


def test_success_false_means_completed_with_errors() -> None:
    verdict = outcomes.from_result({"success": False, "error": "2 of 5 rows failed"})
    assert verdict.status is Phase.COMPLETED_WITH_ERRORS
    assert verdict.error is not None and verdict.error.message == "2 of 5 rows failed"


def test_a_result_that_is_not_json_fails_with_the_type() -> None:
    verdict = outcomes.from_result({"x": object()})
    assert (verdict.status, verdict.reason) == (Phase.FAILED, Reason.INVALID_RESULT)
    assert verdict.error is not None and "result['x'] is of type object" in verdict.error.message


def test_data_provider_strings_are_options_of_their_own_label_and_value() -> None:
    verdict = outcomes.from_result(["Sales", {"label": "IT", "value": "it"}], data_provider=True)
    assert verdict.status is Phase.SUCCESS
    assert verdict.result == [{"label": "Sales", "value": "Sales"}, {"label": "IT", "value": "it"}]


@pytest.mark.parametrize(
    "options, problem",
    [
        ([{"label": "A", "value": 1}, {"label": "B", "value": None, "metadata": {"k": 1}}], None),
        ({"label": "A"}, "must return a list of options"),
        ([3], "option 0 must be a string or a dict"),
        ([{"label": "A"}], "option 0 is missing value"),
        ([{"label": 1, "value": 1}], "option 0: label must be a string"),
        ([{"label": "A", "value": 1, "colour": "red"}], "unexpected key(s) colour"),
        ([{"label": "A", "value": 1, "metadata": 3}], "metadata must be a dict"),
    ],
    ids=["ok", "not-a-list", "not-a-dict", "no-value", "label-type", "extra-key", "metadata"],
)
def test_data_provider_options(options: Any, problem: str | None) -> None:
    verdict = outcomes.from_result(options, data_provider=True)
    if problem is None:
        assert verdict.status is Phase.SUCCESS
    else:
        assert (verdict.status, verdict.reason) == (Phase.FAILED, Reason.INVALID_RESULT)
        assert verdict.error is not None and problem in verdict.error.message


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    "exc, reason",
    [
        (kuberun.WorkflowError("the workflow cannot go on"), Reason.USER_ERROR),
        (kuberun.ValidationError("seats must be positive"), Reason.INVALID_PARAMETERS),
        (kuberun.IntegrationError("HaloPSA answered 503"), Reason.USER_ERROR),
        (kuberun.ConfigurationError("api_url is not a URL"), Reason.USER_ERROR),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_bifrost_errors_are_failed_with_their_message(exc: Exception, reason: Reason) -> None:
    verdict = outcomes.from_exception(_raised(exc), Cancellation())
    assert (verdict.status, verdict.reason) == (Phase.FAILED, reason)
    assert verdict.error is not None
    assert (verdict.error.type, verdict.error.message, verdict.error.traceback) == (
        type(exc).__name__,
        str(exc),
        None,
    )


def test_user_error_message_as_is_without_traceback() -> None:
    verdict = outcomes.from_exception(_raised(UserError("Customer 42 not found")), Cancellation())
    assert (verdict.status, verdict.reason) == (Phase.FAILED, Reason.USER_ERROR)
    assert verdict.error is not None
    assert (verdict.error.message, verdict.error.traceback) == ("Customer 42 not found", None)


def test_other_exceptions_carry_type_message_and_traceback() -> None:
    verdict = outcomes.from_exception(_raised(KeyError("k")), Cancellation())
    assert (verdict.status, verdict.reason) == (Phase.FAILED, Reason.EXCEPTION)
    assert verdict.error is not None
    assert verdict.error.type == "KeyError"
    assert verdict.error.traceback is not None and "_raised" in verdict.error.traceback


def test_runner_errors_keep_their_reason() -> None:
    verdict = outcomes.from_exception(errors.EntrypointNotFound("nope"), Cancellation())
    assert (verdict.reason, verdict.error and verdict.error.message) == (
        Reason.ENTRYPOINT_NOT_FOUND,
        "nope",
    )


def test_cancellation_and_timeout() -> None:
    cancellation = Cancellation()
    cancellation.request("by alice")
    verdict = outcomes.from_exception(asyncio.CancelledError(), cancellation)
    assert (verdict.status, verdict.reason) == (Phase.CANCELLED, Reason.CANCELLED)
    assert verdict.error is not None and verdict.error.message == "by alice"
    timeout = outcomes.from_exception(ExecutionTimedOut("after 5 s"), Cancellation())
    assert (timeout.status, timeout.reason) == (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED)
    plain = outcomes.from_exception(ExecutionCancelled("x"), Cancellation())
    assert plain.status is Phase.CANCELLED


def test_cancelled_error_without_a_request_is_a_failure() -> None:
    verdict = outcomes.from_exception(asyncio.CancelledError(), Cancellation())
    assert verdict.status is Phase.FAILED


@pytest.mark.parametrize(
    "code, status", [(0, Phase.SUCCESS), (None, Phase.SUCCESS), (4, Phase.FAILED)]
)
def test_system_exit(code: int | None, status: Phase) -> None:
    assert outcomes.from_exception(SystemExit(code), Cancellation()).status is status
