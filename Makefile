# vacunometro: see README.md. `make run` runs it; `make test` tests it.
SHELL := /bin/bash
GO ?= go
BIN := bin/vacunometro
GOBIN := $(shell $(GO) env GOPATH)/bin
PROTOC_GEN_GO := $(GOBIN)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(GOBIN)/protoc-gen-go-grpc
STATICCHECK := $(GOBIN)/staticcheck
# The pinned Go tools (make tools installs them).
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
STATICCHECK_VERSION := v0.8.2

.PHONY: help run build test setup tools proto proto-tools lint lint-go vet fmt web load bench bench-scale chaos security

## build: the binary, bin/vacunometro
build: $(BIN)

## help: this list
help:
	@awk -F': ' '/^## /{sub(/^## /,""); split($$0,a,": "); printf "  make %-12s %s\n", a[1], substr($$0, length(a[1])+3)}' $(MAKEFILE_LIST)

$(BIN): $(shell find cmd internal proto -name '*.go' 2>/dev/null) go.mod go.sum
	$(GO) build -trimpath -o $(BIN) ./cmd/vacunometro

## run: builds the binary and the dashboard, starts everything in one process
run: build web
	./$(BIN) up --addr $${ADDR:-127.0.0.1:8080} --data $${DATA:-.vacunometro}

## web: the dashboard (webapp/dist), rebuilt when its sources change
web: webapp/dist/index.html

webapp/dist/index.html: $(shell find webapp/src webapp/index.html webapp/package.json -type f 2>/dev/null)
	@if [ -f webapp/package.json ]; then \
		cd webapp && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build; \
	else echo "no webapp yet"; fi

## test: installs what is missing (scripts/setup.sh), then every test and lint against the real services
test:
	./scripts/test.sh

## setup: installs what make test needs (apt, the pinned Go tools, npm ci), or says what is missing
setup:
	./scripts/setup.sh

## tools: the pinned Go tools (protoc plugins, staticcheck), installed when missing or of another version
tools: proto-tools
	@$(STATICCHECK) -version 2>/dev/null | grep -q '($(patsubst v%,%,$(STATICCHECK_VERSION)))' || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

proto-tools:
	@$(PROTOC_GEN_GO) --version 2>/dev/null | grep -q ' $(PROTOC_GEN_GO_VERSION)$$' || $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@$(PROTOC_GEN_GO_GRPC) --version 2>/dev/null | grep -q ' $(patsubst v%,%,$(PROTOC_GEN_GO_GRPC_VERSION))$$' || $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

## lint: staticcheck (Go) and oxlint (the dashboard)
lint: lint-go
	cd webapp && npm run lint --silent

lint-go: tools
	$(STATICCHECK) ./...

## proto: regenerates proto/vacunometro/v1/*.pb.go (proto/gen_test.go fails when they are stale)
proto:
	protoc --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --plugin=protoc-gen-go-grpc=$(PROTOC_GEN_GO_GRPC) \
		-I proto --go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/vacunometro/v1/*.proto

## vet: go vet
vet:
	$(GO) vet ./...

## fmt: gofmt -w
fmt:
	gofmt -l -w cmd internal proto

## load: Locust, headless, against a local vacunometro up (USERS, SPAWN_RATE, DURATION, LOAD_HOST)
load: build
	./scripts/load.sh

## bench: benchmarks against ceilings measured in the same run (never part of make test)
BENCH_ARGS ?= -e2e 20s -fresh 15s
bench: build
	$(GO) run ./bench $(BENCH_ARGS)

## bench-scale: the product at the country's size (never in make test): N records (SCALE_ARGS, default 5M) through the real ingest, restart, memory, rebuild, catch-up
SCALE_ARGS ?= -n 5000000
bench-scale: build
	$(GO) run ./bench/scale $(SCALE_ARGS)

## chaos: the fault tests at length: kill -9 each part, redis-server and the emulator under load
chaos: build
	CHAOS_DURATION=$${CHAOS_DURATION:-60s} $(GO) test -count=1 -v -timeout 40m ./chaos/

## security: govulncheck and npm audit (also run by .ci/run)
security:
	./scripts/security.sh
