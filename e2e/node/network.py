"""The node's pod network: one Linux bridge per cluster, and the CNI config that uses it.

The bridge's address is the node IP (the kubelet refuses a loopback node IP), the
address the API server listens on, and the address pods use to reach the
services the tests start on the host (Redis, PostgreSQL). Pods get addresses of
the bridge's /24 from CNI's ``host-local`` IPAM. There is no NAT (``ipMasq:
false``) and IP forwarding stays off, so nothing a pod sends can leave the
machine: pods reach the host and each other, nothing else.

The bridge gets a fixed MAC: a bridge without one takes the lowest MAC of its
ports, so the gateway's MAC would change whenever a pod's veth comes or goes,
and pods would lose their TCP connections to the host.

Called by :mod:`e2e.cluster.controlplane` (``up``/``down``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import pathlib
import subprocess

#: Subnets are picked from here, one /24 per cluster, skipping any the machine uses.
POOL = ipaddress.ip_network("10.213.0.0/16")
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")


class NetworkError(RuntimeError):
    """The bridge could not be made."""


@dataclasses.dataclass(frozen=True)
class Bridge:
    """One cluster's bridge: its name, its /24, and its own address in it (.1)."""

    name: str
    subnet: str

    @property
    def address(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    @property
    def mac(self) -> str:
        """Locally administered, derived from the name: stable across re-creations."""
        digest = hashlib.sha256(self.name.encode()).digest()
        return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _used_networks() -> list[ipaddress.IPv4Network]:
    routes = _ip("-4", "-json", "route", "show", "table", "all").stdout
    used: list[ipaddress.IPv4Network] = []
    for route in json.loads(routes or "[]"):
        destination = route.get("dst", "")
        if destination and destination != "default" and "/" in destination:
            used.append(ipaddress.IPv4Network(destination, strict=False))
        elif destination and destination != "default":
            used.append(ipaddress.IPv4Network(f"{destination}/32"))
    return used


def pick(cluster_id: str) -> Bridge:
    """A bridge named for the cluster, on the first /24 of the pool nobody routes."""
    used = _used_networks()
    for subnet in POOL.subnets(new_prefix=24):
        if not any(subnet.overlaps(u) for u in used):
            return Bridge(name=f"kr{cluster_id[:10]}", subnet=str(subnet))
    raise NetworkError(f"no free /24 left in {POOL}")


def create(bridge: Bridge) -> None:
    """Create the bridge with its fixed MAC and address (idempotent)."""
    if _ip("link", "show", bridge.name, check=False).returncode != 0:
        _ip("link", "add", "name", bridge.name, "type", "bridge")
    _ip("link", "set", bridge.name, "address", bridge.mac)
    prefix = ipaddress.ip_network(bridge.subnet).prefixlen
    _ip("addr", "replace", f"{bridge.address}/{prefix}", "dev", bridge.name)
    _ip("link", "set", bridge.name, "up")


def delete(name: str) -> None:
    """Remove the bridge (and with it its routes); nothing if it is gone."""
    _ip("link", "delete", name, "type", "bridge", check=False)


def cni_bin_dir() -> str:
    for directory in CNI_BIN_DIRS:
        if (pathlib.Path(directory) / "bridge").exists():
            return directory
    raise NetworkError(
        "the CNI plugins are not installed (apt-get install containernetworking-plugins)"
    )


def write_cni_config(bridge: Bridge, conf_dir: pathlib.Path, ipam_dir: pathlib.Path) -> None:
    """The conflist containerd's CRI plugin reads: bridge + host-local + loopback."""
    hosts = list(ipaddress.ip_network(bridge.subnet).hosts())
    config = {
        "cniVersion": "0.4.0",
        "name": f"kuberun-{bridge.name}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge.name,
                "isGateway": True,
                # No NAT: pod traffic never leaves the machine.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "ranges": [
                        [
                            {
                                "subnet": bridge.subnet,
                                "rangeStart": str(hosts[1]),
                                "rangeEnd": str(hosts[-1]),
                                "gateway": bridge.address,
                            }
                        ]
                    ],
                    "routes": [{"dst": bridge.subnet}],
                },
            },
            {"type": "loopback"},
        ],
    }
    conf_dir.mkdir(parents=True, exist_ok=True)
    ipam_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "10-kuberun.conflist").write_text(json.dumps(config, indent=2))


def release_pods(bridge_name: str) -> None:
    """Remove what pods left on the bridge when their runtime was killed, not stopped.

    Deleting the host end of each veth deletes its pair; a network namespace left
    with only its loopback device is then removed too.
    """
    ports = _ip("-json", "link", "show", "master", bridge_name, check=False).stdout
    for link in json.loads(ports or "[]"):
        _ip("link", "delete", link["ifname"], check=False)
    netns_dir = pathlib.Path("/run/netns")
    if not netns_dir.exists():
        return
    for netns in netns_dir.glob("cni-*"):
        links = _ip("-n", netns.name, "-json", "link", "show", check=False)
        if links.returncode == 0 and all(
            link.get("ifname") == "lo" for link in json.loads(links.stdout or "[]")
        ):
            _ip("netns", "delete", netns.name, check=False)
