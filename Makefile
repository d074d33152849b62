GO        ?= go
BIN       := bin
GOFLAGS   ?=
TEST_TIMEOUT ?= 20m
GOLANGCI_LINT_VERSION ?= v2.6.2

.PHONY: all build test lint fmt vet bench demo e2e clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

test: build
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

vet:
	$(GO) vet ./...

lint: vet
	@command -v golangci-lint >/dev/null 2>&1 || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" golangci-lint run ./...

fmt:
	gofmt -s -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
