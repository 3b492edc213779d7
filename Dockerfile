# syntax=docker/dockerfile:1
# custody's container image: build with the same cargo command as CI, run on a distroless
# base as a non-root user with a read-only root filesystem.
#
#   docker build --build-arg CUSTODY_GIT_COMMIT="$(git rev-parse HEAD)" -t custody:dev .
#
# Base images (pull or mirror them before an offline build):
#   docker.io/library/rust:1.95-bookworm        build stage (Debian 12, glibc matches the runtime)
#   gcr.io/distroless/cc-debian12:nonroot       runtime: glibc, libgcc, CA certificates, uid 65532

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
# cmake: aws-lc-sys may build its C library with it.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Read at compile time by build.rs and shown by `custody --version`.
ARG CUSTODY_GIT_COMMIT=unknown
ENV CUSTODY_GIT_COMMIT=${CUSTODY_GIT_COMMIT}
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && install -D -m 0755 target/release/custody /out/custody \
 && /out/custody --version

FROM ${RUNTIME_IMAGE}
ARG CUSTODY_GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="custody" \
      org.opencontainers.image.description="Kubernetes admission webhook: admits images only with signed in-toto attestations that satisfy Rego policies" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${CUSTODY_GIT_COMMIT}"
COPY --from=build /out/custody /usr/local/bin/custody
# distroless "nonroot": uid/gid 65532, matching the chart's runAsUser/runAsGroup.
USER 65532:65532
# HTTPS: /validate /mutate /healthz /readyz /metrics.
EXPOSE 8443
ENV CUSTODY_LISTEN=0.0.0.0:8443
ENTRYPOINT ["/usr/local/bin/custody"]
CMD ["serve"]
