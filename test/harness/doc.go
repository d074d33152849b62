// Package harness starts a real Kubernetes control plane (etcd,
// kube-apiserver and optionally kube-controller-manager) on loopback for
// integration and e2e tests, and runs the real CSI sidecars next to it.
//
// The binaries are not part of this module: test/tools/build.sh builds them
// from the Go module proxy into a cache outside the repository and prints the
// bin directory.
//
// Environment contract:
//
//	RDS_CSI_TOOLS_BIN     bin directory printed by test/tools/build.sh; it holds
//	                      etcd, kube-apiserver, kube-controller-manager, kubectl,
//	                      csi-provisioner, csi-attacher, csi-resizer,
//	                      csi-snapshotter and snapshot-controller; the snapshot
//	                      CRDs are in its sibling directory ../crds.
//	RDS_CSI_REQUIRE_K8S   "1": a missing RDS_CSI_TOOLS_BIN fails the test instead
//	                      of skipping it (CI sets this).
//	RDS_CSI_K8S_LOGS_DIR  optional: keep process logs under this directory (one
//	                      sub-directory per test) instead of the test's temp dir,
//	                      e.g. for CI artifacts.
//
// Typical use:
//
//	export RDS_CSI_TOOLS_BIN="$(test/tools/build.sh)"
//	go test ./test/harness/
package harness

// Environment variable names; see the package documentation.
const (
	EnvToolsBin   = "RDS_CSI_TOOLS_BIN"
	EnvRequireK8s = "RDS_CSI_REQUIRE_K8S"
	EnvLogsDir    = "RDS_CSI_K8S_LOGS_DIR"
)
