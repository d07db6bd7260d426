#!/usr/bin/env bash
# `make lint`: every static check, failing on any finding.
#
#   hack/lint.sh           # go.mod tidy, golangci-lint (Go), shellcheck (shell)
#   hack/lint.sh go|shell  # only one of the two linters
#
#  - go.mod and go.sum are tidy (go mod tidy -diff);
#  - golangci-lint (version pinned in hack/golangci-lint.sh, built into the
#    cache on first use) with the linters and formatters of .golangci.yml,
#    over the whole module including the e2e build tag;
#  - shellcheck (Debian's package, installed when missing) over every shell
#    script: hack/**/*.sh, hack/lib.sh included through the scripts that
#    source it, and .ci/run.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh
export GOTOOLCHAIN=local
what=${1:-all}
failed=()

tidy() {
  log "lint: go.mod and go.sum tidy"
  local out
  if ! out=$(go mod tidy -diff 2>&1); then
    printf '%s\n' "$out" >&2
    log "lint: go.mod/go.sum are not tidy: run go mod tidy"
    failed+=(tidy)
  fi
}

golangci() {
  local bin t; bin=$(hack/golangci-lint.sh); t=$(now)
  log "lint: $("$bin" version --short 2>/dev/null || echo golangci-lint) over ./... (.golangci.yml)"
  if "$bin" run ./...; then
    log "lint: golangci-lint found nothing ($(since "$t"))"
  else
    log "lint: golangci-lint found the issues above ($(since "$t"))"
    failed+=(golangci-lint)
  fi
}

shell() {
  if ! command -v shellcheck >/dev/null; then
    log "lint: installing Debian's shellcheck"
    apt_install shellcheck
  fi
  local files=()
  mapfile -t files < <(find hack -name '*.sh' -type f | sort)
  files+=(.ci/run)
  log "lint: $(shellcheck --version | sed -n 's/^version: /shellcheck /p') over ${#files[@]} scripts"
  # -x follows `. hack/lib.sh` (paths are relative to the checkout's root,
  # where this runs); the default severity (style) and up counts.
  if shellcheck -x "${files[@]}"; then
    log "lint: shellcheck found nothing"
  else
    log "lint: shellcheck found the issues above"
    failed+=(shellcheck)
  fi
}

case "$what" in
  all) tidy; golangci; shell ;;
  go) golangci ;;
  shell) shell ;;
  *) echo "usage: $0 [go|shell]" >&2; exit 2 ;;
esac
[ ${#failed[@]} -eq 0 ] || die "lint: failed: ${failed[*]}"
log "lint: clean"
