"""The runner: reads one request, runs the user code once, delivers its logs, reports.

Entry point: `python -m kuberun.runtime` (console script `kuberun-runner`).
`running.Execution` wires the parts of an attempt: `processhooks` (capture,
signals, exits, forks), `executing` (the code, judged into a verdict) and
`finishing` (the ending, exactly once); the other modules one concept each.
"""
