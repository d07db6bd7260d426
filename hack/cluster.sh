#!/usr/bin/env bash
# A real one-node Kubernetes cluster on this machine, built from source: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and a kubelet on
# Debian's containerd, runc and CNI plugins. Pods really run (in their own
# network namespaces on a bridge in 198.18.0.0/24); every listener is on
# loopback. Images come from hack/images (no Docker, no registry).
#
#   hack/cluster.sh up              # install/build what is missing, start everything, wait for the node Ready
#   hack/cluster.sh down            # stop everything and undo what the kubelet changed on the host (idempotent)
#   hack/cluster.sh status          # exit 0 when every component runs and the node is Ready
#   hack/cluster.sh env             # print `export KUBECONFIG=...` (and PATH with kubectl)
#   hack/cluster.sh load TAR...     # import image tarballs (go run ./hack/images) into the cluster's containerd
#   hack/cluster.sh smoke           # run a 2-replica Deployment of wuxiao.local/hello, reach it, delete it
#
# State lives in ${WUXIAO_RUN:-$WUXIAO_CACHE/run}/cluster: pki/ and the
# containerd image store persist across up/down; etcd data, the kubelet's
# root and the pod network's address leases start empty on every `up`.
# Logs: <state>/logs/<component>.log. Not provided (yet): kube-proxy, cluster
# DNS, `kubectl logs/exec` (the kubelet listens on loopback, the node's
# address is the host's).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

ST="${WUXIAO_RUN:-$WUXIAO_CACHE/run}/cluster"
NODE=wuxiao-node
TAG=dev
# Fixed loopback ports, away from hack/infra.sh's (25432, 29092/29093,
# 24433/24434) and below the ephemeral range.
P_ETCD=22379 P_ETCD_PEER=22380 P_API=26443 P_KCM=20257 P_SCHED=20259 P_KUBELET=20250 P_KUBELET_HEALTHZ=20248
POD_SUBNET=198.18.0.0/24 POD_GATEWAY=198.18.0.1 SERVICE_CIDR=198.19.0.0/16 SERVICE_IP=198.19.0.1
BRIDGE=wuxiao0
PKI="$ST/pki" LOGS="$ST/logs" PIDS="$ST/pids" HOST="$ST/host"
CTRD="$ST/containerd" SOCK="$ST/containerd/containerd.sock"
KUBECONFIG_ADMIN="$ST/admin.kubeconfig"
# Host state the kubelet or the bridge plugin change; saved by `up`, put back by `down`.
# ip_forward also flips every interface's forwarding and all.accept_redirects,
# and putting it back resets them: restore it before accept_redirects.
SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory net.ipv4.ip_forward net.ipv4.conf.all.accept_redirects)
# Paths the kubelet, containerd or CNI create outside the state directory (all
# hard-coded in them); `down` removes those that did not exist before `up`.
# (/run/mount is util-linux's, made by our umount calls.)
HOST_DIRS=(/var/lib/kubelet /var/lib/cni /var/log/pods /var/log/containers /run/containerd /run/mount)

bindir() { cat "$ST/bindir"; }
kubectl() { "$(bindir)/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
ctr_() { ctr -a "$SOCK" -n k8s.io "$@"; }

# Millisecond timings: most steps here take well under a second.
tstart() { date +%s%N; }
took() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)); }

# ---------------------------------------------------------------- processes
# hack/lib.sh's proc_* with this cluster's pid and log files.

# start_proc NAME BINARY ARGS...: run a daemon; log $LOGS/NAME.log.
start_proc() { local name=$1; shift; proc_start "$PIDS/$name.pid" "$LOGS/$name.log" "$@"; }

# pid_of NAME: the pid of our daemon NAME if it still runs.
pid_of() { proc_pid "$PIDS/$1.pid"; }

# stop_proc NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 15).
stop_proc() { proc_stop -t "${2:-15}" "cluster: $1" "$PIDS/$1.pid"; }

# wait_for_proc WHAT SECONDS NAME CMD...: wait until CMD succeeds; fail with
# the tail of NAME's log when the daemon NAME exits or SECONDS pass.
wait_for_proc() {
  local what=$1 secs=$2 name=$3 rc=0; shift 3
  proc_wait "$PIDS/$name.pid" "$secs" "$@" || rc=$?
  [ "$rc" -ne 0 ] || return 0
  tail -n 20 "$LOGS/$name.log" >&2
  [ "$rc" -ne 1 ] || die "cluster: $name exited while waiting for $what; see $LOGS/$name.log"
  die "cluster: timed out after ${secs}s waiting for $what; see $LOGS/$name.log"
}

