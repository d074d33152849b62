#!/usr/bin/env bash
# Offline checks of deploy/ and the user docs; no cluster needed.
#
#   deploy/check.sh
#
# 1. every kustomization renders (base, example overlay, optional ServiceMonitor);
# 2. the Grafana dashboard is valid JSON;
# 3. every flag the manifests pass to rds-csi exists in the binary;
# 4. every flag of the binary is documented in docs/configure.md.
#
# Environment: KUBECTL (default: $RDS_CSI_TOOLS_BIN/kubectl when set, else
# kubectl on PATH), RDS_CSI (an rds-csi binary; default: built into a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
err() { echo "check.sh: $*" >&2; fail=1; }

kubectl="${KUBECTL:-}"
if [[ -z "$kubectl" && -n "${RDS_CSI_TOOLS_BIN:-}" && -x "$RDS_CSI_TOOLS_BIN/kubectl" ]]; then
	kubectl="$RDS_CSI_TOOLS_BIN/kubectl"
fi
kubectl="${kubectl:-kubectl}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 1. kustomize
for k in deploy/base deploy/overlays/example deploy/optional/servicemonitor; do
	if ! "$kubectl" kustomize "$k" >"$tmp/out.yaml" 2>"$tmp/err"; then
		err "kustomize $k failed: $(cat "$tmp/err")"
	fi
done

# 2. dashboard JSON
for f in deploy/dashboards/*.json; do
	python3 -m json.tool "$f" >/dev/null || err "$f is not valid JSON"
done

# 3. + 4. flags
bin="${RDS_CSI:-}"
if [[ -z "$bin" ]]; then
	bin="$tmp/rds-csi"
	CGO_ENABLED=0 go build -o "$bin" ./cmd/rds-csi
fi
"$bin" -help 2>&1 | sed -n 's/^  -\([a-z0-9_-]*\).*/\1/p' | sort -u >"$tmp/flags"
[[ -s "$tmp/flags" ]] || err "no flags read from $bin -help"

# Flags in the args of the rds-csi containers (the container named rds-csi
# in controller.yaml and node.yaml; its args are "- --name[=value]" lines).
awk '
	/^        - name: / { in_ours = ($3 == "rds-csi") }
	in_ours && /^            - --/ { sub(/^            - --/, ""); sub(/=.*/, ""); print }
' deploy/base/controller.yaml deploy/base/node.yaml | sort -u >"$tmp/used"
[[ -s "$tmp/used" ]] || err "no rds-csi args found in deploy/base (layout changed?)"
while read -r f; do
	grep -qx -- "$f" "$tmp/flags" || err "deploy/base passes --$f, which rds-csi does not have"
done <"$tmp/used"

# klog's flags are listed in one sentence; the driver's own must each appear as `--name`.
while read -r f; do
	grep -q -- "\`--$f\`" docs/configure.md || err "flag --$f is not documented in docs/configure.md"
done <"$tmp/flags"

if [[ $fail -ne 0 ]]; then
	echo "check.sh: FAILED" >&2
	exit 1
fi
echo "check.sh: deploy/ and docs are consistent ($(wc -l <"$tmp/used") flags used, $(wc -l <"$tmp/flags") documented)"
