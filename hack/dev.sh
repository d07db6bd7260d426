#!/usr/bin/env bash
# `make dev`: the local development setup on embedded defaults. Brings up
# PostgreSQL, Kafka and Kratos (hack/infra.sh), builds the workflow service,
# creates a database, the sample power catalog and a signed-in village
# secretary, and runs the service in the foreground on 127.0.0.1:8080.
# (The whole local district on a one-node cluster comes with the end-to-end
# issue and will replace this.)
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
export GOTOOLCHAIN=local
hack/infra.sh up
# shellcheck disable=SC1091
. "${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env"
dev="$WUXIAO_CACHE/dev"
mkdir -p "$dev"
log "dev: building the workflow service"
go build -o "$dev/workflow" ./services/workflow/cmd/workflow
exec go run ./services/internal/dev -workdir "$dev" -workflow-bin "$dev/workflow" "$@"
