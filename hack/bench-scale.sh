#!/usr/bin/env bash
# Scale benchmark of the operator (not a timed test; it reports figures).
# Builds the operator and the benchmark, then, for each scenario, measures the
# operator taking N towns and M villages from nothing to Ready on a real
# kube-apiserver + etcd, next to a raw client-go program creating the same
# objects. See hack/bench/README.md.
#
#   make bench-scale                       # 12 towns/347 villages, then 21 towns/20,000 villages
#   BENCH_SCENARIOS=12x347 make bench-scale
#   BENCH_ARGS="-mode operator -steady 30s" make bench-scale
#   BENCH_OPERATOR_ARGS="--kube-api-qps=-1" make bench-scale   # flags for the operator
#
# Results: $WUXIAO_CACHE/bench/scale-<date>.json; the operator's logs and heap
# profiles next to it in logs-<date>/ (the newest 20 are kept). The binaries
# are built once into $WUXIAO_CACHE/bin/bench-scale/, not copied per run: the
# profiles carry their symbols (go tool pprof needs no binary).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
export GOTOOLCHAIN=local

scenarios="${BENCH_SCENARIOS:-12x347,21x20000}"
timeout="${BENCH_TIMEOUT:-30m}"
stamp="$(date +%Y%m%d-%H%M%S)"
outdir="$WUXIAO_CACHE/bench"
out="$outdir/scale-$stamp.json"
logdir="$outdir/logs-$stamp"
bindir="$WUXIAO_CACHE/bin/bench-scale"
mkdir -p "$logdir" "$bindir"
# Older runs' logs (each was 166 MiB with its binaries, before they moved).
# shellcheck disable=SC2012 # names are logs-<date>, no odd characters
ls -1d "$outdir"/logs-* 2>/dev/null | sort | head -n -20 | while read -r old; do rm -rf "$old"; done

start=$(now)
log "bench-scale: kube-apiserver and etcd"
KUBEBUILDER_ASSETS="$(hack/kube-binaries.sh)"
export KUBEBUILDER_ASSETS

log "bench-scale: PostgreSQL, Kafka and Kratos (the operator provisions towns on them)"
hack/infra.sh up
# shellcheck disable=SC1091
. "${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env"

log "bench-scale: building the operator"
go build -o "$bindir/wuxiao-operator" ./operator/cmd/wuxiao-operator
log "bench-scale: building the benchmark"
go build -o "$bindir/bench-scale" ./hack/bench/scale

log "bench-scale: scenarios $scenarios (timeout $timeout each run); results -> $out"
rc=0
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
"$bindir/bench-scale" \
  -scenarios "$scenarios" \
  -operator-bin "$bindir/wuxiao-operator" \
  -timeout "$timeout" \
  -logdir "$logdir" \
  -out "$out" \
  -operator-args "${BENCH_OPERATOR_ARGS:-}" \
  ${BENCH_ARGS:-} || rc=$?

log "bench-scale: done in $(since "$start"); results in $out; operator logs in $logdir"
[ "$rc" -eq 0 ] || log "bench-scale: some run did not converge or failed (exit $rc); see above"
exit "$rc"
