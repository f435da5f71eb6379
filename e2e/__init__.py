"""End-to-end test infrastructure for kuberun.

``e2e.cluster`` builds and runs a real Kubernetes control plane (etcd,
kube-apiserver, kube-controller-manager built from the Kubernetes Go modules);
``e2e.kubelet`` is the process kubelet that plays the node; ``e2e.tests`` holds
the end-to-end tests, which also run against any existing cluster.
"""
