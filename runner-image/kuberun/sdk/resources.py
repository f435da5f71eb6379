"""What an execution can reach besides its inputs: configuration, integrations, directories.

The runtime builds one `Resources` at the start of an execution (from the
mounted directories the request names) and hands it to the context; the SDK's
`config`, `integrations`, `oauth` and `files` read it through the current
context. A context built without one (tests, code run outside the runner)
has no configuration, no integrations and no directories.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kuberun.sdk import configuration, integrations


@dataclass(frozen=True)
class Resources:
    config: configuration.ConfigStore = field(default_factory=configuration.ConfigStore)
    integrations: Mapping[str, integrations.Integration] = field(default_factory=dict)
    temp_dir: Path | None = None
    workspace_dir: Path | None = None

    def secret_values(self) -> list[str]:
        """Every value redaction must hide: secret configuration and integration credentials."""
        values = self.config.secret_values()
        for item in self.integrations.values():
            values.extend(item.secret_values())
        return values
