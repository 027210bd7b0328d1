"""Repairs made by admin commands beside a running primary reach its replica
through the rolling replication log, like any client write
(tests/integration/harness.py pair, rolling client inside cyr_master):
cyr_reconstruct run on the primary while it serves finds a message file gone
(record expunged) and a stray file (indexed under a new UID); the replica
then converges without any cyr_sync_client -m, which --verify checks."""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests  # noqa: E402
from test_repl import (IMAPD_EXTRA, MASTER_CONF, REPLICA_CONF, addr, count, imap,  # noqa: E402
                       message, ok, set_password, sync_client)


def wait_verify(master, user, timeout=30.0):
    deadline = time.time() + timeout
    res = None
    while time.time() < deadline:
        res = sync_client(master, "--verify", user)
        if res.returncode == 0:
            return res
        time.sleep(0.3)
    return res


def tool(node, name, *argv):
    p = subprocess.run([os.path.join(node.bin_dir, "cyr_" + name), "-C", node.imapd_conf] + list(argv),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (name, argv, p.returncode, p.stdout, p.stderr)
    return p.stdout


def test_reconstruct_on_primary_reaches_replica(args):
    replica = Node(args.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    set_password(replica, "admin", "secret")
    replica.start()
    host, port = addr(replica, "syncserver")
    master = Node(args.bin, MASTER_CONF, keep=args.keep, imapd_extra=IMAPD_EXTRA +
                  "sync_host: %s:%d\nsync_authname: admin\nsync_password: secret\n"
                  "sync_log: on\n" % (host, port))
    set_password(master, "admin", "secret")
    master.start()
    try:
        c = imap(master)
        ok(c.create("user/rhea"))
        ok(c.setacl("user/rhea", "admin", "lrswipkxtecda"))
        for i in range(5):
            ok(c.append("user/rhea", None, None, message(i)))
        c.logout()
        res = wait_verify(master, "rhea")
        assert res.returncode == 0, (res, master.log()[-3000:])
        assert count(replica, "user/rhea") == 5

        # Damage on the primary's spool, repaired while the master serves.
        mbdir = tool(master, "mbpath", "user.rhea").strip()
        os.unlink(os.path.join(mbdir, "3."))
        shutil.copyfile(os.path.join(mbdir, "2."), os.path.join(mbdir, "00."))
        out = tool(master, "reconstruct", "user.rhea")
        assert "message file missing" in out and "added as uid 6" in out, out
        assert count(master, "user/rhea") == 5

        res = wait_verify(master, "rhea")
        assert res.returncode == 0, (res, master.log()[-3000:])
        assert count(replica, "user/rhea") == 5
        c = imap(replica)
        ok(c.select("user/rhea", readonly=True))
        uids = ok(c.uid("SEARCH", "ALL"))[0].split()
        c.logout()
        assert uids == [b"1", b"2", b"4", b"5", b"6"], uids
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


if __name__ == "__main__":
    run_tests([test_reconstruct_on_primary_reaches_replica])
