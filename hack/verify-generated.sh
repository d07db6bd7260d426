#!/usr/bin/env bash
# Regenerates everything `make generate` writes and fails if that changed any
# file: generated code, CRDs, RBAC or the chart's copies are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
paths=(api config/crd config/rbac charts/wuxiao-operator/templates/crds charts/wuxiao-operator/templates/admission charts/wuxiao-operator/files)
snapshot() { find "${paths[@]}" -type f 2>/dev/null | sort | xargs -r sha256sum; }
before=$(snapshot)
log "verify-generated: regenerating"
make --no-print-directory generate >/dev/null
after=$(snapshot)
if [ "$before" != "$after" ]; then
  diff <(echo "$before") <(echo "$after") >&2 || true
  die "generated files were stale; run 'make generate' and commit the result"
fi
log "verify-generated: generated files are up to date"
