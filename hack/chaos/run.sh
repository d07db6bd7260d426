#!/usr/bin/env bash
# make chaos: the fault-injection suite (hack/chaos/main.go) on the district
# that hack/district.sh brought up. Needs root. Arguments go to the program
# (-faults a,b; -list); CHAOS_SHARED=1 adds the faults that stop the shared
# Kafka and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
[ "$(id -u)" -eq 0 ] || die "chaos: needs root (signals to the cluster's processes, the pods' network namespaces)"
hack/district.sh status >/dev/null || die "chaos: no district is up: hack/district.sh up first"
eval "$(hack/district.sh env)"
bin="$WUXIAO_CACHE/bin/chaos"
mkdir -p "$(dirname "$bin")"
go build -o "$bin" ./hack/chaos
exec "$bin" "$@"
