# syntax=docker/dockerfile:1
#
# rds-csi images. One build, two targets:
#
#   docker build --target controller --build-arg VERSION=v0.1.0 -t ghcr.io/srvlab/rds-csi-controller:v0.1.0 .
#   docker build --target node       --build-arg VERSION=v0.1.0 -t ghcr.io/srvlab/rds-csi-node:v0.1.0 .
#
# controller: the static binary on distroless (no shell, no package manager,
#             runs as 65532). It only needs the network and its SSH key.
# node:       the same binary plus the host tools the node plugin runs:
#             nvme (nvme-cli), blkid (util-linux), mkfs.ext4/e2fsck/resize2fs/
#             dumpe2fs (e2fsprogs), mkfs.xfs/xfs_growfs (xfsprogs),
#             mount/umount/losetup (mount), modprobe (kmod, init container).
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...
# (the Go stage cross-compiles; only the node stage runs apt for the target).
#
# CI does not build these images (no container engine on the CI machines);
# the manifests in deploy/ reference them by these names.

ARG GO_IMAGE=golang:1.26-bookworm

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
# Dependencies first: this layer is reused until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/srvlab/rds-csi/cmd/rds-csi/app.Version=${VERSION}" \
      -o /out/rds-csi ./cmd/rds-csi

FROM gcr.io/distroless/static:nonroot AS controller
COPY --from=build /out/rds-csi /rds-csi
USER 65532:65532
ENTRYPOINT ["/rds-csi"]

FROM debian:bookworm-slim AS node
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      e2fsprogs \
      kmod \
      mount \
      nvme-cli \
      util-linux \
      xfsprogs \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/rds-csi /rds-csi
# Runs as root: the node plugin mounts, formats and connects devices
# (the DaemonSet makes this container privileged).
ENTRYPOINT ["/rds-csi"]
