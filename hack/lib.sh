# shellcheck shell=bash
# Shared helpers for hack/ scripts. Source it; do not run it.
# Everything expensive is cached outside the checkout so that a fresh clone on
# the same machine (CI does exactly that) reuses it.

# A failure inside $(...) must stop the script too (bash ignores set -e there).
shopt -s inherit_errexit

WUXIAO_CACHE="${WUXIAO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wuxiao}"
mkdir -p "$WUXIAO_CACHE"

# Versions are pinned here, in one place. KUBE_VERSION must match the
# k8s.io/client-go minor in go.mod (v0.37.x <-> v1.37.x).
KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

# with_lock FILE CMD...: serialise concurrent builds of the same cache entry.
with_lock() { local f=$1; shift; mkdir -p "$(dirname "$f")"; ( flock 9; "$@" ) 9>"$f"; }

# Elapsed time helper: start=$(now); ...; log "took $(since "$start")".
now()   { date +%s; }
since() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s/60)) $((s%60)); }

# newest FILE...: print the most recently modified of FILEs that exist
# (typically a glob; nothing when none matched).
newest() {
  local f n=""
  for f in "$@"; do
    if [ -e "$f" ] && { [ -z "$n" ] || [ "$f" -nt "$n" ]; }; then n=$f; fi
  done
  [ -z "$n" ] || echo "$n"
}

# apt_install PKG...: install Debian packages; serialised between our scripts
# (infra.sh starts them in parallel) and waiting for any other dpkg user.
apt_install() { with_lock "$WUXIAO_CACHE/.lock-apt" apt_install_locked "$@"; }
apt_install_locked() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >&2
}

# ------------------------------------------------------------------ ports

# tcp_open HOST PORT: something accepts connections on HOST:PORT.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# port_busy PORT: something already listens on 127.0.0.1:PORT.
port_busy() { tcp_open 127.0.0.1 "$1"; }

