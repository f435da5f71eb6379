"""kuberun's operator: `Execution` custom resources become Jobs running the runner.

Pure decisions (`manifests`, `statusmapping`, `reconciling`, `admission`,
`retrying`, `crdschema`) are separate from the thin I/O around them (`kubeio`,
`redisio`, `handlers`, `health`, `metrics`). `python -m kuberun_operator`
starts it.
"""
