#!/usr/bin/env bash
# Set up a development machine from nothing: the servers and node tools tests need
# (apt, when root), the Python venv with every extra, the Go-built cluster binaries
# and the images the node runs (built with buildah from our Dockerfiles).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3.11}

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v openssl >/dev/null || need_apt+=(openssl)          # the control plane's PKI
command -v umount >/dev/null || need_apt+=(util-linux)        # the node's clean-up
command -v ip >/dev/null || need_apt+=(iproute2)              # the node's bridge
command -v containerd >/dev/null || need_apt+=(containerd)    # the node's runtime (CRI)
command -v runc >/dev/null || need_apt+=(runc)
[ -x /usr/lib/cni/bridge ] || need_apt+=(containernetworking-plugins)
command -v buildah >/dev/null || need_apt+=(buildah)          # builds our Dockerfiles
command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)    # the images' Python base
command -v gcc >/dev/null || need_apt+=(gcc libc6-dev)        # the pause image, the C loops
# Python's headers, for the runner's C loops (runtime/_speedups.c, built by pip below)
"$PY" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || need_apt+=("$(basename "$PY")-dev")
command -v lua5.4 >/dev/null || need_apt+=(lua5.4)            # runs the Argo CD health check in tests
command -v chromium >/dev/null || need_apt+=(chromium)        # the web view's browser test (headless)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing ${need_apt[*]}: install them with apt (sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi
# Debian starts the services it installs; tests start their own on free ports
# (and each cluster its own containerd).
if command -v service >/dev/null; then
  service redis-server stop >/dev/null 2>&1 || true
  service postgresql stop >/dev/null 2>&1 || true
  service containerd stop >/dev/null 2>&1 || true
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[operator,cli,dev]'
echo "setup: python environment ready in .venv"

# The local Kubernetes control plane (kube-apiserver, kube-controller-manager,
# etcd, kubectl, helm) built from pinned Go modules; cached in ~/.cache/kuberun
# keyed by the versions, so only the first run pays the build.
command -v go >/dev/null || { echo "Go is needed to build the local control plane" >&2; exit 1; }
.venv/bin/python -m e2e.cluster build
echo "setup: done"
