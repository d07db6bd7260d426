#!/usr/bin/env bash
# Chromium for the browser tests (services/internal/testinfra/browser.go),
# from Debian's `chromium` package, with `fonts-noto-cjk` so that Chinese pages
# render (and screenshot) with real glyphs instead of boxes.
#
#   hack/chromium.sh   # install both if missing, print the browser's path
#
# hack/test.sh exports the path as WUXIAO_TEST_CHROMIUM; a plain `go test`
# runs this script on first use.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

find_chromium() {
  local c
  for c in chromium chromium-browser; do
    command -v "$c" 2>/dev/null && return 0
  done
  return 1
}

has_cjk_fonts() { dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'install ok installed'; }

pkgs=()
find_chromium >/dev/null || pkgs+=(chromium)
has_cjk_fonts || pkgs+=(fonts-noto-cjk)
if [ "${#pkgs[@]}" -gt 0 ]; then
  log "chromium: installing Debian's ${pkgs[*]}"
  apt_install "${pkgs[@]}"
fi
path=$(find_chromium) || die "chromium: not found after installing it"
log "chromium: $("$path" --version 2>/dev/null | head -n1) at $path"
echo "$path"
