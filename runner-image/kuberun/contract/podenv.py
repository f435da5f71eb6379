"""Where a runner finds its request, Redis and the termination log: names and paths only.

The operator sets these in the pod; the runner reads them first thing, before it
knows whether it needs any model (so: no pydantic here). `kuberun.contract.request`
re-exports them beside the `RunRequest` model.
"""

from __future__ import annotations

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
