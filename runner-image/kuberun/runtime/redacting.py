"""Hide secret values wherever the execution's output goes: logs, results, errors, variables.

The values come from the execution's `Resources` (its Secret configuration
and its integrations' credentials), known before any user code runs. Tracing
already hides variables by *name* (`password`, `token`, ...); this hides the
secret *values* themselves, whatever they are called and wherever they are
copied: a log line, an exception message, a returned dict, a captured local.

Values shorter than `MIN_SECRET_LENGTH` are not hidden: replacing every `1`
or `yes` in a log would destroy it and protect nothing. A secret written in
pieces (one print per character, a line split across two writes to a file
descriptor) is beyond what text matching can find.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "***"  # the same mask tracing uses
MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces every known secret value in text and in JSON values. Thread-safe (immutable)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
        # A value that ends in a newline (a Secret made from a file) also hides without it.
        values |= {s.rstrip("\r\n") for s in values if len(s.rstrip("\r\n")) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is hidden whole.
        ordered = sorted(values, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def of(cls, pattern: str) -> Redactor:
        """The redactor whose `pattern` this is (how the delivery process gets it)."""
        redactor = cls()
        redactor._pattern = re.compile(pattern)
        return redactor

    @property
    def pattern(self) -> str | None:
        """The expression that matches every secret value (None: there are none)."""
        return None if self._pattern is None else self._pattern.pattern

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        """`value` with every secret replaced by `REDACTED`."""
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(REDACTED, value)

    def optional_text(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def json(self, value: Any) -> Any:
        """A JSON value (as `jsonsafe` makes them) with secrets hidden in every string."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self.json(v) for k, v in value.items()
            }
        return value
