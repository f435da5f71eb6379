"""The one compiled part of kuberun: the log pipeline's per-record loops in C.

Everything else is in pyproject.toml. The extension is optional: where no C
compiler is at hand the install still succeeds and the runner uses the same
loops in Python (`kuberun.runtime.speedups`), only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kuberun.runtime._speedups",
            ["runner-image/kuberun/runtime/_speedups.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
