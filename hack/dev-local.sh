#!/usr/bin/env bash
# `make dev-local`: one town's four services as local processes, on embedded
# defaults, without a cluster. Brings up PostgreSQL, Kafka and Kratos
# (hack/infra.sh), builds workflow, disclosure, complaint and inspection, and
# runs them in the foreground behind a gateway on 127.0.0.1:8080 (the
# services on 8081-8084), with the sample power catalog, signed-in sample
# users and some sample data (services/internal/dev). Extra arguments go to
# that program, e.g. `make dev-local ARGS=-addr=127.0.0.1:9090`. The whole
# district on the local cluster is `make dev` (hack/dev.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
export GOTOOLCHAIN=local
hack/infra.sh up
# shellcheck disable=SC1091
. "${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env"
dev="$WUXIAO_CACHE/dev"
mkdir -p "$dev/bin"
t=$(now)
log "dev: building workflow, disclosure, complaint and inspection"
for s in workflow disclosure complaint inspection; do
  go build -o "$dev/bin/$s" "./services/$s/cmd/$s"
done
go build -o "$dev/bin/dev" ./services/internal/dev
log "dev: built in $(since "$t")"
exec "$dev/bin/dev" -workdir "$dev" -bin-dir "$dev/bin" "$@"
