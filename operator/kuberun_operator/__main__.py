"""`python -m kuberun_operator`: settings from the environment, then kopf with our handlers.

Peering is opt-in (`KUBERUN_PEERING=<name>`, a different `KUBERUN_PRIORITY`
per replica): without it the operator runs standalone and needs no peering
objects. Serves /healthz, /readyz and /metrics on `KUBERUN_HTTP_PORT`.
"""

from __future__ import annotations

import logging

import kopf

from kuberun_operator import handlers, schedulehandlers
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kopf logs every handler call at INFO; our own lines say what matters.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    _ = handlers  # importing registers the handlers with kopf's default registry
    _ = schedulehandlers  # ScheduledExecutions' loop and wake-ups
    kopf.run(
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=settings.peering is None,
        peering_name=settings.peering,
        priority=settings.priority,
        memo=kopf.Memo(settings=settings, metrics=Metrics()),
    )


if __name__ == "__main__":
    main()
