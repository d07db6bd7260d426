#!/usr/bin/env bash
# The real components that service tests need, all on 127.0.0.1:
# PostgreSQL (hack/postgres.sh), Apache Kafka (hack/kafka.sh) and Ory Kratos
# (hack/kratos.sh). See hack/infra.md.
#
#   hack/infra.sh up     # start what is not already running and healthy (in parallel); write infra.env
#   hack/infra.sh down   # stop all three
#   hack/infra.sh status # each one's health (its script's status); exit 0 when all three are healthy
#   hack/infra.sh env    # print the combined environment as `export KEY='value'` lines
#
# `up` writes ${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env; use it with
#   . "$HOME/.cache/wuxiao/run/infra.env"   or   eval "$(hack/infra.sh env)"
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

RUN="${WUXIAO_RUN:-$WUXIAO_CACHE/run}"
ENVFILE="$RUN/infra.env"
COMPONENTS=(postgres kafka kratos)

# Where to look when a component fails.
logs_of() {
  case "$1" in
    postgres) echo "$RUN/postgres/postgres.log" ;;
    kafka) echo "$RUN/kafka/server.log and $RUN/kafka/kafka.out" ;;
    kratos) echo "$RUN/kratos/kratos.log" ;;
  esac
}

env_lines() {
  local c line
  for c in "${COMPONENTS[@]}"; do
    hack/"$c".sh env | while IFS= read -r line; do
      printf "export %s='%s'\n" "${line%%=*}" "${line#*=}"
    done
  done
}

# up_one NAME: reuse a healthy instance or start a fresh one; records the
# outcome in $RUN/.infra/NAME.{rc,took}. Its progress goes to stderr and to
# $RUN/.infra/NAME.out.
up_one() {
  local c=$1 dir="$RUN/.infra" start rc=0
  start=$(now)
  if hack/"$c".sh status {LOCKFD}>&- 2>/dev/null; then
    log "$c: already running and healthy, reusing it"
    echo reused > "$dir/$c.took"; echo 0 > "$dir/$c.rc"
    return 0
  fi
  hack/"$c".sh start {LOCKFD}>&- 2>&1 | tee "$dir/$c.out" >&2 || rc=$?
  since "$start" > "$dir/$c.took"
  echo "$rc" > "$dir/$c.rc"
}

up() {
  local c pids=() failed=() start; start=$(now)
  mkdir -p "$RUN/.infra"; rm -f "$RUN/.infra"/*.rc "$RUN/.infra"/*.took "$ENVFILE"
  log "infra: bringing up ${COMPONENTS[*]} (cache: $WUXIAO_CACHE, run dir: $RUN)"
  # Kratos keeps its data in PostgreSQL: it starts once PostgreSQL is up,
  # Kafka meanwhile.
  local pg
  up_one postgres & pg=$!
  up_one kafka & pids+=($!)
  wait "$pg" || true
  up_one kratos & pids+=($!)
  wait "${pids[@]}" || true
  for c in "${COMPONENTS[@]}"; do
    local rc; rc=$(cat "$RUN/.infra/$c.rc" 2>/dev/null || echo 1)
    if [ "$rc" = 0 ]; then
      log "infra: $c up ($(cat "$RUN/.infra/$c.took"))"
    else
      log "infra: $c FAILED (exit $rc); read $(logs_of "$c") (start-up output: $RUN/.infra/$c.out)"
      failed+=("$c")
    fi
  done
  [ ${#failed[@]} -eq 0 ] || die "infra: could not start: ${failed[*]}"
  env_lines > "$ENVFILE.tmp" && mv "$ENVFILE.tmp" "$ENVFILE"
  log "infra: all up in $(since "$start"); environment in $ENVFILE"
}

down() {
  local c pids=()
  for c in "${COMPONENTS[@]}"; do
    hack/"$c".sh stop {LOCKFD}>&- & pids+=($!)
  done
  local rc=0 p
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  rm -f "$ENVFILE"
  [ "$rc" = 0 ] || die "infra: some component did not stop cleanly (see above)"
  log "infra: down"
}

status() {
  local c rc=0
  for c in "${COMPONENTS[@]}"; do
    if hack/"$c".sh status; then
      echo "$c: running and healthy ($(hack/"$c".sh env | tr '\n' ' ' | sed 's/ $//'))"
    else
      echo "$c: not running or not healthy (logs: $(logs_of "$c"))"; rc=1
    fi
  done
  return "$rc"
}

# One up/down at a time (hack/lib.sh's locked). The lock's descriptor is
# closed for the component scripts: the servers they leave running must not
# hold it.
case "${1:-}" in
  up) locked "$RUN/.infra.lock" up ;;
  down) locked "$RUN/.infra.lock" down ;;
  status) status ;;
  env) env_lines ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
