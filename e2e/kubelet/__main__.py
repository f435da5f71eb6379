"""``python -m e2e.kubelet``: see :mod:`e2e.kubelet.agent`."""

from e2e.kubelet.agent import main

main()
