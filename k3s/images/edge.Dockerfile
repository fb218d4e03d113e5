# syntax=docker/dockerfile:1.7
# The edge daemon for Raspberry Pi (arm64) and amd64 nodes: LiteRT, ONNX Runtime and OpenCV for the
# cameras. Build from the repository root (docs/deploy.md):
#   docker buildx build --platform linux/arm64,linux/amd64 -f k3s/images/edge.Dockerfile \
#     -t REGISTRY/siteguard/edge:VERSION --push .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# a compiler for the few C extensions without an arm64 wheel; it stays in this stage
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
 && /opt/siteguard/bin/pip install --no-cache-dir ".[tflite,onnx,vision]"

FROM ${PYTHON_IMAGE}
# dialout (gid 20) owns the serial devices; the device plugin passes them in, this group opens them
RUN groupadd --system --gid 10001 siteguard \
 && useradd --system --uid 10001 --gid 10001 --groups dialout --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin siteguard
COPY --from=build /opt/siteguard /opt/siteguard
ENV PATH=/opt/siteguard/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /data
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["siteguard"]
CMD ["run", "--config", "/etc/siteguard/site.yaml"]
