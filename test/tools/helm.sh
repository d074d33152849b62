#!/usr/bin/env bash
# Builds helm (v4, the CLI the chart in deploy/helm/rds-csi is tested with)
# from the Go module proxy, pinned by test/tools/helm/go.mod + go.sum, into a
# cache outside the repository:
#
#   ${RDS_CSI_TOOLS_CACHE:-$HOME/.cache/rds-csi/tools}/helm-<key>/helm
#
# helm lives in its own module (test/tools/helm), not in test/tools/go.mod:
# it needs other k8s.io module versions than the pinned Kubernetes build, and
# touching test/tools/go.sum would invalidate that (much longer) build.
#
# <key> hashes go.mod, go.sum, the Go version/platform and RECIPE below; a
# warm run only hashes two files and prints the path.
#
# stdout: exactly one line, the helm binary (use: HELM=$(test/tools/helm.sh)).
# stderr: progress.
#
# Environment:
#   RDS_CSI_TOOLS_CACHE  cache root (default $HOME/.cache/rds-csi/tools)
#   RDS_CSI_TOOLS_NICE   nice level for the compiler (default 10; the machines are shared)
#   RDS_CSI_TOOLS_P      go build -p (default 2)
#   GO                   go command (default go)
set -euo pipefail

# Bump when the way the binary is built changes (flags, ldflags, ...).
RECIPE=1

if [[ $# -ne 0 ]]; then
	echo "usage: $0" >&2
	exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO="${GO:-go}"
cache_root="${RDS_CSI_TOOLS_CACHE:-${HOME}/.cache/rds-csi/tools}"

# From inside the module, so that toolchain selection (GOTOOLCHAIN) matches the build.
cd "$here/helm"
goversion="$("$GO" env GOVERSION GOOS GOARCH | tr '\n' ' ')"
key="$({ printf 'recipe=%s go=%s\n' "$RECIPE" "$goversion"; cat go.mod go.sum; } |
	sha256sum | cut -c1-16)"
dir="$cache_root/helm-$key"

log() { echo "helm.sh: $*" >&2; }

if [[ -x "$dir/helm" ]]; then
	echo "$dir/helm"
	exit 0
fi

mkdir -p "$dir"
# Serialise concurrent cold builds (several test packages may ask at once).
exec 9>"$dir/.lock"
flock 9
if [[ -x "$dir/helm" ]]; then
	echo "$dir/helm"
	exit 0
fi

# Its own module: no go.work or GOFLAGS of the caller may change how it
# resolves, and go.mod/go.sum are never modified from here.
export GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0

version="$("$GO" list -m -f '{{.Version}}' helm.sh/helm/v4)"
t0=$(date +%s)
log "building helm $version into $dir"
# helm reports (and checks charts' kubeVersion against) the version set here;
# without it, it would call itself "v4.3".
tmpbin="$(mktemp "$dir/.helm.XXXXXX")"
trap 'rm -f "$tmpbin"' EXIT
nice -n "${RDS_CSI_TOOLS_NICE:-10}" "$GO" build -trimpath -p "${RDS_CSI_TOOLS_P:-2}" \
	-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
	-o "$tmpbin" helm.sh/helm/v4/cmd/helm
"$tmpbin" version >&2
# Rename last: a binary at the final path is always complete.
mv "$tmpbin" "$dir/helm"
log "built in $(($(date +%s) - t0))s"
echo "$dir/helm"
