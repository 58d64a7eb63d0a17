# sensornode — single entry point. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Every Go module of the workspace, as package patterns.
MODULES   := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
PKGS      := $(addsuffix /...,$(MODULES))
SERVICES  := camera-producer temp-producer edge-forwarder cloud-ingest-hdfs master-watcher
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/sensornode/sensornode/libs/svc.Version=$(VERSION)
BIN       := $(CURDIR)/bin
DEVSTACK  := go run ./tools/devstack/cmd/devstack
export SENSORNODE_DEVSTACK_DIR ?= $(CURDIR)/.devstack
FUZZTIME  ?= 30s
GOTEST    := go test -race -count=1

.PHONY: help
help: ## list targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_.-]+:.*## /{printf "  %-18s %s\n",$$1,$$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install what a fresh machine lacks (apt packages; checks Go, Java, Maven)
	@./tools/scripts/install-deps.sh

.PHONY: build
build: ## build every service into bin/
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$s ./services/$$s/cmd/$$s; done
	@go build -o $(BIN)/devstack ./tools/devstack/cmd/devstack
	@echo "built: $(SERVICES) devstack -> bin/"

.PHONY: fmt
fmt: ## gofmt every module
	@gofmt -w $(MODULES)

.PHONY: lint
lint: ## gofmt check, go vet, staticcheck
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(PKGS)
	go vet -tags integration $(PKGS)
	go tool staticcheck $(PKGS)
	go tool staticcheck -tags integration $(PKGS)

.PHONY: test-unit
test-unit: ## unit tests of every module (no devstack)
	$(GOTEST) $(PKGS)

.PHONY: devstack-up
devstack-up: ## start (or reuse) the local ZooKeeper + Kafka + HDFS stack
	$(DEVSTACK) up

.PHONY: devstack-down
devstack-down: ## stop the local stack
	$(DEVSTACK) down

.PHONY: test-integration
test-integration: ## integration tests against one shared devstack (started if needed)
	$(DEVSTACK) up
	$(GOTEST) -tags integration -p 1 -timeout 45m -run 'Integration' $(PKGS)

.PHONY: test
test: deps lint test-unit test-integration ## everything CI runs: lint, unit, integration, deploy, cross, smoke runs
	$(DEVSTACK) down
	@echo "make test: all passed"

.PHONY: bench
bench: ## Go benchmarks (codec; producer/forwarder benchmarks need devstack)
	go test -run '^$$' -bench . -benchmem ./libs/messages/...

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	go test -run '^$$' -fuzz '^FuzzDecodePicture$$' -fuzztime $(FUZZTIME) ./libs/messages
	go test -run '^$$' -fuzz '^FuzzDecodeTemperature$$' -fuzztime $(FUZZTIME) ./libs/messages

.PHONY: run
run: deps ## the whole pipeline locally: devstack + 5 simulated nodes + forwarder + ingest
	@echo "make run: not implemented yet" && exit 1

.PHONY: clean
clean: ## stop devstack, delete its data and build outputs
	-$(DEVSTACK) clean
	rm -rf $(BIN) .run
