"""Workflows: async or sync functions marked with `@workflow`, parameters by signature.

    kuberun run examples/workflows --entrypoint greet -p name=Ada -p times:=3

`context` (by annotation or by the name `context`) carries the execution's id,
organization, parameters, logger, cancellation and deadline. Parameters that
match no argument stay in `context.parameters`.
"""

import asyncio

import text

from kuberun import ExecutionContext, workflow


@workflow(name="greet", description="Greet someone, a few times.", timeout_seconds=120)
async def greet(context: ExecutionContext, name: str, times: int = 1, loud: bool = False) -> dict:
    context.logger.info("execution %s greets %s %d time(s)", context.execution_id, name, times)
    greetings = []
    for i in range(times):
        context.check_cancelled()  # cooperative cancellation point
        greeting = f"Hello, {name}"
        greetings.append(text.shout(greeting) if loud else greeting)
        await asyncio.sleep(0.05)
        context.logger.debug("greeting %d of %d sent", i + 1, times)
    extras = {k: v for k, v in context.parameters.items() if k not in ("name", "times", "loud")}
    return {
        "greetings": greetings,
        "organization": context.organization,
        "unused_parameters": extras,
    }
