"""The `Execution` spec (`kuberun.dev/v1alpha1`): what a user asks to run.

The same model validates a manifest in the operator, travels to the runner in
the request file, and generates (or is checked against) the CRD schema, so the
three can never disagree. Field names are camelCase on the wire (aliases) and
snake_case in Python.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import pydantic
from pydantic import ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from kuberun.contract import phases

GROUP = "kuberun.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Execution"
PLURAL = "executions"
SINGULAR = "execution"
SHORT_NAMES = ("kx", "kexec")

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


class Model(pydantic.BaseModel):
    """Base for wire models: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class LogLevel(enum.StrEnum):
    """Level at which workspace loggers are captured."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class ConfigMapSource(Model):
    """Code stored in a ConfigMap key (the operator mounts it into the pod)."""

    name: str = Field(pattern=NAME_PATTERN, max_length=253, description="ConfigMap name.")
    key: str = Field(min_length=1, max_length=253, description="Key holding the code.")


class Source(Model):
    """Where the code comes from: exactly one of inline, configMap or path."""

    inline: str | None = Field(
        default=None,
        max_length=1_000_000,
        description="The code itself (a module or script).",
    )
    config_map: ConfigMapSource | None = Field(default=None, description="A ConfigMap key.")
    path: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="A file or directory in the image (a workspace).",
    )

    @pydantic.model_validator(mode="after")
    def _exactly_one(self) -> Source:
        given = [n for n in ("inline", "config_map", "path") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "source must set exactly one of inline, configMap or path"
                f" (got {len(given)}: {', '.join(given) or 'none'})"
            )
        return self


# --- runner pod placement ------------------------------------------------------------
# Label keys and values, as Kubernetes validates them (RE2-compatible: the CRD checks
# map keys with the same patterns in CEL).
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
# An extended resource is domain-qualified (vendor.example/name), never a core one.
EXTENDED_RESOURCE_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/"  # the domain
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"  # the name
)

LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=317)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)]
ExtendedResourceName = Annotated[
    str, StringConstraints(pattern=EXTENDED_RESOURCE_PATTERN, max_length=253)
]


class TolerationOperator(enum.StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(enum.StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(Model):
    """A core/v1 Toleration: lets the runner pod onto nodes with a matching taint."""

    key: str | None = Field(default=None, max_length=317)
    operator: TolerationOperator | None = None
    value: str | None = Field(default=None, max_length=63)
    effect: TaintEffect | None = None
    toleration_seconds: int | None = Field(default=None, ge=0)


class UnsatisfiableAction(enum.StrEnum):
    DO_NOT_SCHEDULE = "DoNotSchedule"
    SCHEDULE_ANYWAY = "ScheduleAnyway"


class TopologySpreadConstraint(Model):
    """A core/v1 TopologySpreadConstraint (label selectors as Kubernetes writes them)."""

    max_skew: int = Field(ge=1)
    topology_key: str = Field(min_length=1, max_length=317)
    when_unsatisfiable: UnsatisfiableAction
    label_selector: dict[str, Any] | None = None
    min_domains: int | None = Field(default=None, ge=1)
    match_label_keys: list[str] | None = Field(default=None, max_length=32)
    node_affinity_policy: str | None = Field(default=None, pattern=r"^(Honor|Ignore)$")
    node_taints_policy: str | None = Field(default=None, pattern=r"^(Honor|Ignore)$")


class Affinity(Model):
    """A core/v1 Affinity; each part as Kubernetes writes it (the API server checks inside)."""

    node_affinity: dict[str, Any] | None = None
    pod_affinity: dict[str, Any] | None = None
    pod_anti_affinity: dict[str, Any] | None = None


class LocalObjectReference(Model):
    """A name in the Execution's namespace (an image pull Secret)."""

    name: str = Field(pattern=NAME_PATTERN, max_length=253)


class Placement(Model):
    """Where and how the runner pod is scheduled, and what it carries for the platform.

    The same model holds the operator's defaults (chart value `runner.placement`);
    how the two combine is `kuberun_operator.placement.merge` (docs/operator.md).
    """

    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=64)
    affinity: Affinity | None = None
    topology_spread_constraints: list[TopologySpreadConstraint] = Field(
        default_factory=list, max_length=16
    )
    priority_class_name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=253)
    image_pull_secrets: list[LocalObjectReference] = Field(default_factory=list, max_length=16)
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, max_length=64, description="Extra labels of the runner pod."
    )
    annotations: dict[LabelKey, Annotated[str, StringConstraints(max_length=65536)]] = Field(
        default_factory=dict,
        max_length=64,
        description="Extra annotations of the runner pod (e.g. karpenter.sh/do-not-disrupt).",
    )


