// Package e2e runs rds-csi end to end the way a cluster does, with nothing
// faked between Kubernetes and the RDS emulator:
//
//   - a real etcd, kube-apiserver and kube-controller-manager (package
//     test/harness), whose attach/detach controller creates VolumeAttachments
//     for Pods bound to nodes;
//   - the real CSI sidecars (csi-provisioner, csi-attacher, csi-resizer,
//     csi-snapshotter) and snapshot-controller talking to our controller over
//     its unix socket;
//   - rds-csi --mode=controller and rds-sim as separate processes, built from
//     this module, so the emulator can be SIGKILLed and restarted and the
//     controller sees a real outage over SSH.
//
// The cluster is set up from deploy/overlays/example: its CSIDriver,
// StorageClasses, VolumeSnapshotClass, ServiceAccounts and RBAC are applied
// as shipped; the controller and the sidecars run with the Deployment's own
// arguments (socket, addresses, kubeconfig and retry timings replaced) and
// authenticate as the Deployment's service account, so a missing RBAC rule
// or a flag a binary does not know fails here. Sidecar binaries must be the
// releases the Deployment's image tags name.
//
// No kubelet runs. Nodes, their Ready condition and CSINode objects are
// written by the tests, and kube-controller-manager runs without its
// node-lifecycle controller, so nodes stay exactly as the tests set them
// (otherwise they would turn NotReady after the monitor grace period and the
// driver would, correctly, release their attachments by itself). No
// scheduler runs either: claims of a WaitForFirstConsumer class get the
// selected-node annotation kube-scheduler would add.
//
// One control plane serves the whole package: TestE2E builds it once and runs
// the scenarios as ordered subtests; Manifests runs before the driver is
// installed, RDSOutage (which kills the emulator) runs last. Every wait polls
// against a deadline; on failure the harness prints each process's log tail
// and the subtests print the cluster's storage objects, events and the
// emulator's last commands. At the end the logs are checked for RBAC denials
// and, when the test binary runs with -race (rds-csi and rds-sim are then
// built with -race too), for data races.
//
// Environment (see package harness): RDS_CSI_TOOLS_BIN (bin directory of
// test/tools/build.sh; unset: the tests skip), RDS_CSI_REQUIRE_K8S=1 (unset
// RDS_CSI_TOOLS_BIN fails instead), RDS_CSI_K8S_LOGS_DIR (keep the logs).
// StaleAttachment: RDS_CSI_E2E_RECONCILE_SYNC (csi-attacher --reconcile-sync,
// default 2s) and RDS_CSI_E2E_STALE_OBSERVE (its observation window, default
// 20s); "1m" and "3m" are the literal 3-minute run.
//
// Typical use:
//
//	RDS_CSI_TOOLS_BIN=$(test/tools/build.sh) RDS_CSI_REQUIRE_K8S=1 go test -race -v ./test/e2e/
//	... go test -race -v -run 'TestE2E/RDSOutage' ./test/e2e/   # one scenario (setup always runs)
package e2e
