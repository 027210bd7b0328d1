#!/usr/bin/env bash
# Side-by-side comparison of our IMAP/POP3/LMTP answers with a real Cyrus IMAP 3.6
# (Debian 12's packages), on 127.0.0.1: a developer tool, not a test.
#
#   bash ops/scripts/cyrus-compare.sh [--bin DIR] [--only list|fetch|cmd ...] [--show-same] [--keep]
#
# 1. as ops/scripts/cyrus-interop.sh does: installs cyrus-common, cyrus-admin and
#    sasl2-bin if missing, and extracts cyrus-imapd (not installed: it conflicts with
#    dovecot-imapd) from its .deb, of the installed cyrus-common's version, under
#    $CYRUS_INTEROP_PKG (default /var/tmp/cyrus-interop-pkg, shared with cyrus-interop.sh);
# 2. also extracts cyrus-pop3d there (if it cannot be downloaded, POP3 is not compared);
# 3. runs ops/scripts/cyrus_compare/run.py against our build (build/bin unless --bin;
#    it does not build), which prints the differing steps and a summary per check.
# Needs root (the Cyrus master drops privileges to the cyrus user). Takes about 30 s.
# Exit status 0 whatever differs; 1 if a server does not start.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pkg="${CYRUS_INTEROP_PKG:-/var/tmp/cyrus-interop-pkg}"

[ "$(id -u)" = 0 ] || { echo "run as root (the Cyrus master drops privileges to the cyrus user)" >&2; exit 2; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
missing=""
for p in cyrus-common cyrus-admin sasl2-bin; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get -o DPkg::Lock::Timeout=300 update
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y $missing
fi

bin="$pkg/usr/lib/cyrus/bin"
# The extracted binaries link the installed libcyrus*.so.0: same version as cyrus-common.
version=$(dpkg-query -W -f='${Version}' cyrus-common)
mkdir -p "$pkg/debs"
chown _apt "$pkg/debs" 2>/dev/null || true
if [ ! -x "$bin/imapd" ] || [ ! -x "$bin/lmtpd" ]; then
  (cd "$pkg/debs" && apt-get download "cyrus-imapd=$version" "cyrus-common=$version")
  for d in "$pkg"/debs/cyrus-imapd_*.deb "$pkg"/debs/cyrus-common_*.deb; do dpkg-deb -x "$d" "$pkg"; done
fi
if [ ! -x "$bin/pop3d" ]; then
  if (cd "$pkg/debs" && apt-get download "cyrus-pop3d=$version"); then
    dpkg-deb -x "$pkg"/debs/cyrus-pop3d_*.deb "$pkg"
  else
    echo "could not download cyrus-pop3d=$version: POP3 will not be compared" >&2
  fi
fi
# The cyrus user must be able to reach the binaries.
chmod 755 "$pkg" "$pkg/usr" "$pkg/usr/lib" "$pkg/usr/lib/cyrus" "$bin"

exec python3 "$here/cyrus_compare/run.py" --cyrus-bin "$bin" "$@"
