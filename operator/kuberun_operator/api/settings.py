"""The API service's settings, from `KUBERUN_*` variables (the chart sets them).

It shares the operator's names for what both use (`KUBERUN_REDIS_URL`,
`KUBERUN_ARCHIVE_DSN`, `KUBERUN_LOG_LEVEL`), so one Secret serves both.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KUBERUN_", extra="ignore", frozen=True)

    redis_url: str | None = Field(
        default=None,
        description="Redis with the log streams and results; without it only the archive serves.",
    )
    archive_dsn: str | None = Field(
        default=None,
        description="PostgreSQL archive: deleted executions and logs Redis no longer has.",
    )
    redis_timeout_seconds: float = Field(
        default=10.0,
        gt=1.0,
        description="Socket timeout of Redis calls; above the 1 s XREAD BLOCK of followers.",
    )
    api_host: str = Field(default="0.0.0.0", description="Where the API listens.")
    api_port: int = Field(default=8080, description="The API's port (the contract's 8080).")
    api_workers: int = Field(
        default=16, ge=1, description="Threads for Kubernetes API calls (reviews, reads)."
    )
    log_level: str = Field(default="INFO", description="Log level of the API service.")
