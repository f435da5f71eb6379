"""`python -m kuberun.cli` — the same as the `kuberun` console script."""

from kuberun.cli.main import main

if __name__ == "__main__":
    main()
