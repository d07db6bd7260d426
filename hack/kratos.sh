#!/usr/bin/env bash
# Ory Kratos for tests and local runs, built from source through the Go module
# proxy (no release downloads are reachable on these machines).
#
#   hack/kratos.sh build   # build (or reuse) $WUXIAO_CACHE/kratos/<version>/bin/kratos; prints its path
#   hack/kratos.sh start   # build if needed, stop any running one, migrate, serve, wait for /health/ready
#   hack/kratos.sh stop    # stop it (safe when nothing runs)
#   hack/kratos.sh status  # exit 0 when it runs, both ports are ready and its
#                          # browser URLs are the ones asked for (below; any
#                          # with WUXIAO_KRATOS_REUSE_ANY=1)
#   hack/kratos.sh env     # print WUXIAO_TEST_KRATOS_PUBLIC_URL=... and WUXIAO_TEST_KRATOS_ADMIN_URL=...
#
# Config: hack/kratos/kratos.yml and hack/kratos/identity.schema.json.
# DSN: $WUXIAO_KRATOS_DSN, default "postgres": a database wuxiao_kratos on
# hack/postgres.sh's server (which must be running), dropped and recreated at
# every start, so each start is fresh like an in-memory one; PostgreSQL, not
# SQLite, because many test packages create identities and sessions at once
# and SQLite then fails them ("database table is locked", "could not
# serialize access"). "memory" is an in-memory SQLite database migrated by
# `serve` itself; any other value is a DSN kept as it is and migrated with
# `kratos migrate sql` before serving.
#
# Browser flows: Kratos' public API is meant to be reached through the district
# gateway (services/gateway), which serves it at <gateway>/.ory/kratos/ and the
# sign-in pages at <gateway>/auth/*, so that Kratos' cookies and CSRF tokens
# belong to the gateway's origin.
#   WUXIAO_KRATOS_UI_URL           the gateway's origin (default
#                                  http://127.0.0.1:8080): selfservice ui_urls
#                                  (<origin>/auth/login|recovery|settings|error),
#                                  the allowed return URLs (<origin>/), the
#                                  default return (<origin>/console) and the
#                                  page after logout (<origin>/auth/login).
#                                  Recovery links created through the admin API
#                                  point at <origin>/auth/recovery?flow=...
#   WUXIAO_KRATOS_PUBLIC_BASE_URL  serve.public.base_url (default
#                                  http://127.0.0.1:$WUXIAO_KRATOS_PUBLIC_PORT/);
#                                  with the gateway in front it must be
#                                  <gateway origin>/.ory/kratos/ (the form
#                                  actions Kratos renders use it).
# Native (API) flows and the admin API do not depend on either.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

KRATOS_VERSION="${KRATOS_VERSION:-v1.3.1}"
# Default ports sit below the kernel's ephemeral range (32768-60999), where an
# outgoing connection of any process could be holding them.
PUBLIC_PORT="${WUXIAO_KRATOS_PUBLIC_PORT:-24433}"
ADMIN_PORT="${WUXIAO_KRATOS_ADMIN_PORT:-24434}"
RUN="${WUXIAO_RUN:-$WUXIAO_CACHE/run}/kratos"
DSN="${WUXIAO_KRATOS_DSN:-postgres}"
CONFIG="$PWD/hack/kratos/kratos.yml"
SCHEMA="$PWD/hack/kratos/identity.schema.json"
BIN="$WUXIAO_CACHE/kratos/$KRATOS_VERSION/bin/kratos"
UI_URL="${WUXIAO_KRATOS_UI_URL:-http://127.0.0.1:8080}"
UI_URL="${UI_URL%/}"
PUBLIC_BASE_URL="${WUXIAO_KRATOS_PUBLIC_BASE_URL:-http://127.0.0.1:$PUBLIC_PORT/}"
PIDFILE="$RUN/kratos.pid"
LOGFILE="$RUN/kratos.log"
# URLSFILE records the browser URLs the running Kratos was started with, so
# that status can tell a Kratos started for the district gateway
# (hack/district.sh) from the one the packages' tests want.
URLSFILE="$RUN/kratos.urls"

