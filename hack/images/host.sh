#!/usr/bin/env bash
# The build host's files the services' images carry (hack/images/runtime.go),
# from Debian packages installed here when missing, never fetched by a pod:
# ca-certificates (CA roots), tzdata (zoneinfo) and, through hack/fonts.sh,
# fonts-arphic-uming (the PDF notices' font). Prints hack/images' flags, one
# a line:
#
#   go run ./hack/images $(hack/images/host.sh) ./services/inspection/cmd/inspection ...
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
. hack/lib.sh

missing=()
[ -d /usr/share/ca-certificates/mozilla ] || missing+=(ca-certificates)
[ -f /usr/share/zoneinfo/Asia/Shanghai ] || missing+=(tzdata)
if [ ${#missing[@]} -gt 0 ]; then
  log "images: installing Debian's ${missing[*]}"
  apt_install "${missing[@]}"
fi
font=$(hack/fonts.sh)
printf '%s\n' -runtime "-notice-font=$font"
