#!/usr/bin/env bash
# Builds the real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl), the CSI sidecars and the snapshot CRDs
# from the Go module proxy, pinned by test/tools/go.mod + go.sum, into a cache
# outside the repository:
#
#   ${RDS_CSI_TOOLS_CACHE:-$HOME/.cache/rds-csi/tools}/<key>/bin/   binaries (+ .complete marker)
#   ${RDS_CSI_TOOLS_CACHE:-$HOME/.cache/rds-csi/tools}/<key>/crds/  snapshot CRDs
#
# <key> hashes go.mod, go.sum, the Go version/platform and RECIPE below, so a
# dependency bump or toolchain change gets a fresh directory; a warm run only
# hashes two files and prints the path.
#
# stdout: exactly one line, the bin directory (use: BIN=$(test/tools/build.sh)).
# stderr: progress. The CRD directory is always "$BIN/../crds".
#
# Options:
#   --prune   afterwards, delete the other <key> directories under the cache root
#             (binaries of older go.sum / Go versions).
#
# Environment:
#   RDS_CSI_TOOLS_CACHE  cache root (default $HOME/.cache/rds-csi/tools)
#   RDS_CSI_TOOLS_NICE   nice level for the compiler (default 10; the machines are shared)
#   RDS_CSI_TOOLS_P      go build -p (default 2)
#   GO                   go command (default go)
set -euo pipefail

# Bump when the way binaries are built changes (flags, list of binaries, ...).
RECIPE=2

prune=0
for arg in "$@"; do
	case "$arg" in
	--prune) prune=1 ;;
	*)
		echo "usage: $0 [--prune]" >&2
		exit 2
		;;
	esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO="${GO:-go}"
cache_root="${RDS_CSI_TOOLS_CACHE:-${HOME}/.cache/rds-csi/tools}"

# From inside the module, so that toolchain selection (GOTOOLCHAIN) matches the build.
cd "$here"
goversion="$("$GO" env GOVERSION GOOS GOARCH | tr '\n' ' ')"
key="$({ printf 'recipe=%s go=%s\n' "$RECIPE" "$goversion"; cat go.mod go.sum; } |
	sha256sum | cut -c1-16)"
dir="$cache_root/$key"

log() { echo "build.sh: $*" >&2; }

finish() {
	if [[ $prune -eq 1 ]]; then
		local d
		for d in "$cache_root"/*; do
			if [[ -d "$d" && "$d" != "$dir" && "$(basename "$d")" =~ ^[0-9a-f]{16}$ ]]; then
				log "pruning $d"
				rm -rf "$d"
			fi
		done
	fi
	echo "$dir/bin"
	exit 0
}

if [[ -f "$dir/bin/.complete" ]]; then
	finish
fi

mkdir -p "$dir"
# Serialise concurrent cold builds of the same key (parallel CI jobs).
exec 9>"$dir/.lock"
flock 9
if [[ -f "$dir/bin/.complete" ]]; then
	finish
fi

# The wrapper module is its own module; never let a go.work or GOFLAGS from the
# caller change how it resolves, and never modify go.mod/go.sum from here.
export GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0

modver() { "$GO" list -m -f '{{.Version}}' "$1"; }

k8s_version="$(modver k8s.io/kubernetes)" # e.g. v1.37.2
k8s_mm="${k8s_version#v}"
k8s_major="${k8s_mm%%.*}"
k8s_minor="${k8s_mm#*.}"
k8s_minor="${k8s_minor%%.*}"

k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$k8s_major -X $pkg.gitMinor=$k8s_minor"
	k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=$k8s_version"
done

stage="$(mktemp -d "$dir/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/crds"

nice_level="${RDS_CSI_TOOLS_NICE:-10}"
par="${RDS_CSI_TOOLS_P:-2}"

# build <output name> <package> <extra ldflags>
build() {
	local name="$1" pkg="$2" ldflags="$3" t0
	t0=$(date +%s)
	log "building $name ($pkg)"
	nice -n "$nice_level" "$GO" build -trimpath -p "$par" -ldflags "$ldflags" -o "$stage/bin/$name" "$pkg"
	log "built $name in $(($(date +%s) - t0))s"
}

t_start=$(date +%s)
log "cold build into $dir (k8s $k8s_version, $goversion)"

# Download everything first (verified against go.sum) so that network errors
# surface before any compiling.
"$GO" mod download

build etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
# The scheduler: multi-RDS e2e proves that WaitForFirstConsumer Pods land where
# CSIStorageCapacity says the RDS has room.
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"

prov="github.com/kubernetes-csi/external-provisioner/v6"
att="github.com/kubernetes-csi/external-attacher/v4"
res="github.com/kubernetes-csi/external-resizer/v2"
snap="github.com/kubernetes-csi/external-snapshotter/v8"
build csi-provisioner "$prov/cmd/csi-provisioner" "$k8s_ldflags -X main.version=$(modver $prov)"
build csi-attacher "$att/cmd/csi-attacher" "$k8s_ldflags -X main.version=$(modver $att)"
build csi-resizer "$res/cmd/csi-resizer" "$k8s_ldflags -X main.version=$(modver $res)"
build csi-snapshotter "$snap/cmd/csi-snapshotter" "$k8s_ldflags -X main.version=$(modver $snap)"
build snapshot-controller "$snap/cmd/snapshot-controller" "$k8s_ldflags -X main.version=$(modver $snap)"

# Snapshot CRDs, straight from the client module zip (verified by go.sum).
client_dir="$("$GO" mod download -json github.com/kubernetes-csi/external-snapshotter/client/v8 |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
n=0
for f in "$client_dir"/config/crd/*.storage.k8s.io_*.yaml; do
	install -m 0644 "$f" "$stage/crds/"
	n=$((n + 1))
done
if [[ $n -ne 6 ]]; then
	log "expected 6 snapshot CRDs in $client_dir/config/crd, found $n"
	exit 1
fi

"$stage/bin/kube-apiserver" --version >&2
"$stage/bin/etcd" --version >&2

rm -rf "$dir/bin" "$dir/crds"
mv "$stage/crds" "$dir/crds"
mv "$stage/bin" "$dir/bin"
touch "$dir/bin/.complete"
log "done in $(($(date +%s) - t_start))s; $(du -sh "$dir" | cut -f1) in $dir"
finish
