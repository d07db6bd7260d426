#!/usr/bin/env bash
# One district end to end on the real one-node cluster (hack/cluster.sh): the
# sample Fenghua district with its towns' four services running as pods, the
# operator on the host (the default; what the e2e test uses) or in the cluster
# from the chart (`make dev`), and the shared infrastructure of hack/infra.sh
# made reachable from pods at the pod bridge's gateway.
#
#   hack/district.sh up [--towns a,b|--all] [--operator host|chart] [--villages N] [--gateway ADDR]
#                                             # everything below; default towns: xikou,jinping;
#                                             # default gateway address 127.0.0.1:8080
#   hack/district.sh down                     # stop the operator, the forwarders and the NetworkPolicy agent,
#                                             # then hack/cluster.sh down; drops the towns' databases (their keys went with it)
#   hack/district.sh status                   # towns/villages/pods ready, and the env below
#   hack/district.sh env                      # KUBECONFIG, PATH with kubectl, infra and pod-side addresses
#
# What `up` does, each step reused when already done:
#  1. hack/cluster.sh up, and makes sure the pod bridge owns 198.18.0.1 (the
#     CNI plugin creates it only with the first pod; listeners need it first);
#     the NetworkPolicy agent (hack/netpol-agent.sh: kube-network-policies,
#     built from source) runs on the host and enforces the towns' and the
#     gateway's policies, both ways (log: <state>/logs/netpol-agent.log);
#     hack/otlp-sink on 198.18.0.1:24318 receives the pods' traces (spans as
#     JSON lines in <state>/spans.jsonl; recent traces at /traces);
#  2. hack/infra.sh up with Kafka's second listener at 198.18.0.1:29094
#     (WUXIAO_KAFKA_POD_ADDR; a running Kafka without it is restarted, which
#     empties it), and socat forwarders 198.18.0.1:{25432,24433,24434} to
#     PostgreSQL and Kratos on loopback, and 198.18.0.1:26443 to the API
#     server (for the operator's pod). The kubernetes Service's address
#     (198.19.0.1:443, what in-cluster clients such as the gateway dial) is
#     put on the bridge too, forwarded to the API server: no kube-proxy here,
#     so that is how a pod reaches it (like kube-proxy's IPVS mode, which
#     binds Service addresses on the node). Every listener stays on loopback
#     or on the cluster's own bridge. Kratos' browser URLs are made to name
#     the gateway (ensure_kratos_gateway: a Kratos started otherwise is
#     restarted);
#  3. images of the four services and the district gateway built (go run
#     ./hack/images) and loaded;
#  4. CRDs and the admission policies applied;
#  5. --operator host (the default): the operator built into the cache and
#     started on the host (log: <state>/logs/operator.log);
#     --operator chart: its image built and loaded, and charts/wuxiao-operator
#     installed or upgraded with the Helm SDK (go run ./hack/helm-install),
#     the pod reaching the API server at 198.18.0.1:26443 (no kube-proxy
#     here); a host operator of an earlier run is stopped (and in host mode
#     the chart's Deployment scaled to 0: one operator at a time);
#  6. the samples applied through a generated kustomization (<state>/manifests):
#     the District points at the 198.18.0.1 addresses, runs wuxiao.local/*:dev
#     with imagePullPolicy Never and sends traces to $WUXIAO_E2E_OTLP (default
#     http://198.18.0.1:24318, the otlp-sink) and trusts X-Forwarded-For from
#     198.18.0.1/32 (the host gateway's and the API server proxy's source
#     address, so rate limits count each client); every Town runs one
#     replica per service with small requests; --villages N adds generated
#     illustrative villages (go run ./hack/villages) up to N in the district;
#     the district gateway runs as one replica with small requests;
#  7. waits until the chosen towns, their villages and pods are Ready;
#  8. waits until the district gateway the operator runs in the cluster
#     (namespace wuxiao-gateway, from the District's spec.gateway) is Ready,
#     and forwards ADDR on the host (--gateway, default 127.0.0.1:8080; keep
#     it on loopback) to its pod with socat (fwd-gateway): no kube-proxy, so
#     the Service's address does not route from the host. A connection that
#     finds the pod gone looks the ready one up (a rollout needs no `up`). Village portals, report pages, follow-ups and
#     Open311 go to the right town's pods, sign-in (/auth) and the console
#     (/console) use Kratos through the pod-side forwarder. Kratos' browser
#     URLs must name ADDR (hack/kratos.sh: WUXIAO_KRATOS_UI_URL and
#     WUXIAO_KRATOS_PUBLIC_BASE_URL; the defaults name 127.0.0.1:8080 for the
#     sign-in pages only).
#  9. a Prometheus on the host (Debian's package, hack/prometheus.sh) on
#     127.0.0.1:29090: it scrapes the pods with a port named "metrics" (the
#     towns' services, the gateway; the chart's operator), which
#     hack/prometheus-sd lists from the cluster's API for its HTTP service
#     discovery (on 127.0.0.1:29091), and the host operator's
#     127.0.0.1:28080, every 5 s, and evaluates
#     the chart's alert rules (charts/wuxiao-operator/monitoring/rules/
#     wuxiao-alerts.yaml) every 5 s; configuration and data in
#     <state>/prometheus, reloaded (SIGHUP) by every `up`. It runs as root on
#     the node, so the pods' NetworkPolicies do not apply to it (the agent
#     judges pod traffic; a Prometheus in the cluster is admitted by the
#     District's spec.monitoring).
#
# 12 towns × 4 services is 48 pods (the kubelet allows 80), heavy for 2
# cores: the default is two towns; --all brings up all twelve.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

