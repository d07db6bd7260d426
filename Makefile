# Wuxiao — see README.md. Every target works on a fresh machine: hack/ scripts
# install or build what they need and cache it under ~/.cache/wuxiao.
SHELL := /usr/bin/env bash
export GOTOOLCHAIN := local

CONTROLLER_GEN_VERSION ?= v0.23.0
CONTROLLER_GEN := go run sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: ## Generate deepcopy code, CRDs, RBAC and the chart's copies of them.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=false paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=wuxiao-operator paths=./operator/... output:rbac:artifacts:config=config/rbac
	hack/sync-chart.sh

.PHONY: verify-generated
verify-generated: ## Fail if generated files are stale (regenerates and compares).
	hack/verify-generated.sh

.PHONY: lint
lint: ## golangci-lint (pinned; linters in .golangci.yml) and shellcheck over hack/, go.mod/go.sum tidy; fails on any finding.
	hack/lint.sh

.PHONY: build
build: ## Build the operator binary into bin/.
	go build -o bin/wuxiao-operator ./operator/cmd/wuxiao-operator

.PHONY: kubectl-wuxiao
kubectl-wuxiao: ## Build the town IT staff's kubectl plugin into bin/ (bin/ on the PATH: kubectl wuxiao --help).
	go build -o bin/kubectl-wuxiao ./operator/cmd/kubectl-wuxiao

.PHONY: dev
dev: ## The whole sample district (12 towns, 347 villages) on a local one-node cluster, portals on 127.0.0.1:8080; needs root (ARGS=... for hack/district.sh up).
	hack/dev.sh $(ARGS)

.PHONY: dev-local
dev-local: ## One town's four services as local processes behind a gateway on 127.0.0.1:8080, with sample users and data; no cluster.
	hack/dev-local.sh $(ARGS)

.PHONY: dev-down
dev-down: ## Stop what make dev or make dev-local started: the district, the cluster, PostgreSQL, Kafka and Kratos.
	hack/dev.sh down

##@ Cluster

IMAGE_TAG ?= dev

.PHONY: cluster-up
cluster-up: ## Start a one-node Kubernetes cluster built from source (etcd, control plane, kubelet on containerd); needs root.
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop that cluster and restore the host state the kubelet changed.
	hack/cluster.sh down

.PHONY: district-up
district-up: ## Run the sample district on that cluster: operator on the host, towns' services as pods (ARGS=--all for all 12 towns).
	hack/district.sh up $(ARGS)

.PHONY: district-down
district-down: ## Stop the district's operator and forwarders, then the cluster (infra keeps running).
	hack/district.sh down

.PHONY: images
images: ## Build OCI image archives (no Docker) of the operator, the four services and the district gateway into bin/images (with CA roots, zoneinfo and the notice font: hack/images/host.sh).
	flags=$$(hack/images/host.sh) && go run ./hack/images -out bin/images -tag $(IMAGE_TAG) $$flags ./operator/cmd/wuxiao-operator \
	  ./services/workflow/cmd/workflow ./services/disclosure/cmd/disclosure \
	  ./services/complaint/cmd/complaint ./services/inspection/cmd/inspection \
	  ./services/gateway/cmd/gateway

##@ Tests

.PHONY: test
test: ## Everything CI runs: generated-file check, lint, and all tests on real components.
	hack/test.sh

.PHONY: test-fast
test-fast: ## The everyday loop: the packages' tests on the real components (PKGS=./services/... to narrow, ARGS=-run=X), no lint, no end-to-end test; infra stays up.
	PKGS='$(PKGS)' hack/test.sh --fast $(ARGS)

.PHONY: fuzz
fuzz: ## Every Go fuzz target for FUZZTIME each (default 10m; FUZZ_JOBS=N at once, FUZZ_WORKERS=cores each); summary in bin/fuzz/summary.txt, fails on a crasher.
	hack/fuzz.sh $(ARGS)

.PHONY: test-e2e
test-e2e: ## Only the end-to-end tests (make test runs them too): hack/district.sh up, then go test -tags e2e ./hack/e2e/.
	hack/district.sh up $(ARGS)
	eval "$$(hack/district.sh env)" && go test -tags e2e -count=1 -v ./hack/e2e/

.PHONY: test-otelcol
test-otelcol: ## The shipped collector configuration (charts/wuxiao-operator/monitoring/otel-collector.yaml) on a real core collector built with ocb (hack/otelcol.sh; 5-8 min once, then cached).
	go test -tags otelcol -count=1 -timeout 45m -v ./hack/otelcol/

.PHONY: kube-binaries
kube-binaries: ## Build (or reuse) kube-apiserver and etcd for envtest.
	hack/kube-binaries.sh

.PHONY: chaos
chaos: ## Fault-injection suite on the district of hack/district.sh (root): load, one fault at a time, the books, one table into hack/chaos/RESULTS.md (CHAOS_SHARED=1 adds Kafka and PostgreSQL restarts; ARGS=-faults=a,b narrows).
	hack/chaos/run.sh $(ARGS)

.PHONY: bench-scale
bench-scale: ## Scale benchmark: 12 towns / 347 villages, then 20,000 villages.
	hack/bench-scale.sh

.PHONY: bench
bench: ## The benchmarks with performance targets (events, portal, workflow, inspection; operator rows from the latest bench-scale), then one table: target, measured, ratio, met (BENCH_ONLY=events,portal to narrow).
	hack/bench/bench.sh

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ {printf "  %-18s %s\n", $$1, $$2} /^##@/ {printf "\n%s\n", substr($$0, 5)}' $(MAKEFILE_LIST)
