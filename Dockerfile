# syntax=docker/dockerfile:1
# Tessera container image: a release build in the official Rust image, run from a small Debian as a
# non-root user. SQLite by default (a volume at /var/lib/tessera); set TESSERA_DATABASE_URL=postgres://…
# for production (see docker-compose.yml).

FROM rust:1-slim-bookworm AS builder
WORKDIR /build
COPY . .
# Cache mounts keep the crate registry and the target directory between builds; the binary is copied
# out of the cached target directory, which does not survive the RUN.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin tessera \
    && install -m 0755 target/release/tessera /usr/local/bin/tessera

FROM debian:bookworm-slim AS runtime
# No TLS library and no CA bundle: Tessera links no TLS stack (put it behind a TLS proxy).
RUN groupadd --system --gid 10001 tessera \
    && useradd --system --uid 10001 --gid tessera --home-dir /var/lib/tessera --shell /usr/sbin/nologin tessera \
    && mkdir -p /var/lib/tessera \
    && chown tessera:tessera /var/lib/tessera
COPY --from=builder /usr/local/bin/tessera /usr/local/bin/tessera
COPY config/tessera.toml /etc/tessera/tessera.toml.example

ENV TESSERA_LISTEN=0.0.0.0:9497 \
    TESSERA_DATABASE_URL=sqlite:///var/lib/tessera/tessera.db
VOLUME ["/var/lib/tessera"]
WORKDIR /var/lib/tessera
USER 10001:10001
EXPOSE 9497
STOPSIGNAL SIGTERM
# `tessera healthcheck` probes GET /health/ready on the configured listen address (0.0.0.0 → 127.0.0.1).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["tessera", "healthcheck"]
ENTRYPOINT ["tessera"]
CMD ["serve"]
