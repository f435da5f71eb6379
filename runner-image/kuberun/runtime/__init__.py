"""The runner: reads one request, runs the user code once, delivers its logs, reports.

Entry point: `python -m kuberun.runtime` (console script `kuberun-runner`);
`running.run()` is the orchestration, the other modules one concept each.
"""