ROOT=$PWD
RUN="${WUXIAO_RUN:-$WUXIAO_CACHE/run}"
ST="$RUN/district"
POD_GW=198.18.0.1 BRIDGE=wuxiao0 POD_CIDR_LEN=24
P_PG=25432 P_KAFKA=29094 P_KRATOS_PUBLIC=24433 P_KRATOS_ADMIN=24434
P_OP_METRICS=28080 P_OP_PROBE=28081 P_API=26443 P_NETPOL_METRICS=28082 P_PROMETHEUS=29090 P_PROMETHEUS_SD=29091
NODE=wuxiao-node # hack/cluster.sh's node: the agent handles the pods scheduled there
# The kubernetes Service (hack/cluster.sh's SERVICE_IP), which in-cluster
# clients dial; GW_NS is the District's default spec.gateway.namespace.
API_SVC_IP=198.19.0.1 API_SVC_PORT=443
GW_NS=wuxiao-gateway GW_PORT=8080 GW_SELECTOR=wuxiao.io/district=fenghua,wuxiao.io/service=gateway
OTLP="${WUXIAO_E2E_OTLP:-http://$POD_GW:24318}"
OP_NS=wuxiao-system OP_RELEASE=wuxiao-operator
DEFAULT_TOWNS=xikou,jinping
TAG=dev
SERVICES=(workflow disclosure complaint inspection)
TIMEOUT="${WUXIAO_DISTRICT_TIMEOUT:-900}"
OPERATOR=host VILLAGES=

