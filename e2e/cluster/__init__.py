"""The local Kubernetes control plane for end-to-end tests.

``binaries`` builds etcd, kube-apiserver, kube-controller-manager, kubectl and
helm from the pinned Go modules (cached by version); ``pki`` and
``kubeconfigs`` make the credentials; ``controlplane`` starts and stops the
processes; ``python -m e2e.cluster`` is the command line.
"""
