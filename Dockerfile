# The kuberun operator image: `python -m kuberun_operator` (kopf) with the contract package.
# Build from the repository root: docker build -t kuberun/operator:0.1.0 .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runner-image/kuberun runner-image/kuberun
COPY operator/kuberun_operator operator/kuberun_operator
RUN pip install --no-cache-dir --prefix=/install ".[operator]"

FROM python:3.11-slim
COPY --from=build /install /usr/local
# Non-root, read-only friendly: the operator writes nothing to disk.
USER 65532:65532
ENV PYTHONUNBUFFERED=1 \
    KUBERUN_HTTP_PORT=8080
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "kuberun_operator"]
