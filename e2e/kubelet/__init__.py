"""The process kubelet: plays a Kubernetes node by running containers as local processes.

See ``e2e/README.md`` for what it does and does not do. Entry point:
``python -m e2e.kubelet``; :mod:`e2e.kubelet.agent` is the main loop.
"""
