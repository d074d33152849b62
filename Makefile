GO           ?= go
BIN          := bin
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# --version prints VERSION and REVISION (passed explicitly: the toolchain's VCS
# stamp may be off, GOFLAGS=-buildvcs=false). main.* are rds-sim's variables.
LDFLAGS      := -X github.com/srvlab/rds-csi/cmd/rds-csi/app.Version=$(VERSION) -X main.Version=$(VERSION) \
                -X github.com/srvlab/rds-csi/cmd/rds-csi/app.Revision=$(REVISION) -X main.Revision=$(REVISION)
TEST_TIMEOUT ?= 20m
GOLANGCI_LINT_VERSION ?= v2.15.0
FUZZTIME     ?= 60s

# Images: the names and the tag are set here and nowhere else in the build
# (the release workflow asks `make image-names`); deploy/base/kustomization.yaml
# names the same images for the manifests (test/images checks they agree).
REGISTRY         ?= ghcr.io/srvlab
IMAGE_TAG        ?= $(VERSION)
CONTROLLER_IMAGE ?= $(REGISTRY)/rds-csi-controller
NODE_IMAGE       ?= $(REGISTRY)/rds-csi-node
ARCH             ?= $(shell $(GO) env GOARCH)
IMAGES_DIR       ?= $(BIN)/images

.PHONY: all build test root-check test-deps tools lint fmt vet bench chaos demo demo-multi e2e fuzz diagram deploy-check clean images image-names helm-lint

all: build

## build: the driver and the RDS emulator into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

## images: the controller and node images as OCI archives in bin/images/ (rds-csi-{controller,node}-<tag>-<arch>.oci.tar),
## without Docker or a registry: Debian packages via mmdebstrap (cached in ~/.cache/rds-csi/images), umoci.
## ARCH=arm64 cross-builds (the node image then needs qemu-user-static). See hack/images/build.sh.
images:
	VERSION='$(VERSION)' REVISION='$(REVISION)' IMAGE_TAG='$(IMAGE_TAG)' CONTROLLER_IMAGE='$(CONTROLLER_IMAGE)' NODE_IMAGE='$(NODE_IMAGE)' \
	ARCH='$(ARCH)' OUT_DIR='$(IMAGES_DIR)' GO='$(GO)' GO_LDFLAGS='$(LDFLAGS)' hack/images/build.sh

## image-names: the full references `make images` gives the images, one a line (controller, node)
image-names:
	@echo '$(CONTROLLER_IMAGE):$(IMAGE_TAG)'
	@echo '$(NODE_IMAGE):$(IMAGE_TAG)'

## test: everything CI runs (-count=1: several suites build and run the
## binaries as processes, which the test cache cannot see change). Installs missing test tools, builds (or reuses
## from ~/.cache/rds-csi/tools) the real Kubernetes control plane and CSI
## sidecars, then runs every test with -race. Needs root (loop devices, mounts):
## without it, make test fails at once (the CSI sanity and node suites would
## only skip) unless RDS_CSI_ALLOW_NONROOT=1 says to run the rest knowingly.
## Tests needing Kubernetes fail, never skip, when the binaries are missing.
## The packages that run whole processes and measure real time (reconnect
## schedule, failover, end to end) run one at a time after the rest, so that
## their tolerances are not eaten by the parallel compile-and-test phase.
## The serial phase includes a short chaos run (test/chaos: 40 + 12
## lifecycles under faults, about 2.5 min); its figures are printed at the end.
SERIAL_PKGS := ./test/integration/ ./test/attachment/ ./test/e2e/ ./test/chaos/
CHAOS_REPORT := $(CURDIR)/$(BIN)/chaos-report.txt
test: root-check test-deps build
	@bin_dir="$$(test/tools/build.sh)" && helm_bin="$$(test/tools/helm.sh)" && \
	export RDS_CSI_TOOLS_BIN="$$bin_dir" RDS_CSI_HELM="$$helm_bin" RDS_CSI_REQUIRE_K8S=1 && \
	if [ "$${RDS_CSI_ALLOW_NONROOT:-}" != 1 ]; then export RDS_CSI_REQUIRE_ROOT=1; fi && \
	RDS_CSI=$(BIN)/rds-csi deploy/check.sh && \
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v -e /test/integration -e /test/attachment -e /test/e2e -e /test/chaos) && \
	rm -f $(CHAOS_REPORT) && \
	RDS_CSI_CHAOS_REPORT=$(CHAOS_REPORT) $(GO) test -race -count=1 -p 1 -timeout $(TEST_TIMEOUT) $(SERIAL_PKGS) && \
	cat $(CHAOS_REPORT)

