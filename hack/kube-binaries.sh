#!/usr/bin/env bash
# Builds Kubernetes control-plane binaries (and etcd) from source through the Go
# module proxy, because prebuilt downloads are not reachable on these machines.
# Binaries are cached by version in $WUXIAO_CACHE/kube/<version>/bin; a warm
# cache makes this a no-op. Prints the bin directory on stdout (use it as
# KUBEBUILDER_ASSETS for envtest).
#
#   hack/kube-binaries.sh                      # kube-apiserver + etcd (envtest)
#   hack/kube-binaries.sh kubelet kube-scheduler kubectl ...
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kube-apiserver etcd)

bindir="$WUXIAO_CACHE/kube/$KUBE_VERSION/bin"
mkdir -p "$bindir"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# The wrapper module lives in the cache, not the checkout: it carries ~300
# requirements that must stay out of the project's go.mod.
kube_wrapper() {
  local dir="$WUXIAO_CACHE/kube/$KUBE_VERSION/wrapper"
  if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
  log "kube: preparing wrapper module for k8s.io/kubernetes@$KUBE_VERSION"
  rm -rf "$dir"; mkdir -p "$dir"
  local gomod
  gomod=$(cd "$dir" && GOFLAGS='' go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
  local staging="v0.${KUBE_VERSION#v1.}"
  {
    echo "module wuxiao.local/kube-wrapper"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    # Each staging module is replaced by its published release of the same version.
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
  } > "$dir/go.mod"
  log "kube: $(grep -c '^replace' "$dir/go.mod") staging modules replaced by $staging"
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  log "kube: resolving dependencies (go mod tidy; downloads ~1 GB on a cold module cache)"
  (cd "$dir" && go mod tidy) >&2
  touch "$dir/.ready"
  echo "$dir"
}

etcd_wrapper() {
  local dir="$WUXIAO_CACHE/kube/etcd-$ETCD_VERSION/wrapper"
  if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
  log "etcd: preparing wrapper module for go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  rm -rf "$dir"; mkdir -p "$dir"
  cat > "$dir/go.mod" <<GOMOD
module wuxiao.local/etcd-wrapper

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$dir" && go mod tidy) >&2
  touch "$dir/.ready"
  echo "$dir"
}

ldflags_for_kube() {
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f="$f -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    f="$f -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w $f"
}

build_one() {
  local c=$1 out="$bindir/$1"
  if [ -x "$out" ]; then log "$c: cached ($out)"; return; fi
  local start; start=$(now)
  case "$c" in
    etcd)
      local w; w=$(etcd_wrapper)
      log "etcd: building $ETCD_VERSION (about 1.5 min cold)"
      (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3) ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kubectl)
      local w; w=$(kube_wrapper)
      # Measured cold on 2 cores: kube-apiserver 5m18s; the others then
      # reuse most of its build cache (controller-manager 1m37s, the rest <35s).
      local est="under 1 min after kube-apiserver"
      case "$c" in
        kube-apiserver) est="about 5-6 min on a cold 2-core machine" ;;
        kube-controller-manager) est="about 1.5 min after kube-apiserver" ;;
      esac
      log "$c: building $KUBE_VERSION ($est)"
      (cd "$w" && go build -trimpath -ldflags "$(ldflags_for_kube)" -o "$out.tmp" "k8s.io/kubernetes/cmd/$c") ;;
    *) die "unknown component $c (known: kube-apiserver etcd kube-controller-manager kube-scheduler kubelet kubectl)" ;;
  esac
  mv "$out.tmp" "$out"
  log "$c: built in $(since "$start") -> $out"
}

for c in "${components[@]}"; do
  with_lock "$WUXIAO_CACHE/kube/.lock-$c" build_one "$c"
done
echo "$bindir"