kenv() { hack/cluster.sh env; }
kubectl() {
  local kc bin
  kc=$(kenv | sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p")
  bin=$(cat "$RUN/cluster/bindir")
  "$bin/kubectl" --kubeconfig "$kc" "$@"
}

# ------------------------------------------------------------ processes
# hack/lib.sh's proc_* with the district's pid and log files.

# start_proc NAME BINARY ARGS...: run a daemon; log $ST/logs/NAME.log.
start_proc() { local name=$1; shift; proc_start "$ST/pids/$name.pid" "$ST/logs/$name.log" "$@"; }

# pid_of NAME: the pid of our daemon NAME if it still runs.
pid_of() { proc_pid "$ST/pids/$1.pid"; }

# stop_proc NAME [SIGNAL]: SIGNAL (default TERM), then SIGKILL after 15 s.
stop_proc() { proc_stop -s "${2:-TERM}" "district: $1" "$ST/pids/$1.pid"; }

# ensure_daemon NAME PKG ARGS...: build the Go command PKG into the cache and
# run it, reusing a running one whose binary did not change.
ensure_daemon() {
  local name=$1 pkg=$2 bin="$WUXIAO_CACHE/bin/$1"; shift 2
  mkdir -p "$(dirname "$bin")"
  go build -o "$bin.new" "$pkg"
  if pid_of "$name" >/dev/null && cmp -s "$bin" "$bin.new"; then rm -f "$bin.new"; return 0; fi
  stop_proc "$name"
  mv "$bin.new" "$bin"
  start_proc "$name" "$bin" "$@"
  log "district: $name started, pid $(pid_of "$name"), log $ST/logs/$name.log"
}

# ------------------------------------------------------------- steps

# ensure_bridge: the bridge the CNI plugin uses, with the pods' gateway
# address, before any pod exists (the plugin adopts an existing bridge).
ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  # Read once, then matched: `ip | grep -q` fails under pipefail when grep
  # exits before ip has written everything (SIGPIPE).
  local addrs; addrs=$(ip -o -4 addr show dev "$BRIDGE")
  grep -qF " $POD_GW/" <<< "$addrs" || ip addr add "$POD_GW/$POD_CIDR_LEN" dev "$BRIDGE"
  # The kubernetes Service's address, local on the node: pods send it to
  # their gateway (this host), which accepts it (see ensure_infra).
  grep -qF " $API_SVC_IP/" <<< "$addrs" || ip addr add "$API_SVC_IP/32" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# ensure_infra GATEWAY: hack/infra.sh up (reuses what runs), then Kafka's pod
# listener and the forwarders. Kratos is wanted with its browser URLs naming
# the gateway (see ensure_kratos_gateway), so a running one started so is
# reused with its identities, and a fresh one starts so at once.
ensure_infra() {
  local t gw=$1; t=$(now)
  if [ -n "${WUXIAO_DISTRICT_KEEP_KRATOS:-}" ]; then
    WUXIAO_KRATOS_REUSE_ANY=1 WUXIAO_KAFKA_POD_ADDR=$POD_GW hack/infra.sh up
  else
    WUXIAO_KRATOS_UI_URL="http://$gw" WUXIAO_KRATOS_PUBLIC_BASE_URL="http://$gw/.ory/kratos/" \
      WUXIAO_KAFKA_POD_ADDR=$POD_GW hack/infra.sh up
  fi
  if ! kafka_pod_ok; then
    log "district: Kafka has no listener at $POD_GW:$P_KAFKA; restarting it with one (its topics are lost)"
    WUXIAO_KAFKA_POD_ADDR=$POD_GW hack/kafka.sh start
    kafka_pod_ok || die "district: Kafka still does not serve $POD_GW:$P_KAFKA; see $RUN/kafka/server.log"
  fi
  local p
  for p in $P_PG $P_KRATOS_PUBLIC $P_KRATOS_ADMIN $P_API; do
    pid_of "fwd-$p" >/dev/null && continue
    tcp_open "$POD_GW" "$p" && die "district: $POD_GW:$p is taken by a process this script did not start"
    # Pods see the host's loopback services through the bridge address only.
    start_proc "fwd-$p" /usr/bin/socat "TCP-LISTEN:$p,bind=$POD_GW,fork,reuseaddr" "TCP:127.0.0.1:$p"
  done
  for p in $P_PG $P_KRATOS_PUBLIC $P_KRATOS_ADMIN $P_API; do
    wait_for 5 tcp_open "$POD_GW" "$p" || die "district: forwarder $POD_GW:$p does not accept; see $ST/logs/fwd-$p.log"
  done
  # In-cluster clients (the district gateway) dial the kubernetes Service.
  if ! pid_of fwd-api-svc >/dev/null; then
    tcp_open "$API_SVC_IP" "$API_SVC_PORT" && die "district: $API_SVC_IP:$API_SVC_PORT is taken by a process this script did not start"
    start_proc fwd-api-svc /usr/bin/socat "TCP-LISTEN:$API_SVC_PORT,bind=$API_SVC_IP,fork,reuseaddr" "TCP:127.0.0.1:$P_API"
    wait_for 5 tcp_open "$API_SVC_IP" "$API_SVC_PORT" || die "district: forwarder $API_SVC_IP:$API_SVC_PORT does not accept; see $ST/logs/fwd-api-svc.log"
  fi
  log "district: infrastructure reachable from pods at $POD_GW, the API server at $API_SVC_IP:$API_SVC_PORT ($(since "$t"))"
}

# ensure_sink: the OTLP receiver where the District sends traces.
ensure_sink() {
  local hp=${OTLP#http://}; hp=${hp%%/*}
  ensure_daemon otlp-sink ./hack/otlp-sink -listen "$hp" -out "$ST/spans.jsonl"
  wait_for 5 curl -sf "http://$hp/healthz" ||
    die "district: otlp-sink does not answer on $hp; see $ST/logs/otlp-sink.log"
}

# ensure_kratos_gateway ADDR: Kratos' browser URLs name the gateway on ADDR
# (its forms post to http://ADDR/.ory/kratos/, its links and pages are
# http://ADDR/auth/*), so that its cookies belong to the gateway's origin.
# A Kratos started otherwise (hack/infra.sh's defaults post to Kratos itself,
# as the packages' tests need) is restarted with them: a fresh Kratos, its
# identities gone, so this runs before the operator creates any.
# WUXIAO_DISTRICT_KEEP_KRATOS=1 keeps a running Kratos as it is (a machine
# whose Kratos others are using; sign-in then posts to Kratos directly).
ensure_kratos_gateway() {
  local addr=$1 want="http://$1/.ory/kratos/" action
  action=$(curl -sf -H 'Accept: application/json' "http://127.0.0.1:$P_KRATOS_PUBLIC/self-service/login/api" |
    sed -n 's/.*"action":"\([^"]*\)".*/\1/p') || true
  case "$action" in "$want"*) return 0 ;; esac
  if [ -n "${WUXIAO_DISTRICT_KEEP_KRATOS:-}" ]; then
    log "district: WARNING: Kratos' forms post to ${action%%self-service*}, not through the gateway ($want); kept as it is (WUXIAO_DISTRICT_KEEP_KRATOS)"
    return 0
  fi
  log "district: Kratos' forms post to ${action%%self-service*}: restarting it for the gateway on http://$addr (a fresh Kratos)"
  WUXIAO_KRATOS_UI_URL="http://$addr" WUXIAO_KRATOS_PUBLIC_BASE_URL="$want" hack/kratos.sh start
}

# kafka_pod_ok: the broker's pod listener is configured and accepts.
kafka_pod_ok() {
  grep -q "POD://$POD_GW:$P_KAFKA" "$RUN/kafka/server.properties" 2>/dev/null && tcp_open "$POD_GW" "$P_KAFKA"
}

# ensure_netpol_agent: the NetworkPolicy agent on the host, reused when its
# binary and flags did not change. It hands each new connection of a pod that a policy
# selects to its netlink queue and drops what the policies do not allow: a
# connection refused by policy times out.
ensure_netpol_agent() {
  local t bin kc; t=$(now)
  bin=$(hack/netpol-agent.sh)
  if pid_of netpol-agent >/dev/null && [ "$(readlink -f "/proc/$(pid_of netpol-agent)/exe")" = "$(readlink -f "$bin")" ] &&
    tr '\0' ' ' < "/proc/$(pid_of netpol-agent)/cmdline" | grep -q -- ' -v=2'; then
    return 0
  fi
  stop_netpol_agent
  kc=$(kenv | sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p")
  # The kernel has the DNS conntrack fix (6.12+); metrics on loopback only;
  # -v=2 logs each verdict with the pods it matched, which the e2e network
  # policy test reads to tell a policy that admits from a pod the agent did
  # not know yet (about 1 MB per e2e run).
  start_proc netpol-agent "$bin" --kubeconfig "$kc" --hostname-override "$NODE" \
    --metrics-bind-address "127.0.0.1:$P_NETPOL_METRICS" --netfilter-bug-1766-fix=false -v=2
  local rc=0
  proc_wait "$ST/pids/netpol-agent.pid" 20 nft list table inet kube-network-policies || rc=$?
  case "$rc" in
    0) ;;
    1) tail -n 20 "$ST/logs/netpol-agent.log" >&2; die "district: the NetworkPolicy agent exited; see $ST/logs/netpol-agent.log" ;;
    *) die "district: the NetworkPolicy agent installed no nftables rules; see $ST/logs/netpol-agent.log" ;;
  esac
  log "district: NetworkPolicy agent running, pid $(pid_of netpol-agent), log $ST/logs/netpol-agent.log ($(since "$t"))"
}

# stop_netpol_agent: the agent removes its table on SIGINT (SIGTERM kills it
# at once); a table left behind by a killed agent would queue pods' packets
# to nobody, so it is removed too.
stop_netpol_agent() {
  stop_proc netpol-agent INT
  if nft list table inet kube-network-policies >/dev/null 2>&1; then
    nft delete table inet kube-network-policies
  fi
}

