GO           ?= go
BIN          := bin
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -X github.com/srvlab/rds-csi/cmd/rds-csi/app.Version=$(VERSION)
TEST_TIMEOUT ?= 20m
GOLANGCI_LINT_VERSION ?= v2.15.0
FUZZTIME     ?= 60s

.PHONY: all build test test-deps lint fmt vet bench demo e2e fuzz diagram clean

all: build

## build: the driver and the RDS emulator into bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

## test: everything CI runs (installs missing test tools first; needs root for loop devices and mounts)
test: test-deps build
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

test-deps:
	./hack/install-test-deps.sh

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

## diagram: regenerate the FSM diagram embedded in docs/architecture.md
diagram:
	$(GO) generate ./fsm

clean:
	rm -rf $(BIN)
