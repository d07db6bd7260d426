#!/usr/bin/env bash
# The README's test command (`make test`) and CI's (.ci/run): on a fresh
# machine it builds or fetches everything the tests need (cached under
# ~/.cache/wuxiao), then checks generated files, lints, and runs every test
# against real components: the packages' tests, then the end-to-end test on
# a real one-node cluster (hack/district.sh with one sample town and the
# district gateway in the cluster, on 127.0.0.1:8080; needs root): the story's
# cadres sign in through the gateway in Chromium. Extra arguments go to the
# packages' `go test` (e.g. -run Town).
#
#   hack/test.sh [GO TEST FLAGS]          # make test: everything CI runs
#   hack/test.sh --fast [GO TEST FLAGS]   # make test-fast: the everyday loop
#
# --fast runs only the packages' tests (PKGS, default ./...), on the same real
# components, and leaves out the generated-file check, the lint and the
# root-only end-to-end test; PostgreSQL, Kafka and Kratos stay running
# afterwards, so that the next run reuses them (hack/infra.sh down stops
# them).
#
# WUXIAO_SKIP_E2E=1 leaves the end-to-end test out of a full run, loudly (for
# a machine without root); CI never sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
export GOTOOLCHAIN=local
total=$(now)

fast=
if [ "${1:-}" = --fast ]; then fast=1; shift; fi
pkgs=(./...)
# shellcheck disable=SC2206 # PKGS is a list of package patterns
[ -z "$fast" ] || pkgs=(${PKGS:-./...})

step() { log "== $*"; }

if [ -z "$fast" ]; then
  step "generated files (controller-gen, chart copies)"
  hack/verify-generated.sh

  step "lint (golangci-lint, shellcheck, go mod tidy)"
  make --no-print-directory lint
fi

step "kube-apiserver and etcd for envtest"
t=$(now)
KUBEBUILDER_ASSETS=$(hack/kube-binaries.sh)
export KUBEBUILDER_ASSETS
log "envtest binaries ready in $(since "$t"): $KUBEBUILDER_ASSETS"

if [ -x hack/infra.sh ]; then
  step "PostgreSQL, Kafka and Kratos"
  t=$(now)
  [ -n "$fast" ] || trap 'hack/infra.sh down || true' EXIT
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
go test -count=1 -timeout 30m "$@" "${pkgs[@]}"
log "go test took $(since "$t")"

if [ -n "$fast" ]; then
  log "make test-fast took $(since "$total") (no generated-file check, lint or end-to-end test: make test runs them)"
  exit 0
fi

step "end to end: one district on a local one-node cluster"
if [ -n "${WUXIAO_SKIP_E2E:-}" ]; then
  log "WUXIAO_SKIP_E2E is set: the end-to-end test did NOT run"
  log "make test took $(since "$total") (without the end-to-end test)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || die "the end-to-end test needs root (it runs a kubelet); run as root, or set WUXIAO_SKIP_E2E=1 to leave it out"
t=$(now)
trap 'hack/district.sh down || true; hack/infra.sh down || true' EXIT
# One sample town (three villages) beside the town the test applies itself,
# and the district gateway the operator runs, forwarded to 127.0.0.1:8080;
# district.sh restarts Kratos (fresh, before the operator creates any
# identity) so that its browser URLs name the gateway: the packages' tests
# above needed them pointing at Kratos itself.
# A district left up (a developer's, or a run that did not end) keeps
# officials whose identities are in the Kratos that district.sh is about to
# replace, and the operator would not create them again: start from a fresh
# cluster.
# (Not `status | grep -q`: grep -q stops reading at the first line, status
# dies of SIGPIPE on the next, and pipefail makes the test false.)
cluster_status=$(hack/cluster.sh status 2>/dev/null || true)
if grep -q '^etcd: running' <<<"$cluster_status"; then
  log "a district is up already: bringing it down so the test starts from a fresh one (its identities would not survive the fresh Kratos)"
  hack/district.sh down
fi
hack/district.sh up --towns xikou --gateway 127.0.0.1:8080
log "district up in $(since "$t")"
t=$(now)
eval "$(hack/district.sh env)"
go test -tags e2e -count=1 -timeout 20m -v ./hack/e2e/ || die "the end-to-end test failed (the district's logs: hack/district.sh status)"
log "end-to-end test took $(since "$t"); make test took $(since "$total")"
