"""kuberun's operator: `Execution` custom resources become Jobs running the runner.

Pure decisions (`manifests`, `statusmapping`, `reconciling`, `admission`,
`retrying`, `crdschema`) are separate from the thin I/O around them (`kubeio`,
`redisio`, `handlers`, `health`, `metrics`). Each Execution's loop reads as
observe (`observing`) → decide (`reconciling`) → act (`acting`), driven by
`following` and typed against the adapters' Protocols (`protocols`).
`python -m kuberun_operator` starts it.
"""
