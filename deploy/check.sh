#!/usr/bin/env bash
# Offline checks of deploy/ and the user docs; no cluster needed.
#
#   deploy/check.sh
#
# 1. every kustomization renders (base, example overlay, optional ServiceMonitor);
# 2. the Grafana dashboard is valid JSON;
# 3. every flag the manifests (and the Helm chart's renders) pass to rds-csi
#    exists in the binary;
# 4. every flag of the binary is documented in docs/configure.md;
# 5. the Helm chart passes helm lint --strict and renders with its defaults
#    and with test/helm/testdata/all-values.yaml (test/helm checks far more).
#
# Environment: KUBECTL (default: $RDS_CSI_TOOLS_BIN/kubectl when set, else
# kubectl on PATH), RDS_CSI (an rds-csi binary; default: built into a temp dir),
# HELM or RDS_CSI_HELM (a helm binary; unset: test/tools/helm.sh when
# RDS_CSI_REQUIRE_K8S=1, otherwise step 5 is skipped and says so).
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

# 5. the Helm chart (first: step 3 reads its renders)
helm="${HELM:-${RDS_CSI_HELM:-}}"
if [[ -z "$helm" && "${RDS_CSI_REQUIRE_K8S:-}" == 1 ]]; then
	helm="$(test/tools/helm.sh)" || err "test/tools/helm.sh failed"
fi
chart=deploy/helm/rds-csi
: >"$tmp/chart.yaml"
if [[ -n "$helm" ]]; then
	if ! "$helm" lint --strict "$chart" >"$tmp/out" 2>&1; then
		err "helm lint --strict $chart failed: $(cat "$tmp/out")"
	fi
	for values in "" test/helm/testdata/all-values.yaml; do
		if ! "$helm" template rds-csi "$chart" --namespace rds-csi ${values:+-f "$values"} >>"$tmp/chart.yaml" 2>"$tmp/err"; then
			err "helm template $chart ${values:+-f $values} failed: $(cat "$tmp/err")"
		fi
	done
else
	echo "check.sh: no helm (set HELM or RDS_CSI_HELM, e.g. HELM=\$(test/tools/helm.sh)): chart not checked" >&2
fi

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
# The chart's templates are indented like the base, so the same reading
# works on its renders.
awk '
	/^        - name: / { in_ours = ($3 == "rds-csi") }
	in_ours && /^            - --/ { sub(/^            - --/, ""); sub(/=.*/, ""); print }
' deploy/base/controller.yaml deploy/base/node.yaml "$tmp/chart.yaml" | sort -u >"$tmp/used"
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