# ports_free WHO HINT PORT...: die unless every 127.0.0.1:PORT is free. The
# message says "already in use" (services/internal/testinfra looks for it to
# try other ports).
ports_free() {
  local who=$1 hint=$2 p busy=(); shift 2
  for p in "$@"; do port_busy "$p" && busy+=("$p"); done
  [ ${#busy[@]} -eq 0 ] || die "$who: 127.0.0.1 port(s) ${busy[*]} already in use by another process; $hint"
}

# --------------------------------------------------------------- waiting

# wait_for SECONDS CMD...: run CMD (output discarded) every 0.2 s until it
# succeeds; fails once SECONDS have passed.
wait_for() {
  local secs=$1 i; shift
  for ((i = 0; ; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    ((i < secs * 5)) || return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------- daemons
#
# The one way hack/ scripts start, find, wait for and stop the processes they
# leave running (PostgreSQL excepted: pg_ctl and its postmaster.pid do that
# job for it). A daemon runs in its own session, so that an interrupted
# script does not take it down, and is recorded in a pid file as
# "PID STARTTIME EXE": the pid with the process's start time names exactly
# one process, so a stale pid file, whose pid may name another program by
# now, never leads to signalling a stranger. EXE is for the reader. Older
# pid files ("PID EXE" of cluster.sh and district.sh, a bare "PID" of
# kafka.sh and kratos.sh and of services/internal/testinfra's restarted
# broker) are still understood.

# LOCKFD: the descriptor of a lock held with `locked`; daemons never inherit
# it. Closing a descriptor that is not open is harmless, hence a default.
LOCKFD=${LOCKFD:-199}

# locked FILE CMD...: run CMD holding an exclusive lock on FILE (one up/down
# at a time). Commands that outlive the script must close {LOCKFD}
# (proc_start does).
locked() {
  local f=$1; shift
  mkdir -p "$(dirname "$f")"
  exec {LOCKFD}>"$f"
  flock "$LOCKFD"
  "$@"
}

# proc_starttime PID: when the process started, in clock ticks since boot
# (field 22 of /proc/PID/stat; the fields after the command name, which may
# hold spaces and parentheses, start at field 3).
proc_starttime() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -r -a fields <<< "${stat##*) }"
  echo "${fields[19]}"
}

# proc_alive PID: the process exists and is not a zombie.
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# proc_start PIDFILE LOGFILE BIN ARGS...: run BIN ARGS as a daemon, stdin from
# /dev/null, stdout and stderr appended to LOGFILE after a header line, and
# record it in PIDFILE. $PROC_PID is its pid.
proc_start() {
  local pidfile=$1 logfile=$2 bin=$3 exe start; shift 3
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  exe=$(readlink -f "$(command -v "$bin")") || die "$bin: no such program"
  printf -- '--- %s %s\n' "$(date -Is)" "$bin $*" >> "$logfile"
  # setsid execs BIN in place (a background job is no process group leader),
  # so $! is the daemon itself.
  setsid "$bin" "$@" >> "$logfile" 2>&1 < /dev/null {LOCKFD}>&- &
  PROC_PID=$!
  # A daemon that exited at once gets start time 0: never taken for running.
  start=$(proc_starttime "$PROC_PID") || start=0
  echo "$PROC_PID $start $exe" > "$pidfile"
}

# proc_pid PIDFILE [MATCH]: print the pid of the daemon PIDFILE records if it
# still runs (and its command line contains MATCH). Otherwise the pid file is
# removed and the status is 1.
proc_pid() {
  local f=$1 match=${2:-} pid="" a="" ok=0 cmd
  [ -f "$f" ] || return 1
  { read -r pid a _ < "$f"; } 2>/dev/null || true
  if [[ $pid =~ ^[0-9]+$ ]] && proc_alive "$pid"; then
    if [[ $a =~ ^[0-9]+$ ]]; then
      [ "$(proc_starttime "$pid")" = "$a" ] && ok=1
    elif [ -n "$a" ]; then
      [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$a" ] && ok=1
    elif [ -n "$match" ]; then
      ok=1 # a bare pid: its command line decides
    fi
    if [ "$ok" = 1 ] && [ -n "$match" ]; then
      cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || cmd=""
      [[ $cmd == *"$match"* ]] || ok=0
    fi
  fi
  if [ "$ok" = 1 ]; then echo "$pid"; return 0; fi
  rm -f "$f"
  return 1
}

# proc_running PIDFILE [MATCH]: the daemon runs (proc_pid without output).
proc_running() { proc_pid "$@" >/dev/null; }

# proc_wait PIDFILE SECONDS CMD...: run CMD (output discarded) every 0.2 s
# until it succeeds (status 0), the daemon PIDFILE records is gone (1) or
# SECONDS have passed (2).
proc_wait() {
  local f=$1 secs=$2 i; shift 2
  for ((i = 0; ; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    proc_running "$f" || return 1
    ((i < secs * 5)) || return 2
    sleep 0.2
  done
}

# proc_stop [-t SECONDS] [-s SIGNAL] [-m MATCH] LABEL PIDFILE: send SIGNAL
# (default TERM) to the daemon PIDFILE records (if it runs: see proc_pid for
# MATCH), wait up to SECONDS (default 15) for it to exit, then SIGKILL it.
# Logs as LABEL; removes the pid file. $PROC_KILLED is 1 when it took
# SIGKILL, else 0.
proc_stop() {
  local secs=15 sig=TERM match="" opt OPTIND=1 pid i
  while getopts t:s:m: opt; do
    case "$opt" in
      t) secs=$OPTARG ;;
      s) sig=$OPTARG ;;
      m) match=$OPTARG ;;
      *) die "usage: proc_stop [-t SECONDS] [-s SIGNAL] [-m MATCH] LABEL PIDFILE" ;;
    esac
  done
  shift $((OPTIND - 1))
  local label=$1 f=$2
  PROC_KILLED=0
  pid=$(proc_pid "$f" "$match") || return 0
  log "$label: stopping pid $pid (SIG$sig)"
  kill -s "$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    proc_alive "$pid" || break
    sleep 0.1
  done
  if proc_alive "$pid"; then
    log "$label: pid $pid still running after ${secs}s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    # shellcheck disable=SC2034 # read by the callers
    PROC_KILLED=1
    for ((i = 0; i < 50; i++)); do proc_alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$f"
  log "$label: stopped"
}
