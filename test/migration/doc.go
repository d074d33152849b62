// Package migration tests docs/migrate.md: moving a cluster from the earlier
// rds-csi driver (installed from its plain manifests or with its Helm chart)
// to this driver, against a real API server.
//
// The tests run the document's own shell blocks, the ones marked
// "<!-- migrate-test: NAME -->", verbatim with bash against etcd,
// kube-apiserver and a kube-controller-manager (garbage collector,
// Deployment, ReplicaSet and DaemonSet controllers) started by test/harness,
// so the document and the test cannot drift apart. The earlier driver is a
// model written for this package (testdata/): its object names, labels,
// selectors, Secret keys and chart naming rule as the earlier project
// publishes them; the Helm method is a real `helm install` of the model chart
// with the helm binary of test/tools/helm.sh.
//
// What the tests prove: the documented commands succeed on both earlier
// install methods (and on older manifests in kube-system with
// attachRequired=false), installing this driver with kustomize or its chart;
// the namespaces are never deleted; the PV, its PVC and VolumeAttachment are
// never written to (same resourceVersion); the CSIDriver, StorageClasses and
// VolumeSnapshotClass are the same objects with the same parameters, owned
// by no release of the earlier chart (this driver's chart release takes over
// the CSIDriver); the new controller mounts the earlier SSH Secret (the chart:
// a copy under its key names, same bytes), unchanged, and the key files parse
// with the controller's own loaders; every
// object of the new install (kustomize overlay or this driver's chart)
// exists with this driver's selectors; no Deployment, DaemonSet, Pod or RBAC
// object of the earlier controller and node plugin is left (their Pods
// really existed and were removed by the garbage collector), and no release
// of the earlier chart remains. They also pin the facts the document relies
// on: applying this driver over the earlier manifests without deleting them
// fails on the immutable selector, and `helm uninstall` deletes the shared
// objects despite a live helm.sh/resource-policy=keep annotation (while the
// helm used here, unlike older ones, keeps them once their ownership
// metadata is removed).
//
// What they cannot prove: there are no kubelets, no scheduler and no RDS, so
// nothing about mounts, NVMe/TCP connections, Pod readiness or the RDS
// connection of the new controller; the document's rollout/describe/verify
// commands and the rollback are not run.
//
// Environment: RDS_CSI_TOOLS_BIN (test/tools/build.sh; unset: the cluster
// tests skip, or fail with RDS_CSI_REQUIRE_K8S=1), RDS_CSI_HELM (a helm
// binary; default: the one test/tools/helm.sh prints, built on first use).
//
//	RDS_CSI_TOOLS_BIN=$(test/tools/build.sh) go test -v ./test/migration/
package migration
