#!/usr/bin/env bash
# golangci-lint, pinned, built from source through the Go module proxy with
# the local Go toolchain (it must be built with a Go at least as new as the
# code it checks) and cached outside the checkout in
# $WUXIAO_CACHE/golangci-lint/<version>/. A warm cache makes this a no-op.
#
#   hack/golangci-lint.sh   # build if needed, print the binary's path
#
# hack/lint.sh (make lint) runs it with .golangci.yml.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
dir="$WUXIAO_CACHE/golangci-lint/$GOLANGCI_LINT_VERSION"
bin="$dir/golangci-lint"

build() {
  if [ -x "$bin" ]; then log "golangci-lint: cached ($bin)"; return; fi
  local start; start=$(now)
  mkdir -p "$dir"
  log "golangci-lint: building $GOLANGCI_LINT_VERSION with $(go env GOVERSION) (3-4 min of CPU; 27 min measured on a busy 2-core machine)"
  # go install pkg@version builds in module-aware mode outside any module, so
  # the project's go.mod neither constrains nor records it.
  GOBIN="$dir/.tmp" GOTOOLCHAIN=local GOFLAGS='' CGO_ENABLED=0 \
    go install -trimpath "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION" >&2 &
  local pid=$! rc=0 i=0
  while proc_alive "$pid"; do
    sleep 1; i=$((i + 1))
    ((i % 30)) || log "golangci-lint: still building ($(since "$start"))"
  done
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || die "golangci-lint: go install failed (exit $rc)"
  mv "$dir/.tmp/golangci-lint" "$bin"; rmdir "$dir/.tmp"
  log "golangci-lint: built in $(since "$start") -> $bin"
}

with_lock "$WUXIAO_CACHE/golangci-lint/.lock" build
echo "$bin"
