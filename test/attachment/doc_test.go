// Package attachment holds the process-level acceptance tests of issue 5
// (attachment reconciliation), points 2, 3 and 5: the real rds-csi binary in
// --mode=controller with --kubeconfig against a real etcd + kube-apiserver
// (test/harness), and the real rds-sim binary as the RDS.
//
// Nothing runs in-process: the tests act as the kubelet (Node status), the
// external-provisioner (CreateVolume over the CSI socket, then the PV) and
// the external-attacher (VolumeAttachment status), and judge the driver
// only from the outside: the emulator's disks, the API's Events and Lease,
// the /metrics page, the CSI socket and the process log.
//
// Run (the Kubernetes binaries are cached by test/tools/build.sh):
//
//	RDS_CSI_TOOLS_BIN=$(test/tools/build.sh) RDS_CSI_REQUIRE_K8S=1 go test -race -v ./test/attachment/
//
// Without RDS_CSI_TOOLS_BIN the tests skip (fail with RDS_CSI_REQUIRE_K8S=1).
// Every timing assertion is an acceptance measurement: its number is logged
// with t.Logf whether it passes or not.
package attachment
