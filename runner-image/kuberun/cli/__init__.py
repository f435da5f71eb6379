"""The `kuberun` command line: `kuberun run` executes code locally through the real runtime."""
