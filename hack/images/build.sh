#!/usr/bin/env bash
# Builds the rds-csi controller and node images as OCI image archives, with
# no container engine and no container registry: only Debian's mirror (for
# the node image's packages), the Go toolchain, mmdebstrap, umoci and tar.
#
#   hack/images/build.sh            (normally through: make images)
#
# Output, one file per image, in $OUT_DIR (default bin/images):
#   rds-csi-controller-<tag>-<arch>.oci.tar
#   rds-csi-node-<tag>-<arch>.oci.tar
# each a tar of an OCI image layout holding one image, whose index names it
# with its full reference (e.g. ghcr.io/srvlab/rds-csi-node:v0.1.0), so that
# `ctr -n k8s.io images import`, `podman load` and `skopeo copy oci-archive:`
# pick the name up.
#
# controller: one layer: /rds-csi (static), /etc/passwd and /etc/group with
#             the user 65532 it runs as, empty /tmp, /dev, /proc, /sys.
#             No shell, no package manager, no libc.
# node:       layer 1: a Debian root filesystem made by mmdebstrap: the
#             Essential set plus hack/images/node-packages.txt, no
#             Recommends, no apt, no docs except copyright files; layer 2:
#             /rds-csi. Runs as root (the DaemonSet makes it privileged).
#             Layer 1 does not change with our code, so a node pulling a new
#             release downloads only layer 2.
#
# Reproducible: every timestamp comes from SOURCE_DATE_EPOCH (default: the
# last commit's time), except the Debian layer's, which are clamped to 0 so
# that layer is a function of the package set and the mirror's content alone
# (a cached copy and a fresh build are then the same bytes). Same commit +
# same mirror content = same image digests.
#
# The Debian layer is cached in $CACHE_DIR (~/.cache/rds-csi/images), keyed by
# suite, architecture, mirrors, package list and this recipe; a cached layer
# older than ROOTFS_MAX_AGE_DAYS (7) is rebuilt, so security updates arrive
# without anyone deleting the cache. ROOTFS_MAX_AGE_DAYS=0 always rebuilds.
#
# Environment (the Makefile passes the first ones):
#   VERSION, REVISION, IMAGE_TAG, CONTROLLER_IMAGE, NODE_IMAGE, ARCH (Go/OCI name:
#   amd64, arm64), OUT_DIR, GO, GO_LDFLAGS, IMAGES ("controller node"),
#   IMAGE_LICENSES, SOURCE_DATE_EPOCH, CACHE_DIR, ROOTFS_MAX_AGE_DAYS,
#   DEBIAN_SUITE (default: the host's codename when the host is Debian, else
#   bookworm), DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (default: what the
#   host's apt sources use for that suite, else deb.debian.org).
#
# A foreign ARCH needs qemu-user-static and binfmt_misc for the node image
# (dpkg runs the target's maintainer scripts); mmdebstrap says so if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { echo "hack/images/build.sh: $*" >&2; exit 1; }
log() { echo "images: $*" >&2; }

GO="${GO:-go}"
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
IMAGE_TAG="${IMAGE_TAG:-$VERSION}"
REGISTRY="${REGISTRY:-ghcr.io/srvlab}"
CONTROLLER_IMAGE="${CONTROLLER_IMAGE:-$REGISTRY/rds-csi-controller}"
NODE_IMAGE="${NODE_IMAGE:-$REGISTRY/rds-csi-node}"
ARCH="${ARCH:-$("$GO" env GOARCH)}"
OUT_DIR="${OUT_DIR:-bin/images}"
IMAGES="${IMAGES:-controller node}"
REVISION="${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
GO_LDFLAGS="${GO_LDFLAGS:--X github.com/srvlab/rds-csi/cmd/rds-csi/app.Version=$VERSION -X github.com/srvlab/rds-csi/cmd/rds-csi/app.Revision=$REVISION}"
# The project has no LICENSE file yet: SPDX's "no assertion" until it has.
IMAGE_LICENSES="${IMAGE_LICENSES:-NOASSERTION}"
SOURCE_URL="https://github.com/srvlab/rds-csi"
CACHE_DIR="${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rds-csi/images}"
ROOTFS_MAX_AGE_DAYS="${ROOTFS_MAX_AGE_DAYS:-7}"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
CREATED="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"

# Debian and Go name the architectures differently; only these two are
# released, others may work but are untested.
case "$ARCH" in
	amd64 | arm64) DEB_ARCH="$ARCH" ;;
	*) die "ARCH=$ARCH: supported are amd64 and arm64" ;;
esac

for img in $IMAGES; do
	case "$img" in controller | node) ;; *) die "IMAGES: unknown image $img (controller, node)" ;; esac
done
need_tools=(umoci tar sha256sum)
[[ " $IMAGES " == *" node "* ]] && need_tools+=(mmdebstrap flock)
for t in "${need_tools[@]}"; do
	command -v "$t" >/dev/null || die "$t not found: apt-get install mmdebstrap umoci (hack/install-test-deps.sh installs them)"
