# sensornode — single entry point. `make help` lists the targets.
#
# Targets are grouped for `make help` by `##@ Group` lines; a target is
# listed when its rule line ends in `## description`. Within a group
# `make help` sorts the targets by name, so their order here is free.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The repository is one Go module (see README.md, "One module"): every
# package, and every Go file git knows of (tracked or new, not ignored).
PKGS      := ./...
GOFILES    = $(shell git ls-files -co --exclude-standard '*.go')
SERVICES  := camera-producer temp-producer edge-forwarder cloud-ingest-hdfs master-watcher viewer node-agent
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/sensornode/sensornode/libs/svc.Version=$(VERSION)
BIN       := $(CURDIR)/bin
DEVSTACK  := go run ./tools/devstack/cmd/devstack
KUBESTACK := go run ./tools/kubestack/cmd/kubestack
export SENSORNODE_KUBESTACK_DIR ?= $(CURDIR)/.kubestack
export SENSORNODE_DEVSTACK_DIR ?= $(CURDIR)/.devstack
FUZZTIME  ?= 30s
GOTEST    := go test -race -count=1

# Extra flags: make run RUN_ARGS='--backend franz', make loadtest LOADTEST_ARGS='-sizes 640x480'.
RUN_ARGS      ?=
LOADTEST_ARGS ?=

# libs/bus: armv7 test binary (bus-armv7) and busbench binaries (bench-bus).
BUS_ARM := $(CURDIR)/.run/bus-armv7

##@ Run

.PHONY: run
run: deps ## the whole pipeline locally: devstack + 5 simulated nodes + forwarder + ingest, live dashboard until Ctrl-C
	@go build -o $(BIN)/sensornode-run ./tools/localrun/cmd/sensornode-run
	@$(BIN)/sensornode-run $(RUN_ARGS)

##@ Test

.PHONY: test
# images-prepare-bg starts compiling the image tools (buildkitd, buildx, ...)
# in the background, niced, so that it overlaps the I/O-bound suites after it;
# images-smoke at the end waits for it (engine.sh's build lock).
test: deps lint test-unit test-deploy test-monitoring cross bus-armv7 images-prepare-bg test-integration test-integration-franz test-e2e-avro test-browser chaos-smoke loadtest-smoke run-smoke images-smoke ## everything CI runs: lint, unit, deploy, monitoring rules, cross, integration (both backends), end-to-end on the bundle store, browser, chaos and other smoke runs, images and the pipeline from them
	$(DEVSTACK) down
	@echo "make test: all passed"

.PHONY: lint
lint: ## gofmt check, go.mod tidy check, go vet, staticcheck
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@go mod tidy -e -diff >/dev/null 2>&1 || { echo "go.mod/go.sum are not tidy: run make tidy"; go mod tidy -e -diff 2>/dev/null; exit 1; }
	go vet $(PKGS)
	go vet -tags integration $(PKGS)
	go tool staticcheck $(PKGS)
	go tool staticcheck -tags integration $(PKGS)

.PHONY: test-unit
test-unit: ## unit tests of every package (no devstack)
	$(GOTEST) $(PKGS)

.PHONY: test-integration
test-integration: ## integration tests against one shared devstack (started if needed)
	$(DEVSTACK) up
	$(GOTEST) -tags integration -p 1 -timeout 45m -run '^TestIntegration' $(PKGS)

# The delivery suites again with every service on the pure-Go Kafka client
# (the one armv7 boards run); the bus conformance suite already covers both.
FRANZ_SUITES := ./services/camera-producer/... ./services/temp-producer/... ./services/edge-forwarder/... ./services/cloud-ingest-hdfs/... ./e2e/...

