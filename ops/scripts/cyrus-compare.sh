#!/usr/bin/env bash
# Side-by-side comparison of our IMAP/POP3/LMTP answers with a real Cyrus IMAP 3.6
# (Debian 12's packages), on 127.0.0.1: a developer tool, not a test.
#
#   bash ops/scripts/cyrus-compare.sh [--bin DIR] [--only list|fetch|cmd ...] [--show-same] [--keep]
#
# 1. as ops/scripts/cyrus-interop.sh does (ops/scripts/cyrus-pkg.sh): installs cyrus-common,
#    cyrus-admin and sasl2-bin if missing, and extracts cyrus-imapd (not installed: it
#    conflicts with dovecot-imapd) from its .deb, of the installed cyrus-common's version,
#    under $CYRUS_INTEROP_PKG (default /var/tmp/cyrus-interop-pkg, shared with cyrus-interop.sh);
# 2. also extracts cyrus-pop3d there (if it cannot be downloaded, POP3 is not compared);
# 3. runs ops/scripts/cyrus_compare/run.py against our build (build/bin unless --bin;
#    it does not build), which prints the differing steps and a summary per check.
# Needs root (the Cyrus master drops privileges to the cyrus user). Takes about 30 s.
# Exit status 0 whatever differs; 1 if a server does not start.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/cyrus-pkg.sh"
cyrus_extract "imapd lmtpd" cyrus-imapd cyrus-common
cyrus_extract pop3d cyrus-pop3d || echo "could not download cyrus-pop3d=$cyrus_version: POP3 will not be compared" >&2

exec python3 "$here/cyrus_compare/run.py" --cyrus-bin "$bin" "$@"
