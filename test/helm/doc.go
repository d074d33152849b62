// Package helm tests what deploy/ ships, the Helm chart
// (deploy/helm/rds-csi) and the kustomize manifests (deploy/base,
// deploy/overlays/example), against each other and against a real API
// server:
//
//   - helm lint --strict; helm template with the defaults and with
//     testdata/all-values.yaml + testdata/switches-off.yaml, which together
//     change every value of values.yaml (a test walks values.yaml and fails
//     on a value neither file changes or no check covers); every value is
//     checked in the rendered objects;
//   - values.schema.json rejects unknown keys and malformed values, and helm
//     names the key;
//   - the renders are applied with kubectl apply --server-side
//     --dry-run=server to a real kube-apiserver (package test/harness), with
//     the snapshot CRDs and a minimal ServiceMonitor CRD installed;
//   - the chart's defaults and the kustomize base render the same objects,
//     down to every container's args, command, env, ports and volume mounts,
//     the volumes and the RBAC rules, except for the differences listed in
//     parity_test.go;
//   - the safe defaults hold for both: no default StorageClass, the SELinux
//     type of the node Pod, /etc/nvme never created on the host, --v and the
//     sidecars' HTTP endpoints; the kubelet directory and the namespace are
//     set in one place each (overlay or value) and nothing else names them;
//   - rds-csi and the controller sidecars accept every flag the renders pass
//     them (the driver built from this tree, the sidecars from
//     RDS_CSI_TOOLS_BIN; flags parsed before --help);
//   - the values file and every --set that docs/install.md and
//     docs/configure.md show are accepted by the chart.
//
// Environment:
//
//	RDS_CSI_HELM          the helm binary (test/tools/helm.sh prints it). Unset:
//	                      with RDS_CSI_REQUIRE_K8S=1 the tests run
//	                      test/tools/helm.sh themselves (builds helm once,
//	                      several minutes cold), otherwise they skip.
//	RDS_CSI_TOOLS_BIN     bin directory of test/tools/build.sh: kubectl (for
//	                      kustomize), kube-apiserver, etcd, the sidecars.
//	RDS_CSI_REQUIRE_K8S   "1": missing binaries fail the tests instead of
//	                      skipping them (make test sets it).
//
// Typical use:
//
//	RDS_CSI_HELM=$(test/tools/helm.sh) RDS_CSI_TOOLS_BIN=$(test/tools/build.sh) go test ./test/helm/
package helm