.PHONY: test-integration-franz
test-integration-franz: ## the producer, forwarder and ingest integration suites on the franz backend
	$(DEVSTACK) up
	SENSORNODE_TEST_KAFKA_BACKEND=franz SENSORNODE_KAFKA_BACKEND=franz \
	  $(GOTEST) -tags integration -p 1 -timeout 30m -run '^TestIntegration' -skip 'CrossBuild' $(FRANZ_SUITES)

# The picture store cloud-ingest-hdfs runs with in the end-to-end suite
# (E2E_STORE) and the chaos suite (CHAOS_STORE): files (one HDFS file per
# picture, the default) or avro (bundles, read back through their index
# and checked for keys in two bundles and overlapping offsets).
E2E_STORE ?= files

.PHONY: test-e2e-hdfs
test-e2e-hdfs: ## end-to-end: 5 simulated nodes -> edge-forwarder -> cloud-ingest-hdfs -> HDFS, clean and with faults (E2E_STORE=files|avro)
	$(DEVSTACK) up
	SENSORNODE_TEST_PICTURE_STORE=$(E2E_STORE) $(GOTEST) -tags integration -p 1 -timeout 20m -run '^TestIntegrationEndToEnd' ./e2e/...

.PHONY: test-e2e-avro
test-e2e-avro: ## the end-to-end suite on the bundle store (SENSORNODE_PICTURE_STORE=avro): Clean and IngestKillReplay, about 1 minute (part of make test; all of it: make test-e2e-hdfs E2E_STORE=avro)
	$(DEVSTACK) up
	SENSORNODE_TEST_PICTURE_STORE=avro $(GOTEST) -tags integration -p 1 -timeout 10m -run '^TestIntegrationEndToEnd$$/^(Clean|IngestKillReplay)$$' ./e2e/

# The chart in a real control plane (tools/kubestack: etcd, kube-apiserver,
# controller manager, scheduler of Kubernetes v1.37.2, kwok's 5 nodes) on a
# fresh stack; not in make test. kwok runs no containers: see e2e/kube and
# README.md. The first run builds the control plane into ~/.cache/sensornode
# (about 12 minutes on 2 idle cores, 53 on a busy machine); warm, the
# target took 6 min 23 s (TestKubeChart, TestKubeMonitoring with the
# Prometheus Operator CRDs fetched once into the same cache,
# TestKubeMasterLoss, TestKubeMasterWatcher, TestKubeWorkerLoss). A failure
# leaves the stack running for a look.
.PHONY: e2e-kube
e2e-kube: deploy-tools ## the Helm chart in a real Kubernetes control plane (3 masters, kwok nodes): installs, placement, helm test/upgrade/uninstall, Kustomize dry runs, PodMonitors/PrometheusRule under the Prometheus Operator CRDs, master and worker loss, master-watcher failover
	$(KUBESTACK) down
	$(KUBESTACK) up
	SENSORNODE_HELM=$(HELM) SENSORNODE_KUSTOMIZE=$(KUSTOMIZE) $(GOTEST) -tags integration -timeout 15m -v -run '^TestKube' ./e2e/kube/ || { \
	  echo "e2e-kube failed: the stack keeps running (logs: $(SENSORNODE_KUBESTACK_DIR)/logs; make kube-down stops it)"; exit 1; }
	$(KUBESTACK) down

# The viewer in Debian's chromium (installed by make deps): about 20 s with
# a warm build cache (17 s of it the test: data through cloud-ingest-hdfs,
# then the browser); a cold cache adds the -race builds of the test,
# cloud-ingest-hdfs and the viewer. The timeout is its budget.
# Screenshots: e2e/results/*-viewer-browser/.
.PHONY: test-browser
test-browser: deps ## the viewer in headless chromium on the shared devstack: login, wall, camera/day/hour/picture, temperature charts
	$(DEVSTACK) up
	$(GOTEST) -tags integration -p 1 -timeout 5m -v -run '^TestBrowser' ./e2e/

