"""The process kubelet's settings, one frozen object passed down from ``main``."""

from __future__ import annotations

import dataclasses
import pathlib

from e2e.kubelet import images


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every knob of the process kubelet, with why its default was chosen."""

    #: The Node this kubelet registers and plays.
    node_name: str
    #: Pod directories (volumes, logs, shim records) live under ``<state_dir>/pods``.
    state_dir: pathlib.Path
    #: cgroup path below each controller's root, unique per cluster so that
    #: ``e2e.cluster down`` can kill exactly this cluster's containers.
    cgroup_parent: str
    #: API server URL the containers reach (their ``KUBERNETES_SERVICE_*``).
    api_server: str
    #: The image table (see :mod:`e2e.kubelet.images`).
    image_rules: tuple[images.Rule, ...]
    #: ``pids.max`` of every container: the real kubelet's podPidsLimit is a
    #: node setting too; 1024 stops a fork bomb without hindering thread pools.
    pids_limit: int = 1024
    #: Container restart backoff doubles from 1 s up to this (upstream: 10 s to
    #: 300 s); short, so OnFailure Jobs finish within a test's timeout.
    max_restart_backoff: float = 10.0
    #: Bind pods that have no node to this one (there is no scheduler).
    bind_pods: bool = True

    @property
    def pods_dir(self) -> pathlib.Path:
        return self.state_dir / "pods"
