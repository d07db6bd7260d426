#!/usr/bin/env bash
# `make dev`: the whole sample district on a one-node Kubernetes cluster on
# this machine (needs root). On a fresh machine it builds and starts the
# cluster (hack/cluster.sh), PostgreSQL, Kafka and Kratos (hack/infra.sh),
# installs charts/wuxiao-operator with the Helm SDK, applies the sample
# district (12 towns; 347 villages: the 36 samples plus generated ones,
# hack/villages), waits with progress until everything is Ready, then
# prints where to look: village portals through the district gateway on
# 127.0.0.1:8080 (services/gateway: the operator runs it in the cluster from
# the District's spec.gateway; hack/district.sh forwards that address to its
# pod and makes Kratos' browser URLs name it), a village secretary's first
# sign-in in the browser, the traces (hack/otlp-sink). Everything is
# hack/district.sh's; a second run reuses what runs and only rebuilds what
# changed.
#
#   hack/dev.sh [district.sh up options]   # e.g. --towns xikou,jinping --villages 100
#   hack/dev.sh down                       # `make dev-down`: district, cluster and infra down
#
# WUXIAO_DEV_GATEWAY (127.0.0.1:8080) and WUXIAO_DEV_VILLAGES (347) change
# the defaults. One town's services as plain processes, no cluster: `make
# dev-local` (hack/dev-local.sh).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh
export GOTOOLCHAIN=local
GATEWAY=${WUXIAO_DEV_GATEWAY:-127.0.0.1:8080}
VILLAGES=${WUXIAO_DEV_VILLAGES:-347}
RUN="${WUXIAO_RUN:-$WUXIAO_CACHE/run}"
# 347 villages mean 1388 Kratos identities and recovery codes: allow more
# than district.sh's default 15 minutes.
export WUXIAO_DISTRICT_TIMEOUT="${WUXIAO_DISTRICT_TIMEOUT:-3600}"

if [ "${1:-}" = down ]; then
  hack/district.sh down
  hack/infra.sh down
  exit 0
fi

t0=$(now)
hack/district.sh up --all --operator chart --villages "$VILLAGES" --gateway "$GATEWAY" "$@"
eval "$(hack/district.sh env)"

# --- sample activity (hack/sample-activity) --------------------------------
# A year of illustrative activity for the 36 sample villages (wallet,
# subsidies, processes at various steps, complaints), booked through the
# services' own APIs by identities named 样例数据（自动生成）; villages booked
# by an earlier run are left as they are. A failure is reported, not fatal.
if ! activity=$(go run ./hack/sample-activity); then
  activity="${activity:-sample activity: not booked} (see above; retry: eval \"\$(hack/district.sh env)\"; go run ./hack/sample-activity)"
fi
# --- end of sample activity ------------------------------------------------

# Three villages of different towns: a sample of the pilot town, a sample
# community, a generated village.
mapfile -t picks < <(kubectl get villages -A \
  -o 'jsonpath={range .items[*]}{.metadata.namespace} {.spec.code} {.spec.displayName}{"\n"}{end}' | sort -k2 |
  awk '$1 == "town-xikou" && !x++ {print; next} $1 == "town-jinping" && !j++ {print; next} $1 == "town-shangtian" {s = $0} END {if (s) print s}')

portals=""
for p in "${picks[@]}"; do
  read -r ns code name <<< "$p"
  st=$(curl -s -o /dev/null -w '%{http_code}' "http://$GATEWAY/v/$code" || true)
  rst=$(curl -s -o /dev/null -w '%{http_code}' "http://$GATEWAY/r/$code" || true)
  portals+=$(printf '  %-14s %-8s http://%s/v/%s  (HTTP %s; report page /r/%s: HTTP %s)' "${ns#town-}" "$name" "$GATEWAY" "$code" "$st" "$code" "$rst")$'\n'
done
# Sign-in and the console (which sends a browser without a session to sign in).
staff=""
for p in /auth/login /console; do
  staff+="$p HTTP $(curl -s -o /dev/null -w '%{http_code}' "http://$GATEWAY$p" || true); "
done

# A village secretary's first sign-in: the link and one-time code the
# operator left for town IT staff in the village's Secret of the town's
# recovery namespace (as hack/e2e uses them, in a browser through the
# gateway).
first=${picks[0]:-}
login_info="  (no village found)"
if [ -n "$first" ]; then
  read -r ns code _ <<< "$first"
  sid=$(kubectl -n "$ns" get villages -o "jsonpath={.items[?(@.spec.code==\"$code\")].spec.officials[?(@.role==\"secretary\")].id}")
  rns="recovery-${ns#town-}"
  raw=$(kubectl -n "$rns" get secret "village-$code" -o "go-template={{index .data \"$sid\" | base64decode}}" 2>/dev/null || true)
  field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<< "$raw"; }
  if [ -n "$raw" ] && [ "$raw" != "<no value>" ]; then
    link=$(field link)
    login_info="  secretary of $code ($ns): login $(field login), one-time code $(field code) (expires $(field expiresAt))
  open $link
  in a browser, enter the code, choose a password: you land on the console (http://$GATEWAY/console);
  next time sign in at http://$GATEWAY/auth/login. A used code is gone: town IT makes a new one
  (the Kratos admin API: createRecoveryCodeForIdentity)"
  else
    login_info="  the recovery code of $sid in village $code was already used or handed over (kubectl -n $rns get secret village-$code)"
  fi
fi

# Measurements: pods and resident memory (RSS of the processes on this host).
pods=$(kubectl get pods -A -l app.kubernetes.io/part-of=wuxiao --no-headers 2>/dev/null | grep -c '^town-' || true)
mem=$(ps -eo rss=,comm= | awk '
  $2 == "wuxiao-operator" {op += $1}
  $2 ~ /^(workflow|disclosure|complaint|inspection)$/ {n[$2]++; m[$2] += $1}
  END {
    printf "operator %.0f MB", op / 1024
    for (s in n) printf "; %s %d × %.0f MB avg (%.0f MB)", s, n[s], m[s] / n[s] / 1024, m[s] / 1024
  }')
hp=${WUXIAO_E2E_TRACES#http://}

cat >&2 <<EOF

== make dev: the sample district is up ($(since "$t0")) ==
$(hack/district.sh status | tail -n 1); $pods service pods and the operator's; resident memory: $mem

Village portals (district gateway on http://$GATEWAY, its pod in namespace wuxiao-gateway, log under
$RUN/cluster/kubelet/pod-logs/wuxiao-gateway_gateway-*; any village: /v/<code>, /r/<code>, follow-ups /r/track):
${portals%$'\n'}
Staff: http://$GATEWAY/auth/login, http://$GATEWAY/console (${staff%; })

Sample data: ${activity#sample activity: }

A cadre's first sign-in:
$login_info

Traces: http://$hp/traces (recent traces; one: /traces/<id>), every span in $RUN/district/spans.jsonl
Cluster: eval "\$(hack/district.sh env)"; kubectl get towns; kubectl get villages -A
Operator log: $(newest "$RUN"/cluster/kubelet/pod-logs/wuxiao-system_wuxiao-operator-*/manager/*.log)
Stop everything: make dev-down
EOF
