#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and runs a
# primary + replica pair on localhost, each with its configuration and data
# under ./run/<node>/, in the foreground. Ctrl-C stops both.
#
# Ports (override with the environment): primary IMAP 14143, POP3 14110,
# LMTP 14024, csync 14005, ManageSieve 14190; the replica uses 15xxx. User
# "admin" (an admin) and user "test" get the password in $CYR_PASSWORD
# (default "secret").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
bash "$here/install-deps.sh"
bash "$here/build.sh"

bin="$top/build/bin"
root="${CYR_RUN_DIR:-$top/run}"
password="${CYR_PASSWORD:-secret}"

write_node() {  # name role imap pop3 lmtp sync peer_sync_port sieve
  local name=$1 role=$2 dir="$root/$1"
  mkdir -p "$dir/run/socket" "$dir/conf" "$dir/spool"
  sed -e "s#@DIR@#$dir#g" -e "s#@NAME@#$name#g" -e "s#@ROLE@#$role#g" \
      -e "s#@PEER_SYNC_PORT@#$7#g" -e "s#@PASSWORD@#$password#g" \
      "$top/ops/conf/imapd.conf.in" >"$dir/imapd.conf"
  if [ "$role" = primary ]; then
    cat "$top/ops/conf/imapd-primary.conf.in" 2>/dev/null |
      sed -e "s#@DIR@#$dir#g" -e "s#@PEER_SYNC_PORT@#$7#g" -e "s#@PASSWORD@#$password#g" >>"$dir/imapd.conf"
  fi
  sed -e "s#@DIR@#$dir#g" -e "s#@NAME@#$name#g" -e "s#@IMAP_PORT@#$3#g" \
      -e "s#@POP3_PORT@#$4#g" -e "s#@LMTP_PORT@#$5#g" -e "s#@SYNC_PORT@#$6#g" \
      -e "s#@SIEVE_PORT@#$8#g" \
      "$top/ops/conf/cyrus.conf.in" >"$dir/cyrus.conf"
  if [ "$role" = primary ] && [ -f "$top/ops/conf/cyrus-primary.conf.in" ]; then
    cat "$top/ops/conf/cyrus-primary.conf.in" >>"$dir/cyrus.conf"
  fi
  for user in admin test; do
    printf '%s\n' "$password" | "$bin/cyr_passwd" -C "$dir/imapd.conf" "$user" >/dev/null
  done
}

write_node replica replica "${REPLICA_IMAP_PORT:-15143}" "${REPLICA_POP3_PORT:-15110}" \
  "${REPLICA_LMTP_PORT:-15024}" "${REPLICA_SYNC_PORT:-15005}" "" "${REPLICA_SIEVE_PORT:-15190}"
write_node primary primary "${PRIMARY_IMAP_PORT:-14143}" "${PRIMARY_POP3_PORT:-14110}" \
  "${PRIMARY_LMTP_PORT:-14024}" "${PRIMARY_SYNC_PORT:-14005}" "${REPLICA_SYNC_PORT:-15005}" \
  "${PRIMARY_SIEVE_PORT:-14190}"

pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

for node in replica primary; do
  "$bin/cyr_master" -C "$root/$node/imapd.conf" -M "$root/$node/cyrus.conf" \
    -p "$root/$node/master.pid" 2>"$root/$node/master.log" &
  pids+=($!)
done
for node in replica primary; do
  for _ in $(seq 100); do [ -s "$root/$node/conf/ports" ] && break; sleep 0.1; done
  echo "== $node (log: $root/$node/master.log)"
  cat "$root/$node/conf/ports" 2>/dev/null || { echo "$node did not start; see its log"; exit 1; }
done
echo "users admin and test, password '$password'. Ctrl-C stops both nodes."
wait -n "${pids[@]}" || true