.PHONY: test-deploy
test-deploy: deploy-tools helm-lint kustomize-check ## render chart + overlays, strict-decode, compare, check env against services
	go vet -tags deploy ./tools/deploycheck/...
	SENSORNODE_HELM=$(HELM) SENSORNODE_KUSTOMIZE=$(KUSTOMIZE) \
	  $(GOTEST) -tags deploy -timeout 20m ./tools/deploycheck/...

# The alerting rules (one file, which the chart's PrometheusRule renders):
# promtool check and unit tests (deploy/monitoring/tests), then the Go test
# that every metric a rule or dashboard uses is registered by a service.
.PHONY: test-monitoring
test-monitoring: promtool ## promtool check rules + test rules (deploy/monitoring/tests), metrics of rules and dashboards registered by the services
	$(PROMTOOL) check rules $(CHART)/monitoring/rules.yaml
	$(PROMTOOL) test rules deploy/monitoring/tests/*.yaml
	$(GOTEST) ./deploy/monitoring/...

.PHONY: bus-armv7
bus-armv7: ## libs/bus on linux/arm/v7 (cgo off): vet, then its unit tests under qemu-arm-static
	GOARCH=arm GOARM=7 CGO_ENABLED=0 go vet ./libs/bus/... ./libs/messages/... ./libs/svc/...
	@mkdir -p $(BUS_ARM)
	GOARCH=arm GOARM=7 CGO_ENABLED=0 go test -c -o $(BUS_ARM)/bus.test ./libs/bus
	qemu-arm-static $(BUS_ARM)/bus.test -test.count=1

.PHONY: run-smoke
run-smoke: deps ## make run for 60 s without a terminal; fails unless pictures of every camera and readings of every node reached HDFS
	@go build -o $(BIN)/sensornode-run ./tools/localrun/cmd/sensornode-run
	$(BIN)/sensornode-run --duration 60s --check $(RUN_ARGS)

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	go test -run '^$$' -fuzz '^FuzzDecodePicture$$' -fuzztime $(FUZZTIME) ./libs/messages
	go test -run '^$$' -fuzz '^FuzzDecodeTemperature$$' -fuzztime $(FUZZTIME) ./libs/messages

##@ Chaos

# e2e/README.md describes the faults and the checker.
# make chaos CHAOS_SEED=42 CHAOS_DURATION=30m CHAOS_FAULTS=all CHAOS_BACKEND=both CHAOS_STORE=avro
CHAOS_SEED     ?=
CHAOS_DURATION ?= 10m
CHAOS_FAULTS   ?= all
CHAOS_BACKEND  ?= confluent
CHAOS_STORE    ?= files
CHAOS_TIMEOUT  ?= 3h
CHAOS_RUN = for b in $(if $(filter both,$(CHAOS_BACKEND)),confluent franz,$(CHAOS_BACKEND)); do \
	  echo "chaos: backend $$b, store $(CHAOS_STORE), seed $${CHAOS_SEED:-random}, duration $(1), faults $(2)"; \
	  CHAOS=1 CHAOS_SEED=$(CHAOS_SEED) CHAOS_DURATION=$(1) CHAOS_FAULTS=$(2) \
	  CHAOS_COMMAND="make $@ CHAOS_SEED=$(CHAOS_SEED) CHAOS_DURATION=$(1) CHAOS_FAULTS=$(2) CHAOS_BACKEND=$$b CHAOS_STORE=$(CHAOS_STORE)" \
	  SENSORNODE_TEST_KAFKA_BACKEND=$$b SENSORNODE_KAFKA_BACKEND=$$b SENSORNODE_TEST_PICTURE_STORE=$(CHAOS_STORE) \
	  go test -count=1 -tags integration -p 1 -timeout $(CHAOS_TIMEOUT) -v -run '^TestChaos$$' ./e2e || exit 1; done

# make chaos runs on a stack of its own with 5 edge brokers (edge-brokers-2of5
# needs them), beside the shared one; make chaos-down stops it.
CHAOS_STACK     ?= $(CURDIR)/.devstack-chaos
CHAOS_PORT_BASE ?= 27000
CHAOS_DEVSTACK   = SENSORNODE_DEVSTACK_DIR=$(CHAOS_STACK) $(DEVSTACK)

.PHONY: chaos
chaos: ## seeded fault injection over the whole pipeline (CHAOS_SEED, CHAOS_DURATION, CHAOS_FAULTS, CHAOS_BACKEND=confluent|franz|both, CHAOS_STORE=files|avro) on a 5-broker stack; report in e2e/results/
	$(CHAOS_DEVSTACK) up --port-base $(CHAOS_PORT_BASE) --edge-brokers 5
	@export SENSORNODE_DEVSTACK_DIR=$(CHAOS_STACK); $(call CHAOS_RUN,$(CHAOS_DURATION),$(CHAOS_FAULTS))

.PHONY: chaos-down
chaos-down: ## stop make chaos's stack
	$(CHAOS_DEVSTACK) down

.PHONY: chaos-smoke
chaos-smoke: ## chaos with the mandatory faults once each on the shared stack, about 2.5 minutes (part of make test; CHAOS_STORE=avro: on the bundle store)
	$(DEVSTACK) up
	@$(call CHAOS_RUN,2m,smoke)

.PHONY: chaos-selftest
chaos-selftest: ## the chaos checker's self-test: each planted defect (one dropped reading, one key in two bundles) must fail the checker
	$(GOTEST) -tags chaos_planted_defect -run 'TestChecker' ./e2e/chaos/...

##@ Benchmarks & load

.PHONY: bench
bench: ## Go benchmarks (codec; producer/forwarder benchmarks need devstack)
	go test -run '^$$' -bench . -benchmem ./libs/messages/...

.PHONY: bench-bus
bench-bus: ## libs/bus: throughput and peak RSS of each backend (busbench, one process each), and franz on armv7 under qemu
	$(DEVSTACK) up
	@mkdir -p $(BUS_ARM)
	go build -o $(BUS_ARM)/busbench-cgo ./libs/bus/internal/busbench
	CGO_ENABLED=0 go build -o $(BUS_ARM)/busbench-nocgo ./libs/bus/internal/busbench
	GOARCH=arm GOARM=7 CGO_ENABLED=0 go build -o $(BUS_ARM)/busbench-armv7 ./libs/bus/internal/busbench
	@b=$$($(DEVSTACK) env | sed -n 's/^export SENSORNODE_DEVSTACK_EDGE_BROKERS=//p' | tr -d "'\""); \
	for size in 65536 200; do n=$$((size > 1000 ? 2000 : 50000)); \
	  $(BUS_ARM)/busbench-cgo -backend confluent -brokers $$b -n $$n -size $$size 2>/dev/null; \
	  $(BUS_ARM)/busbench-nocgo -backend franz -brokers $$b -n $$n -size $$size; done; \
	qemu-arm-static $(BUS_ARM)/busbench-armv7 -backend franz -brokers $$b -n 500 -size 16384

.PHONY: bench-camera-producer
bench-camera-producer: ## camera-producer: per-picture time file ready -> ack (acks=all, RF 3), thesis Table 5.1 layout (needs devstack)
	$(DEVSTACK) up
	eval "$$($(DEVSTACK) env)" && go run ./services/camera-producer/cmd/producer-bench -n 20

.PHONY: bench-forwarder
bench-forwarder: ## forwarder per-picture time at 3 sizes as a Markdown table (thesis Table 5.2; starts devstack)
	$(DEVSTACK) up
	eval "$$($(DEVSTACK) env)" && go run ./services/edge-forwarder/cmd/forwarder-bench -n 30

.PHONY: bench-master-watcher
bench-master-watcher: ## master-watcher benchmarks: proxy (forwarder sink) throughput and connect, failover decision
	go test -run '^$$' -bench . -benchmem ./services/master-watcher/...

.PHONY: loadtest
loadtest: deps ## standard load test (~10-15 min): 4 sizes, both Kafka backends, both picture stores, all baselines; report in loadtest/results/
	@go build -o $(BIN)/loadtest ./loadtest/cmd/loadtest
	$(BIN)/loadtest -profile standard $(LOADTEST_ARGS)

.PHONY: loadtest-fleet
loadtest-fleet: deps ## fleet load test (~10 min, heavy): 100 cameras at 1 picture/s for 5 min into bundles; says where the machine saturates
	@go build -o $(BIN)/loadtest ./loadtest/cmd/loadtest
	$(BIN)/loadtest -profile fleet $(LOADTEST_ARGS)

.PHONY: loadtest-smoke
loadtest-smoke: deps ## 1-minute load test (640x480, both backends, bundle store, small drains); fails on incomplete delivery or a crashed service
	@go build -o $(BIN)/loadtest ./loadtest/cmd/loadtest
	$(BIN)/loadtest -profile smoke $(LOADTEST_ARGS)

##@ Build & deploy

.PHONY: build
build: ## build every service into bin/
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$s ./services/$$s/cmd/$$s; done
	@go build -o $(BIN)/devstack ./tools/devstack/cmd/devstack
	@echo "built: $(SERVICES) devstack -> bin/"

.PHONY: cross
cross: ## build every service for linux/amd64 (static musl), arm64, arm/v7 and run them (qemu-user)
	@./tools/cross/cross.sh

# Helm chart, Kustomize overlays, multi-arch images and cross builds
# (deploy/, images/, tools/cross/, tools/deploycheck/; see their READMEs).
DEPLOY_BIN     := $(CURDIR)/.cache/bin
HELM_VERSION   := v3.22.0
KUSTOMIZE_VERSION := v5.8.2
HELM           := $(DEPLOY_BIN)/helm
KUSTOMIZE      := $(DEPLOY_BIN)/kustomize
# promtool of Prometheus v3.16 (its Go module is versioned v0.316.x).
PROMETHEUS_VERSION := v0.316.0
PROMTOOL       := $(DEPLOY_BIN)/promtool
CHART          := deploy/helm/sensornode
KUSTOMIZE_DIRS := $(sort $(dir $(wildcard deploy/kustomize/overlays/*/kustomization.yaml deploy/kustomize/tests/*/kustomization.yaml)))
# make images: IMAGES_ENGINE=local (default) starts our own engine under
# ~/.cache/sensornode/images (tools/images/engine.sh: dockerd, buildkitd,
# buildx, a registry on 127.0.0.1:5000), builds the stand-in base images
# offline (tools/images/bases.sh) and pushes every image there; BASE_REGISTRY
# is what selects the stand-ins in images/docker-bake.hcl. IMAGES_ENGINE=system
# uses the machine's docker and buildx with the real base images (BASE_REGISTRY
# empty) and IMAGE_REGISTRY (ghcr.io/sensornode unless set).
IMAGES_ENGINE  ?= local
IMAGES_ENGINE_SH := tools/images/engine.sh
# engine.sh's registry address: SENSORNODE_IMAGES_REGISTRY_ADDR moves both.
IMAGES_LOCAL_REGISTRY := $(or $(SENSORNODE_IMAGES_REGISTRY_ADDR),127.0.0.1:5000)
ifeq ($(IMAGES_ENGINE),local)
IMAGE_REGISTRY ?= $(IMAGES_LOCAL_REGISTRY)/sensornode
BASE_REGISTRY  ?= $(IMAGES_LOCAL_REGISTRY)/sensornode-base
IMAGES_BAKE_FLAGS ?= --push
else
IMAGE_REGISTRY ?= ghcr.io/sensornode
BASE_REGISTRY  ?=
IMAGES_BAKE_FLAGS ?=
endif
IMAGE_TAG      ?= $(VERSION)
# What make images builds (and make images-check checks): service[=platform,...]
# each, the bake target and, when given, its platforms (--set
# SERVICE.platforms=...); default every service for the bake file's three
# platforms.
IMAGES_BUILD   ?= $(SERVICES)
IMAGES_BAKE_TARGETS = $(foreach b,$(IMAGES_BUILD),$(firstword $(subst =, ,$(b))))
IMAGES_BAKE_SETS    = $(foreach b,$(IMAGES_BUILD),$(if $(findstring =,$(b)),--set $(subst =,.platforms=,$(b))))
# make images-smoke: what make run-images-smoke runs (every pipeline service
# on linux/amd64; node5's producers on linux/arm/v7), 7 compiles instead of 21.
IMAGES_SMOKE_BUILD := camera-producer=linux/amd64,linux/arm/v7 temp-producer=linux/amd64,linux/arm/v7 \
  edge-forwarder=linux/amd64 cloud-ingest-hdfs=linux/amd64 viewer=linux/amd64
# The docker CLI environment of our engine (empty for IMAGES_ENGINE=system).
IMAGES_ENV      = $(if $(filter local,$(IMAGES_ENGINE)),$$($(IMAGES_ENGINE_SH) env);)

.PHONY: images
images: ## docker buildx bake IMAGES_BUILD (default every service for linux/amd64, arm64, arm/v7) (local engine + registry 127.0.0.1:5000, stand-in bases)
ifeq ($(IMAGES_ENGINE),local)
	@$(IMAGES_ENGINE_SH) start
	@tools/images/bases.sh $(BASE_REGISTRY)
else
	@if ! command -v docker >/dev/null 2>&1; then \
	  echo "make images: no docker CLI on this machine: images NOT built (make cross builds and tests the same binaries)"; exit 1; fi
	@if ! docker info >/dev/null 2>&1; then \
	  echo "make images: no container engine reachable (docker info failed): images NOT built (make cross builds and tests the same binaries)"; exit 1; fi
	@if ! docker buildx version >/dev/null 2>&1; then \
	  echo "make images: docker buildx is not installed: images NOT built"; exit 1; fi
endif
	@start=$$(date +%s); eval "$(IMAGES_ENV)"; \
	REGISTRY=$(IMAGE_REGISTRY) TAG=$(IMAGE_TAG) VERSION=$(VERSION) BASE_REGISTRY=$(BASE_REGISTRY) \
	  REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  CREATED=$$(git log -1 --format=%cI 2>/dev/null || true) \
	  nice -n 19 docker buildx bake -f images/docker-bake.hcl --provenance=false --sbom=false $(IMAGES_BAKE_FLAGS) \
	  $(IMAGES_BAKE_SETS) $(IMAGES_BAKE_TARGETS); \
	echo "make images: $(IMAGES_BUILD) -> $(IMAGE_REGISTRY)/<service>:$(IMAGE_TAG) in $$(( $$(date +%s) - start ))s"

.PHONY: images-check
images-check: images ## check the pushed images: the platforms built (3 by default), non-root, entrypoint, OCI labels, --version on each platform, sizes
	@eval "$(IMAGES_ENV)"; SENSORNODE_IMAGES_REGISTRY=$(IMAGE_REGISTRY) SENSORNODE_IMAGES_TAG=$(IMAGE_TAG) \
	  SENSORNODE_IMAGES_SERVICES="$(IMAGES_BUILD)" SENSORNODE_IMAGES_VERSION=$(VERSION) \
	  SENSORNODE_IMAGES_CRANE=$${SENSORNODE_IMAGES_CRANE:-$${SENSORNODE_IMAGES_CACHE:-$$HOME/.cache/sensornode/images}/bin/crane} \
	  go test -count=1 -tags images -v -run '^TestImages' ./tools/images/...

.PHONY: run-images run-images-smoke
run-images: images ## make run with every service from its image (container engine, host network, read-only, non-root; node5 on linux/arm/v7 under qemu)
	@go build -o $(BIN)/sensornode-run ./tools/localrun/cmd/sensornode-run
	@eval "$(IMAGES_ENV)"; nice -n 19 $(BIN)/sensornode-run --from-images --image-registry $(IMAGE_REGISTRY) --image-tag $(IMAGE_TAG) $(RUN_ARGS)

run-images-smoke: images ## make run-smoke from the images: 60 s, fails unless every camera's pictures and every node's readings reached HDFS
	@go build -o $(BIN)/sensornode-run ./tools/localrun/cmd/sensornode-run
	@eval "$(IMAGES_ENV)"; nice -n 19 $(BIN)/sensornode-run --from-images --image-registry $(IMAGE_REGISTRY) --image-tag $(IMAGE_TAG) --duration 60s --check $(RUN_ARGS)

.PHONY: images-smoke images-prepare-bg
images-smoke: ## make images + images-check + run-images-smoke on IMAGES_SMOKE_BUILD only (5 services amd64, node5's arm/v7); stops the engine it started (part of make test; alone: 18 min cold, 1.5 min warm)
	@start=$$(date +%s); \
	if $(IMAGES_ENGINE_SH) status >/dev/null 2>&1; then was_up=1; else was_up=; fi; \
	trap '[ -n "$$was_up" ] || $(IMAGES_ENGINE_SH) stop' EXIT; trap 'exit 130' INT TERM; \
	$(MAKE) --no-print-directory images-check run-images-smoke IMAGES_BUILD='$(IMAGES_SMOKE_BUILD)'; \
	echo "make images-smoke: passed in $$(( $$(date +%s) - start ))s"

images-prepare-bg: ## start, in the background (nice 19), the slow engine-less part of a cold make images: the tools from the Go module proxy, the base tarballs; log in the cache's log/prepare-bg.log
ifeq ($(IMAGES_ENGINE),local)
	@$(IMAGES_ENGINE_SH) prepare-bg
endif

.PHONY: images-stop
images-stop: ## stop the engine of make images (dockerd, buildkitd, registry); caches stay
	@$(IMAGES_ENGINE_SH) stop

# helm, kustomize and promtool are built from source with the Go toolchain (no
# downloads outside the Go module proxy); a stamp per version reinstalls on
# a version bump. kustomize after v5.8.2 needs Go 1.27.
$(DEPLOY_BIN)/.helm-$(HELM_VERSION):
	@mkdir -p $(DEPLOY_BIN)
	@echo "installing helm $(HELM_VERSION) into $(DEPLOY_BIN)"
	GOBIN=$(DEPLOY_BIN) GOFLAGS= go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@touch $@
$(DEPLOY_BIN)/.kustomize-$(KUSTOMIZE_VERSION):
	@mkdir -p $(DEPLOY_BIN)
	@echo "installing kustomize $(KUSTOMIZE_VERSION) into $(DEPLOY_BIN)"
	GOBIN=$(DEPLOY_BIN) GOFLAGS= go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	@touch $@

# remove_all_sd leaves Prometheus's service discovery plugins (cloud SDKs,
# client-go) out of promtool: the rule commands do not use them, and the
# build takes a fraction of the time.
$(DEPLOY_BIN)/.promtool-$(PROMETHEUS_VERSION):
	@mkdir -p $(DEPLOY_BIN)
	@echo "installing promtool $(PROMETHEUS_VERSION) into $(DEPLOY_BIN)"
	GOBIN=$(DEPLOY_BIN) GOFLAGS= go install -tags remove_all_sd github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)
	@touch $@

.PHONY: promtool
promtool: $(DEPLOY_BIN)/.promtool-$(PROMETHEUS_VERSION) ## install pinned promtool into .cache/bin

.PHONY: deploy-tools
deploy-tools: $(DEPLOY_BIN)/.helm-$(HELM_VERSION) $(DEPLOY_BIN)/.kustomize-$(KUSTOMIZE_VERSION) ## install pinned helm and kustomize into .cache/bin

.PHONY: helm-lint
helm-lint: deploy-tools ## helm lint --strict and helm template with every ci/*-values.yaml
	@for f in $(CHART)/ci/*.yaml; do \
	  echo "helm lint --strict -f $$f"; \
	  $(HELM) lint --strict $(CHART) -f $$f >/dev/null || { $(HELM) lint --strict $(CHART) -f $$f; exit 1; }; \
	  $(HELM) template sensornode $(CHART) -f $$f >/dev/null; \
	done
	@echo "helm-lint: ok"

.PHONY: kustomize-check
kustomize-check: deploy-tools ## kustomize build every overlay and CI combination
	@for d in $(KUSTOMIZE_DIRS); do \
	  echo "kustomize build $$d"; $(KUSTOMIZE) build $$d >/dev/null; \
	done
	@echo "kustomize-check: ok"

.PHONY: kustomize-gen
kustomize-gen: deploy-tools ## regenerate deploy/kustomize base files from the chart
	go run ./tools/deploycheck/cmd/kustomizegen

##@ Stacks

.PHONY: devstack-up
devstack-up: ## start (or reuse) the local ZooKeeper + Kafka + HDFS stack
	$(DEVSTACK) up

.PHONY: devstack-down
devstack-down: ## stop the local stack
	$(DEVSTACK) down

.PHONY: kube-up
kube-up: ## start (or reuse) the loopback Kubernetes control plane with kwok's 5 nodes (builds it into ~/.cache/sensornode once)
	$(KUBESTACK) up

.PHONY: kube-down
kube-down: ## stop the loopback Kubernetes control plane
	$(KUBESTACK) down

##@ Housekeeping

# Groups print in the order of their first `##@` line; a target before any
# `##@` line is listed under "Other".
.PHONY: help
help: ## list targets
	@awk 'BEGIN { FS = ":.*## "; g = "Other"; w = 0; ng = 0 } \
	  /^##@ / { g = substr($$0, 5); next } \
	  /^[a-zA-Z0-9_.-]+:([^=]|$$).*## / { \
	    if (!(g in cnt)) { cnt[g] = 0; order[++ng] = g } \
	    n = ++cnt[g]; name[g, n] = $$1; desc[g, n] = $$2; \
	    if (length($$1) > w) w = length($$1) } \
	  END { printf "usage: make <target> [VAR=value ...]\n"; fmt = "  %-" w "s  %s\n"; \
	    for (i = 1; i <= ng; i++) { gr = order[i]; m = cnt[gr]; \
	      for (a = 1; a <= m; a++) s[a] = a; \
	      for (a = 2; a <= m; a++) { t = s[a]; \
	        for (b = a - 1; b >= 1 && name[gr, s[b]] > name[gr, t]; b--) s[b + 1] = s[b]; \
	        s[b + 1] = t } \
	      printf "\n%s\n", gr; \
	      for (a = 1; a <= m; a++) printf fmt, name[gr, s[a]], desc[gr, s[a]] } }' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## install what a fresh machine lacks (apt packages; checks Go, Java, Maven)
	@./tools/scripts/install-deps.sh

.PHONY: fmt
fmt: ## gofmt every Go file
	@gofmt -w $(GOFILES)

.PHONY: tidy
tidy: ## go mod tidy (-e: see README.md, "One module")
	go mod tidy -e

.PHONY: clean
clean: ## stop devstack, delete its data and build outputs
	-$(DEVSTACK) clean
	-$(CHAOS_DEVSTACK) clean
	-$(KUBESTACK) down
	rm -rf $(SENSORNODE_KUBESTACK_DIR)
	rm -rf $(BIN) .run