done
# A foreign node image runs the target's maintainer scripts under QEMU: say
# what is missing before mmdebstrap fails half-way.
if [[ " $IMAGES " == *" node "* ]] && command -v dpkg >/dev/null && [[ "$DEB_ARCH" != "$(dpkg --print-architecture)" ]]; then
	if ! { command -v arch-test >/dev/null && arch-test "$DEB_ARCH" >/dev/null 2>&1; }; then
		die "node image for $DEB_ARCH on this $(dpkg --print-architecture) host: needs QEMU (apt-get install arch-test qemu-user-static binfmt-support; binfmt_misc must be available), or build it on $DEB_ARCH hardware"
	fi
fi
# Only GNU tar has --sort/--mtime/--owner; busybox tar would silently make
# unreproducible layers.
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar required"

# host_uri SUITE: the first URI that the host's apt sources use for SUITE
# (deb822 .sources and one-line .list files), or nothing.
host_uri() {
	local suite="$1" f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r "$f" ]] || continue
		awk -v want="$suite" '
			function flush() {
				if (!found && enabled != "no" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " want " ") && uris != "") {
					split(uris, u, /[ \t]+/); print u[1]; found = 1
				}
				types = ""; uris = ""; suites = ""; enabled = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^[ \t]*#/ { next }
			tolower($1) == "types:"   { $1 = ""; types = $0 }
			tolower($1) == "uris:"    { $1 = ""; sub(/^[ \t]+/, ""); uris = $0 }
			tolower($1) == "suites:"  { $1 = ""; suites = $0 }
			tolower($1) == "enabled:" { enabled = tolower($2) }
			END { flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r "$f" ]] || continue
		awk -v want="$suite" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == want) print $i
			}
		' "$f"
	done
}

if [[ -z "${DEBIAN_SUITE:-}" ]]; then
	DEBIAN_SUITE=bookworm
	if [[ -r /etc/os-release ]] && grep -qx 'ID=debian' /etc/os-release; then
		# shellcheck source=/dev/null  # the host's, not ours
		codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
		[[ -n "$codename" ]] && DEBIAN_SUITE="$codename"
	fi
fi
DEBIAN_MIRROR="${DEBIAN_MIRROR:-$(host_uri "$DEBIAN_SUITE" | head -n1)}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-$(host_uri "$DEBIAN_SUITE-security" | head -n1)}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

work="$(mktemp -d "${TMPDIR:-/tmp}/rds-csi-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT_DIR"

# layer_tar DIR OUT: a reproducible layer of DIR's content: sorted, owned by
# 0:0 whoever runs the build, every mtime SOURCE_DATE_EPOCH, no atime/ctime.
layer_tar() {
	(cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) >"$work/members"
	tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=pax \
		--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		-C "$1" -cf "$2" -T "$work/members"
}

# The binary: static, stripped (the images carry no debugger), with the
# Makefile's ldflags (version and revision for --version).
log "building rds-csi for linux/$ARCH ($VERSION)"
CGO_ENABLED=0 GOOS=linux GOARCH="$ARCH" "$GO" build -trimpath -ldflags "-s -w $GO_LDFLAGS" -o "$work/rds-csi" ./cmd/rds-csi

# node_rootfs: path of the Debian layer tar (cached).
node_rootfs() {
	local pkgs key recipe cached
	pkgs="$(sed 's/#.*//' hack/images/node-packages.txt | tr -s ' \t\n' '\n' | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)"
	[[ -n "$pkgs" ]] || die "hack/images/node-packages.txt lists no package"
	# Everything that decides the layer's content, this function's own text
	# (the mmdebstrap call) included.
	recipe="$(declare -f node_rootfs) suite=$DEBIAN_SUITE arch=$DEB_ARCH mirror=$DEBIAN_MIRROR security=$DEBIAN_SECURITY_MIRROR packages=$pkgs"
	key="$(printf '%s' "$recipe" | sha256sum | cut -c1-16)"
	mkdir -p "$CACHE_DIR"
	cached="$CACHE_DIR/node-rootfs-$DEBIAN_SUITE-$DEB_ARCH-$key.tar"
	# One builder at a time per cache (make images while the image tests run).
	exec 9>"$CACHE_DIR/.lock"
	flock 9
	if [[ -s "$cached" && "$ROOTFS_MAX_AGE_DAYS" != 0 ]] &&
		[[ -z "$(find "$cached" -mtime "+$((ROOTFS_MAX_AGE_DAYS - 1))")" ]]; then
		log "Debian layer from cache: $cached"
	else
		log "building the Debian layer ($DEBIAN_SUITE/$DEB_ARCH from $DEBIAN_MIRROR): $pkgs"
		# --variant=essential: Debian's Essential set (dpkg, coreutils, dash,
		# util-linux, ...) without apt. merged-usr hook: /usr merged by
		# symlinks instead of the usrmerge package, which would drag in perl.
		# No Recommends, no man pages, info or translations; copyright files
		# stay (the image redistributes the packages). resolv.conf and
		# hostname are the build host's: the runtime provides its own.
		# --skip=output/dev: no device nodes in a layer (the runtime mounts
		# /dev; layer 2 adds the empty directory).
		# SOURCE_DATE_EPOCH=0 clamps every mtime: see the top of this file.
		# $1 in the hook is mmdebstrap's (the chroot), hence single quotes.
		# shellcheck disable=SC2016
		SOURCE_DATE_EPOCH=0 mmdebstrap \
			--variant=essential \
			--architectures="$DEB_ARCH" \
			--include="$pkgs" \
			--aptopt='APT::Install-Recommends "false"' \
			--dpkgopt='path-exclude=/usr/share/doc/*' \
			--dpkgopt='path-include=/usr/share/doc/*/copyright' \
			--dpkgopt='path-exclude=/usr/share/man/*' \
			--dpkgopt='path-exclude=/usr/share/info/*' \
			--dpkgopt='path-exclude=/usr/share/locale/*' \
			--dpkgopt='path-exclude=/usr/share/lintian/*' \
			--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
			--customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"' \
			--skip=output/dev \
			--format=tar \
			"$DEBIAN_SUITE" "$cached.tmp" \
			"deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
			"deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
			"deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main"
		mv -f "$cached.tmp" "$cached"
	fi
	# Layers of other keys (an older package list or mirror) are dead weight.
	find "$CACHE_DIR" -maxdepth 1 -name 'node-rootfs-*.tar*' ! -path "$cached" -mtime +30 -delete
	exec 9>&-
	rootfs_tar="$cached"
}

