"""A helper module of the workspace: its log lines are the workflow's log lines.

Any module in the workspace directory logs at the requested level (`--log-level`,
`spec.logLevel`); third-party libraries only at WARNING and above.
"""

import logging

log = logging.getLogger(__name__)


def shout(text: str) -> str:
    log.debug("shouting %r", text)
    return text.upper() + "!"