class ResourceList(Model):
    """CPU and memory quantities, as in a container's resources."""

    cpu: str | None = Field(default=None, pattern=QUANTITY_PATTERN, max_length=32)
    memory: str | None = Field(default=None, pattern=QUANTITY_PATTERN, max_length=32)


class Resources(Model):
    """Requests and limits of the runner container."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None
    extended: dict[ExtendedResourceName, Annotated[int, Field(ge=0, le=1024)]] = Field(
        default_factory=dict,
        max_length=16,
        description=(
            "Extended resources such as nvidia.com/gpu, by count; each is both requested and"
            " limited, because Kubernetes allows no overcommit of extended resources."
        ),
    )


class Retry(Model):
    """Engine-level retries: each attempt is a new Job, one log stream for all."""

    limit: int = Field(
        default=0, ge=0, le=MAX_RETRY_LIMIT, description="Retries after the first attempt."
    )
    backoff_seconds: float = Field(
        default=5.0, ge=0, le=3600, description="Delay before the first retry; doubles each time."
    )
    max_backoff_seconds: float = Field(
        default=300.0, ge=0, le=86400, description="Cap on the exponential delay."
    )
    on: list[phases.Phase] = Field(
        default_factory=lambda: [phases.Phase.FAILED, phases.Phase.TIMED_OUT],
        max_length=8,
        description="Outcomes that are retried (never CANCELLED or SUCCESS).",
    )

    @pydantic.field_validator("on")
    @classmethod
    def _retryable(cls, value: list[phases.Phase]) -> list[phases.Phase]:
        allowed = {
            phases.Phase.FAILED,
            phases.Phase.TIMED_OUT,
            phases.Phase.COMPLETED_WITH_ERRORS,
        }
        bad = [p.value for p in value if p not in allowed]
        if bad:
            raise ValueError(
                f"retry.on may only name FAILED, TIMED_OUT or COMPLETED_WITH_ERRORS, not {bad}"
            )
        return value


class Cache(Model):
    """Result cache for data providers, shared by all executions of an organization."""

    ttl_seconds: int | None = Field(default=None, ge=0, le=30 * 86400)
    bypass: bool = False


class ExecutionSpec(Model):
    """What to run, with which inputs and limits."""

    source: Source
    entrypoint: str | None = Field(
        default=None,
        pattern=ENTRYPOINT_PATTERN,
        max_length=253,
        description="Workflow or data-provider name; absent runs the source as a script.",
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="Inputs, free JSON.")
    timeout_seconds: int = Field(
        default=DEFAULT_TIMEOUT_SECONDS, ge=1, le=MAX_TIMEOUT_SECONDS, description="Hard timeout."
    )
    grace_period_seconds: int = Field(
        default=DEFAULT_GRACE_PERIOD_SECONDS, ge=0, le=MAX_GRACE_PERIOD_SECONDS
    )
    resources: Resources | None = None
    image: str | None = Field(default=None, min_length=1, max_length=512, pattern=IMAGE_PATTERN)
    retry: Retry | None = None
    cache: Cache | None = None
    tracing: bool = False
    log_level: LogLevel = LogLevel.DEBUG
    cancel: bool = Field(default=False, description="Set true to cancel (GitOps-friendly).")
    organization: str | None = Field(default=None, max_length=253)
    caller: str | None = Field(default=None, max_length=253)
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    service_account_name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=253)
    env: list[dict[str, Any]] = Field(default_factory=list, max_length=256)
    env_from: list[dict[str, Any]] = Field(default_factory=list, max_length=64)
    placement: Placement | None = Field(
        default=None,
        description="Runner pod scheduling and metadata, merged over the operator's defaults.",
    )

    @pydantic.field_validator("env")
    @classmethod
    def _env_names(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, item in enumerate(value):
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise ValueError(f"env[{index}] needs a name (a non-empty string)")
        return value

    @pydantic.field_validator("env_from")
    @classmethod
    def _env_from_refs(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, item in enumerate(value):
            if ("configMapRef" in item) + ("secretRef" in item) != 1:
                raise ValueError(ENV_FROM_MESSAGE.replace("each envFrom item", f"envFrom[{index}]"))
        return value
