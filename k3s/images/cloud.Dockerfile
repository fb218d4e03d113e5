# syntax=docker/dockerfile:1.7
# The cloud: target `service` (`siteguard cloud serve`, the default) and target `trainer`
# (`siteguard cloud worker`, with TensorFlow and scikit-learn). Build from the repository root:
#   docker buildx build --platform linux/amd64,linux/arm64 -f k3s/images/cloud.Dockerfile \
#     --target service -t REGISTRY/siteguard/cloud:VERSION --push .
#   docker buildx build --platform linux/amd64 -f k3s/images/cloud.Dockerfile \
#     --target trainer -t REGISTRY/siteguard/cloud-trainer:VERSION --push .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY firmware_bridge firmware_bridge
COPY edge_runtime edge_runtime
COPY cloud_sync cloud_sync
COPY models models
COPY web_common web_common
RUN python -m venv /opt/siteguard \
 && /opt/siteguard/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/siteguard/bin/pip install --no-cache-dir ".[cloud,onnx,tflite]"

FROM build AS build-trainer
RUN /opt/siteguard/bin/pip install --no-cache-dir ".[cloud,onnx,tflite,trainer]"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 siteguard \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin siteguard
ENV PATH=/opt/siteguard/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SITEGUARD_CLOUD_DATA=/data
WORKDIR /data
ENTRYPOINT ["siteguard"]

FROM runtime AS trainer
COPY --from=build-trainer /opt/siteguard /opt/siteguard
USER 10001:10001
# the worker serves no HTTP: healthy while its database answers (the jobs and their leases live there)
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 \
  CMD ["sh", "-c", "siteguard cloud jobs --limit 1 --db \"$SITEGUARD_DB_URL\" >/dev/null"]
CMD ["cloud", "worker"]

FROM runtime AS service
COPY --from=build /opt/siteguard /opt/siteguard
USER 10001:10001
EXPOSE 8700
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8700/healthz', timeout=2)"]
CMD ["cloud", "serve", "--host", "0.0.0.0", "--port", "8700"]
