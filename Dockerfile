# syntax=docker/dockerfile:1
#
# rds-csi images for users with Docker. `make images` builds the same images
# without Docker (hack/images/build.sh: mmdebstrap + umoci), and that is the
# path the project tests (test/images) and releases (.github/workflows).
# Both read hack/images/node-packages.txt and hack/images/controller/etc/,
# and label alike (test/images checks the labels below against the script).
#
#   epoch=$(git log -1 --format=%ct)
#   docker build --target controller \
#     --build-arg VERSION=$(git describe --tags --always --dirty) --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u -d @$epoch +%Y-%m-%dT%H:%M:%SZ) --build-arg SOURCE_DATE_EPOCH=$epoch \
#     -t ghcr.io/srvlab/rds-csi-controller:<tag> .
#   (the same with --target node and -t ghcr.io/srvlab/rds-csi-node:<tag>)
#
# controller: FROM scratch: the static binary, /etc/passwd and /etc/group
#             with the user 65532 it runs as, empty /tmp (1777), /dev, /proc,
#             /sys. No shell, no package manager.
# node:       Debian <suite>-slim plus hack/images/node-packages.txt (no
#             Recommends) and the binary; runs as root (the DaemonSet makes
#             it privileged). Unlike the mmdebstrap build, the slim base keeps
#             apt and Debian's required-priority packages.
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...
# (the Go stage cross-compiles; only the node stage runs apt for the target).

ARG GO_IMAGE=golang:1.26-bookworm
ARG DEBIAN_SUITE=bookworm

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
WORKDIR /src
# Dependencies first: this layer is reused until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/srvlab/rds-csi/cmd/rds-csi/app.Version=${VERSION} -X github.com/srvlab/rds-csi/cmd/rds-csi/app.Revision=${REVISION}" \
      -o /out/rds-csi ./cmd/rds-csi
# The controller's root filesystem, laid out as hack/images/build.sh does.
RUN install -d -m 0755 /out/controller/etc /out/controller/dev /out/controller/proc /out/controller/sys \
 && install -d -m 1777 /out/controller/tmp \
 && install -m 0644 hack/images/controller/etc/passwd hack/images/controller/etc/group /out/controller/etc/ \
 && install -m 0755 /out/rds-csi /out/controller/rds-csi

FROM scratch AS controller
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED
COPY --from=build /out/controller/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
ENTRYPOINT ["/rds-csi"]
LABEL org.opencontainers.image.title="rds-csi-controller" \
      org.opencontainers.image.description="rds-csi controller: CSI controller service for MikroTik ROSE Data Server (NVMe/TCP over SSH)" \
      org.opencontainers.image.source="https://github.com/srvlab/rds-csi" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="NOASSERTION"

FROM debian:${DEBIAN_SUITE}-slim AS node
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED
COPY hack/images/node-packages.txt /tmp/node-packages.txt
# The package list's comments are stripped; word splitting is intended.
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(sed 's/#.*//' /tmp/node-packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/node-packages.txt
COPY --from=build /out/rds-csi /rds-csi
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Runs as root: the node plugin mounts, formats and connects devices
# (the DaemonSet makes this container privileged).
ENTRYPOINT ["/rds-csi"]
LABEL org.opencontainers.image.title="rds-csi-node" \
      org.opencontainers.image.description="rds-csi node plugin: attaches MikroTik ROSE Data Server volumes over NVMe/TCP, formats and mounts them" \
      org.opencontainers.image.source="https://github.com/srvlab/rds-csi" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="NOASSERTION"
