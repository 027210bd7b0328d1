"""Replication between two real nodes on loopback (tests/integration/harness.py):
the replica runs the csync service, the master's changes are made over IMAP
and pushed with cyr_sync_client; --verify must then report no difference.
Also: a client with wrong credentials is refused, and a replica-side change
(split brain) is repaired by the full compare without losing a message."""

import imaplib
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

imaplib.Commands.setdefault("MOVE", ("SELECTED",))

REPLICA_CONF = ('SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n'
                '  syncserver cmd="sync_server" listen="127.0.0.1:0"\n}\n')
MASTER_CONF = 'SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n}\n'
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"


def message(i, size=200):
    body = ("line %d of the body\r\n" % i) * max(1, size // 20)
    return ("From: a@example.com\r\nTo: fred@example.com\r\nSubject: msg %d\r\n"
            "Message-ID: <%d@example.com>\r\n\r\n%s" % (i, i, body)).encode()


def addr(node, service):
    host, port = node.ports()[service][0].rsplit(":", 1)
    return host, int(port)


def imap(node, user="admin"):
    host, port = addr(node, "imap")
    c = imaplib.IMAP4(host, port)
    assert c.login(user, "secret")[0] == "OK"
    return c


def ok(resp):
    assert resp[0] == "OK", resp
    return resp[1]


def start_pair(args, password="secret", master_extra=""):
    """A replica and a master pointed at it (master_extra: more imapd.conf,
    e.g. "sync_log: on\n" for the rolling client inside cyr_master)."""
    replica = Node(args.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    set_password(replica, "admin", "secret")
    replica.start()
    host, port = addr(replica, "syncserver")
    master = Node(args.bin, MASTER_CONF, keep=args.keep, imapd_extra=IMAPD_EXTRA +
                  "sync_host: %s:%d\nsync_authname: admin\nsync_password: %s\n" % (host, port, password) +
                  master_extra)
    for u in ("admin", "fred"):
        set_password(master, u, "secret")
    master.start()
    return master, replica


def sync_client(master, *argv):
    return subprocess.run([os.path.join(master.bin_dir, "cyr_sync_client"), "-C", master.imapd_conf] + list(argv),
                          capture_output=True, timeout=300)


def count(node, mailbox):
    c = imap(node)
    n = int(ok(c.select(mailbox, readonly=True))[0])
    c.logout()
    return n


def test_banner_and_auth_refusal(args):
    master, replica = start_pair(args, password="wrong")
    try:
        s = socket.create_connection(addr(replica, "syncserver"), timeout=10)
        f = s.makefile("rb")
        lines = []
        while True:
            line = f.readline()
            lines.append(line)
            if line.startswith(b"* OK"):
                break
        assert any(l.startswith(b"* SASL ") for l in lines), lines
        s.sendall(b"GET USER fred\r\n")
        assert f.readline() == b"NO Please authenticate first\r\n"
        s.sendall(b"NOOP\r\n")
        assert f.readline() == b"OK Noop completed\r\n"
        s.sendall(b"EXIT\r\n")
        assert f.readline() == b"OK Finished\r\n"
        s.close()
        res = sync_client(master, "-u", "fred")
        assert res.returncode != 0, res
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def test_user_sync_and_verify(args):
    master, replica = start_pair(args)
    try:
        c = imap(master)
        ok(c.create("user/fred"))
        ok(c.setacl("user/fred", "admin", "lrswipkxtecda"))  # children inherit it
        ok(c.create("user/fred/Sent"))
        ok(c.create("user/fred/Old"))
        for i in range(30):
            ok(c.append("user/fred", "(\\Seen)" if i % 3 == 0 else None, None, message(i)))
        ok(c.setacl("user/fred/Sent", "barney", "lr"))
        ok(c.setquota("user/fred", "(STORAGE 100000)"))
        c.logout()
        res = sync_client(master, "-v", "-u", "fred")
        assert res.returncode == 0, res
        res = sync_client(master, "--verify", "fred")
        assert res.returncode == 0, res
        assert count(replica, "user/fred") == 30

        # Changes: flags, expunge, move, rename, delete, more mail.
        c = imap(master)
        ok(c.select("user/fred"))
        ok(c.uid("STORE", "1:5", "+FLAGS", "(\\Flagged $Work)"))
        ok(c.uid("STORE", "6:8", "+FLAGS", "(\\Deleted)"))
        ok(c.expunge())
        ok(c.uid("MOVE", "9:10", "user/fred/Sent"))
        ok(c.rename("user/fred/Old", "user/fred/Archive"))
        for i in range(30, 40):
            ok(c.append("user/fred", None, None, message(i)))
        c.logout()
        # Before syncing, verify sees the difference.
        res = sync_client(master, "--verify", "fred")
        assert res.returncode == 1, res
        res = sync_client(master, "-v", "-u", "fred")
        assert res.returncode == 0, res
        assert b"10 messages" in res.stdout, res.stdout  # only the new ones were uploaded
        res = sync_client(master, "--verify", "fred")
        assert res.returncode == 0, res
        assert count(replica, "user/fred") == 35
        assert count(replica, "user/fred/Sent") == 2
        c = imap(replica)
        names = b" ".join(ok(c.list("user/fred/", "*")))
        assert b"Archive" in names and b"Old" not in names, names
        c.logout()
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def test_all_users_mailbox_mode_and_kill9(args):
    master, replica = start_pair(args)
    try:
        c = imap(master)
        for u in ("u1", "u2", "u3"):
            ok(c.create("user/" + u))
            ok(c.setacl("user/" + u, "admin", "lrswipkxtecda"))
            for i in range(10):
                ok(c.append("user/" + u, None, None, message(i)))
        c.logout()
        res = sync_client(master, "-A")
        assert res.returncode == 0, res
        res = sync_client(master, "--verify")
        assert res.returncode == 0, res
        # kill -9 the replica, restart it, sync again: converges.
        c = imap(master)
        for i in range(10, 20):
            ok(c.append("user/u2", None, None, message(i)))
        c.logout()
        replica.stop(sig=9)
        # The old ports file and log survive a kill -9: wait for the new ones.
        os.unlink(os.path.join(replica.confdir, "ports"))
        replica.start(wait_ready=False)
        replica.wait_log("ready:", count=2)
        replica.wait_ready()
        host, port = addr(replica, "syncserver")
        res = sync_client(master, "-S", "%s:%d" % (host, port), "-m", "user.u2")
        assert res.returncode == 0, res
        res = sync_client(master, "-S", "%s:%d" % (host, port), "--verify")
        assert res.returncode == 0, res
        assert count(replica, "user/u2") == 20
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def test_rolling_daemon(args):
    # sync_log: on runs the rolling client inside cyr_master, next to the store.
    master, replica = start_pair(args, master_extra="sync_log: on\n")
    try:
        c = imap(master)
        ok(c.create("user/rita"))
        ok(c.setacl("user/rita", "admin", "lrswipkxtecda"))
        for i in range(20):
            ok(c.append("user/rita", None, None, message(i)))
        c.logout()
        import time
        deadline = time.time() + 30
        while time.time() < deadline:
            res = sync_client(master, "--verify", "rita")
            if res.returncode == 0:
                break
            time.sleep(0.5)
        assert res.returncode == 0, (res, master.log()[-3000:])
        assert count(replica, "user/rita") == 20
        # More changes while running: flags and an expunge arrive too.
        c = imap(master)
        ok(c.select("user/rita"))
        ok(c.uid("STORE", "1:3", "+FLAGS", "(\\Deleted)"))
        ok(c.expunge())
        ok(c.uid("STORE", "4", "+FLAGS", "(\\Flagged)"))
        c.logout()
        deadline = time.time() + 30
        while time.time() < deadline:
            res = sync_client(master, "--verify", "rita")
            if res.returncode == 0:
                break
            time.sleep(0.2)
        assert res.returncode == 0, res
        with open(os.path.join(master.confdir, "sync", "status")) as f:
            status = f.read()
        assert "connected 1" in status and "last_error \n" in status, status
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def test_kill9_client_mid_sync(args):
    master, replica = start_pair(args)
    try:
        c = imap(master)
        ok(c.create("user/kim"))
        ok(c.setacl("user/kim", "admin", "lrswipkxtecda"))
        for i in range(400):
            ok(c.append("user/kim", None, None, message(i, 30000)))
        c.logout()
        import time
        p = subprocess.Popen([os.path.join(master.bin_dir, "cyr_sync_client"), "-C", master.imapd_conf,
                              "-u", "kim"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.15)
        p.kill()
        p.wait()
        res = sync_client(master, "-u", "kim")
        assert res.returncode == 0, res
        res = sync_client(master, "--verify", "kim")
        assert res.returncode == 0, res
        assert count(replica, "user/kim") == 400
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


if __name__ == "__main__":
    run_tests([test_banner_and_auth_refusal, test_user_sync_and_verify, test_all_users_mailbox_mode_and_kill9,
               test_rolling_daemon, test_kill9_client_mid_sync])
