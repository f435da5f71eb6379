"""The run request: everything the runner needs, delivered as one mounted file.

The operator writes it into a Secret/ConfigMap mounted at `REQUEST_FILE_DEFAULT`
(never an environment variable, whose size limit would cap parameters); the
local CLI writes it to a temp file. The runner reads nothing else to decide
what to run.
"""

from __future__ import annotations

from pydantic import Field

from kuberun.contract import podenv
from kuberun.contract.caller import Caller, Organization
from kuberun.contract.identity import ExecutionIdentity
from kuberun.contract.spec import ExecutionSpec, Model

# Names and paths of the pod (`kuberun.contract.podenv`), here beside the model.
REQUEST_FILE_ENV = podenv.REQUEST_FILE_ENV
REQUEST_DIR_DEFAULT = podenv.REQUEST_DIR_DEFAULT
REQUEST_FILE_NAME = podenv.REQUEST_FILE_NAME
REQUEST_FILE_DEFAULT = podenv.REQUEST_FILE_DEFAULT
REDIS_URL_ENV = podenv.REDIS_URL_ENV
TERMINATION_LOG_ENV = podenv.TERMINATION_LOG_ENV
TERMINATION_LOG_DEFAULT = podenv.TERMINATION_LOG_DEFAULT
CONFIGMAP_SOURCE_DIR = podenv.CONFIGMAP_SOURCE_DIR
CONFIG_DIR_DEFAULT = podenv.CONFIG_DIR_DEFAULT
SECRETS_DIR_DEFAULT = podenv.SECRETS_DIR_DEFAULT
INTEGRATIONS_DIR_DEFAULT = podenv.INTEGRATIONS_DIR_DEFAULT
TEMP_DIR_DEFAULT = podenv.TEMP_DIR_DEFAULT


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
