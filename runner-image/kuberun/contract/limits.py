"""The bounds and patterns of the `Execution` spec, as plain constants (no pydantic).

`kuberun.contract.spec` builds its models from them; the runner's start reads
a request against them without building those models (`runtime/requests.py`).
"""

from __future__ import annotations

# Bounds chosen so a typo cannot hold a node for days, yet a long batch job fits.
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
DEFAULT_TIMEOUT_SECONDS = 3600
# The grace period is how long cooperative cancellation gets before the pod is
# deleted; ten seconds is long enough to flush logs, short enough that a
# cancel feels immediate.
DEFAULT_GRACE_PERIOD_SECONDS = 10
MAX_GRACE_PERIOD_SECONDS = 600
MAX_RETRY_LIMIT = 10
MAX_PRIORITY = 1000
MIN_PRIORITY = -1000

# A Kubernetes resource quantity as requests and limits take it: digits with at most one
# decimal point, then one unit (binary Ki..Ei, decimal n u m k M G T P E, or an exponent).
# No sign: a negative request is never valid, and `+` is never needed.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
QUANTITY_MESSAGE = (
    "must be a Kubernetes quantity such as 500m, 2, 256Mi or 1.5Gi"
    " (a non-negative number with at most one decimal point, then one unit)"
)
ENV_FROM_MESSAGE = "each envFrom item must name exactly one of configMapRef or secretRef"
# An image reference: no whitespace anywhere (the kubelet would fail to parse it).
IMAGE_PATTERN = r"^\S+$"
IMAGE_MESSAGE = "must be an image reference without spaces, e.g. registry.example/team/runner:1.4"
# A DNS-1123 label, which is what ConfigMap names and many other names must be.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
# Entrypoints are Python identifiers or dotted names (`module.function`),
# or data-provider names, which may contain dashes and spaces are rejected.
ENTRYPOINT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:-]*$"

# An extended resource is domain-qualified (vendor.example/name), never a core one.
EXTENDED_RESOURCE_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/"  # the domain
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"  # the name
)

LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
# The outcomes `retry.on` may name (never CANCELLED or SUCCESS).
RETRYABLE_PHASES = frozenset({"FAILED", "TIMED_OUT", "COMPLETED_WITH_ERRORS"})