## chaos: the chaos suite at acceptance size: 1,000 lifecycles with 30 s per-call deadlines and 300 with
## 3 s deadlines, mixed in one run (16 workers), against rds-sim and rds-csi as processes while RDS kills,
## drops, hangs, session limits, disk-full, flapping and driver kills are injected; prints the figures and
## fails on any non-zero one (about 50 min on 2 cores). RDS_CSI_CHAOS_SEED=<n> reruns a seed.
CHAOS_TIMEOUT ?= 150m
chaos:
	RDS_CSI_CHAOS_LIFECYCLES=1000 RDS_CSI_CHAOS_SHORT_LIFECYCLES=300 RDS_CSI_CHAOS_WORKERS=16 \
	$(GO) test -count=1 -v -timeout $(CHAOS_TIMEOUT) -run '^TestChaos$$' ./test/chaos/

## root-check: the sanity and node suites attach loop devices and mount file
## systems; as another user they would pass by skipping. RDS_CSI_ALLOW_NONROOT=1
## is the explicit opt-out (those suites then skip, and say so).
root-check:
	@if [ "$$(id -u)" != 0 ] && [ "$${RDS_CSI_ALLOW_NONROOT:-}" != 1 ]; then \
		echo "make test: running as $$(id -un), not root: the CSI sanity suite (test/sanity) and the node suites" >&2; \
		echo "  (driver node_loop tests, driver/device) need root for loop devices and mounts and would only skip." >&2; \
		echo "  Run as root (CI does), or set RDS_CSI_ALLOW_NONROOT=1 to run everything else without them." >&2; \
		exit 1; \
	fi

test-deps:
	./hack/install-test-deps.sh

## demo: start the emulator and the controller, walk through the volume lifecycle and an RDS restart
demo: build
	$(GO) run ./test/demo --bin $(BIN)

## demo-multi: two RDS emulators behind one controller; placement, then one RDS killed
demo-multi: build
	$(GO) run ./test/demo --bin $(BIN) --multi

## e2e: end-to-end tests only: real control plane and CSI sidecars, rds-csi and rds-sim as processes,
## cluster objects and flags from deploy/overlays/example
e2e:
	@bin_dir="$$(test/tools/build.sh)" && \
	RDS_CSI_TOOLS_BIN="$$bin_dir" RDS_CSI_REQUIRE_K8S=1 $(GO) test -race -count=1 -v -timeout 10m ./test/e2e/

## bench: provisioning benchmark against the emulator with hardware-like latency (1, 8, 64 concurrent)
bench:
	$(GO) test -bench . -run '^$$' -benchtime=10s -timeout 10m ./test/bench/

## tools: build (or find cached) etcd, kube-apiserver, kube-controller-manager, kubectl, the CSI sidecars and snapshot CRDs
tools:
	@test/tools/build.sh

vet:
	$(GO) vet ./...

lint: vet
	@command -v golangci-lint >/dev/null 2>&1 || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" golangci-lint run ./...

fmt:
	gofmt -s -w $$(git ls-files '*.go')

## fuzz: fuzz the RouterOS output parser (seed corpus under rds/testdata/fuzz)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseRecords -fuzztime $(FUZZTIME) ./rds/

## deploy-check: render deploy/, validate the dashboard, cross-check manifest flags and docs/configure.md with the binary
deploy-check: build
	RDS_CSI=$(BIN)/rds-csi deploy/check.sh

## helm-lint: helm lint --strict the chart (deploy/helm/rds-csi); helm is built by test/tools/helm.sh (cached)
helm-lint:
	@helm_bin="$$(test/tools/helm.sh)" && $$helm_bin lint --strict deploy/helm/rds-csi

## diagram: regenerate the FSM diagram embedded in docs/architecture.md
diagram:
	$(GO) generate ./fsm

clean:
	rm -rf $(BIN)
