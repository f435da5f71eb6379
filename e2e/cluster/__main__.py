"""``python -m e2e.cluster build|up|down|env|status``: the local cluster's command line.

``build`` builds the binaries and the images that are missing. ``up`` builds
what is missing, starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, containerd and the kubelet in the background, and prints
the shell lines of ``env``; ``eval "$(python -m e2e.cluster env)"`` then points
kubectl at it. ``down`` stops all of it. State lives in ``$KUBERUN_CLUSTER_DIR``
(default ``~/.cache/kuberun/cluster``).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

from e2e.cluster import binaries, controlplane, processes
from e2e.node import images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["build", "up", "down", "env", "status"])
    parser.add_argument(
        "--state-dir",
        type=pathlib.Path,
        default=None,
        help="where pids, certificates, logs and etcd data live",
    )
    parser.add_argument(
        "--no-kubelet",
        action="store_true",
        help="start the control plane without the node (containerd and the kubelet)",
    )
    args = parser.parse_args(argv)
    state_dir = args.state_dir or controlplane.default_state_dir()

    if args.command == "build":
        started = time.monotonic()
        path = binaries.ensure_built()
        built = images.ensure_built()
        print(f"{path} ({time.monotonic() - started:.1f}s)")
        for image in built.all():
            print(f"{image.ref} {image.size_bytes / 2**20:.0f} MiB")
        return 0
    if args.command == "up":
        started = time.monotonic()
        state = controlplane.up(state_dir, kubelet=not args.no_kubelet)
        print(
            f"# control plane up in {time.monotonic() - started:.1f}s; logs in "
            f"{state.dir / 'logs'}",
            file=sys.stderr,
        )
        print("\n".join(controlplane.env_lines(state)))
        return 0
    if args.command == "down":
        controlplane.down(state_dir)
        return 0
    loaded = controlplane.State.load(state_dir)
    if loaded is None:
        print(f"no cluster in {state_dir}", file=sys.stderr)
        return 1
    if args.command == "env":
        print("\n".join(controlplane.env_lines(loaded)))
        return 0
    state = loaded
    for record in state.processes:
        print(
            f"{record.name:25} pid {record.pid:7} "
            f"{'running' if processes.alive(record) else 'STOPPED'}  {record.log}"
        )
    return 0 if all(processes.alive(r) for r in state.processes) else 1


if __name__ == "__main__":
    sys.exit(main())
