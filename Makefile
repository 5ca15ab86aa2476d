# vacunometro: see README.md. `make run` runs it; `make test` tests it.
SHELL := /bin/bash
GO ?= go
BIN := bin/vacunometro
PROTOC_GEN_GO := $(shell $(GO) env GOPATH)/bin/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(shell $(GO) env GOPATH)/bin/protoc-gen-go-grpc

.PHONY: run build test proto proto-tools vet fmt web load bench bench-scale chaos security

build: $(BIN)

$(BIN): $(shell find cmd internal proto -name '*.go' 2>/dev/null) go.mod go.sum
	$(GO) build -trimpath -o $(BIN) ./cmd/vacunometro

# Builds what is needed (the binary, the dashboard) and starts everything in one process.
run: build web
	./$(BIN) up --addr $${ADDR:-127.0.0.1:8080} --data $${DATA:-.vacunometro}

# The dashboard, rebuilt when its sources change.
web: webapp/dist/index.html

webapp/dist/index.html: $(shell find webapp/src webapp/index.html webapp/package.json -type f 2>/dev/null)
	@if [ -f webapp/package.json ]; then \
		cd webapp && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build; \
	else echo "no webapp yet"; fi

test:
	./scripts/test.sh

proto-tools:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

# Regenerates proto/vacunometro/v1/*.pb.go; proto/gen_test.go fails when they are stale.
proto:
	protoc --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --plugin=protoc-gen-go-grpc=$(PROTOC_GEN_GO_GRPC) \
		-I proto --go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/vacunometro/v1/*.proto

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w cmd internal proto

# Locust, headless, against a local `vacunometro up` (USERS, SPAWN_RATE, DURATION, LOAD_HOST).
load: build
	./scripts/load.sh

# Benchmarks against ceilings measured in the same run (never part of `make test`).
BENCH_ARGS ?= -e2e 20s -fresh 15s
bench: build
	$(GO) run ./bench $(BENCH_ARGS)

# The product at the country's size (never part of `make test`): N records
# through the real ingest, restart, memory, rebuild, catch-up (bench/README.md).
SCALE_ARGS ?= -n 5000000
bench-scale: build
	$(GO) run ./bench/scale $(SCALE_ARGS)

# The fault tests at length: kill -9 each part, redis-server and the emulator under a steady load.
chaos: build
	CHAOS_DURATION=$${CHAOS_DURATION:-60s} $(GO) test -count=1 -v -timeout 40m ./chaos/

# govulncheck and npm audit (also run by .ci/run).
security:
	./scripts/security.sh
