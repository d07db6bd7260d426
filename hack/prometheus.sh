#!/usr/bin/env bash
# Prometheus and promtool for the monitoring tests: Debian's `prometheus`
# package (2.42), installed once per machine through hack/lib.sh's
# apt_install (Debian's policy-rc.d keeps its service from starting; the
# tests run their own server). Progress goes to stderr; stdout is the two
# paths as shell assignments, for eval:
#
#   hack/prometheus.sh   # export WUXIAO_PROMETHEUS='/usr/bin/prometheus'
#                        # export WUXIAO_PROMTOOL='/usr/bin/promtool'
#
# Used by charts/monitoring_test.go (promtool check/test rules) and by
# hack/district.sh's Prometheus part. Idempotent: an installed package is
# only checked.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

prom=/usr/bin/prometheus tool=/usr/bin/promtool
if [ ! -x "$prom" ] || [ ! -x "$tool" ]; then
  t=$(now)
  log "prometheus: installing Debian's prometheus package"
  # Without its recommends (node exporter, smartmontools: nothing the tests use).
  apt_install --no-install-recommends prometheus
  log "prometheus: installed in $(since "$t")"
fi
[ -x "$prom" ] || die "prometheus: $prom not found after installing the prometheus package"
[ -x "$tool" ] || die "prometheus: $tool not found after installing the prometheus package"
log "prometheus: $("$prom" --version 2>&1 | head -n 1)"
printf "export WUXIAO_PROMETHEUS='%s'\nexport WUXIAO_PROMTOOL='%s'\n" "$prom" "$tool"
