# OpenLedger appchain — build, test and run.
# Everything a fresh machine needs (besides Go) is installed by these targets.

BINDIR      ?= $(CURDIR)/build
TOOLSDIR    ?= $(CURDIR)/build/tools
BINARY      := $(BINDIR)/openledgerd
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null)
SDK_VERSION := github.com/cosmos/cosmos-sdk/version
LDFLAGS     := -X $(SDK_VERSION).Name=openledger -X $(SDK_VERSION).AppName=openledgerd \
               -X $(SDK_VERSION).Version=$(VERSION) -X $(SDK_VERSION).Commit=$(COMMIT)
GO_TEST     ?= go test
TEST_TIMEOUT ?= 20m

# Pinned code generators (installed with `go install`, no registry needed).
BUF_VERSION          := v1.75.0
GOCOSMOS_VERSION     := v1.7.2
GRPC_GATEWAY_VERSION := v1.16.0

.PHONY: all build install test test-short test-long bench lint proto-tools proto-gen proto-check localnet demo clean

all: build

build:
	@mkdir -p $(BINDIR)
	go build -ldflags '$(LDFLAGS)' -o $(BINARY) ./cmd/openledgerd

install:
	go install -ldflags '$(LDFLAGS)' ./cmd/openledgerd

## test: unit, integration, fuzz-seed and end-to-end tests (the e2e tests reuse the binary built here).
test: build
	OPENLEDGERD_BIN=$(BINARY) $(GO_TEST) -timeout $(TEST_TIMEOUT) ./...

## test-short: everything but the tests that start chains or daemons.
test-short:
	$(GO_TEST) -short ./...

## test-long: soak and fault runs (build tag `long`) on top of the normal suite.
test-long: build
	OPENLEDGERD_BIN=$(BINARY) $(GO_TEST) -tags long -timeout 90m ./...

## bench: chain throughput (datanet msgs vs bank sends) and the storage/ml benchmarks.
bench:
	$(GO_TEST) -run '^$$' -bench . -benchtime 1x ./app/...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v -e '\.pb\.go$$' -e '\.pb\.gw\.go$$'))" || \
		(echo "gofmt needed on:"; gofmt -l $$(git ls-files '*.go' | grep -v -e '\.pb\.go$$' -e '\.pb\.gw\.go$$'); exit 1)
	go vet $$(go list ./... )
	go run ./tools/determinism/cmd/determinism ./x/...

proto-tools:
	@mkdir -p $(TOOLSDIR)
	GOBIN=$(TOOLSDIR) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLSDIR) go install github.com/cosmos/gogoproto/protoc-gen-gocosmos@$(GOCOSMOS_VERSION)
	GOBIN=$(TOOLSDIR) go install github.com/grpc-ecosystem/grpc-gateway/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
	GOBIN=$(TOOLSDIR) go install github.com/grpc-ecosystem/grpc-gateway/protoc-gen-swagger@$(GRPC_GATEWAY_VERSION)

proto-gen: proto-tools
	./scripts/protocgen.sh

## proto-check: regenerate and fail if the committed generated code differs.
proto-check: proto-gen
	git diff --exit-code -- '*.pb.go' '*.pb.gw.go' client/openapi

## localnet: the whole stack in the foreground (Ctrl-C stops it): a fresh single-validator chain,
## its IPFS node, the demo model deployed with a royalty, and a provider daemon serving it.
localnet: build
	BIN=$(BINARY) ./scripts/localnet.sh

## demo: against the running localnet, a job from prompt to paid contributors, step by step.
demo:
	@test -x $(BINARY) || (echo "error: $(BINARY) not found: start the localnet first with 'make localnet'"; exit 1)
	$(BINARY) demo --home $(CURDIR)/.localnet

clean:
	rm -rf $(BINDIR) .localnet
