"""Workflows: async or sync functions marked with `@workflow`, inputs declared with `@param`.

    kuberun run examples/workflows --entrypoint greet -p name=Ada -p times=3 \\
        --org acme --org-name "Acme Corp" --user-name "Grace Hopper"

`@param` gives each input a type, a label and a help text (what a form shows,
see `kuberun inspect examples/workflows`); the runner checks and coerces the
inputs before the code runs (`times=3` arrives as the int 3). `context` (by
annotation or by the name `context`) carries the organization and the caller,
the logger, cancellation and the deadline. Inputs the signature does not take
are in `context.parameters`.

`greet` is also an HTTP trigger (`endpoint_enabled`): `kuberun endpoints
examples/workflows --source-path /workspace` prints its WorkflowEndpoint.
"""

import asyncio

import text

from kuberun import ExecutionContext, param, workflow


@workflow(
    name="greet",
    description="Greet someone, a few times.",
    category="Examples",
    tags=["hello"],
    timeout_seconds=120,
    # An HTTP trigger on the API service: `kuberun endpoints examples/workflows ...`
    # writes its WorkflowEndpoint (docs/api.md); POST a JSON body, or GET ?name=Ada.
    endpoint_enabled=True,
    allowed_methods=["POST", "GET"],
)
@param("name", "string", label="Who to greet", required=True, help_text="A first name will do")
@param("times", "int", label="How many times", default_value=1, validation={"min": 1, "max": 10})
@param("loud", "bool", label="Shout", default_value=False)
async def greet(context: ExecutionContext, name: str, times: int, loud: bool) -> dict:
    context.logger.info("execution %s greets %s %d time(s)", context.execution_id, name, times)
    greetings = []
    for i in range(times):
        context.check_cancelled()  # cooperative cancellation point
        greeting = f"Hello, {name}"
        greetings.append(text.shout(greeting) if loud else greeting)
        await asyncio.sleep(0.05)
        context.logger.debug("greeting %d of %d sent", i + 1, times)
    return {
        "greetings": greetings,
        "organization": context.org_name,  # None without one: the GLOBAL scope
        "greeted_by": context.name,  # the caller's display name
        "unused_parameters": context.parameters,
    }
