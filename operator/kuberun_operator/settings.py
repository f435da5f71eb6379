"""The operator's settings: one pydantic-settings object read from `KUBERUN_*` variables.

Built once at startup by `__main__` (never at import time) and passed down to
whoever needs it. Each field says what it does and why its default is what it is.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kuberun.contract import spec
from kuberun.contract.caller import Organization


class Settings(BaseSettings):
    """Everything tunable about the operator, from the environment (prefix `KUBERUN_`)."""

    model_config = SettingsConfigDict(env_prefix="KUBERUN_", extra="ignore", frozen=True)

    # --- the runner pods -------------------------------------------------------------
    runner_image: str = Field(
        default="kuberun/runner:0.1.0",
        description="Image of the runner when an Execution names none; pinned to the release.",
    )
    runner_service_account: str = Field(
        default="kuberun-runner",
        description=(
            "ServiceAccount of runner pods without their own; its token is never mounted, so"
            " user code gets no API access unless an Execution asks for an account."
        ),
    )
    create_runner_service_account: bool = Field(
        default=True,
        description=(
            "Create the runner ServiceAccount in a namespace on first use; without it a"
            " forgotten account leaves pods uncreatable until the start deadline."
        ),
    )
    redis_secret_name: str = Field(
        default="kuberun-redis-runner",
        description=(
            "Secret (in the Execution's namespace) holding the Redis URL for runners; with"
            " `redis_tenant_users` the operator makes it (the namespace's own ACL user)."
        ),
    )
    redis_secret_key: str = Field(
        default="url", description="Key of the Redis URL in that Secret; `url` is the chart's."
    )
    config_map_name: str = Field(
        default="kuberun-config",
        description=(
            "ConfigMap (in the Execution's namespace) mounted read-only as the code's"
            " configuration (`context.get_config`); optional, so a namespace without one works."
        ),
    )
    config_secret_name: str = Field(
        default="kuberun-secrets",
        description=(
            "Secret mounted read-only as the code's secret configuration (redacted in all"
            " output); optional. A Secret, not env vars: values stay out of the environment."
        ),
    )
    integration_secret_prefix: str = Field(
        default="kuberun-integration-",
        description=(
            "An integration's Secret is this prefix plus the integration's slug"
            " (`kuberun-integration-halopsa`), mounted read-only when the Job is built for it."
        ),
    )
    temp_size_limit: str | None = Field(
        default="1Gi",
        description=(
            "sizeLimit of the per-execution temp emptyDir (`files`, location temp): enough for"
            " exports and downloads, bounded so one execution cannot fill the node's disk."
        ),
    )
    run_as_user: int = Field(
        default=65532,
        description="Non-root uid of runner pods; 65532 is the distroless `nonroot` user.",
    )
    default_cpu_request: str = Field(
        default="100m", description="CPU request when an Execution gives none: small scripts."
    )
    default_memory_request: str = Field(
        default="128Mi", description="Memory request when none is given: a Python process + deps."
    )
    default_memory_limit: str = Field(
        default="1Gi",
        description=(
            "Memory limit when none is given, so a runaway script is OOMKilled, not the node."
        ),
    )
    default_cpu_limit: str | None = Field(
        default=None,
        description="CPU limit when none is given; none, because CPU throttling only slows code.",
    )
    runner_placement: spec.Placement = Field(
        default_factory=spec.Placement,
        description=(
            "Placement defaults of every runner pod (nodeSelector, tolerations, affinity, ...),"
            " as JSON; an Execution's own `placement` merges over them (see `placement`)."
            " Empty, so a first install schedules runners anywhere, like any pod."
        ),
    )
    deadline_slack_seconds: int = Field(
        default=5,
        ge=0,
        description=(
            "Added to timeout + grace for the hard deadline (the pod's activeDeadlineSeconds,"
            " counted from the container's start), so the runner's own soft deadline (which"
            " still reports logs) normally fires first."
        ),
    )
    start_deadline_seconds: int = Field(
        default=600,
        ge=1,
        description=(
            "A pod not running after this is FAILED/StartTimeout; ten minutes covers a slow"
            " scale-up and an image pull, but not a pod that can never start."
        ),
    )
    image_pull_deadline_seconds: int = Field(
        default=30,
        ge=0,
        description=(
            "How long an image pull may keep failing (ErrImagePull/ImagePullBackOff) before the"
            " attempt is FAILED/ImagePullFailed; long enough for a registry blip."
        ),
    )
    missing_job_grace_seconds: float = Field(
        default=15.0,
        description=(
            "A created Job unseen for this long is treated as deleted (FAILED/RunnerDied);"
            " covers the watch lag between creating a Job and seeing it."
        ),
    )
    job_ttl_seconds: int | None = Field(
        default=None,
        description=(
            "ttlSecondsAfterFinished of Jobs; unset, because the Jobs die with their Execution"
            " and an early TTL could delete a pod before a restarted operator read it."
        ),
    )
    inline_result_max_bytes: int = Field(
        default=16 * 1024,
        description=(
            "Results up to this size are copied into status.result, larger ones referenced;"
            " keeps Execution objects small in etcd and in every watch event."
        ),
    )

    organizations: dict[str, Organization] = Field(
        default_factory=dict,
        description=(
            "Organizations the platform binds to namespaces, as JSON {namespace: {id, name}},"
            " for namespaces it cannot label; a namespace's label kuberun.dev/organization"
            " wins (see `tenancy`). Empty: labels only."
        ),
    )

    # --- admission ---------------------------------------------------------------------
    max_running: int = Field(
        default=100,
        ge=1,
        description="Executions admitted (pod asked for) at once in the whole cluster.",
    )
    max_running_per_namespace: int = Field(
        default=50,
        ge=1,
        description="Executions admitted at once per namespace, so one tenant cannot take all.",
    )
    cache_stampede_guard: bool = Field(
        default=True,
        description=(
            "Executions of the same data provider, parameters and cache scope wait for one"
            " of them to fill the cache (PENDING/WaitingForCache, no pod) instead of each"
            " starting a pod that waits on the cache lock; see `stampede`."
        ),
    )
    queue_status_interval_seconds: float = Field(
        default=2.0,
        gt=0,
        description=(
            "How often queue positions are written to status; each change of the queue would"
            " otherwise patch every queued Execution."
        ),
    )

    # --- the operator itself -----------------------------------------------------------
    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces to serve; empty = the whole cluster (a ClusterRole is needed).",
    )
    redis_url: str | None = Field(
        default=None,
        description=(
            "The operator's own Redis connection (cancel keys, engine log records, results);"
            " without it the operator still works from termination messages alone."
        ),
    )
    archive_dsn: str | None = Field(
        default=None,
        description=(
            "PostgreSQL DSN of the archive (finished executions and their full logs); unset, so"
            " a first install needs no database. Redis keeps logs only for a day."
        ),
    )
    redis_tenant_users: bool = Field(
        default=True,
        description=(
            "Give each namespace's runners their own Redis ACL user (its namespace's keys and"
            " its organization's cache only), written by the operator into the runner Secret"
            " `redis_secret_name`; the operator's own URL then never reaches a runner. Needs"
            " Redis 6+ and an operator URL allowed to run ACL SETUSER; off, runners share the"
            " Secret the platform puts in each namespace."
        ),
    )
    redis_timeout_seconds: float = Field(
        default=2.0,
        description="Socket timeout of Redis calls, so a dead Redis never stalls a reconcile.",
    )
    api_workers: int = Field(
        default=16,
        ge=1,
        description=(
            "Threads for Kubernetes API calls (the client is synchronous; calls never run on"
            " the event loop); 16 keeps 300 simultaneous submissions moving."
        ),
    )
    peering: str | None = Field(
        default=None,
        description=(
            "kopf peering name; set it (and a different `priority` per replica) to run a"
            " standby replica. Unset: standalone, no peering objects needed."
        ),
    )
    priority: int = Field(default=0, description="kopf peering priority of this replica.")
    peering_lifetime_seconds: int = Field(
        default=60,
        ge=5,
        description=(
            "How long a silent peer counts as alive: a standby takes over this long after the"
            " active replica dies; kopf's own default."
        ),
    )
    http_host: str = Field(default="0.0.0.0", description="Where health and metrics listen.")
    http_port: int = Field(
        default=8080, description="Port of /healthz, /readyz and /metrics (one port, one probe)."
    )
    log_level: str = Field(default="INFO", description="Operator log level.")