build_images() {
  local t s args=(); t=$(now)
  for s in "${SERVICES[@]}"; do args+=("./services/$s/cmd/$s"); done
  args+=(./services/gateway/cmd/gateway)
  # The e2e network policy test's probe (hack/e2e/netpol_test.go).
  args+=(./hack/e2e/netprobe)
  [ "$OPERATOR" = host ] || args+=(./operator/cmd/wuxiao-operator)
  # CA roots, zoneinfo and the PDF notices' font from the host's Debian
  # packages (hack/images/host.sh installs them and prints the flags).
  local flags host; flags=$(hack/images/host.sh); mapfile -t host <<< "$flags"
  go run ./hack/images -out "$ST/images" -tag "$TAG" "${host[@]}" "${args[@]}"
  local tars=()
  for s in "${SERVICES[@]}" gateway netprobe; do tars+=("$ST/images/$s.tar"); done
  [ "$OPERATOR" = host ] || tars+=("$ST/images/wuxiao-operator.tar")
  hack/cluster.sh load "${tars[@]}" 2>/dev/null
  log "district: images wuxiao.local/{${SERVICES[*]} gateway netprobe}:$TAG built and loaded ($(since "$t"))"
  # The tag stays :dev, so running pods would keep an old build: restart
  # the Deployments of services whose image changed since the last `up`.
  local sums; sums=$(cd "$ST/images" && sha256sum "${SERVICES[@]/%/.tar}" gateway.tar)
  if [ -f "$ST/images.sum" ] && [ "$sums" != "$(cat "$ST/images.sum")" ]; then
    for s in "${SERVICES[@]}"; do
      grep -qxF "$(grep " $s.tar\$" <<< "$sums")" "$ST/images.sum" && continue
      local ns
      for ns in $(kubectl get deployments -A -l "wuxiao.io/service=$s" -o 'jsonpath={.items[*].metadata.namespace}' 2>/dev/null); do
        kubectl -n "$ns" rollout restart "deployment/$s" >/dev/null && log "district: restarting $ns/$s (new image)"
      done
    done
    # The gateway's Deployment is the operator's, pod template included (a
    # restart annotation would be undone): its pods are replaced instead.
    if ! grep -qxF "$(grep ' gateway.tar$' <<< "$sums")" "$ST/images.sum"; then
      kubectl -n "$GW_NS" delete pods -l "$GW_SELECTOR" --wait=false >/dev/null 2>&1 &&
        log "district: replacing the gateway's pods (new image)"
    fi
  fi
  echo "$sums" > "$ST/images.sum"
}

apply_crds() {
  kubectl apply --server-side --force-conflicts -k config/crd >/dev/null
  kubectl apply --server-side --force-conflicts -k config/admission >/dev/null
  kubectl wait --for condition=Established --timeout=60s crd/districts.wuxiao.io crd/towns.wuxiao.io \
    crd/villages.wuxiao.io crd/powercatalogs.wuxiao.io >/dev/null
  log "district: CRDs and admission policies applied"
}

