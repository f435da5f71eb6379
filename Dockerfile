# The kuberun operator image: `python -m kuberun_operator` (kopf) with the contract package.
# Build from the repository root: docker build -t kuberun/operator:0.1.0 .
# PYTHON_IMAGE: any image with Python 3.11+ at /usr/local/bin/python and pip (the
# official slim image by default; the e2e tests pass one made locally).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY images/operator.lock images/operator.lock
COPY runner-image/kuberun runner-image/kuberun
COPY operator/kuberun_operator operator/kuberun_operator
# The lock pins every dependency, so a build next month is the build of today.
# Tests and caches of the dependencies are removed (the image runs, it does not build),
# and so is the kubernetes client's asyncio half, which the operator never imports
# (half of the client's size).
RUN pip install --no-cache-dir --no-compile --prefix=/install -c images/operator.lock ".[operator]" \
    && find /install -depth \( -name tests -o -name test -o -name __pycache__ \) -type d -exec rm -rf {} + \
    && rm -rf /install/lib/python3*/site-packages/kubernetes/aio \
    && python -m compileall -q -j 0 /install

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="kuberun operator" \
      org.opencontainers.image.description="Reconciles kuberun Executions into Jobs" \
      org.opencontainers.image.source="https://github.com/kuberun/kuberun" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /install /usr/local
# Non-root, read-only friendly: the operator writes nothing to disk. The uid has a
# passwd entry because kopf names its peering identity after the user (getpass).
RUN echo "kuberun:x:65532:65532:kuberun operator:/nonexistent:/usr/sbin/nologin" >> /etc/passwd \
    && echo "kuberun:x:65532:" >> /etc/group
USER 65532:65532
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KUBERUN_HTTP_PORT=8080
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "kuberun_operator"]
