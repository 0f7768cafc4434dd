# syntax=docker/dockerfile:1
# One image for every custody service: `custodyd <subcommand>` (online-api, chain-worker,
# offline-api, reactors, coordinator, the admin and audit tools) and `custody-client`, with the
# built web front ends. The same image serves both zones; the zones are separated by where the
# containers run (different machines in production, never a shared network), not by the image.
#
#   docker build -t custody:dev .
#
# Stages: the Rust workspace (release), the two Vue front ends, a slim Debian runtime.

ARG RUST_VERSION=1.94
ARG NODE_VERSION=22

# --- Rust ----------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS rust-build
# m4: cggmp21's GMP build; pkg-config + libpcsclite-dev: the pcsc crate (SE reader monitoring).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      m4 pkg-config libpcsclite-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p custodyd -p custody-client \
 && install -D -m 0755 target/release/custodyd /out/custodyd \
 && install -D -m 0755 target/release/custody-client /out/custody-client

# --- Web front ends --------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS web-build
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
# web/online/dist and web/offline/dist
RUN npm run build

# --- anvil (development chain only; never part of a production deployment) -----------------
FROM node:${NODE_VERSION}-bookworm-slim AS anvil
# The npm wrapper pulls the platform package (@foundry-rs/anvil-linux-<arch>) that carries the
# binary; its postinstall script only re-downloads that same package, so scripts are not run.
RUN npm install --prefix /opt/anvil --no-audit --no-fund --ignore-scripts @foundry-rs/anvil@1.7.1 \
 && /opt/anvil/node_modules/.bin/anvil --version
USER node
EXPOSE 8545
ENTRYPOINT ["/opt/anvil/node_modules/.bin/anvil"]
CMD ["--host", "0.0.0.0", "--port", "8545", "--chain-id", "31337"]

# --- Runtime (the default target: `docker build .` builds this stage) ------------------------
FROM debian:bookworm-slim AS runtime
# softhsm2: the development HSM / export-key token (a real HSM's PKCS#11 module is mounted in
# production); libpcsclite1: the pcsc crate at run time; ca-certificates: TLS to NATS and the
# Ethereum node; postgresql-client: pg_dump / pg_restore for ops/procedures/backup-restore.md.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      softhsm2 libpcsclite1 ca-certificates postgresql-client sqlite3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 custody \
 && useradd --system --uid 10001 --gid custody --home-dir /var/lib/custody --shell /usr/sbin/nologin custody \
 && install -d -o custody -g custody -m 0750 /var/lib/custody /var/lib/custody/softhsm /var/lib/custody/softhsm/tokens \
 && printf '%s\n' \
      '# SoftHSM2 (development tokens). Lives in the softhsm volume with its tokens.' \
      'directories.tokendir = /var/lib/custody/softhsm/tokens' \
      'objectstore.backend = file' \
      'log.level = ERROR' \
      'slots.removable = false' \
    > /var/lib/custody/softhsm/softhsm2.conf \
 && chown custody:custody /var/lib/custody/softhsm/softhsm2.conf \
 && chmod 0640 /var/lib/custody/softhsm/softhsm2.conf
COPY --from=rust-build /out/custodyd /out/custody-client /usr/local/bin/
COPY --from=web-build /src/web/online/dist /usr/share/custody/web/online
COPY --from=web-build /src/web/offline/dist /usr/share/custody/web/offline
COPY ops/online-api.example.toml ops/offline-api.example.toml /usr/share/custody/examples/
# SoftHSM2 keeps its configuration and tokens in /var/lib/custody/softhsm: compose mounts a
# named volume there (Docker seeds an empty volume with the directory's content from the image,
# so the configuration lands in the volume). Production uses the HSM vendor's PKCS#11 module.
ENV SOFTHSM2_CONF=/var/lib/custody/softhsm/softhsm2.conf
USER custody:custody
WORKDIR /var/lib/custody
ENTRYPOINT ["/usr/local/bin/custodyd"]
CMD ["--help"]
