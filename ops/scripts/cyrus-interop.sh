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
build="${BUILD_DIR:-$top/build}"
. "$here/cyrus-pkg.sh"
cyrus_extract "sync_client imapd" cyrus-imapd cyrus-replication cyrus-common

if [ ! -x "$build/bin/cyr_master" ] || [ "${CYRUS_INTEROP_NO_BUILD:-0}" != 1 ]; then
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$build" --target cyrus
fi

exec python3 "$top/tests/integration/interop_cyrus.py" --bin "$build/bin" --cyrus-bin "$bin" "$@"
