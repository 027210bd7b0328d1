#!/usr/bin/env bash
# Installs the Debian packages this project builds and tests with, if missing.
# Safe to run again; does nothing when everything is present.
set -euo pipefail

build_pkgs=(g++ cmake ninja-build pkg-config libboost-dev libssl-dev libxxhash-dev
            libzstd-dev zlib1g-dev libsqlite3-dev libgtest-dev python3 openssl)
# Real clients the integration tests drive (each test skips itself, saying so, if absent).
test_pkgs=(curl isync mutt cyrus-admin  # cyrus-admin: Debian cyradm, tests/integration/test_cyr_adm.py
           fetchmail offlineimap3)      # tests/integration/test_mail_fetchers.py

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--tests" ]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Postfix-style debconf questions must not block a non-interactive install.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
