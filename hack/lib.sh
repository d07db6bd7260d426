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

# port_busy PORT: something already listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# apt_install PKG...: install Debian packages; serialised between our scripts
# (infra.sh starts them in parallel) and waiting for any other dpkg user.
apt_install() { with_lock "$WUXIAO_CACHE/.lock-apt" apt_install_locked "$@"; }
apt_install_locked() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >&2
}
