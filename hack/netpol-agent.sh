#!/usr/bin/env bash
# The one-node cluster's NetworkPolicy agent: sigs.k8s.io/kube-network-policies
# built from source through the Go module proxy, patched
# (hack/netpol-agent/*.patch), cached in $WUXIAO_CACHE/netpol/<version>-<patch
# sum>/. Prints the binary's path; a warm cache makes this a no-op.
#
#   hack/netpol-agent.sh          # build if needed, print the path
#
# hack/district.sh runs it on the host (it needs the host's network namespace:
# it installs an nftables table that hands every new connection from or to a
# pod that a NetworkPolicy selects to a netlink queue, and answers each one
# from the policies it watches). The patch, for this machine's kernel and for
# a cluster whose servers listen on the node:
#  1. the queue statement becomes the xtables NFQUEUE target through
#     nft_compat: the kernel is built without nft_queue (CONFIG_NFT_QUEUE is
#     unset, so `nft add rule ... queue num 100` fails with "No such file or
#     directory"), while xt_NFQUEUE and nft_compat are built in;
#  2. the rules that run on POSTROUTING run on INPUT too: a pod's connection
#     to an address of the node itself (where hack/district.sh forwards
#     PostgreSQL, Kafka, Kratos and the API server) ends in INPUT and would
#     never be checked;
#  3. a --kubeconfig flag: upstream only reads the in-cluster configuration
#     (a pod's service account), and the agent runs on the node.
# Everything else, the policy evaluation included, is upstream's.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

KNP_VERSION="${KNP_VERSION:-v0.8.0}"
patch_file="$PWD/hack/netpol-agent/kube-network-policies-$KNP_VERSION.patch"
[ -f "$patch_file" ] || die "netpol-agent: no patch for $KNP_VERSION ($patch_file)"
sum=$(sha256sum < "$patch_file" | cut -c1-12)
dir="$WUXIAO_CACHE/netpol/$KNP_VERSION-$sum"
bin="$dir/kube-network-policies"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

build() {
  [ -x "$bin" ] && return
  local start src moddir; start=$(now)
  command -v patch >/dev/null || apt_install patch
  log "netpol-agent: building sigs.k8s.io/kube-network-policies@$KNP_VERSION (patched; about 2 min cold)"
  rm -rf "$dir"; mkdir -p "$dir"
  moddir=$(cd "$dir" && GOFLAGS='' go mod download -json "sigs.k8s.io/kube-network-policies@$KNP_VERSION" |
    sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$moddir" ] || die "netpol-agent: could not download sigs.k8s.io/kube-network-policies@$KNP_VERSION"
  src="$dir/src"
  cp -r "$moddir" "$src"; chmod -R u+w "$src"
  (cd "$src" && patch -p1 --quiet < "$patch_file")
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$bin.tmp" ./cmd)
  mv "$bin.tmp" "$bin"
  log "netpol-agent: built in $(since "$start") -> $bin"
}

with_lock "$WUXIAO_CACHE/netpol/.lock" build
echo "$bin"
