# syntax=docker/dockerfile:1.7
# One image per sensornode service: docker buildx bake -f images/docker-bake.hcl
# (or make images). Context: the repository root, trimmed by .dockerignore.
#
# The builder runs on the build machine's platform and cross-compiles with
# tools/cross/build.sh, the same script `make cross` uses and tests under
# qemu, so the image binaries and the tested binaries cannot drift:
#   linux/amd64  static (musl, -tags musl)    -> distroless/static
#   linux/arm64  cgo, aarch64-linux-gnu-gcc    -> distroless/base (glibc)
#   linux/arm/v7 pure-Go Kafka client (franz); cgo with
#                arm-linux-gnueabihf-gcc only where a dependency needs it
#                (camera-producer's V4L2 source)  -> distroless/base
# Nothing is compiled under QEMU. The static amd64 build needs an amd64
# build machine (Debian has no x86_64 musl cross compiler).
#
# Base images are referenced by tag: pin them by digest (GO_IMAGE=...@sha256:...)
# in your CI; the digests could not be looked up where this file was written.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_STATIC=gcr.io/distroless/static-debian12:nonroot
ARG RUNTIME_GLIBC=gcr.io/distroless/base-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETPLATFORM
ARG TARGETARCH
ARG BUILDARCH
# Cross compilers for the target (a native build needs none beyond gcc).
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    set -eux; \
    rm -f /etc/apt/apt.conf.d/docker-clean; \
    case "$TARGETARCH" in \
      amd64) pkgs="musl-tools" ;; \
      arm64) pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
      arm)   pkgs="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    apt-get update; \
    apt-get install -y --no-install-recommends $pkgs
WORKDIR /src
COPY . .
ARG SERVICE
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -eux; \
    test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<name>" >&2; exit 1; }; \
    VERSION="$VERSION" tools/cross/build.sh "$SERVICE" "$TARGETPLATFORM" /out/service

FROM ${RUNTIME_STATIC} AS runtime-amd64
FROM ${RUNTIME_GLIBC} AS runtime-arm64
FROM ${RUNTIME_GLIBC} AS runtime-arm

FROM runtime-${TARGETARCH}
ARG SERVICE
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=""
LABEL org.opencontainers.image.title="${SERVICE}" \
      org.opencontainers.image.description="sensornode ${SERVICE}: container-based IoT sensor node service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/sensornode/sensornode" \
      org.opencontainers.image.url="https://github.com/sensornode/sensornode/tree/main/services/${SERVICE}" \
      org.opencontainers.image.vendor="sensornode" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/service /usr/local/bin/service
USER 65532:65532
# The admin port is 9101..9106 depending on the service (SENSORNODE_ADMIN_ADDR);
# the viewer also serves its pages on SENSORNODE_VIEWER_ADDR.
ENTRYPOINT ["/usr/local/bin/service"]
