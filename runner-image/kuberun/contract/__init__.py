"""The contract shared by the runner and the operator.

Everything both sides must agree on lives here and nowhere else: the
`Execution` spec and status models, the status names, the log record, the
Redis key names, the request file and the termination summary. This package
imports nothing else of kuberun's (import-linter enforces it), so the operator
can depend on it without pulling in the runtime.
"""
