"""The run request: everything the runner needs, delivered as one mounted file.

The operator writes it into a Secret/ConfigMap mounted at `REQUEST_FILE_DEFAULT`
(never an environment variable, whose size limit would cap parameters); the
local CLI writes it to a temp file. The runner reads nothing else to decide
what to run.
"""

from __future__ import annotations

from pydantic import Field

from kuberun.contract.caller import Caller, Organization
from kuberun.contract.identity import ExecutionIdentity
from kuberun.contract.spec import ExecutionSpec, Model

REQUEST_FILE_ENV = "KUBERUN_REQUEST_FILE"
REQUEST_DIR_DEFAULT = "/var/run/kuberun/request"
REQUEST_FILE_NAME = "request.json"
REQUEST_FILE_DEFAULT = f"{REQUEST_DIR_DEFAULT}/{REQUEST_FILE_NAME}"
REDIS_URL_ENV = "KUBERUN_REDIS_URL"
TERMINATION_LOG_ENV = "KUBERUN_TERMINATION_LOG"
TERMINATION_LOG_DEFAULT = "/dev/termination-log"
# Where code from a ConfigMap source is mounted in the pod; the operator mounts
# the ConfigMap key here and sets `source.path`-like resolution for the runner.
CONFIGMAP_SOURCE_DIR = "/var/run/kuberun/source"
# Where the operator mounts the namespace's configuration (a ConfigMap, one file
# per key), its secret configuration (a Secret, likewise), one Secret per
# integration (`<dir>/<integration>/<field>`) and the per-execution temp
# directory (an emptyDir). Files, never environment variables: values stay out of
# `/proc/*/environ`, child processes and crash dumps, and a rotated Secret shows up.
CONFIG_DIR_DEFAULT = "/var/run/kuberun/config"
SECRETS_DIR_DEFAULT = "/var/run/kuberun/secrets"
INTEGRATIONS_DIR_DEFAULT = "/var/run/kuberun/integrations"
TEMP_DIR_DEFAULT = "/var/run/kuberun/tmp"


class RunRequest(Model):
    """One attempt of one execution."""

    identity: ExecutionIdentity
    spec: ExecutionSpec
    source_path: str | None = Field(
        default=None,
        description=(
            "Resolved path of the code when the spec's source is a ConfigMap (mounted by the"
            " operator) or a path in the image; None when the source is inline."
        ),
    )
    organization: Organization | None = Field(
        default=None,
        description="The organization; None falls back to `spec.organization` (an id alone).",
    )
    caller: Caller | None = Field(
        default=None, description="Who started it; None falls back to `spec.caller` (an id)."
    )
    config_dir: str | None = Field(
        default=None, description="Directory of configuration files (one per key); None: none."
    )
    secrets_dir: str | None = Field(
        default=None, description="Directory of secret configuration files; None: none."
    )
    integrations_dir: str | None = Field(
        default=None, description="Directory of integration directories; None: none."
    )
    temp_dir: str | None = Field(
        default=None,
        description="The execution's temp directory; None: the runner makes one.",
    )
