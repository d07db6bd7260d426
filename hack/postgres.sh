#!/usr/bin/env bash
# PostgreSQL for tests, from Debian's `postgresql` package (15), on loopback.
# Its server is started and stopped by pg_ctl, which keeps its own pid file
# (postmaster.pid); the other daemons of hack/ use hack/lib.sh's proc_*.
#
#   hack/postgres.sh start   # install if needed, initdb a fresh cluster, start it, wait until it accepts connections
#   hack/postgres.sh stop    # stop it (pg_ctl -m fast; safe when nothing runs)
#   hack/postgres.sh status  # exit 0 when it runs and accepts connections
#   hack/postgres.sh env     # print WUXIAO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:<port>/postgres?sslmode=disable
#
# Every start is a new, empty cluster: trust authentication on 127.0.0.1,
# user postgres, durability off (fsync, synchronous_commit, full_page_writes)
# because tests never need to survive a crash. Server log:
# $WUXIAO_RUN/postgres/postgres.log.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

PG_MAJOR="${PG_MAJOR:-15}"
# The default port sits below the kernel's ephemeral range (32768-60999), where
# an outgoing connection of any process could be holding it.
PORT="${WUXIAO_PG_PORT:-25432}"
RUN="${WUXIAO_RUN:-$WUXIAO_CACHE/run}/postgres"
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
LOGFILE="$RUN/postgres.log"
DATADIR_FILE="$RUN/datadir" # where the running cluster's data directory is

ensure_postgres() {
  [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && return
  log "postgres: installing Debian's postgresql-$PG_MAJOR"
  with_lock "$WUXIAO_CACHE/.lock-apt" install_postgres_locked
}
install_postgres_locked() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "postgresql-$PG_MAJOR" >&2
  # The package creates (and may start) a system cluster "main" on port 5432.
  # Tests never use it: stop it and keep it from starting on its own.
  if [ -d "/etc/postgresql/$PG_MAJOR/main" ]; then
    pg_ctlcluster "$PG_MAJOR" main stop >/dev/null 2>&1 || true
    echo manual > "/etc/postgresql/$PG_MAJOR/main/start.conf"
    log "postgres: stopped Debian's default cluster $PG_MAJOR/main and set it to manual start"
  fi
}

# initdb and the server refuse to run as root: as root, run them as the
# postgres system user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The data directory: under the run directory when the server's user can reach
# it; otherwise (root's home is usually mode 700) a private directory in /tmp,
# linked from the run directory.
pick_datadir() {
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$RUN" 2>/dev/null; then
    echo "$RUN/data"
  else
    echo "${TMPDIR:-/tmp}/wuxiao-postgres-$PORT/data"
  fi
}

accepting() { "$PG_BIN/pg_isready" -q -U postgres -h 127.0.0.1 -p "$PORT" -d postgres -t 2 >/dev/null 2>&1; }

start() {
  ensure_postgres
  stop
  ports_free postgres "set WUXIAO_PG_PORT to use another" "$PORT"
  local start datadir; start=$(now)
  mkdir -p "$RUN"
  datadir=$(pick_datadir)
  rm -rf "$datadir" "$RUN/data"
  mkdir -p "$datadir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$datadir"
    if [ "$datadir" != "$RUN/data" ]; then
      chown postgres:postgres "$(dirname "$datadir")"; chmod 700 "$(dirname "$datadir")"
      ln -sfn "$datadir" "$RUN/data"
    fi
  fi
  echo "$datadir" > "$DATADIR_FILE"
  : > "$LOGFILE"
  log "postgres: initdb $datadir"
  as_pg "$PG_BIN/initdb" -D "$datadir" -U postgres -A trust -E UTF8 --locale=C \
      --no-sync --no-instructions >>"$LOGFILE" 2>&1 ||
    { tail -n 20 "$LOGFILE" >&2; die "postgres: initdb failed, see $LOGFILE"; }
  cat >> "$datadir/postgresql.conf" <<EOF

# --- hack/postgres.sh: a throw-away server for tests ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = ''
# The operator's connection budget for 12 towns (operator/internal/resources,
# database.go; TestConnectionBudget reads this line) stays under 80% of it.
max_connections = 600
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 1GB
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  log "postgres: starting $PG_MAJOR on 127.0.0.1:$PORT"
  # The server inherits pg_ctl's output, which goes to the log (opened here, so
  # the postgres user needs no write access to the run directory).
  as_pg "$PG_BIN/pg_ctl" -D "$datadir" -w -t 60 start >>"$LOGFILE" 2>&1 < /dev/null ||
    { tail -n 20 "$LOGFILE" >&2; stop; die "postgres: server did not start, see $LOGFILE"; }
  if wait_for 10 accepting; then log "postgres: ready in $(since "$start") (log: $LOGFILE)"; return; fi
  tail -n 20 "$LOGFILE" >&2
  stop
  die "postgres: not accepting connections on 127.0.0.1:$PORT, see $LOGFILE"
}

# live_datadir: the data directory of our server, if its postmaster runs. A
# postmaster.pid left by a killed run whose pid now names another process is
# removed, so that pg_ctl never signals that process.
live_datadir() {
  local datadir pid
  datadir=$(cat "$DATADIR_FILE" 2>/dev/null) || return 1
  [ -f "$datadir/postmaster.pid" ] || return 1
  pid=$(head -n1 "$datadir/postmaster.pid")
  if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$PG_BIN/postgres" ]; then
    echo "$datadir"; return 0
  fi
  rm -f "$datadir/postmaster.pid"
  return 1
}

stop() {
  local datadir
  datadir=$(live_datadir) || return 0
  log "postgres: stopping ($datadir)"
  if ! as_pg "$PG_BIN/pg_ctl" -D "$datadir" -m fast -w -t 60 stop >>"$LOGFILE" 2>&1; then
    if live_datadir >/dev/null; then
      die "postgres: could not stop the server in $datadir, see $LOGFILE"
    fi
  fi
}

status() { live_datadir >/dev/null && accepting; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "WUXIAO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