# pack NAME REF TITLE DESCRIPTION USER LAYER...: one OCI image archive.
pack() {
	local name="$1" ref="$2" title="$3" description="$4" user="$5"
	shift 5
	local layout="$work/layout-$name" out="$OUT_DIR/$name-$IMAGE_TAG-$ARCH.oci.tar"
	umoci init --layout "$layout"
	umoci new --image "$layout:$ref"
	local layer
	for layer in "$@"; do
		umoci raw add-layer --image "$layout:$ref" \
			--history.created="$CREATED" \
			--history.created_by="hack/images/build.sh: $(basename "$layer")" \
			"$layer"
	done
	local cfg=(
		--created="$CREATED" --history.created="$CREATED"
		--history.created_by="hack/images/build.sh: config"
		--architecture="$ARCH" --os=linux
		--config.entrypoint=/rds-csi
		--config.env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		--config.workingdir=/
		--config.label="org.opencontainers.image.title=$title"
		--config.label="org.opencontainers.image.description=$description"
		--config.label="org.opencontainers.image.source=$SOURCE_URL"
		--config.label="org.opencontainers.image.version=$VERSION"
		--config.label="org.opencontainers.image.revision=$REVISION"
		--config.label="org.opencontainers.image.created=$CREATED"
		--config.label="org.opencontainers.image.licenses=$IMAGE_LICENSES"
	)
	[[ -n "$user" ]] && cfg+=(--config.user="$user")
	umoci config --image "$layout:$ref" "${cfg[@]}"
	umoci gc --layout "$layout"
	# The archive itself: sorted, fixed mtimes and owners, like the layers.
	tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		--mode='u+rw,go+r,go-w' --format=pax \
		--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		-C "$layout" -cf "$out.tmp" oci-layout index.json blobs
	mv -f "$out.tmp" "$out"
	local digest size
	digest="$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' "$layout/index.json")"
	size="$(stat -c %s "$out")"
	printf '%s\t%s\t%s MiB\t%s\n' "$ref" "$out" "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')" "$digest"
}

for img in $IMAGES; do
	case "$img" in
	controller)
		stage="$work/controller"
		install -d -m 0755 "$stage/etc" "$stage/dev" "$stage/proc" "$stage/sys"
		install -d -m 1777 "$stage/tmp"
		install -m 0644 hack/images/controller/etc/passwd hack/images/controller/etc/group "$stage/etc/"
		install -m 0755 "$work/rds-csi" "$stage/rds-csi"
		layer_tar "$stage" "$work/controller-rootfs.tar"
		pack rds-csi-controller "$CONTROLLER_IMAGE:$IMAGE_TAG" rds-csi-controller \
			"rds-csi controller: CSI controller service for MikroTik ROSE Data Server (NVMe/TCP over SSH)" \
			65532:65532 "$work/controller-rootfs.tar"
		;;
	node)
		node_rootfs
		stage="$work/node"
		install -d -m 0755 "$stage/dev"
		install -m 0755 "$work/rds-csi" "$stage/rds-csi"
		layer_tar "$stage" "$work/node-rds-csi.tar"
		pack rds-csi-node "$NODE_IMAGE:$IMAGE_TAG" rds-csi-node \
			"rds-csi node plugin: attaches MikroTik ROSE Data Server volumes over NVMe/TCP, formats and mounts them" \
			"" "$rootfs_tar" "$work/node-rds-csi.tar"
		;;
	esac
done
