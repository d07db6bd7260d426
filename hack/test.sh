#!/usr/bin/env bash
# The README's test command (`make test`) and CI's (.ci/run): on a fresh
# machine it builds or fetches everything the tests need (cached under
# ~/.cache/wuxiao), then checks generated files, lints, and runs every test
# against real components. Extra arguments go to `go test` (e.g. -run Town).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
export GOTOOLCHAIN=local
total=$(now)

step() { log "== $*"; }

step "generated files (controller-gen, chart copies)"
hack/verify-generated.sh

step "lint (go vet, gofmt)"
make --no-print-directory lint

step "kube-apiserver and etcd for envtest"
t=$(now)
KUBEBUILDER_ASSETS=$(hack/kube-binaries.sh)
export KUBEBUILDER_ASSETS
log "envtest binaries ready in $(since "$t"): $KUBEBUILDER_ASSETS"

if [ -x hack/infra.sh ]; then
  step "PostgreSQL, Kafka and Kratos"
  t=$(now)
  trap 'hack/infra.sh down || true' EXIT
  hack/infra.sh up
  # shellcheck disable=SC1091
  . "${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env"
  log "infrastructure up in $(since "$t")"
fi

step "Chromium for the browser tests"
WUXIAO_TEST_CHROMIUM=$(hack/chromium.sh)
export WUXIAO_TEST_CHROMIUM

step "CJK TrueType font for PDF notices"
WUXIAO_NOTICE_FONT=$(hack/fonts.sh)
export WUXIAO_NOTICE_FONT

step "go test"
t=$(now)
# Packages run in parallel (one per core); each envtest package starts its own
# API server, so they never share state.
go test -count=1 -timeout 30m "$@" ./...
log "go test took $(since "$t"); make test took $(since "$total")"
