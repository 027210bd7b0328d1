"""Repairs made by admin commands beside a running primary reach its replica
through the rolling replication log, like any client write
(tests/integration/harness.py pair, rolling client inside cyr_master):
cyr_reconstruct run on the primary while it serves finds a message file gone
(record expunged) and a stray file (indexed under a new UID); the replica
then converges without any cyr_sync_client -m, which --verify checks. The
same for cyr_dbtool set and cyr_reconstruct -m (mailbox list rebuilt with
the primary stopped)."""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import run_tests  # noqa: E402
from test_repl import count, imap, message, ok, start_pair, sync_client  # noqa: E402


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
    master, replica = start_pair(args, master_extra="sync_log: on\n")
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


def getacl(node, box):
    c = imap(node)
    data = ok(c.getacl(box))
    c.logout()
    return data[0].decode()


def test_dbtool_and_list_rebuild_on_primary_reach_replica(args):
    """cyr_dbtool set on the primary's mailbox list while it serves, then
    cyr_reconstruct -m with the primary stopped: both are in the change log,
    so the replica follows (ACLs are what the verifier sees differ)."""
    master, replica = start_pair(args, master_extra="sync_log: on\n")
    try:
        c = imap(master)
        for box in ("user/iris", "user/iris/Work"):
            ok(c.create(box))
            ok(c.setacl(box, "admin", "lrswipkxtecda"))
            ok(c.append(box, None, None, message(1)))
        ok(c.setacl("user/iris", "bob", "lr"))
        c.logout()
        res = wait_verify(master, "iris")
        assert res.returncode == 0, (res, master.log()[-3000:])

        tool(master, "dbtool", "mailboxes.db", "sqlite", "set", "mailbox/user.iris",
             "acl=iris%09lrswipkxtecdan%09admin%09lrswipkxtecda%09carol%09lrs%09")
        res = wait_verify(master, "iris")
        assert res.returncode == 0, (res, master.log()[-3000:])
        assert "carol lrs" in getacl(replica, "user/iris"), getacl(replica, "user/iris")

        # The list lost with the node stopped; rebuilt from the shards with
        # default ACLs, which the replica then gets too.
        master.stop()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(os.path.join(master.confdir, "mailboxes.db" + suffix)):
                os.unlink(os.path.join(master.confdir, "mailboxes.db" + suffix))
        out = tool(master, "reconstruct", "-m")
        assert "2 mailboxes logged for replication" in out, out
        master.start(wait_ready=False)
        master.wait_log("ready:", count=2)
        res = wait_verify(master, "iris")
        assert res.returncode == 0, (res, master.log()[-3000:])
        acl = getacl(replica, "user/iris")
        assert "carol" not in acl and acl == getacl(master, "user/iris"), acl
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


if __name__ == "__main__":
    run_tests([test_reconstruct_on_primary_reaches_replica,
               test_dbtool_and_list_rebuild_on_primary_reach_replica])