# ------------------------------------------------------------- preparation

ensure_packages() {
  local missing=() p
  for p in containerd:/usr/bin/containerd runc:/usr/sbin/runc containernetworking-plugins:/usr/lib/cni/bridge \
    iptables:/usr/sbin/iptables conntrack:/usr/sbin/conntrack socat:/usr/bin/socat; do
    [ -x "${p#*:}" ] || missing+=("${p%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "cluster: installing Debian packages: ${missing[*]}"
  apt_install "${missing[@]}"
}

ensure_binaries() {
  local start dir; start=$(tstart)
  dir=$(hack/kube-binaries.sh etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl {LOCKFD}>&-)
  echo "$dir" > "$ST/bindir"
  log "cluster: binaries ready in $(took "$start") ($dir)"
}

# cert NAME CN [O] [SANS] [USAGE]: a key and a certificate signed by our CA.
cert() {
  local name=$1 cn=$2 org=${3:-} sans=${4:-} usage=${5:-clientAuth} subj ext
  [ -f "$PKI/$name.crt" ] && return
  subj="/CN=$cn${org:+/O=$org}"
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage${sans:+
subjectAltName=$sans}"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 825 -sha256 -extfile <(echo "$ext") -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr"
}

ensure_pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    log "cluster: creating a CA and certificates in $PKI"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=wuxiao-local-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  cert etcd-server etcd "" "IP:127.0.0.1,DNS:localhost" serverAuth,clientAuth
  cert apiserver-etcd-client kube-apiserver-etcd-client
  # The pod gateway's address: pods reach the API server through a forwarder
  # there (hack/district.sh). A certificate made before it was added is renewed.
  if [ -f "$PKI/apiserver.crt" ] && ! openssl x509 -in "$PKI/apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep -qF "IP Address:$POD_GATEWAY"; then
    rm -f "$PKI/apiserver.crt" "$PKI/apiserver.key"
  fi
  cert apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:$POD_GATEWAY,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" serverAuth
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert admin admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert kubelet "system:node:$NODE" system:nodes
  cert kubelet-serving "system:node:$NODE" system:nodes "IP:127.0.0.1,DNS:$NODE,DNS:localhost" serverAuth
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  chmod 600 "$PKI"/*.key
}

# kubeconfig FILE CERTNAME: credentials of one client, certificates embedded.
kubeconfig() {
  local b64='base64 -w0'
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: wuxiao-local
  cluster:
    server: https://127.0.0.1:$P_API
    certificate-authority-data: $($b64 < "$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $($b64 < "$PKI/$2.crt")
    client-key-data: $($b64 < "$PKI/$2.key")
contexts:
- name: wuxiao-local
  context: {cluster: wuxiao-local, user: $2}
current-context: wuxiao-local
EOF
  chmod 600 "$1"
}

write_configs() {
  mkdir -p "$ST/kubeconfig" "$CTRD" "$ST/cni/net.d" "$ST/kubelet"
  kubeconfig "$KUBECONFIG_ADMIN" admin
  kubeconfig "$ST/kubeconfig/controller-manager" controller-manager
  kubeconfig "$ST/kubeconfig/scheduler" scheduler
  kubeconfig "$ST/kubeconfig/kubelet" kubelet

  # restrict_oom_score_adj: root on these VMs lacks CAP_SYS_RESOURCE, and runc
  # fails ("can't get final child's PID from pipe") when asked to lower it.
  cat > "$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
[grpc]
  address = "$SOCK"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "wuxiao.local/pause:$TAG"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CTRD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$ST/cni/net.d"
EOF

  # No ipMasq and no portmap: the bridge plugin then adds no iptables rules.
  # Pods get routes to the benchmarking range only.
  cat > "$ST/cni/net.d/10-wuxiao.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "wuxiao",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$ST/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "198.18.0.0/15"}]
      }
    }
  ]
}
EOF

  # failCgroupV1/cgroupfs: these VMs have cgroup v1 controllers (cgroup2 only
  # at /sys/fs/cgroup/unified). Loose eviction thresholds: a developer's disk
  # being 90% full must not taint the only node.
  cat > "$ST/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $P_KUBELET
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $P_KUBELET_HEALTHZ
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet-serving.crt"
tlsPrivateKeyFile: "$PKI/kubelet-serving.key"
containerRuntimeEndpoint: "unix://$SOCK"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: "$ST/kubelet/pod-logs"
# 12 towns x 4 services, the operator and headroom for rolling updates.
maxPods: 80
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%", nodefs.inodesFree: "2%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
# Otherwise the kubelet adds KUBE-FIREWALL (a DROP rule in INPUT/OUTPUT) and
# canary chains to the host's iptables; nothing here needs them.
makeIPTablesUtilChains: false
EOF
}

# save_host_state: only on the first `up` after a `down`, so that a second
# `up` does not record the kubelet's own values as "the host's".
save_host_state() {
  [ -f "$HOST/saved" ] && return
  mkdir -p "$HOST"
  local k d
  for k in "${SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k")"; done > "$HOST/sysctl"
  for d in "${HOST_DIRS[@]}"; do [ -e "$d" ] || echo "$d"; done > "$HOST/absent-dirs"
  for d in /sys/fs/cgroup/*/; do [ -e "${d}kubepods" ] || echo "${d}kubepods"; done > "$HOST/absent-cgroups"
  local ipt
  for ipt in iptables ip6tables; do "$ipt-save" > "$HOST/$ipt" 2>/dev/null || true; done
  touch "$HOST/saved"
}

