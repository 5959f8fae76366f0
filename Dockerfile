# Tessera container image: a release build in the official Rust image, run from a small Debian as a
# non-root user (uid 10001). SQLite by default, in /var/lib/tessera: mount a volume there to keep it
# (README, Deployment); set TESSERA_DATABASE_URL=postgres://… for production (see docker-compose.yml).
# No `# syntax=` line: Docker 23 and later build `RUN --mount` with their bundled BuildKit, without
# fetching a frontend image.

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

# No VOLUME: an anonymous volume would be made (and orphaned) at every `up`, also where the database
# is PostgreSQL. A named volume or bind mount at /var/lib/tessera keeps the SQLite file; a new named
# volume takes this directory's owner (10001), a host directory must be given to 10001 first.
ENV TESSERA_LISTEN=0.0.0.0:9497 \
    TESSERA_DATABASE_URL=sqlite:///var/lib/tessera/tessera.db
WORKDIR /var/lib/tessera
USER 10001:10001
EXPOSE 9497
STOPSIGNAL SIGTERM
# `tessera healthcheck` probes GET /health/ready on the configured listen address (0.0.0.0 → 127.0.0.1).
HEALTHCHECK --interval=10s --timeout=5s --start-period=40s --retries=3 CMD ["tessera", "healthcheck"]
ENTRYPOINT ["tessera"]
CMD ["serve"]
