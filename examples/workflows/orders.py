"""Two ways a workflow reports failure.

    kuberun run examples/workflows --entrypoint check_orders   # COMPLETED_WITH_ERRORS
    kuberun run examples/workflows --entrypoint import_orders -p source=ftp://x  # FAILED

A dict with `"success": False` is a normal return that says "it ran, but some
of it did not work": the execution ends COMPLETED_WITH_ERRORS with the result
kept. `UserError` (and bifrost's `WorkflowError`, `ValidationError`,
`IntegrationError`, `ConfigurationError`) is an expected failure: FAILED, with
the message as is and no traceback. Any other exception is FAILED with its
traceback in the log.
"""

import logging

from kuberun import UserError, param, workflow

log = logging.getLogger(__name__)

ORDERS = [
    {"id": 1, "quantity": 2},
    {"id": 2, "quantity": -1},
    {"id": 3, "quantity": 5},
]


@workflow(category="Orders", tags=["validation"])
@param("orders", "json", label="Orders", help_text="A JSON list of {id, quantity}")
def check_orders(orders: list = ORDERS) -> dict:
    """Validate orders; report the bad ones instead of stopping at the first."""
    errors = []
    for order in orders:
        if order["quantity"] <= 0:
            log.error("order %s has quantity %s", order["id"], order["quantity"])
            errors.append({"order": order["id"], "error": "quantity must be positive"})
        else:
            log.info("order %s ok", order["id"])
    return {"success": not errors, "checked": len(orders), "errors": errors}


@workflow(name="import_orders", category="Orders")
@param("source", "string", label="Source URL", help_text="Where the orders CSV lives (https)")
def import_orders(source: str = "https://example.com/orders.csv") -> dict:
    """Refuse a source it cannot read: a UserError is the message the user sees."""
    if not source.startswith("https://"):
        raise UserError(f"source must be an https:// URL, got {source!r}")
    log.info("would import from %s", source)
    return {"source": source, "imported": 0}
