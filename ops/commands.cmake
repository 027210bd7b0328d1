# The commands of the multi-call binary, each installed as bin/cyr_<name>.
# Keep in step with the table in ops/main.cpp (tests/unit/ops checks it).
set(CYR_COMMANDS
  master
  info
  passwd
  deliver
  sync_client
  sync_reset
  quota
  mbexamine
  mbpath
  mboxlist
  reconstruct
  chk_cyrus
  cyrusdb
  dbtool
  cvt_cyrusdb
  failover
  adm
  expire
  ipurge
  unexpunge
  df
  userseen
  tls_prune
)