# The wrapper module lives in the cache, not the checkout. `go install` of
# Kratos is refused because its go.mod has replace directives, so the wrapper
# repeats the four that matter (its ./internal/client-go replace is not needed).
kratos_wrapper() {
  local dir="$WUXIAO_CACHE/kratos/$KRATOS_VERSION/wrapper"
  if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
  log "kratos: preparing wrapper module for github.com/ory/kratos@$KRATOS_VERSION"
  rm -rf "$dir"; mkdir -p "$dir"
  cat > "$dir/go.mod" <<GOMOD
module wuxiao.local/kratos-wrapper

go 1.26

tool github.com/ory/kratos

require github.com/ory/kratos $KRATOS_VERSION

replace (
	github.com/go-swagger/go-swagger => github.com/aeneasr/go-swagger v0.19.1-0.20241013070044-bccef3a12e26
	github.com/gobuffalo/pop/v6 => github.com/ory/pop/v6 v6.2.0
	github.com/gorilla/sessions => github.com/ory/sessions v1.2.2-0.20220110165800-b09c17334dc2
	github.com/mattn/go-sqlite3 => github.com/mattn/go-sqlite3 v1.14.22
)
GOMOD
  # Start from Kratos' own go.sum: it carries the checksums of its replaced
  # forks, which the checksum database does not serve.
  local src
  src=$(cd "$dir" && GOFLAGS='' go mod download -json "github.com/ory/kratos@$KRATOS_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -f "$src/go.sum" ] || die "kratos: could not download github.com/ory/kratos@$KRATOS_VERSION"
  cp "$src/go.sum" "$dir/go.sum"; chmod u+w "$dir/go.sum"
  log "kratos: resolving dependencies (go mod tidy)"
  (cd "$dir" && go mod tidy) >&2 || die "kratos: go mod tidy failed in $dir"
  touch "$dir/.ready"
  echo "$dir"
}

ensure_cc() {
  command -v gcc >/dev/null && [ -f /usr/include/stdio.h ] && return
  log "kratos: installing gcc and libc6-dev (cgo is needed for SQLite)"
  apt_install gcc libc6-dev
}

build_kratos() {
  if [ -x "$BIN" ]; then log "kratos: cached ($BIN)"; return; fi
  ensure_cc
  local start w; start=$(now)
  w=$(kratos_wrapper)
  mkdir -p "$(dirname "$BIN")"
  log "kratos: building $KRATOS_VERSION with -tags sqlite (about 8 min on a cold 2-core machine)"
  (cd "$w" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=1 go build -tags sqlite -trimpath \
      -ldflags "-s -w -X github.com/ory/kratos/driver/config.Version=$KRATOS_VERSION" \
      -o "$BIN.tmp" github.com/ory/kratos) >&2
  mv "$BIN.tmp" "$BIN"
  log "kratos: built in $(since "$start") -> $BIN"
}

build() { with_lock "$WUXIAO_CACHE/kratos/.lock-$KRATOS_VERSION" build_kratos; }

# redact URL: hide a password in a DSN before logging it.
redact() { sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$1"; }

# MATCH: this Kratos binary serving (hack/kratos.sh's pid files of before
# hack/lib.sh's proc_start hold a bare pid).
MATCH="$BIN serve"

ready() {
  curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$PUBLIC_PORT/health/ready" &&
    curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$ADMIN_PORT/health/ready"
}

ensure_curl() {
  command -v curl >/dev/null && return
  log "kratos: installing curl"
  apt_install curl
}

# fresh_postgres_db points DSN at a newly created database wuxiao_kratos on
# hack/postgres.sh's server.
fresh_postgres_db() {
  hack/postgres.sh status >/dev/null 2>&1 || die "kratos: its database server is not running: start hack/postgres.sh first (hack/infra.sh up does)"
  local admin
  admin=$(hack/postgres.sh env | sed -n 's/^WUXIAO_TEST_POSTGRES_URL=//p')
  [ -n "$admin" ] || die "kratos: hack/postgres.sh env printed no WUXIAO_TEST_POSTGRES_URL"
  log "kratos: creating a fresh database wuxiao_kratos"
  PGOPTIONS='--client-min-messages=warning' psql -q -v ON_ERROR_STOP=1 "$admin" -c 'DROP DATABASE IF EXISTS wuxiao_kratos WITH (FORCE)' -c 'CREATE DATABASE wuxiao_kratos' >/dev/null ||
    die "kratos: could not create database wuxiao_kratos on $(redact "$admin")"
  DSN="${admin%%\?*}"
  # A pool of up to 20 for the tests' bursts, but at rest (issue 18: a
  # district at rest holds at most half of PostgreSQL's connections) at
  # most 2 idle ones, closed after 10 s idle (ory/x sqlcon; the defaults
  # keep as many idle as CPUs, with no idle time limit).
  DSN="${DSN%/*}/wuxiao_kratos?sslmode=disable&max_conns=20&max_idle_conns=2&max_conn_idle_time=10s"
}

# Environment the config file does not carry: ports and DSN are per run.
kratos_env() {
  export DSN="$DSN" LOG_LEVEL="${WUXIAO_KRATOS_LOG_LEVEL:-warning}" LOG_FORMAT=text
  export SERVE_PUBLIC_HOST=127.0.0.1 SERVE_PUBLIC_PORT="$PUBLIC_PORT"
  export SERVE_PUBLIC_BASE_URL="$PUBLIC_BASE_URL"
  export SELFSERVICE_METHODS_LINK_CONFIG_BASE_URL="$PUBLIC_BASE_URL"
  export SERVE_ADMIN_HOST=127.0.0.1 SERVE_ADMIN_PORT="$ADMIN_PORT"
  export SERVE_ADMIN_BASE_URL="http://127.0.0.1:$ADMIN_PORT/"
  # Where browsers are sent: the gateway's pages (see the header).
  export SELFSERVICE_DEFAULT_BROWSER_RETURN_URL="$UI_URL/console"
  export SELFSERVICE_ALLOWED_RETURN_URLS='["'"$UI_URL"'/"]'
  export SELFSERVICE_FLOWS_ERROR_UI_URL="$UI_URL/auth/error"
  export SELFSERVICE_FLOWS_LOGIN_UI_URL="$UI_URL/auth/login"
  export SELFSERVICE_FLOWS_LOGOUT_AFTER_DEFAULT_BROWSER_RETURN_URL="$UI_URL/auth/login"
  export SELFSERVICE_FLOWS_REGISTRATION_UI_URL="$UI_URL/auth/registration"
  export SELFSERVICE_FLOWS_SETTINGS_UI_URL="$UI_URL/auth/settings"
  export SELFSERVICE_FLOWS_SETTINGS_AFTER_PASSWORD_DEFAULT_BROWSER_RETURN_URL="$UI_URL/console"
  export SELFSERVICE_FLOWS_RECOVERY_UI_URL="$UI_URL/auth/recovery"
  export SELFSERVICE_FLOWS_VERIFICATION_UI_URL="$UI_URL/auth/verification"
  export IDENTITY_DEFAULT_SCHEMA_ID=default IDENTITY_SCHEMAS='[{"id":"default","url":"file://'"$SCHEMA"'"}]'
}

start() {
  ensure_curl
  stop
  ports_free kratos "set WUXIAO_KRATOS_PUBLIC_PORT / WUXIAO_KRATOS_ADMIN_PORT to use others" "$PUBLIC_PORT" "$ADMIN_PORT"
  build
  local start; start=$(now)
  mkdir -p "$RUN"; : > "$LOGFILE"
  if [ "$DSN" = postgres ]; then fresh_postgres_db; fi
  kratos_env
  if [ "$DSN" != memory ]; then
    log "kratos: migrating $(redact "$DSN")"
    "$BIN" migrate sql -e --yes -c "$CONFIG" >>"$LOGFILE" 2>&1 ||
      die "kratos: migration failed, see $LOGFILE"
  fi
  log "kratos: starting on 127.0.0.1:$PUBLIC_PORT (public, base URL $PUBLIC_BASE_URL) and :$ADMIN_PORT (admin), sign-in pages at $UI_URL/auth/, DSN=$(redact "$DSN")"
  proc_start "$PIDFILE" "$LOGFILE" "$BIN" serve --dev --sqa-opt-out -c "$CONFIG"
  echo "$PUBLIC_BASE_URL $UI_URL" > "$URLSFILE"
  local rc=0
  proc_wait "$PIDFILE" 60 ready || rc=$?
  case "$rc" in
    0) log "kratos: ready in $(since "$start") (log: $LOGFILE)"; return ;;
    1) tail -n 20 "$LOGFILE" >&2; die "kratos: exited during start-up, see $LOGFILE" ;;
  esac
  tail -n 20 "$LOGFILE" >&2
  stop
  die "kratos: not ready after 60 s, see $LOGFILE"
}

stop() { proc_stop -t 10 -m "$MATCH" kratos "$PIDFILE"; }

# status: running, ready, and started with the browser URLs this caller
# wants (else hack/infra.sh up restarts it rather than reuse it).
status() {
  proc_running "$PIDFILE" "$MATCH" && ready || return 1
  local have; have=$(cat "$URLSFILE" 2>/dev/null || true)
  if [ -z "${WUXIAO_KRATOS_REUSE_ANY:-}" ] && [ "$have" != "$PUBLIC_BASE_URL $UI_URL" ]; then
    echo "kratos: running with browser URLs ${have:-unknown}, wanted $PUBLIC_BASE_URL $UI_URL" >&2
    return 1
  fi
}

env_() {
  echo "WUXIAO_TEST_KRATOS_PUBLIC_URL=http://127.0.0.1:$PUBLIC_PORT"
  echo "WUXIAO_TEST_KRATOS_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT"
}

case "${1:-}" in
  build) build; echo "$BIN" ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_ ;;
  *) echo "usage: $0 build|start|stop|status|env" >&2; exit 2 ;;
esac
