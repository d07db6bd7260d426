#!/usr/bin/env bash
# The benchmarks that carry a performance target (issue 18), then one table
# of them: target, measured, ratio, met. See hack/bench/README.md.
#
#   make bench
#   BENCH_ONLY=events,portal make bench      # some of them (events, portal, portal-gateway, workflow, inspection)
#   BENCH_SCALE=path/to/scale.json make bench # operator rows from that file
#                                             # (default: the newest $WUXIAO_CACHE/bench/scale-*.json, if any)
#
# The raw go test -json output and the table go to $WUXIAO_CACHE/bench/
# (bench-<date>/ and bench-<date>.md). Ratios are measured side by side in
# one process: the machine's load moves absolute figures, much less the
# ratios. Runs on the same real PostgreSQL, Kafka and Kratos as the tests
# (started if they are not up, left running like make test-fast;
# BENCH_NO_INFRA=1 uses the WUXIAO_TEST_* environment as it is).
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
export GOTOOLCHAIN=local

only="${BENCH_ONLY:-events,portal,portal-gateway,workflow,inspection}"
stamp="$(date +%Y%m%d-%H%M%S)"
outdir="$WUXIAO_CACHE/bench/bench-$stamp"
mkdir -p "$outdir"

# BENCH_NO_INFRA=1: use the WUXIAO_TEST_* environment as it is.
if [ -z "${BENCH_NO_INFRA:-}" ]; then
  log "bench: PostgreSQL, Kafka and Kratos"
  hack/infra.sh up
  # shellcheck disable=SC1091
  . "${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env"
fi

# name package benchmark benchtime
benches=(
  "events ./services/internal/events/ ^BenchmarkLatency$ 300x"
  "portal ./services/disclosure/ ^BenchmarkPortalVsFileServer$ 10000x"
  "portal-gateway ./services/gateway/ ^BenchmarkPortalGatewayVsFileServer$ 10000x"
  "workflow ./services/workflow/ ^BenchmarkStepTransition$ 2000x"
  "inspection ./services/inspection/ ^BenchmarkConsumeWarnings$ 20000x"
)
for b in "${benches[@]}"; do
  read -r name pkg pattern benchtime <<<"$b"
  case ",$only," in *",$name,"*) ;; *) continue ;; esac
  log "bench: $name ($pkg $pattern, -benchtime $benchtime)"
  t=$(now)
  # A failed benchmark leaves its row "not run"; the others still count.
  go test -json -run '^$' -bench "$pattern" -benchtime "$benchtime" -count 1 -timeout 20m "$pkg" \
    >"$outdir/$name.json" || log "bench: $name failed (see $outdir/$name.json)"
  log "bench: $name took $(since "$t")"
done

scale="${BENCH_SCALE:-$(newest "$WUXIAO_CACHE"/bench/scale-*.json)}"
args=()
[ -z "$scale" ] || args=(-scale "$scale")
go run ./hack/bench/table "${args[@]}" "$outdir"/*.json | tee "$outdir.md"
log "bench: raw output in $outdir/, table in $outdir.md"
