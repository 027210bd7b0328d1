# Sourced by cyrus-interop.sh and cyrus-compare.sh: Debian 12's Cyrus IMAP 3.6
# binaries for side-by-side runs on 127.0.0.1. cyrus-common, cyrus-admin and
# sasl2-bin are installed if missing; the server packages are NOT installed
# (cyrus-imapd conflicts with dovecot-imapd, which other tests use): their
# .debs, of the installed cyrus-common's version (the extracted binaries link
# its libcyrus*.so.0), are extracted under $CYRUS_INTEROP_PKG (default
# /var/tmp/cyrus-interop-pkg). Sets $pkg and $bin (the Cyrus binaries).
pkg="${CYRUS_INTEROP_PKG:-/var/tmp/cyrus-interop-pkg}"
bin="$pkg/usr/lib/cyrus/bin"

[ "$(id -u)" = 0 ] || { echo "run as root (the Cyrus master drops privileges to the cyrus user)" >&2; exit 2; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
missing=""
for p in cyrus-common cyrus-admin sasl2-bin; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get -o DPkg::Lock::Timeout=300 update
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y $missing
fi
cyrus_version=$(dpkg-query -W -f='${Version}' cyrus-common)
mkdir -p "$pkg/debs"
chown _apt "$pkg/debs" 2>/dev/null || true

# cyrus_extract "BINARY..." PACKAGE...: unless every BINARY is already under
# $bin, downloads the PACKAGEs and extracts them there. Fails (status 1) if a
# download fails.
cyrus_extract() {
  local wanted="$1" b p have=1
  shift
  for b in $wanted; do [ -x "$bin/$b" ] || have=0; done
  [ "$have" = 1 ] && return 0
  for p in "$@"; do
    (cd "$pkg/debs" && apt-get download "$p=$cyrus_version") || return 1
    dpkg-deb -x "$pkg"/debs/"${p}"_*.deb "$pkg"
  done
  # The cyrus user must be able to reach the binaries.
  chmod 755 "$pkg" "$pkg/usr" "$pkg/usr/lib" "$pkg/usr/lib/cyrus" "$bin"
}
