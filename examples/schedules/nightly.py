"""A workflow on a schedule: `kuberun schedules` turns it into a ScheduledExecution."""

from kuberun import context, workflow


@workflow(
    category="Maintenance",
    tags=["scheduled"],
    schedule="0 2 * * *",
    timeout_seconds=600,
    retry_policy={"max_attempts": 2},
)
async def nightly_cleanup(older_than_days: int = 30) -> dict:
    """Report what a nightly cleanup would remove (runs at 02:00 every day)."""
    return {"older_than_days": older_than_days, "execution": context.execution_id}
