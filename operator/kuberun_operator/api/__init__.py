"""kuberun's log and result API: `python -m kuberun_operator.api`.

A stateless aiohttp service, run from the operator image with its own command
and Deployment, that serves Executions, their results and their logs to users
with their own Kubernetes identity (TokenReview, then SubjectAccessReview):
no user ever needs the Redis credential the runners hold.

Pure parts (`cursor`, `sse`, `summary`, `retention`) are separate from the
I/O around them (`logsource`, `access`, `kube`, `app`). It imports nothing of
kopf or the operator's control loop (import-linter enforces it).
"""
