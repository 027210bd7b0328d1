#!/usr/bin/env bash
# The pre-release interoperability test against a real Cyrus IMAP 3.6 (Debian 12).
#
#   bash ops/scripts/cyrus-interop.sh [--keep] [--only SCENARIO...]
#   bash ops/scripts/cyrus-interop.sh --bench N      # migration timing, Cyrus->us vs Cyrus->Cyrus
#
# 1. installs cyrus-common, cyrus-admin and sasl2-bin if missing; cyrus-imapd and
#    cyrus-replication are NOT installed (cyrus-imapd conflicts with dovecot-imapd, which
#    other tests use): their .debs, of the installed cyrus-common's version, are downloaded
#    and extracted under $CYRUS_INTEROP_PKG (default /var/tmp/cyrus-interop-pkg);
# 2. builds our `cyrus` target (build/ unless BUILD_DIR is set);
# 3. runs tests/integration/interop_cyrus.py, which starts private Cyrus instances and our
#    node on 127.0.0.1 (ephemeral ports, temporary directories), replicates both ways and
#    compares both servers. Exit status non-zero on any difference.
# Needs root (the Cyrus master drops privileges to the cyrus user). Takes about 1-2 minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
pkg="${CYRUS_INTEROP_PKG:-/var/tmp/cyrus-interop-pkg}"
build="${BUILD_DIR:-$top/build}"

[ "$(id -u)" = 0 ] || { echo "run as root (the Cyrus master drops privileges to the cyrus user)" >&2; exit 2; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
missing=""
for p in cyrus-common cyrus-admin sasl2-bin; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get -o DPkg::Lock::Timeout=300 update
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y $missing
fi

bin="$pkg/usr/lib/cyrus/bin"
if [ ! -x "$bin/sync_client" ] || [ ! -x "$bin/imapd" ]; then
  # The extracted binaries link the installed libcyrus*.so.0: same version as cyrus-common.
  version=$(dpkg-query -W -f='${Version}' cyrus-common)
  mkdir -p "$pkg/debs"
  chown _apt "$pkg/debs" 2>/dev/null || true
  (cd "$pkg/debs" && apt-get download "cyrus-imapd=$version" "cyrus-replication=$version" "cyrus-common=$version")
  for d in "$pkg"/debs/*.deb; do dpkg-deb -x "$d" "$pkg"; done
fi
# The cyrus user must be able to reach the binaries.
chmod 755 "$pkg" "$pkg/usr" "$pkg/usr/lib" "$pkg/usr/lib/cyrus" "$bin"

if [ ! -x "$build/bin/cyr_master" ] || [ "${CYRUS_INTEROP_NO_BUILD:-0}" != 1 ]; then
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$build" --target cyrus
fi

exec python3 "$top/tests/integration/interop_cyrus.py" --bin "$build/bin" --cyrus-bin "$bin" "$@"