start_operator() {
  local t bin="$WUXIAO_CACHE/bin/wuxiao-operator" kc; t=$(now)
  # One operator at a time: the chart's, from an earlier --operator chart, stops.
  if kubectl -n "$OP_NS" get deployment "$OP_RELEASE" >/dev/null 2>&1; then
    kubectl -n "$OP_NS" scale deployment "$OP_RELEASE" --replicas=0 >/dev/null
    local i
    for ((i = 0; i < 150; i++)); do
      [ "$(kubectl -n "$OP_NS" get deployment "$OP_RELEASE" -o 'jsonpath={.status.replicas}')" -gt 0 ] 2>/dev/null || break
      sleep 0.2
    done
    log "district: scaled the chart's operator Deployment to 0 (the operator runs on the host)"
  fi
  mkdir -p "$(dirname "$bin")"
  go build -o "$bin.new" ./operator/cmd/wuxiao-operator
  kc=$(kenv | sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p")
  kubectl create namespace wuxiao-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  if pid_of operator >/dev/null && cmp -s "$bin" "$bin.new"; then
    rm -f "$bin.new"; log "district: operator already running (unchanged binary)"; return
  fi
  stop_proc operator
  mv "$bin.new" "$bin"
  KUBECONFIG=$kc start_proc operator "$bin" --archive-namespace wuxiao-system \
    --metrics-bind-address "127.0.0.1:$P_OP_METRICS" --health-probe-bind-address "127.0.0.1:$P_OP_PROBE"
  # (As before, an operator not ready after 30 s is left to wait_ready.)
  if ! proc_wait "$ST/pids/operator.pid" 30 curl -sf "http://127.0.0.1:$P_OP_PROBE/readyz"; then
    pid_of operator >/dev/null || { tail -n 20 "$ST/logs/operator.log" >&2; die "district: the operator exited; see $ST/logs/operator.log"; }
  fi
  log "district: operator running on the host, pid $(pid_of operator), log $ST/logs/operator.log ($(since "$t"))"
}

# install_operator: the operator in the cluster from the chart, with the
# Helm SDK. The image keeps the tag :dev, so its digest goes into a pod
# annotation: a new build rolls the pod, an unchanged one does not.
install_operator() {
  local t kc sum; t=$(now)
  stop_proc operator
  kc=$(kenv | sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p")
  sum=$(sha256sum < "$ST/images/wuxiao-operator.tar" | cut -c1-16)
  cat > "$ST/operator-values.yaml" <<EOF
# Generated by hack/district.sh for the local cluster.
image: {repository: wuxiao.local/wuxiao-operator, tag: $TAG, pullPolicy: Never}
podAnnotations: {wuxiao.io/image-sum: "$sum"}
resources:
  requests: {cpu: 20m, memory: 64Mi}
  limits: {memory: 512Mi}
# No kube-proxy: the kubernetes Service does not route; the API server is
# forwarded on the pod gateway (its certificate names that address).
extraEnv:
  - {name: KUBERNETES_SERVICE_HOST, value: "$POD_GW"}
  - {name: KUBERNETES_SERVICE_PORT, value: "$P_API"}
EOF
  mkdir -p "$WUXIAO_CACHE/bin"
  go build -o "$WUXIAO_CACHE/bin/helm-install" ./hack/helm-install
  "$WUXIAO_CACHE/bin/helm-install" -kubeconfig "$kc" -namespace "$OP_NS" -release "$OP_RELEASE" \
    -chart charts/wuxiao-operator -f "$ST/operator-values.yaml"
  kubectl -n "$OP_NS" scale deployment "$OP_RELEASE" --replicas=1 >/dev/null # after a host-mode run
  kubectl wait --for condition=Established --timeout=60s crd/districts.wuxiao.io crd/towns.wuxiao.io \
    crd/villages.wuxiao.io crd/powercatalogs.wuxiao.io >/dev/null
  if ! kubectl -n "$OP_NS" rollout status "deployment/$OP_RELEASE" --timeout=180s >&2; then
    kubectl -n "$OP_NS" get pods -o wide >&2 || true
    die "district: the operator's pod is not Ready; its log: $(op_log)"
  fi
  log "district: operator running in the cluster (chart charts/wuxiao-operator, release $OP_NS/$OP_RELEASE), log $(op_log) ($(since "$t"))"
}

# op_log: the operator's log file (for its pod, the kubelet's file: no
# `kubectl logs` here, the kubelet listens on loopback only).
op_log() {
  if [ "$(cat "$ST/operator-mode" 2>/dev/null)" = chart ]; then
    newest "$RUN/cluster/kubelet/pod-logs/${OP_NS}_${OP_RELEASE}"-*/manager/*.log
  else
    echo "$ST/logs/operator.log"
  fi
}

# operator_alive: false when the operator is known to be gone.
operator_alive() {
  if [ "$OPERATOR" = host ]; then pid_of operator >/dev/null; else kubectl -n "$OP_NS" get deployment "$OP_RELEASE" >/dev/null 2>&1; fi
}

# manifests TOWNS: the samples, patched for this machine, as two files:
# base.yaml (catalog, District, Towns, the admin password Secret) and
# villages.yaml (Villages of the chosen towns).
manifests() {
  local towns=$1 dir="$ST/manifests" extra=""
  rm -rf "$dir"; mkdir -p "$dir"
  if [ -n "$VILLAGES" ]; then
    go run ./hack/villages -samples config/samples -total "$VILLAGES" > "$dir/extra-villages.yaml"
    extra="  - extra-villages.yaml"
  fi
  cat > "$dir/kustomization.yaml" <<EOF
# Generated by hack/district.sh: config/samples for the local cluster.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$dir" "$ROOT/config/samples")
  - postgres-admin.yaml
$extra
patches:
  - target: {kind: District, name: fenghua}
    patch: |-
      - {op: replace, path: /spec/kafka/bootstrapServers, value: ["$POD_GW:$P_KAFKA"]}
      - {op: replace, path: /spec/kratos/publicURL, value: "http://$POD_GW:$P_KRATOS_PUBLIC"}
      - {op: replace, path: /spec/kratos/adminURL, value: "http://$POD_GW:$P_KRATOS_ADMIN"}
      - {op: replace, path: /spec/postgres/host, value: "$POD_GW"}
      - {op: replace, path: /spec/postgres/port, value: $P_PG}
      - {op: replace, path: /spec/postgres/sslMode, value: disable}
      - {op: replace, path: /spec/telemetry/otlpEndpoint, value: "$OTLP"}
      - {op: replace, path: /spec/services, value: {imageRepository: wuxiao.local, version: $TAG, imagePullPolicy: Never}}
      - {op: add, path: /spec/network, value: {trustedProxies: ["$POD_GW/32"]}}
      # One gateway pod (the host forwards to it; see forward_gateway).
      - op: add
        path: /spec/gateway
        value:
          replicas: 1
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 256Mi}
      # The district overview runs in the first chosen town (the sample names
      # jinping, which a one-town district may leave out).
      - {op: add, path: /spec/districtView, value: {town: "${towns%%,*}"}}
  - target: {kind: Town}
    patch: |-
      - op: add
        path: /spec/services
        value:
$(for s in "${SERVICES[@]}"; do cat <<S
          - name: $s
            replicas: 1
            resources:
              requests: {cpu: 10m, memory: 32Mi}
              limits: {memory: 256Mi}
S
done)
EOF
  cat > "$dir/postgres-admin.yaml" <<EOF
# hack/postgres.sh trusts connections from 127.0.0.1 (the forwarder's side),
# so the password only has to be present.
apiVersion: v1
kind: Secret
metadata: {name: wuxiao-postgres-admin, namespace: wuxiao-system}
stringData: {password: postgres}
EOF
  kubectl kustomize "$dir" > "$dir/all.yaml"
  # Split into YAML documents and keep the chosen towns and their villages.
  awk -v towns=",$towns," -v base="$dir/base.yaml" -v vil="$dir/villages.yaml" '
    function flush() {
      if (doc == "") return
      if (kind == "Town" && index(towns, "," name ",") == 0) { doc = ""; return }
      if (kind == "Village") { if (index(towns, "," substr(ns, 6) ",") > 0) printf "---\n%s", doc > vil }
      else printf "---\n%s", doc > base
      doc = ""
    }
    /^---$/ { flush(); kind = name = ns = ""; next }
    /^kind: / { kind = $2 }
    /^  name: / && name == "" { name = $2 }
    /^  namespace: / && ns == "" { ns = $2 }
    { doc = doc $0 "\n" }
    END { flush() }' "$dir/all.yaml"
  echo "$dir"
}

apply_samples() {
  local towns=$1 dir; dir=$(manifests "$towns")
  kubectl apply --server-side --force-conflicts -f "$dir/base.yaml" >/dev/null
  local t i
  for t in ${towns//,/ }; do
    for ((i = 0; i < 300; i++)); do kubectl get namespace "town-$t" >/dev/null 2>&1 && break; sleep 0.2; done
    kubectl get namespace "town-$t" >/dev/null 2>&1 || die "district: the operator did not create namespace town-$t; see $(op_log)"
  done
  date +%s > "$ST/villages-applied-at"
  kubectl apply --server-side --force-conflicts -f "$dir/villages.yaml" >/dev/null
  log "district: samples applied ($(grep -c '^kind: Town' "$dir/base.yaml") towns, $(grep -c '^kind: Village' "$dir/villages.yaml") villages; manifests in $dir)"
}

# counts TOWNS: "readyTowns towns readyVillages villages readyPods pods",
# villages and pods counted in the chosen towns' namespaces only.
counts() {
  local towns=",$1," nt=0 rt=0 nv=0 rv=0 np=0 rp=0 name st
  # Three list calls per round, whatever the number of towns.
  while read -r name st; do
    [[ $towns == *",$name,"* ]] || continue
    nt=$((nt + 1)); [ "$st" = True ] && rt=$((rt + 1))
  done < <(kubectl get towns -o 'jsonpath={range .items[*]}{.metadata.name}{" ="}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | sed 's/ =/ /')
  while read -r name st; do
    [[ $towns == *",${name#town-},"* ]] || continue
    nv=$((nv + 1)); [ "$st" = True ] && rv=$((rv + 1))
  done < <(kubectl get villages -A -o 'jsonpath={range .items[*]}{.metadata.namespace}{" ="}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | sed 's/ =/ /')
  while read -r name st; do
    [[ $towns == *",${name#town-},"* ]] || continue
    np=$((np + 1)); [ "$st" = True ] && rp=$((rp + 1))
  done < <(kubectl get pods -A -l app.kubernetes.io/part-of=wuxiao -o 'jsonpath={range .items[*]}{.metadata.namespace}{" ="}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | sed 's/ =/ /')
  echo "$rt $nt $rv $nv $rp $np"
}

wait_ready() {
  local towns=$1 t0 want_v want_p last=""; t0=$(now)
  want_v=$(grep -c '^kind: Village' "$ST/manifests/villages.yaml")
  want_p=$(( $(echo "${towns//,/ }" | wc -w) * ${#SERVICES[@]} ))
  while :; do
    local c; read -r -a c <<< "$(counts "$towns")"
    set -- "${c[@]}"
    # Villages of an earlier, larger run (--villages) stay and count too.
    local msg="towns $1/$2 Ready, villages $3/$(( $4 > want_v ? $4 : want_v )) Ready, pods $5/$want_p Ready"
    [ "$msg" = "$last" ] || { log "district: $msg"; last=$msg; }
    if [ "$1" = "$2" ] && [ "$3" = "$4" ] && [ "$4" -ge "$want_v" ] && [ "$5" = "$want_p" ] && [ "$6" = "$want_p" ]; then break; fi
    operator_alive || die "district: the operator is gone; see $(op_log)"
    if [ $(( $(date +%s) - t0 )) -ge "$TIMEOUT" ]; then
      kubectl get towns >&2 || true; kubectl get pods -A -o wide >&2 || true
      die "district: not Ready after ${TIMEOUT}s; see $(op_log) and kubectl describe"
    fi
    sleep 3
  done
  log "district: all Ready in $(since "$t0") ($(counts "$towns" | cut -d' ' -f4) villages live $(( $(date +%s) - $(cat "$ST/villages-applied-at") ))s after they were applied)"
}

# GW_PODS_JSONPATH: "podIP ReadyStatus [deletionTimestamp]" per gateway pod.
GW_PODS_JSONPATH='jsonpath={range .items[*]}{.status.podIP}{" "}{.status.conditions[?(@.type=="Ready")].status}{" "}{.metadata.deletionTimestamp}{"\n"}{end}'

# forward_gateway ADDR: waits for the district gateway the operator runs in
# the cluster, then forwards ADDR on the host to its ready pod with socat.
# Each connection goes to the pod recorded in <state>/gateway-pod; one that
# finds it gone (a rollout, an eviction) looks the ready pod up again
# (<state>/gateway-connect), so the address survives a new pod without
# another `up`. /readyz answers once the gateway has read the towns and their
# endpoints.
forward_gateway() {
  local addr=$1 t0 ip="" i kc; t0=$(now)
  stop_proc gateway     # the host-run gateway of an older checkout
  stop_proc dev-gateway # the tool the gateway replaced
  while :; do
    ip=$(kubectl -n "$GW_NS" get pods -l "$GW_SELECTOR" -o "$GW_PODS_JSONPATH" 2>/dev/null |
      awk '$2 == "True" && NF == 2 {print $1; exit}') || true # ready, not terminating
    [ -n "$ip" ] && break
    if [ $(( $(date +%s) - t0 )) -ge "$TIMEOUT" ]; then
      kubectl get district fenghua -o 'jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2 || true
      kubectl -n "$GW_NS" get pods -o wide >&2 || true
      die "district: the district gateway has no Ready pod in $GW_NS after ${TIMEOUT}s; see $(op_log) and its pod log under $RUN/cluster/kubelet/pod-logs/"
    fi
    sleep 1
  done
  echo "$ip:$GW_PORT" > "$ST/gateway-pod"
  kc=$(kenv | sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p")
  cat > "$ST/gateway-connect" <<SCRIPT
#!/bin/bash
# Generated by hack/district.sh: one connection from $addr to the district
# gateway's pod; the recorded pod, or the ready one when that is gone.
pod=\$(cat '$ST/gateway-pod' 2>/dev/null)
if [ -z "\$pod" ] || ! timeout 1 bash -c "exec 3<>/dev/tcp/\${pod%:*}/\${pod##*:}" 2>/dev/null; then
  ip=\$('$(cat "$RUN/cluster/bindir")/kubectl' --kubeconfig '$kc' -n '$GW_NS' get pods -l '$GW_SELECTOR' -o '$GW_PODS_JSONPATH' |
    awk '\$2 == "True" && NF == 2 {print \$1; exit}')
  [ -n "\$ip" ] || { echo "no ready gateway pod in $GW_NS" >&2; exit 1; }
  pod=\$ip:$GW_PORT
  echo "\$pod" > '$ST/gateway-pod'
  echo "\$(date -Is) gateway pod now \$pod" >&2
fi
exec /usr/bin/socat STDIO "TCP:\$pod"
SCRIPT
  chmod +x "$ST/gateway-connect"
  if ! pid_of fwd-gateway >/dev/null || [ "$(cat "$ST/gateway-target" 2>/dev/null)" != "$addr" ]; then
    stop_proc fwd-gateway
    tcp_open "${addr%:*}" "${addr##*:}" && die "district: $addr is taken by a process this script did not start"
    start_proc fwd-gateway /usr/bin/socat "TCP-LISTEN:${addr##*:},bind=${addr%:*},fork,reuseaddr" "EXEC:$ST/gateway-connect"
    echo "$addr" > "$ST/gateway-target"
  fi
  wait_for 30 curl -sf "http://$addr/readyz" || die "district: the gateway does not answer on $addr (pod $ip:$GW_PORT); see $ST/logs/fwd-gateway.log"
  echo "http://$addr" > "$ST/gateway-url"
  log "district: gateway pod $ip:$GW_PORT (namespace $GW_NS) answers on http://$addr ($(since "$t0"))"
}

# ensure_prometheus: Prometheus on the host scraping the district and
# evaluating the chart's alert rules (step 9 above). Debian's Prometheus has
# no Kubernetes service discovery: hack/prometheus-sd lists the pods to
# scrape for its HTTP service discovery, as the chart's PodMonitor selects
# and labels them. The e2e test (hack/e2e/monitoring_test.go) queries it at
# WUXIAO_E2E_PROMETHEUS.
ensure_prometheus() {
  local t dir="$ST/prometheus" kc bin; t=$(now)
  eval "$(hack/prometheus.sh)"
  bin=$WUXIAO_PROMETHEUS
  kc=$(kenv | sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p")
  ensure_daemon prometheus-sd ./hack/prometheus-sd -kubeconfig "$kc" -listen "127.0.0.1:$P_PROMETHEUS_SD"
  wait_for 10 curl -sf "http://127.0.0.1:$P_PROMETHEUS_SD/targets" ||
    die "district: prometheus-sd does not answer on 127.0.0.1:$P_PROMETHEUS_SD; see $ST/logs/prometheus-sd.log"
  mkdir -p "$dir/data"
  cat > "$dir/prometheus.yml" <<EOF
# Generated by hack/district.sh.
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
rule_files:
  - $ROOT/charts/wuxiao-operator/monitoring/rules/wuxiao-alerts.yaml
scrape_configs:
  # The towns' services, the gateway (and the chart's operator, job
  # wuxiao-operator), labelled service/namespace/pod by prometheus-sd.
  - job_name: wuxiao-pods
    http_sd_configs:
      - url: http://127.0.0.1:$P_PROMETHEUS_SD/targets
        refresh_interval: 5s
  # The operator on the host (--operator host).
  - job_name: wuxiao-operator
    static_configs:
      - targets: ['127.0.0.1:$P_OP_METRICS']
EOF
  "$(dirname "$bin")/promtool" check config "$dir/prometheus.yml" >/dev/null ||
    die "district: $dir/prometheus.yml is not a valid Prometheus configuration"
  if pid_of prometheus >/dev/null; then
    # A new configuration or new rules: reloaded in place, the data kept.
    kill -HUP "$(pid_of prometheus)"
  else
    tcp_open 127.0.0.1 "$P_PROMETHEUS" && die "district: 127.0.0.1:$P_PROMETHEUS is taken by a process this script did not start"
    start_proc prometheus "$bin" --config.file "$dir/prometheus.yml" --storage.tsdb.path "$dir/data" \
      --storage.tsdb.retention.time 2d --web.listen-address "127.0.0.1:$P_PROMETHEUS"
  fi
  proc_wait "$ST/pids/prometheus.pid" 60 curl -sf "http://127.0.0.1:$P_PROMETHEUS/-/ready" ||
    die "district: Prometheus does not answer on 127.0.0.1:$P_PROMETHEUS; see $ST/logs/prometheus.log"
  log "district: Prometheus on http://127.0.0.1:$P_PROMETHEUS scrapes the district and evaluates the alert rules ($(since "$t"))"
}

report() {
  local towns=$1 first code pods rss
  first=${towns%%,*}
  code=$(kubectl -n "town-$first" get villages -o 'jsonpath={.items[0].spec.code}' 2>/dev/null || true)
  pods=$(kubectl get pods -A -l app.kubernetes.io/part-of=wuxiao --no-headers 2>/dev/null | grep -c "^town-" || true)
  rss=$(ps -eo rss=,comm= | awk '$2 ~ /^(workflow|disclosure|complaint|inspection)$/ {s += $1} END {printf "%d", s / 1024}')
  cat >&2 <<EOF

The district runs: $pods service pods, ${rss} MB resident in the services. Its way in, the district
gateway (pod in namespace $GW_NS, forwarded from the host): $(cat "$ST/gateway-url" 2>/dev/null)
  village portal $(cat "$ST/gateway-url" 2>/dev/null)/v/$code, report page /r/$code, sign-in /auth/login, console /console
The cluster:
  eval "\$(hack/district.sh env)"
  kubectl get towns; kubectl get villages -A
The operator's log: $(op_log). Traces: http://${OTLP#http://}/traces (hack/otlp-sink, all spans in $ST/spans.jsonl). Tests: make test-e2e.
EOF
}

up() {
  local towns=$DEFAULT_TOWNS t0 gateway=127.0.0.1:8080; t0=$(now)
  while [ $# -gt 0 ]; do
    case "$1" in
      --all) towns=jinping,yuelin,jiangkou,xiwu,xiaowangmiao,fangqiao,shangtian,chunhu,xikou,qiucun,dayan,songao ;;
      --towns) towns=$2; shift ;;
      --towns=*) towns=${1#--towns=} ;;
      --operator) OPERATOR=$2; shift ;;
      --operator=*) OPERATOR=${1#--operator=} ;;
      --villages) VILLAGES=$2; shift ;;
      --villages=*) VILLAGES=${1#--villages=} ;;
      --gateway) gateway=$2; shift ;;
      --gateway=*) gateway=${1#--gateway=} ;;
      *) die "usage: $0 up [--towns a,b|--all] [--operator host|chart] [--villages N] [--gateway ADDR]" ;;
    esac
    shift
  done
  case "$OPERATOR" in host | chart) ;; *) die "district: --operator is host or chart, not '$OPERATOR'" ;; esac
  [[ -z $VILLAGES || $VILLAGES =~ ^[0-9]+$ ]] || die "district: --villages takes a number"
  mkdir -p "$ST"; echo "$towns" > "$ST/towns"; echo "$OPERATOR" > "$ST/operator-mode"
  command -v socat >/dev/null || apt_install socat
  hack/cluster.sh up
  ensure_bridge
  ensure_netpol_agent
  ensure_sink
  ensure_infra "$gateway"
  ensure_kratos_gateway "$gateway"
  build_images
  if [ "$OPERATOR" = host ]; then
    apply_crds
    start_operator
  else
    install_operator
  fi
  apply_samples "$towns"
  wait_ready "$towns"
  forward_gateway "$gateway"
  ensure_prometheus
  log "district: up in $(since "$t0")"
  report "$towns"
}

# forget_town_data TOWN...: the towns' databases and roles on the shared
# PostgreSQL go with the cluster. Their key Secrets (ID hash, audit,
# challenge) lived in it, and a service refuses a database written with
# another key (services/internal/keys): the next `up`, on a fresh cluster,
# would find those towns crash-looping. Names as the operator's provisioning
# makes them (wuxiao_<town>, wuxiao_<town>_<service>; towns of 57 or more
# characters are hashed and not found here).
forget_town_data() {
  local t s sql=""
  for t in "$@"; do
    sql+="DROP DATABASE IF EXISTS \"wuxiao_$t\" WITH (FORCE);"$'\n'
    for s in "${SERVICES[@]}"; do sql+="DROP ROLE IF EXISTS \"wuxiao_${t}_$s\";"$'\n'; done
    sql+="DROP ROLE IF EXISTS \"wuxiao_$t\";"$'\n'
  done
  [ -n "$sql" ] || return 0
  # One statement at a time (DROP DATABASE refuses a transaction block).
  if psql -h 127.0.0.1 -p "$P_PG" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt -f - <<< "$sql" >/dev/null 2>&1; then
    log "district: the databases and roles of towns $* dropped (their keys went with the cluster)"
  else
    log "district: WARNING: could not drop the databases of towns $* (PostgreSQL on 127.0.0.1:$P_PG): a later up may find their services refusing the new keys"
  fi
}

down() {
  local towns=""
  hack/cluster.sh status >/dev/null 2>&1 && towns=$(kubectl get towns -o 'jsonpath={.items[*].metadata.name}' 2>/dev/null || true)
  stop_proc fwd-gateway
  stop_proc gateway     # the host-run gateway of an older checkout
  stop_proc dev-gateway # the tool the gateway replaced, left running by an older checkout
  rm -f "$ST/gateway-target" "$ST/gateway-url" "$ST/gateway-pod" "$ST/gateway-connect"
  stop_proc operator
  stop_proc fwd-api-svc
  stop_proc otlp-sink
  stop_proc prometheus
  stop_proc prometheus-sd
  local p
  for p in $P_PG $P_KRATOS_PUBLIC $P_KRATOS_ADMIN $P_API; do stop_proc "fwd-$p"; done
  stop_netpol_agent
  hack/cluster.sh down
  # shellcheck disable=SC2086 # town names are DNS labels
  forget_town_data $towns
  log "district: down (hack/infra.sh keeps running; Kafka keeps its listener at $POD_GW until its next restart)"
}

status() {
  local towns; towns=$(cat "$ST/towns" 2>/dev/null || echo "$DEFAULT_TOWNS")
  hack/cluster.sh status >/dev/null || { echo "cluster: not running"; return 1; }
  if [ "$(cat "$ST/operator-mode" 2>/dev/null)" = chart ]; then
    echo "operator: in the cluster, $(kubectl -n "$OP_NS" get deployment "$OP_RELEASE" -o 'jsonpath={.status.readyReplicas}' 2>/dev/null || echo 0) ready"
  else
    if pid_of operator >/dev/null; then echo "operator: running on the host"; else echo "operator: not running"; return 1; fi
  fi
  if pid_of netpol-agent >/dev/null; then echo "NetworkPolicy agent: running on the host"; else echo "NetworkPolicy agent: not running"; return 1; fi
  local c; read -r -a c <<< "$(counts "$towns")"
  set -- "${c[@]}"
  echo "towns $1/$2 Ready, villages $3/$4 Ready, pods $5/$6 Ready"
  [ "$1" = "$2" ] && [ "$3" = "$4" ] && [ "$5" = "$6" ] && [ "$6" -gt 0 ]
}

env_() {
  kenv
  hack/infra.sh env
  cat <<EOF
export WUXIAO_E2E_TOWNS='$(cat "$ST/towns" 2>/dev/null || echo "$DEFAULT_TOWNS")'
export WUXIAO_E2E_POD_GATEWAY='$POD_GW'
export WUXIAO_E2E_NETPOL_LOG='$ST/logs/netpol-agent.log'
export WUXIAO_E2E_OTLP='$OTLP'
export WUXIAO_E2E_TRACES='http://${OTLP#http://}'
export WUXIAO_E2E_GATEWAY='$(cat "$ST/gateway-url" 2>/dev/null || echo http://127.0.0.1:8080)'
export WUXIAO_E2E_PROMETHEUS='http://127.0.0.1:$P_PROMETHEUS'
EOF
}

[ "$(id -u)" -eq 0 ] || [ "${1:-}" = env ] || die "district: needs root (hack/cluster.sh)"
export GOTOOLCHAIN=local
case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  env) env_ ;;
  *) echo "usage: $0 up [--towns a,b|--all] [--operator host|chart] [--villages N] [--gateway ADDR]|down|status|env" >&2; exit 2 ;;
esac