# ---------------------------------------------------------------- commands

etcd_healthy() {
  curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" --key "$PKI/apiserver-etcd-client.key" \
    "https://127.0.0.1:$P_ETCD/health" | grep -q '"health":"true"'
}
api_ready() { kubectl get --raw /readyz >/dev/null 2>&1; }
node_ready() {
  [ "$(kubectl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

up() {
  local t0 t; t0=$(tstart)
  mkdir -p "$ST"
  if status >/dev/null 2>&1; then log "cluster: already running and Ready, reusing it"; return; fi
  trap '[ $? -eq 0 ] || log "cluster: up failed; logs in $LOGS; hack/cluster.sh down stops what was started and restores the host"' EXIT
  down_locked quiet
  ensure_packages
  ensure_binaries
  ports_free cluster "stop it (or a cluster of another checkout: its hack/cluster.sh down)" \
    "$P_ETCD" "$P_ETCD_PEER" "$P_API" "$P_KCM" "$P_SCHED" "$P_KUBELET" "$P_KUBELET_HEALTHZ"
  ensure_pki
  write_configs
  save_host_state
  local bin; bin=$(bindir)
  rm -rf "$ST/etcd" "$ST/kubelet/root" "$ST/kubelet/pod-logs" "$ST/cni/ipam"

  t=$(tstart); log "cluster: starting etcd on 127.0.0.1:$P_ETCD"
  start_proc etcd "$bin/etcd" --name wuxiao --data-dir "$ST/etcd" \
    --listen-client-urls "https://127.0.0.1:$P_ETCD" --advertise-client-urls "https://127.0.0.1:$P_ETCD" \
    --listen-peer-urls "http://127.0.0.1:$P_ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$P_ETCD_PEER" \
    --initial-cluster "wuxiao=http://127.0.0.1:$P_ETCD_PEER" \
    --cert-file "$PKI/etcd-server.crt" --key-file "$PKI/etcd-server.key" \
    --client-cert-auth --trusted-ca-file "$PKI/ca.crt" --unsafe-no-fsync --log-level warn
  wait_for_proc etcd 60 etcd etcd_healthy
  log "cluster: etcd healthy ($(took "$t"))"

  t=$(tstart); log "cluster: starting kube-apiserver on 127.0.0.1:$P_API"
  # --endpoint-reconciler-type=none: with a loopback-only listener the
  # default reconciler refuses to publish the `kubernetes` endpoints.
  start_proc kube-apiserver "$bin/kube-apiserver" \
    --bind-address 127.0.0.1 --secure-port "$P_API" --endpoint-reconciler-type none \
    --etcd-servers "https://127.0.0.1:$P_ETCD" --etcd-cafile "$PKI/ca.crt" \
    --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction --allow-privileged=false --profiling=false \
    --cert-dir "$ST/apiserver-certs"
  wait_for_proc "kube-apiserver /readyz" 120 kube-apiserver api_ready
  log "cluster: kube-apiserver ready ($(took "$t"))"

  t=$(tstart); log "cluster: starting kube-controller-manager, kube-scheduler, containerd"
  start_proc kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$ST/kubeconfig/controller-manager" \
    --authentication-kubeconfig "$ST/kubeconfig/controller-manager" --authorization-kubeconfig "$ST/kubeconfig/controller-manager" \
    --bind-address 127.0.0.1 --secure-port "$P_KCM" --cert-dir "$ST/controller-manager-certs" --leader-elect=false \
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" --use-service-account-credentials \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false
  start_proc kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$ST/kubeconfig/scheduler" \
    --authentication-kubeconfig "$ST/kubeconfig/scheduler" --authorization-kubeconfig "$ST/kubeconfig/scheduler" \
    --bind-address 127.0.0.1 --secure-port "$P_SCHED" --cert-dir "$ST/scheduler-certs" --leader-elect=false --profiling=false
  start_proc containerd /usr/bin/containerd --config "$CTRD/config.toml"
  wait_for_proc containerd 60 containerd ctr -a "$SOCK" version
  log "cluster: containerd ready ($(took "$t"))"

  t=$(tstart)
  # Rebuilt every time (a second when cached), so a changed source is never stale.
  go run ./hack/images -out "$ST/images" -tag "$TAG" ./hack/images/pause {LOCKFD}>&-
  load "$ST/images/pause.tar"
  log "cluster: pause image loaded ($(took "$t"))"

  t=$(tstart); log "cluster: starting kubelet (node $NODE)"
  start_proc kubelet "$bin/kubelet" --config "$ST/kubelet/config.yaml" --kubeconfig "$ST/kubeconfig/kubelet" \
    --root-dir "$ST/kubelet/root" --cert-dir "$ST/kubelet/pki" --hostname-override "$NODE" --v 1
  wait_for_proc "node $NODE Ready" 180 kubelet node_ready
  log "cluster: node $NODE Ready ($(took "$t"))"
  log "cluster: up in $(took "$t0"); use: eval \"\$(hack/cluster.sh env)\"; logs in $LOGS"
}

# down_locked [quiet]: stop in reverse order; pods first, while the kubelet can
# still tear their sandboxes down properly (CNI DEL, netns unmount).
down_locked() {
  local t0 i; t0=$(tstart)
  [ -d "$ST" ] || return 0
  stop_proc kube-controller-manager
  stop_proc kube-scheduler
  if pid_of kubelet >/dev/null && api_ready; then
    log "cluster: deleting all pods"
    kubectl delete pods --all --all-namespaces --grace-period=5 --timeout=40s >/dev/null 2>&1 ||
      log "cluster: not every pod went away in time; removing what is left directly"
  fi
  stop_proc kubelet
  if pid_of containerd >/dev/null; then
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  stop_proc containerd
  stop_proc kube-apiserver
  stop_proc etcd
  # Shims of our containerd outlive it when a container could not be deleted.
  local p
  for p in /proc/[0-9]*; do
    if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q -- "containerd-shim-runc-v2 .*-address $SOCK "; then
      log "cluster: killing leftover shim ${p#/proc/}"; kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
  # Mounts of containers, pod volumes and network namespaces, deepest first.
  local m
  for i in 1 2 3; do
    m=$(findmnt -rn -o TARGET | grep -F "$ST/" | sort -r) || break
    while IFS= read -r p; do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done <<< "$m"
  done
  ! findmnt -rn -o TARGET | grep -qF "$ST/" || log "cluster: WARNING: mounts left under $ST: $(findmnt -rn -o TARGET | grep -F "$ST/" | tr '\n' ' ')"
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || ip link delete "$BRIDGE"
  restore_host_state
  rm -rf "$ST/cni/ipam"
  [ "${1:-}" = quiet ] || log "cluster: down in $(took "$t0")"
}

restore_host_state() {
  [ -f "$HOST/saved" ] || return 0
  local kv d
  while IFS= read -r kv; do
    [ "$(sysctl -n "${kv%%=*}")" = "${kv#*=}" ] || sysctl -q -w "$kv" || log "cluster: WARNING: could not restore $kv"
  done < "$HOST/sysctl"
  # cgroups the kubelet created: remove leaves first (all are empty now).
  while IFS= read -r d; do
    if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    [ ! -d "$d" ] || log "cluster: WARNING: could not remove cgroup $d"
  done < "$HOST/absent-cgroups"
  while IFS= read -r d; do rm -rf "$d"; done < "$HOST/absent-dirs"
  remove_kubelet_chains
  rm -rf "$HOST"
}

# remove_kubelet_chains: the kubelet's utility chains, if a kubelet made them
# anyway (makeIPTablesUtilChains: false should prevent it) and they were not
# there before `up`: first the rules jumping to them, then the chains, then
# (iptables-nft) a table that did not exist before and is empty again.
remove_kubelet_chains() {
  local ipt fam table chain rule
  for ipt in iptables:ip ip6tables:ip6; do
    fam=${ipt#*:} ipt=${ipt%:*}
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle; do
      for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        "$ipt" -w -t "$table" -S "$chain" >/dev/null 2>&1 || continue
        ! grep -q -- "^:$chain " "$HOST/$ipt" 2>/dev/null || continue
        { "$ipt" -w -t "$table" -S | grep -E -- "-j $chain( |\$)" || true; } | while IFS= read -r rule; do
          eval "$ipt -w -t $table ${rule/#-A/-D}" || true
        done
        "$ipt" -w -t "$table" -F "$chain" && "$ipt" -w -t "$table" -X "$chain" &&
          log "cluster: removed $ipt chain $table/$chain"
      done
      # Not `! ... | grep -q`: under pipefail, iptables killed by SIGPIPE when
      # grep quits early would count as "no rules".
      # shellcheck disable=SC2143
      if [ -f "$HOST/$ipt" ] && ! grep -q "^\*$table\$" "$HOST/$ipt" && command -v nft >/dev/null &&
        nft list table "$fam" "$table" >/dev/null 2>&1 &&
        [ -z "$("$ipt" -w -t "$table" -S 2>/dev/null | grep -v '^-P .* ACCEPT$')" ]; then
        nft delete table "$fam" "$table" && log "cluster: removed empty $ipt table $table"
      fi
    done
  done
}

status() {
  local c ok=0
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet; do
    if pid_of "$c" >/dev/null; then echo "$c: running"; else echo "$c: not running"; ok=1; fi
  done
  if [ -f "$ST/bindir" ] && node_ready; then echo "node $NODE: Ready"; else echo "node $NODE: not Ready"; ok=1; fi
  return $ok
}

load() {
  [ $# -gt 0 ] || die "usage: $0 load IMAGE.tar..."
  pid_of containerd >/dev/null || die "cluster: containerd is not running (hack/cluster.sh up)"
  local f
  for f in "$@"; do
    [ -f "$f" ] || die "cluster: no such file: $f"
    ctr_ images import "$f" >&2 || die "cluster: could not import $f"
  done
}

smoke() {
  local ns=wuxiao-smoke t t0; t0=$(tstart)
  status >/dev/null || die "cluster: not running or node not Ready (hack/cluster.sh up)"
  t=$(tstart)
  go run ./hack/images -out "$ST/images" -tag "$TAG" ./hack/images/hello
  load "$ST/images/hello.tar"
  log "smoke: image wuxiao.local/hello:$TAG built and loaded ($(took "$t"))"
  kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
  kubectl create namespace "$ns" >/dev/null
  # Pods are refused until the namespace's default ServiceAccount exists.
  wait_for 60 kubectl -n "$ns" get serviceaccount default || die "smoke: timed out after 60s waiting for ServiceAccount $ns/default"
  t=$(tstart)
  kubectl -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 3
      securityContext: {runAsNonRoot: true}
      containers:
      - name: hello
        image: wuxiao.local/hello:$TAG
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: 8080}]
EOF
  if ! kubectl -n "$ns" rollout status deployment/hello --timeout=120s >&2; then
    kubectl -n "$ns" get pods -o wide >&2; kubectl -n "$ns" get events >&2
    die "smoke: Deployment hello did not become Ready"
  fi
  log "smoke: Deployment hello 2/2 Ready in $(took "$t")"
  t=$(tstart)
  local body=""
  for _ in $(seq 1 50); do
    body=$(kubectl get --raw "/api/v1/namespaces/$ns/services/hello:8080/proxy/healthz" 2>/dev/null) && [ "$body" = ok ] && break
    sleep 0.2
  done
  [ "$body" = ok ] || die "smoke: service proxy to hello/healthz answered '$body'"
  log "smoke: /healthz through the API server's service proxy answered ok ($(took "$t"))"
  t=$(tstart)
  kubectl delete namespace "$ns" --wait=true --timeout=120s >/dev/null
  log "smoke: namespace deleted ($(took "$t")); smoke passed in $(took "$t0")"
}

[ "$(id -u)" -eq 0 ] || [ "${1:-}" = env ] || die "cluster: needs root (containerd, the kubelet and network namespaces)"
case "${1:-}" in
  # One up/down at a time (hack/lib.sh's locked; daemons never inherit the lock).
  up) locked "$ST/.lock" up ;;
  down) locked "$ST/.lock" down_locked ;;
  status) status ;;
  env) echo "export KUBECONFIG='$KUBECONFIG_ADMIN'"
       [ ! -f "$ST/bindir" ] || echo "export PATH='$(bindir)':\"\$PATH\"" ;;
  load) shift; load "$@" ;;
  smoke) smoke ;;
  *) echo "usage: $0 up|down|status|env|load IMAGE.tar...|smoke" >&2; exit 2 ;;
esac
