"""The hard deadline counted from the container's start, not from the Job's creation.

`timeoutSeconds` means how long the code runs. A Job's activeDeadlineSeconds runs
from its creation, through scheduling, image pull and interpreter start; a pod's
runs from its `status.startTime` (the kubelet took the pod), which is also before
the image pull. So once the runner's container has started, the operator sets the
pod's own `activeDeadlineSeconds` to the time the pod took to start plus the run
deadline: the kubelet then stops the code at timeout + grace + slack after it
started, whether or not the operator is up by then. The API allows setting or
lowering the field on a running pod, never raising it.

Pure: `reconciling` turns the answer into a `SetPodDeadline` action.
"""

from __future__ import annotations

import math

from kuberun_operator.statusmapping import PodView


def pod_deadline(pod: PodView, run_seconds: int) -> int | None:
    """The activeDeadlineSeconds the running pod should get, or None if it has it.

    None too while the container has not started, or the pod's start is unknown.
    A pod already holding a lower deadline keeps it (it can only be lowered).
    """
    if pod.deleting or pod.state != "running" or pod.started_at is None:
        return None
    if pod.pod_started_at is None:
        return None
    wanted = math.ceil(max(0.0, pod.started_at - pod.pod_started_at)) + run_seconds
    if pod.deadline_seconds is not None and pod.deadline_seconds <= wanted:
        return None
    return wanted
