"""Replication process model and transports (tests/integration/harness.py):
- rolling replication as a cyrus.conf DAEMON entry (`sync_client -r`, its own
  process beside cyr_master, opening the store as a Secondary): changes made
  over IMAP reach the replica, the master does not also run its thread, and
  only one rolling client runs (the rolling lock);
- an admin tool (cyr_ipurge-like writes by cyr_sync_reset are replica-side;
  here: a one-shot cyr_sync_client) runs beside the master;
- X-REPLICATION: the replica's imapd offers it to admins only, answers a
  scripted SYNCGET/SYNCAPPLY/SYNCRESTART exchange, and our cyr_sync_client
  replicates through it (sync_try_imap) with --verify clean afterwards."""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests  # noqa: E402
from test_repl import (IMAPD_EXTRA, MASTER_CONF, REPLICA_CONF, addr, count, imap,  # noqa: E402
                       message, ok, set_password, sync_client)

IMAP_ONLY_REPLICA = 'SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n}\n'


def wait_verify(master, user, timeout=30.0, extra=()):
    deadline = time.time() + timeout
    res = None
    while time.time() < deadline:
        res = sync_client(master, *extra, "--verify", user)
        if res.returncode == 0:
            return res
        time.sleep(0.3)
    return res


def test_rolling_as_daemon_entry(args):
    replica = Node(args.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    set_password(replica, "admin", "secret")
    replica.start()
    host, port = addr(replica, "syncserver")
    conf = MASTER_CONF.replace("}\n", "}\nDAEMON {\n  syncclient cmd=\"sync_client -r\"\n}\n")
    master = Node(args.bin, conf, keep=args.keep, imapd_extra=IMAPD_EXTRA +
                  "sync_host: %s:%d\nsync_authname: admin\nsync_password: secret\n"
                  "sync_log: on\nsync_repeat_interval: 1\n" % (host, port))
    set_password(master, "admin", "secret")
    master.start()
    try:
        master.wait_log("runs as a DAEMON entry")
        c = imap(master)
        ok(c.create("user/dora"))
        ok(c.setacl("user/dora", "admin", "lrswipkxtecda"))
        for i in range(15):
            ok(c.append("user/dora", None, None, message(i)))
        c.logout()
        res = wait_verify(master, "dora")
        assert res.returncode == 0, (res, master.log()[-3000:])
        assert count(replica, "user/dora") == 15
        # The rolling client is another process than the master, and holds the lock.
        with open(os.path.join(master.confdir, "sync", "rolling.lock")) as f:
            holder = int(f.read().strip())
        assert holder != master.master_pid(), holder
        os.kill(holder, 0)
        # A second rolling client is refused (exit 75), never runs beside it.
        res = sync_client(master, "-r")
        assert res.returncode == 75 and b"already runs" in res.stderr, res
        # More changes, flags and expunge, still replicated by the daemon.
        c = imap(master)
        ok(c.select("user/dora"))
        ok(c.uid("STORE", "1:2", "+FLAGS", "(\\Deleted)"))
        ok(c.expunge())
        c.logout()
        res = wait_verify(master, "dora")
        assert res.returncode == 0, res
        assert count(replica, "user/dora") == 13
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def read_until_tag(f, tag):
    lines = []
    while True:
        line = f.readline()
        assert line, lines
        lines.append(line)
        if line.startswith(tag + b" "):
            return lines


def test_x_replication_over_imap(args):
    replica = Node(args.bin, IMAP_ONLY_REPLICA, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    for u in ("admin", "fred"):
        set_password(replica, u, "secret")
    replica.start()
    host, port = addr(replica, "imap")
    master = Node(args.bin, MASTER_CONF, keep=args.keep, imapd_extra=IMAPD_EXTRA +
                  "sync_host: %s:%d\nsync_authname: admin\nsync_password: secret\n" % (host, port))
    set_password(master, "admin", "secret")
    master.start()
    try:
        # Not offered to a non-admin; offered to an admin.
        c = imap(replica, "fred")
        caps = c.capability()[1][0].decode()
        assert "X-REPLICATION" not in caps, caps
        c.logout()
        s = socket.create_connection((host, port), timeout=10)
        f = s.makefile("rb")
        assert f.readline().startswith(b"* OK")
        s.sendall(b"S0 LOGIN admin secret\r\n")
        assert read_until_tag(f, b"S0")[-1].startswith(b"S0 OK")
        s.sendall(b"S1 CAPABILITY\r\n")
        assert b" X-REPLICATION" in b"".join(read_until_tag(f, b"S1"))
        # Scripted: a new folder through SYNCAPPLY with a file literal.
        body = message(1)
        import hashlib
        guid = hashlib.sha1(body).hexdigest().encode()
        s.sendall(b"S2 SYNCGET USER nobody\r\nS3 SYNCRESTART\r\n")
        assert read_until_tag(f, b"S2")[-1] == b"S2 OK success\r\n"
        assert read_until_tag(f, b"S3")[-1].startswith(b"S3 OK")
        s.sendall(b"S4 SYNCAPPLY MESSAGE (%{default " + guid + b" " + str(len(body)).encode() + b"}\r\n" + body + b")\r\n")
        assert read_until_tag(f, b"S4")[-1] == b"S4 OK success\r\n"
        s.sendall(b"S5 SYNCAPPLY MAILBOX %(UNIQUEID 7b3c2d1e-0000-4000-8000-000000000001 MBOXNAME user.zed "
                  b"SYNC_CRC 0 SYNC_CRC_ANNOT 0 LAST_UID 1 HIGHESTMODSEQ 2 RECENTUID 0 RECENTTIME 0 "
                  b"LAST_APPENDDATE 1650000000 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1650000000 "
                  b"PARTITION default ACL \"zed\tlrswipkxtecdan\tadmin\tlrswipkxtecda\t\" OPTIONS \"\" CREATEDMODSEQ 1 FOLDERMODSEQ 1 "
                  b"RECORD (%(UID 1 MODSEQ 2 LAST_UPDATED 1650000000 FLAGS () INTERNALDATE 1650000000 SIZE "
                  + str(len(body)).encode() + b" GUID " + guid + b")))\r\n")
        assert read_until_tag(f, b"S5")[-1] == b"S5 OK success\r\n"
        s.sendall(b"S6 SYNCGET MAILBOXES (user.zed)\r\n")
        got = read_until_tag(f, b"S6")
        assert got[0].startswith(b"* MAILBOX %(UNIQUEID 7b3c2d1e-0000-4000-8000-000000000001"), got
        assert b"LAST_UID 1" in got[0] and got[-1] == b"S6 OK success\r\n", got
        # A payload that does not parse: tagged BAD, the session stays in step.
        s.sendall(b"S7 SYNCAPPLY MAILBOX %(UNIQUEID\r\nS8 NOOP\r\n")
        assert read_until_tag(f, b"S7")[-1].startswith(b"S7 BAD"), "no BAD"
        assert read_until_tag(f, b"S8")[-1].startswith(b"S8 OK")
        s.sendall(b"S9 LOGOUT\r\n")
        read_until_tag(f, b"S9")
        s.close()
        assert count(replica, "user/zed") == 1

        # Our client through X-REPLICATION (sync_try_imap, on by default).
        c = imap(master)
        ok(c.create("user/ivy"))
        ok(c.setacl("user/ivy", "admin", "lrswipkxtecda"))
        ok(c.create("user/ivy/Sent"))
        for i in range(12):
            ok(c.append("user/ivy", "(\\Seen)" if i % 2 else None, None, message(i)))
        c.logout()
        res = sync_client(master, "-v", "-u", "ivy")
        assert res.returncode == 0, res
        assert b"over IMAP" in res.stdout, res.stdout
        res = sync_client(master, "--verify", "ivy")
        assert res.returncode == 0, res
        assert count(replica, "user/ivy") == 12
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def wire_bytes(res):
    for line in res.stdout.decode().splitlines():
        if line.endswith("received on the wire"):
            return int(line.split()[0])
    raise AssertionError(res.stdout)


def test_zstd_compression(args):
    replica = Node(args.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    set_password(replica, "admin", "secret")
    replica.start()
    host, port = addr(replica, "syncserver")
    master = Node(args.bin, MASTER_CONF, keep=args.keep, imapd_extra=IMAPD_EXTRA +
                  "sync_host: %s:%d\nsync_authname: admin\nsync_password: secret\n" % (host, port))
    set_password(master, "admin", "secret")
    master.start()
    try:
        s = socket.create_connection((host, port), timeout=10)
        f = s.makefile("rb")
        banner = b""
        while not banner.endswith(b"\r\n") or b"* OK" not in banner.splitlines()[-1]:
            line = f.readline()
            assert line, banner
            banner += line
        s.close()
        assert b"* X-CYR-COMPRESS zstd\r\n" in banner and b"* X-CYR-SYNC 2\r\n" in banner, banner
        c = imap(master)
        for user in ("zoe", "zak"):
            ok(c.create("user/" + user))
            ok(c.setacl("user/" + user, "admin", "lrswipkxtecda"))
            for i in range(40):
                ok(c.append("user/" + user, None, None, message(i, 4000)))
        c.logout()
        plain = sync_client(master, "-v", "-u", "zak")
        assert plain.returncode == 0 and b"over csync\n" in plain.stdout, plain
        packed = sync_client(master, "-v", "-z", "-u", "zoe")
        assert packed.returncode == 0 and b"over csync, zstd" in packed.stdout, packed
        sent_plain, sent_packed = wire_bytes(plain), wire_bytes(packed)
        print("zstd: %d bytes sent for 40 messages of 4 KB without, %d with" % (sent_plain, sent_packed))
        assert sent_packed * 3 < sent_plain, (sent_plain, sent_packed)
        res = sync_client(master, "-z", "--verify")
        assert res.returncode == 0, res
        assert count(replica, "user/zoe") == 40
        # Incremental changes over a compressed stream, replies included.
        c = imap(master)
        ok(c.select("user/zoe"))
        ok(c.uid("STORE", "1:5", "+FLAGS", "(\\Deleted)"))
        ok(c.expunge())
        c.logout()
        res = sync_client(master, "-z", "-u", "zoe")
        assert res.returncode == 0, res
        res = sync_client(master, "--verify", "zoe")
        assert res.returncode == 0, res
        assert count(replica, "user/zoe") == 35
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


if __name__ == "__main__":
    run_tests([test_rolling_as_daemon_entry, test_x_replication_over_imap, test_zstd_compression])
