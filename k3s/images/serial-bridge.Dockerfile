# syntax=docker/dockerfile:1.7
# ser2net for the multi-node overlay: a sensor node's USB serial gateway as RFC 2217 over TCP.
#   docker buildx build --platform linux/arm64,linux/amd64 -f k3s/images/serial-bridge.Dockerfile \
#     -t REGISTRY/siteguard/serial-bridge:VERSION --push .
FROM debian:12.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ser2net netcat-openbsd \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 siteguard \
 && useradd --system --uid 10001 --gid 10001 --groups dialout --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin siteguard
USER 10001:10001
EXPOSE 3001
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["nc", "-z", "127.0.0.1", "3001"]
ENTRYPOINT ["ser2net"]
CMD ["-d", "-c", "/etc/ser2net/ser2net.yaml"]
