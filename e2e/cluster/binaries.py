"""Build the cluster's binaries (control plane, scheduler, kubelet) once per version.

The Go modules under ``e2e/go/`` pin every version (``kube`` holds Kubernetes
and etcd, ``helm`` holds Helm: Helm 3.22 requires the 0.37 staging modules while
Kubernetes 1.36 pins 0.36, so they cannot share one build list). The binaries
are cached outside the clone, under ``~/.cache/kuberun/bin/<key>/``, where the
key names the pinned versions and hashes both go.mod/go.sum pairs and the Go
toolchain version: a version bump builds into a new directory, anything else
reuses the cache. Go's own module and build caches stay at their defaults, so a
rebuild after a small change is fast too.

Called by ``python -m e2e.cluster build|up`` and by the pytest fixtures.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

GO_ROOT = pathlib.Path(__file__).resolve().parent.parent / "go"
KUBE_MODULE = GO_ROOT / "kube"
HELM_MODULE = GO_ROOT / "helm"
KSTATUS_MODULE = GO_ROOT / "kstatus"

#: Every binary this package builds, mapped to (module dir, Go package).
PROGRAMS: dict[str, tuple[pathlib.Path, str]] = {
    "kube-apiserver": (KUBE_MODULE, "k8s.io/kubernetes/cmd/kube-apiserver"),
    "kube-controller-manager": (KUBE_MODULE, "k8s.io/kubernetes/cmd/kube-controller-manager"),
    "kube-scheduler": (KUBE_MODULE, "k8s.io/kubernetes/cmd/kube-scheduler"),
    "kubelet": (KUBE_MODULE, "k8s.io/kubernetes/cmd/kubelet"),
    "kubectl": (KUBE_MODULE, "k8s.io/kubernetes/cmd/kubectl"),
    "etcd": (KUBE_MODULE, "./cmd/etcd"),
    "helm": (HELM_MODULE, "helm.sh/helm/v3/cmd/helm"),
    # The kstatus library Flux and Helm 4 judge health with, on stdin's JSON.
    "kstatus": (KSTATUS_MODULE, "."),
}


#: Bump when the way binaries are built changes (flags, programs), to rebuild the cache.
BUILD_RECIPE = "2"


class BuildError(RuntimeError):
    """The Go toolchain failed; the message carries the tail of its output."""


@dataclasses.dataclass(frozen=True)
class Versions:
    """The pinned upstream versions, read from the go.mod files (the single source)."""

    kubernetes: str
    etcd: str
    helm: str


def cache_root() -> pathlib.Path:
    """``$KUBERUN_CACHE_DIR`` or ``~/.cache/kuberun``: shared by CI runs on one machine."""
    return pathlib.Path(os.environ.get("KUBERUN_CACHE_DIR", "~/.cache/kuberun")).expanduser()


def _required_version(go_mod: pathlib.Path, module: str) -> str:
    text = go_mod.read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if match is None:
        raise BuildError(f"{go_mod} does not require {module}")
    return match.group(1)


def versions() -> Versions:
    """Read the pinned versions from the committed go.mod files."""
    return Versions(
        kubernetes=_required_version(KUBE_MODULE / "go.mod", "k8s.io/kubernetes"),
        etcd=_required_version(KUBE_MODULE / "go.mod", "go.etcd.io/etcd/server/v3"),
        helm=_required_version(HELM_MODULE / "go.mod", "helm.sh/helm/v3"),
    )


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        raise BuildError("the Go toolchain (go) is not on PATH")
    return go


def _go_version() -> str:
    return subprocess.run(
        [_go(), "env", "GOVERSION"], check=True, capture_output=True, text=True
    ).stdout.strip()


def cache_key() -> str:
    """A directory name that changes whenever a pinned version or the toolchain does."""
    v = versions()
    digest = hashlib.sha256()
    for module in (KUBE_MODULE, HELM_MODULE, KSTATUS_MODULE):
        for name in ("go.mod", "go.sum"):
            digest.update((module / name).read_bytes())
    digest.update((KUBE_MODULE / "cmd" / "etcd" / "main.go").read_bytes())
    digest.update((KSTATUS_MODULE / "main.go").read_bytes())
    digest.update(_go_version().encode())
    digest.update(BUILD_RECIPE.encode())
    return f"k8s-{v.kubernetes}_etcd-{v.etcd}_helm-{v.helm}_{digest.hexdigest()[:12]}"


def bin_dir() -> pathlib.Path:
    """Where the binaries for the pinned versions live (they may not be built yet)."""
    override = os.environ.get("KUBERUN_BIN_DIR")
    if override:
        return pathlib.Path(override)
    return cache_root() / "bin" / cache_key()


def binary(name: str) -> pathlib.Path:
    """Path of one built binary; builds the set first when it is missing."""
    if name not in PROGRAMS:
        raise KeyError(name)
    return ensure_built() / name


def kubectl_path() -> pathlib.Path:
    """The kubectl matching the control plane (tests call ``kubectl apply``/``wait``)."""
    return binary("kubectl")


def helm_path() -> pathlib.Path:
    """The Helm 3 binary the chart tests use."""
    return binary("helm")


def _release_time(module: str, version: str) -> str:
    """The release time the module proxy records (stamped as ``buildDate``)."""
    result = subprocess.run(
        [_go(), "mod", "download", "-json", f"{module}@{version}"],
        cwd=KUBE_MODULE,
        capture_output=True,
        text=True,
    )
    try:
        info = json.loads(result.stdout)
        return str(json.loads(pathlib.Path(info["Info"]).read_text())["Time"])
    except (ValueError, KeyError, OSError):
        return "1970-01-01T00:00:00Z"


def _ldflags(program: str, v: Versions) -> str:
    """Version stamps, the same variables hack/lib/version.sh sets upstream."""
    if program == "helm":
        return (
            f"-s -w -X helm.sh/helm/v3/internal/version.version={v.helm}"
            " -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
        )
    if program in ("etcd", "kstatus"):
        # etcd's version is a constant of go.etcd.io/etcd/api/v3/version.
        return "-s -w"
    major, minor = v.kubernetes.lstrip("v").split(".")[:2]
    built = _release_time("k8s.io/kubernetes", v.kubernetes)
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={v.kubernetes}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate={built}",
        ]
    return " ".join(flags)


def ensure_built(*, log: bool = True) -> pathlib.Path:
    """Return the binaries directory, building it first when it is missing.

    A file lock serialises concurrent callers (two pytest sessions, CI and a
    developer); the build goes to a temporary sibling directory renamed into
    place at the end, so an interrupted build never leaves a half-filled cache.
    """
    target = bin_dir()
    if all((target / name).exists() for name in PROGRAMS):
        return target
    if os.environ.get("KUBERUN_BIN_DIR"):
        raise BuildError(f"KUBERUN_BIN_DIR={target} lacks some of {sorted(PROGRAMS)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all((target / name).exists() for name in PROGRAMS):
            return target
        started = time.monotonic()
        staging = pathlib.Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
        try:
            _build_all(staging, log=log)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if log:
            print(f"built {sorted(PROGRAMS)} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return target


def _build_all(out: pathlib.Path, *, log: bool) -> None:
    v = versions()
    for name, (module, package) in PROGRAMS.items():
        if log:
            print(f"building {name} ({package})", file=sys.stderr, flush=True)
        result = subprocess.run(
            [
                _go(),
                "build",
                "-trimpath",
                "-buildvcs=false",
                "-ldflags",
                _ldflags(name, v),
                "-o",
                str(out / name),
                package,
            ],
            cwd=module,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BuildError(f"go build {package} failed:\n{result.stderr[-4000:]}")
