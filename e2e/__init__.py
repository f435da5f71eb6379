"""End-to-end test infrastructure for kuberun.

``e2e.cluster`` builds and runs a real Kubernetes cluster on this machine (etcd,
kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet, built
from the Kubernetes Go modules); ``e2e.node`` is its node: containerd with runc,
the CNI bridge, and the images built from our Dockerfiles. ``e2e.tests`` and
``e2e.operator`` hold the end-to-end tests, which also run against any existing
cluster.
"""
