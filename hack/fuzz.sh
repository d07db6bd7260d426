#!/usr/bin/env bash
# Runs every Go native fuzz target (func Fuzz… in *_test.go) for FUZZTIME
# each and reports, per target, the executions and whether it found a
# crasher; `make fuzz` calls it. `make test` runs the same targets' seed
# corpora (testdata/fuzz and f.Add) as ordinary tests, without fuzzing.
#
#   hack/fuzz.sh [REGEXP]      only targets whose name or package matches
#
# Environment:
#   FUZZTIME=10m        how long each target fuzzes (go test -fuzztime:
#                       a duration, or Nx for N executions)
#   FUZZ_JOBS=1         targets fuzzed at once (each uses FUZZ_WORKERS cores)
#   FUZZ_WORKERS=       go test -parallel: fuzzing processes per target
#                       (default GOMAXPROCS; 1 keeps a target to one core)
#   FUZZ_OUT=bin/fuzz   per-target logs; FUZZ_SUMMARY (default
#                       $FUZZ_OUT/summary.txt) gets the table, row by row
#                       as targets finish, so an interrupted run keeps them
#   FUZZ_CRASHERS=      if set, a crasher found is moved from the package's
#                       testdata/fuzz/<Target>/ into this directory instead
#                       of staying there (where go test would replay it)
#
# Exit status: 1 if any target found a crasher or did not build, else 0.
# A crasher's input is in testdata/fuzz/<Target>/<hash> of its package: fix
# the bug and commit the file, so that `make test` replays it ever after.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
export GOTOOLCHAIN=local

FUZZTIME=${FUZZTIME:-10m}
FUZZ_JOBS=${FUZZ_JOBS:-1}
FUZZ_WORKERS=${FUZZ_WORKERS:-}
FUZZ_OUT=${FUZZ_OUT:-bin/fuzz}
FUZZ_SUMMARY=${FUZZ_SUMMARY:-$FUZZ_OUT/summary.txt}
FUZZ_CRASHERS=${FUZZ_CRASHERS:-}
match=${1:-.}
mkdir -p "$FUZZ_OUT" "$(dirname "$FUZZ_SUMMARY")"

# Targets that need PostgreSQL (the report parser stages files in it) find
# it through the infra environment; testinfra starts it when it is down.
infra_env="${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env"
# shellcheck disable=SC1090
[ -f "$infra_env" ] && . "$infra_env"

# Every package directory and target, "dir Target" per line, sorted.
mapfile -t targets < <(grep -rE --include='*_test.go' -l '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' api operator services hack 2>/dev/null |
  while read -r file; do
    grep -oE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' |
      while read -r name; do echo "$(dirname "$file") $name"; done
  done | sort -u | grep -E -- "$match" || true)
[ ${#targets[@]} -gt 0 ] || die "no fuzz target matches $match"
log "fuzzing ${#targets[@]} targets for $FUZZTIME each, $FUZZ_JOBS at a time${FUZZ_WORKERS:+, $FUZZ_WORKERS worker(s) each}; summary in $FUZZ_SUMMARY"

row() { printf '%-40s %-34s %8s %14s %10s %9s  %s\n' "$@"; }
row TARGET PACKAGE FUZZED EXECS EXECS/S NEW RESULT >"$FUZZ_SUMMARY"

# fuzz_one DIR TARGET: fuzz one target, then append its row to the summary.
fuzz_one() {
  local dir=$1 name=$2
  local logf="$FUZZ_OUT/${dir//\//_}.$name.log" start rc=0
  start=$(now)
  log "$name ($dir): fuzzing for $FUZZTIME, log $logf"
  go test -run='^$' -fuzz="^$name\$" -fuzztime="$FUZZTIME" ${FUZZ_WORKERS:+-parallel="$FUZZ_WORKERS"} "./$dir" >"$logf" 2>&1 || rc=$?
  # The last progress line: "fuzz: elapsed: 10m0s, execs: 123456 (205/sec), new interesting: 12 (total: 40)".
  local last execs rate new result elapsed fsecs
  last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$logf" | tail -n 1 || true)
  execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
  new=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
  elapsed=$(sed -nE 's/^fuzz: elapsed: ([0-9hms.]+),.*/\1/p' <<<"$last")
  # Go's duration (1h2m3s) in whole seconds: the fuzzing time, without the
  # build and the baseline coverage.
  fsecs=$(awk -v d="$elapsed" 'BEGIN { s = 0; while (match(d, /^[0-9.]+[hms]/)) { n = substr(d, 1, RLENGTH - 1); u = substr(d, RLENGTH, 1);
    s += n * (u == "h" ? 3600 : u == "m" ? 60 : 1); d = substr(d, RLENGTH + 1) } printf "%d", s }')
  rate=-
  [ -n "$execs" ] && [ "${fsecs:-0}" -gt 0 ] && rate=$(( execs / fsecs ))
  local crasher
  crasher=$(sed -nE 's/.*Failing input written to (testdata\/fuzz\/[^ ]+).*/\1/p' "$logf" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    result=ok
  elif [ -n "$crasher" ]; then
    result="CRASHER $dir/$crasher"
    if [ -n "$FUZZ_CRASHERS" ]; then
      mkdir -p "$FUZZ_CRASHERS/$dir/$name"
      mv "$dir/$crasher" "$FUZZ_CRASHERS/$dir/$name/" && result="CRASHER $FUZZ_CRASHERS/$dir/$name/$(basename "$crasher")"
    fi
  elif grep -qE '^--- FAIL|panic:' "$logf"; then
    result="FAIL (seed corpus or setup; see $logf)"
  else
    result="ERROR (rc $rc; see $logf)"
  fi
  # One write per row: concurrent jobs append whole lines.
  row "$name" "$dir" "${elapsed:--}" "${execs:--}" "$rate" "${new:--}" "$result" >>"$FUZZ_SUMMARY"
  log "$name ($dir): ${execs:-no} execs in ${elapsed:-0s} of fuzzing ($(since "$start") in all), $result"
  [ "$result" = ok ]
}

failed=0
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$FUZZ_JOBS" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  # shellcheck disable=SC2086
  fuzz_one $t &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done

cat "$FUZZ_SUMMARY"
if [ "$failed" -ne 0 ]; then
  log "fuzzing found crashers or failures: see $FUZZ_SUMMARY"
  exit 1
fi
log "no crashers in ${#targets[@]} targets"
