# syntax=docker/dockerfile:1.7
# The edge daemon for NVIDIA Jetson (JetPack 6, L4T r36, arm64): TensorRT from JetPack itself (its
# Python bindings are the L4T apt packages, not PyPI's), pycuda built against JetPack's CUDA, and
# ONNX Runtime and LiteRT as fallbacks. Build on an arm64 builder (docs/deploy.md):
#   docker buildx build --platform linux/arm64 -f k3s/images/edge-jetson.Dockerfile \
#     -t REGISTRY/siteguard/edge-jetson:VERSION --push .
ARG L4T_IMAGE=nvcr.io/nvidia/l4t-jetpack:r36.4.0

FROM ${L4T_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv python3-dev python3-libnvinfer gcc g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY firmware_bridge firmware_bridge
COPY edge_runtime edge_runtime
COPY cloud_sync cloud_sync
COPY models models
COPY web_common web_common
# --system-site-packages: `import tensorrt` finds JetPack's bindings
ENV PATH=/usr/local/cuda/bin:$PATH
RUN python3 -m venv --system-site-packages /opt/siteguard \
 && /opt/siteguard/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/siteguard/bin/pip install --no-cache-dir ".[tflite,onnx,vision]" "pycuda>=2022.2"

FROM ${L4T_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-libnvinfer \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 siteguard \
 && useradd --system --uid 10001 --gid 10001 --groups dialout,video --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin siteguard
COPY --from=build /opt/siteguard /opt/siteguard
ENV PATH=/opt/siteguard/bin:/usr/local/cuda/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SITEGUARD_ENGINE_CACHE=/data/trt-engines
WORKDIR /data
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=120s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["siteguard"]
CMD ["run", "--config", "/etc/siteguard/site.yaml"]
