"""The conditions on an Execution, and what GitOps tools read from them.

Pure. `reconciling` sets the conditions of each pass through `set_condition`
and `with_health`; `handlers` uses `at_generation` to keep a finished
Execution's `observedGeneration` current. Two families live side by side:

- `Admitted`, `Running`, `Finished`, `Succeeded`: for people and scripts
  (`kubectl wait --for=condition=Finished`);
- `Reconciling`, `Stalled`, `Ready`: the kstatus conventions
  (sigs.k8s.io/cli-utils `pkg/kstatus/status`) that Flux's health checks and
  Helm's `--wait` compute from, with `status.observedGeneration`.

How a phase reads to those tools (`health`):

    PENDING, RUNNING, CANCELLING      → InProgress  Reconciling=True
    SUCCESS                           → Current     Ready=True
    COMPLETED_WITH_ERRORS, FAILED,
    TIMED_OUT, CANCELLED              → Failed      Stalled=True, Ready=False

An Execution never changes phase after a terminal one, so every terminal phase
other than SUCCESS is a failure that waiting cannot fix: "Stalled". That
includes COMPLETED_WITH_ERRORS (the code itself said it did not succeed) and
CANCELLED (what was asked for did not happen; a sync that waits on it must not
report success). docs/operator.md says the same for users.

Every condition has the `metav1.Condition` shape: type, status, reason,
message (possibly empty), lastTransitionTime and observedGeneration.
"""

from __future__ import annotations

import enum
from typing import Any

from kuberun.contract import status
from kuberun.contract.phases import Phase
from kuberun_operator.statusmapping import format_time

RECONCILING = "Reconciling"
STALLED = "Stalled"
READY = "Ready"
MAX_MESSAGE = 4096


class Health(enum.StrEnum):
    """The kstatus an Execution computes to (the names kstatus prints)."""

    IN_PROGRESS = "InProgress"
    CURRENT = "Current"
    FAILED = "Failed"


def health(phase: Phase | None) -> Health:
    """How tools that wait for resources see an Execution in `phase` (None: not seen yet)."""
    if phase is None or not phase.terminal:
        return Health.IN_PROGRESS
    if phase == Phase.SUCCESS:
        return Health.CURRENT
    return Health.FAILED


def health_conditions(phase: Phase | None, reason: str | None) -> dict[str, tuple[bool, str]]:
    """The status and reason of Reconciling, Stalled and Ready for `phase`.

    The reason is the Execution's own (`status.reason`), else its phase, so
    `kubectl describe` and Flux's messages say *why* (e.g. OOMKilled).
    """
    why = reason or (phase.value if phase is not None else "Pending")
    verdict = health(phase)
    return {
        RECONCILING: (verdict == Health.IN_PROGRESS, why),
        STALLED: (verdict == Health.FAILED, why),
        READY: (verdict == Health.CURRENT, why),
    }


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    value: bool,
    reason: str,
    message: str | None,
    now: float,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """`conditions` (model dumps) with `kind` set; its transition time moves only on a change."""
    text = "True" if value else "False"
    body = (message or "")[:MAX_MESSAGE]
    out = [dict(c) for c in conditions]
    for cond in out:
        if cond["type"] == kind:
            if cond["status"] != text:
                cond["last_transition_time"] = format_time(now)
            cond.update(status=text, reason=reason, message=body, observed_generation=generation)
            return out
    out.append(
        status.Condition(
            type=kind,
            status=text,
            reason=reason,
            message=body,
            last_transition_time=format_time(now),
            observed_generation=generation,
        ).model_dump()
    )
    return out


def with_health(
    conditions: list[dict[str, Any]],
    phase: Phase | None,
    reason: str | None,
    message: str | None,
    now: float,
    generation: int | None,
) -> list[dict[str, Any]]:
    """`conditions` with the kstatus three set for `phase` and every one at `generation`."""
    out = conditions
    for kind, (value, why) in health_conditions(phase, reason).items():
        # The message goes where it explains something: on the condition that is True.
        out = set_condition(out, kind, value, why, message if value else None, now, generation)
    for cond in out:
        cond["observed_generation"] = generation
    return out


def at_generation(
    current: status.ExecutionStatus, generation: int | None, now: float
) -> status.ExecutionStatus:
    """`current` as observed at `generation`, with its kstatus conditions (itself if unchanged).

    A finished Execution has no loop any more, yet an edit (e.g. `cancel: true`
    applied from Git after the end) bumps its generation; without this, kstatus
    reads `observedGeneration != generation` as "in progress" forever. An
    Execution finished by an older operator also gains its kstatus conditions here.
    """
    if generation is None:
        return current
    dumped = current.model_dump()
    dumped["observed_generation"] = generation
    dumped["conditions"] = with_health(
        dumped["conditions"],
        current.phase,
        current.reason.value if current.reason else None,
        current.message,
        now,
        generation,
    )
    updated = status.ExecutionStatus.model_validate(dumped)
    return current if updated == current else updated
