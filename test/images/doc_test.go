// Package images builds the controller and node images with `make images`
// (hack/images/build.sh: mmdebstrap, umoci, no Docker, no registry) and proves
// them the way a node would use them:
//
//   - the archive is read as an OCI image layout by this package's own reader
//     (not by umoci, which wrote it): every blob's digest and size, every
//     layer's diff id, the config (entrypoint, user, PATH, architecture,
//     OCI labels) and the index's full image reference;
//   - the layers are unpacked into a root filesystem and run under a real OCI
//     runtime (crun from Debian; RDS_CSI_OCI_RUNTIME=runc picks runc, which
//     takes the same command line): `rds-csi --version` prints the version the
//     build was given; in the node image every tool the node plugin runs
//     answers, and mkfs.xfs/mkfs.ext4 + blkid format and identify a file;
//     the controller image has no shell;
//   - a second build gives byte-identical archives (reproducibility, and the
//     cached Debian layer equals a fresh one on a cold machine);
//   - the names `make image-names` prints are the ones deploy/base names,
//     and the Dockerfile carries the same labels and package list.
//
// Needs root (mmdebstrap in root mode, runc) and mmdebstrap, umoci and runc
// (hack/install-test-deps.sh installs them). Without them the build test
// skips, or fails when RDS_CSI_REQUIRE_ROOT=1 (make test sets it). A cold
// run (no cached Debian layer) takes about 1–2 minutes; later runs reuse
// ~/.cache/rds-csi/images and take about 30 s.
//
//	go test -v -count=1 ./test/images/
package images
