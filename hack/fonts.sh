#!/usr/bin/env bash
# The TrueType CJK font the inspection service renders PDF notices with
# (services/inspection/pdf.go): Debian's `fonts-arphic-uming` (AR PL UMing,
# a Song/Ming face under the Arphic Public License). Debian's fonts-noto-cjk
# cannot be used: its outlines are CFF, which the PDF library cannot embed.
#
#   hack/fonts.sh   # install it if missing, print the font's path
#
# hack/test.sh exports the path as WUXIAO_NOTICE_FONT; the inspection tests
# run this script when the variable is unset; hack/images/host.sh hands it
# to hack/images, which puts face 0 into the inspection service's image. Services take the path as
# --notice-font / WUXIAO_NOTICE_FONT (face 0 of the collection is the
# simplified Chinese one).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
. hack/lib.sh

font=/usr/share/fonts/truetype/arphic/uming.ttc
if [ ! -f "$font" ]; then
  log "fonts: installing Debian's fonts-arphic-uming"
  apt_install fonts-arphic-uming
fi
[ -f "$font" ] || die "fonts: $font not found after installing fonts-arphic-uming"
echo "$font"
