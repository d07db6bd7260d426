#!/usr/bin/env bash
# A core OpenTelemetry Collector for the tracing configuration's test, built
# the upstream way: the OpenTelemetry Collector Builder (ocb) with the
# manifest hack/otelcol/builder-config.yaml, everything through the Go module
# proxy (ocb only runs `go get`, `go mod tidy/download` and `go build` with
# this environment's GOPROXY/GOFLAGS; no release downloads). Builder and
# collector are cached in $WUXIAO_CACHE/otelcol/<version>-<manifest sum>/.
# Prints the collector's path; a warm cache makes this a no-op.
#
#   hack/otelcol.sh    # build if needed, print the path
#
# hack/otelcol/config_test.go (make test-otelcol) runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

# ocb's release; the manifest's components must be of the same release.
OCB_VERSION="${OCB_VERSION:-v0.165.0}"
manifest="$PWD/hack/otelcol/builder-config.yaml"
sum=$(sha256sum < "$manifest" | cut -c1-12)
dir="$WUXIAO_CACHE/otelcol/$OCB_VERSION-$sum"
bin="$dir/wuxiao-otelcol"
# The local Go builds it (no toolchain download); a static binary.
export GOTOOLCHAIN=local CGO_ENABLED=0

build() {
  if [ -x "$bin" ]; then log "otelcol: cached ($bin)"; return; fi
  local start; start=$(now)
  rm -rf "$dir"; mkdir -p "$dir"
  log "otelcol: installing ocb $OCB_VERSION"
  # Outside any module: the project's go.mod neither constrains nor records it.
  (cd "$dir" && GOBIN="$dir/bin" GOFLAGS='' go install -trimpath "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION")
  log "otelcol: building the collector of $manifest with $(go env GOVERSION) (5-8 min measured on a busy 2-core machine)"
  # output_path is relative: ocb generates the collector's module in $dir/src.
  (cd "$dir" && "$dir/bin/builder" --config "$manifest" --ldflags "-s -w") >&2
  mv "$dir/src/wuxiao-otelcol" "$bin"
  log "otelcol: built in $(since "$start") -> $bin"
}

with_lock "$WUXIAO_CACHE/otelcol/.lock" build
echo "$bin"
