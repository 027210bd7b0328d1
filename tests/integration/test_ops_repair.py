"""The repair and database commands against a store populated through the
running daemon (LMTP in, IMAP to flag and read back): cyr_chk_cyrus,
cyr_reconstruct (tampered message found by -G, stray files, a damaged index
record and counters, a deleted shard database, -n changing nothing, -V),
cyr_reconstruct -m rebuilding a deleted mailbox list (and refusing while a
master holds the pid file), cyr_cyrusdb -r/-c/--restore, cyr_cvt_cyrusdb and
cyr_dbtool. Every check is what a client sees afterwards: message counts,
UIDs, flags kept, bytes (and so GUIDs) unchanged."""

import fcntl
import glob
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess

from harness import run_tests
from test_lmtp import LmtpNode, message, transaction


class RepairNode(LmtpNode):
    def cmd(self, name, *args, ok=True):
        p = subprocess.run([os.path.join(self.bin_dir, "cyr_" + name), "-C", self.imapd_conf] + list(args),
                           capture_output=True, text=True, timeout=120)
        if ok:
            assert p.returncode == 0, (name, args, p.returncode, p.stdout, p.stderr)
        return p

    def create(self, *names):
        m = self.imap()
        try:
            for name in names:
                typ, data = m.create(name)
                assert typ == "OK", (name, data)
                self.grant(m, name)
        finally:
            m.logout()

    @staticmethod
    def grant(m, name):
        typ, data = m.setacl(name, "admin", "lrswipkxtecda")
        assert typ == "OK", (name, data)

    def deliver(self, rcpt, msgid, body="Hello\r\n"):
        c = self.lmtp()
        try:
            _, dr = transaction(c, [rcpt], message(msgid, body))
            assert dr and dr[0][0] == 250, dr
        finally:
            c.quit()

    def state(self, mailbox):
        """{uid: (flags set, sha1 of the bytes)} as IMAP shows them."""
        m = self.imap()
        try:
            typ, _ = m.select(mailbox, readonly=True)
            assert typ == "OK", mailbox
            typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
            assert typ == "OK", data
            out = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head = item[0].decode()
                uid = int(re.search(r"UID (\d+)", head).group(1))
                flags = set(re.search(r"FLAGS \(([^)]*)\)", head).group(1).split())
                flags.discard("\\Recent")
                out[uid] = (flags, hashlib.sha1(item[1]).hexdigest())
            return out
        finally:
            m.logout()

    def store(self, mailbox, uid, flags):
        m = self.imap()
        try:
            m.select(mailbox)
            typ, data = m.uid("STORE", str(uid), "+FLAGS", flags)
            assert typ == "OK", data
        finally:
            m.logout()

    def mbdir(self, mailbox):
        return self.cmd("mbpath", mailbox).stdout.strip()

    def shard_db(self, mailbox):
        return self.cmd("mbpath", "-m", mailbox).stdout.strip()


def populate(n):
    n.create("user.rc", "user.rc.Sent")
    m = n.imap()
    typ, data = m.setquota("user.rc", "(STORAGE 10000)")
    assert typ == "OK", data
    m.logout()
    for i in range(5):
        n.deliver("rc", "rc-%d@x" % i, "body %d\r\n" % i)
    m = n.imap()
    typ, data = m.append("user.rc.Sent", None, None, message("rc-sent@x", "sent body\r\n").encode())
    assert typ == "OK", data
    m.logout()
    n.store("user.rc", 2, "(\\Flagged)")
    n.store("user.rc", 3, "(\\Seen $Label1)")


def test_chk_and_reconstruct_while_running(args):
    with RepairNode(args) as n:
        n.start()
        populate(n)
        before = n.state("user.rc")
        assert sorted(before) == [1, 2, 3, 4, 5], before
        out = n.cmd("chk_cyrus").stdout
        assert "0 problems" in out, out
        assert "0 would change" in n.cmd("reconstruct", "-n").stdout

        # A message file tampered with (same size): only a GUID check sees it.
        d = n.mbdir("user.rc")
        f4 = os.path.join(d, "4.")
        data = bytearray(open(f4, "rb").read())
        data[-3] = ord("X") if data[-3] != ord("X") else ord("Y")
        open(f4, "wb").write(bytes(data))
        p = n.cmd("chk_cyrus", "-M", "user.rc", ok=False)
        assert p.returncode == 1 and "uid 4: GUID mismatch" in p.stdout, p.stdout
        assert "GUID mismatch" not in n.cmd("reconstruct", "user.rc").stdout  # without -G: size matches
        out = n.cmd("reconstruct", "-n", "-G", "user.rc").stdout
        assert "uid 4: GUID mismatch" in out and "would be fixed" in out, out
        assert n.cmd("chk_cyrus", "-M", "user.rc", ok=False).returncode == 1  # -n changed nothing
        out = n.cmd("reconstruct", "-G", "user.rc").stdout
        assert "uid 4: GUID mismatch" in out, out
        assert "0 problems" in n.cmd("chk_cyrus").stdout

        # Stray files: one with a free UID above last_uid, one with a name
        # that is no valid UID (renumbered), one that is no message file.
        shutil.copy(os.path.join(d, "1."), os.path.join(d, "100."))
        shutil.copy(os.path.join(d, "5."), os.path.join(d, "0."))
        open(os.path.join(d, "notes.txt"), "w").write("x")
        out = n.cmd("reconstruct", "-r", "user.rc").stdout
        assert "uid 100: message file not in the index; added" in out, out
        assert "file 0. has no record and its UID is invalid; added as uid 101" in out, out
        after = n.state("user.rc")
        assert sorted(after) == [1, 2, 3, 4, 5, 100, 101], after
        assert after[100][1] == before[1][1] and after[101][1] == before[5][1]
        assert after[2][0] == {"\\Flagged"} and after[3][0] == {"\\Seen", "$Label1"}, after
        assert os.path.exists(os.path.join(d, "notes.txt")) and not os.path.exists(os.path.join(d, "0."))

        # A damaged index record (checksum) and wrong counters, while running.
        db = sqlite3.connect(n.shard_db("user.rc"), timeout=10)
        db.execute("UPDATE record SET keywords='Junk' WHERE uid=5")
        db.execute("UPDATE mailbox SET exists_count=99 WHERE name='user.rc'")
        db.commit()
        db.close()
        p = n.cmd("chk_cyrus", ok=False)
        assert p.returncode == 1 and "uid 5: index record damaged" in p.stdout, p.stdout
        out = n.cmd("reconstruct", "user.rc").stdout
        assert "uid 5: index record damaged" in out and "counters exists 99->7" in out, out
        assert "0 problems" in n.cmd("chk_cyrus").stdout
        final = n.state("user.rc")
        assert sorted(final) == [1, 2, 3, 4, 5, 100, 101] and final[2][0] == {"\\Flagged"}, final
        assert n.messages("user.rc") == 7
        m = n.imap()
        typ, data = m.getquotaroot("user.rc")
        assert typ == "OK", data
        m.logout()
        used = int(re.search(rb"STORAGE (\d+)", data[1][0]).group(1))
        total = sum(os.path.getsize(os.path.join(d, "%d." % u)) for u in final)
        sent = sum(os.path.getsize(p) for p in glob.glob(os.path.join(n.mbdir("user.rc.Sent"), "*.")))
        assert used == (total + sent) // 1024, (used, total, sent)  # KiB rounded down, as Cyrus

        # -V: one index format so far.
        assert "index already at version 1" in n.cmd("reconstruct", "-V", "max", "user.rc").stdout
        assert n.cmd("reconstruct", "-V", "2", ok=False).returncode == 64
        # A missing message file: its record goes (expunged).
        os.unlink(os.path.join(d, "100."))
        out = n.cmd("reconstruct", "user.rc").stdout
        assert "uid 100: message file missing" in out, out
        assert sorted(n.state("user.rc")) == [1, 2, 3, 4, 5, 101]


def test_deleted_index_and_mailbox_list(args):
    with RepairNode(args) as n:
        n.start()
        populate(n)
        before = n.state("user.rc")
        shard = n.shard_db("user.rc")
        n.stop()
        for side in ("", "-wal", "-shm"):
            if os.path.exists(shard + side):
                os.unlink(shard + side)
        out = n.cmd("reconstruct", "-r", "user.rc").stdout
        assert "shard database" in out and "recreated" in out, out
        n.start()
        after = n.state("user.rc")
        assert sorted(after) == sorted(before)
        assert all(after[u][1] == before[u][1] for u in before)  # same bytes under the same UIDs
        assert n.messages("user.rc.Sent") == 1
        assert after[2][0] == set()  # flags lived only in the deleted index
        n.deliver("rc", "rc-new@x")  # and the mailbox takes new mail above them
        assert max(n.state("user.rc")) == 6
        n.store("user.rc", 2, "(\\Flagged)")

        # The mailbox list deleted: rebuilt from the shard databases.
        n.stop()
        lock = open(os.path.join(n.confdir, "cyrus-master.pid"), "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = n.cmd("reconstruct", "-m", ok=False)
        assert p.returncode == 75 and "is running" in p.stderr, (p.returncode, p.stderr)
        lock.close()
        os.unlink(os.path.join(n.confdir, "cyrus-master.pid"))
        for side in ("", "-wal", "-shm"):
            path = os.path.join(n.confdir, "mailboxes.db" + side)
            if os.path.exists(path):
                os.unlink(path)
        out = n.cmd("reconstruct", "-m").stdout
        assert "2 mailboxes (0 from the old list, 2 from shard databases)" in out, out
        n.start()
        m = n.imap()
        for name in ("user.rc", "user.rc.Sent"):
            n.grant(m, name)  # rebuilt with the owner's default ACL
        m.logout()
        assert n.messages("user.rc") == 6 and n.messages("user.rc.Sent") == 1
        assert n.state("user.rc")[2][0] == {"\\Flagged"}


def test_cyrusdb_checkpoint_restore_cvt_dbtool(args):
    with RepairNode(args) as n:
        n.start()
        populate(n)
        out = n.cmd("cyrusdb", "-r").stdout
        assert "0 damaged" in out, out
        n.cmd("cyrusdb", "-c")
        n.cmd("cyrusdb", "-c")
        b1, b2 = (os.path.join(n.confdir, "db.backup%d" % i) for i in (1, 2))
        assert os.path.exists(os.path.join(b1, "mailboxes.db.zst")) and os.path.isdir(b2)
        n.create("user.rc.After")
        n.stop()
        out = n.cmd("cyrusdb", "--restore", b1, "--only", "mailboxes.db").stdout
        assert "restored mailboxes.db" in out, out
        n.start()
        m = n.imap()
        typ, data = m.list('""', "user.rc*")
        m.logout()
        names = b" ".join(data)
        assert b"user.rc.Sent" in names and b"After" not in names, data
        assert n.messages("user.rc") == 5

        # cvt_cyrusdb: sqlite -> flat -> sqlite gives the same keys and values.
        lst = os.path.join(n.confdir, "mailboxes.db")
        flat, back = os.path.join(n.dir, "list.flat"), os.path.join(n.dir, "list2.db")
        assert n.cmd("cvt_cyrusdb", "list.db", "sqlite", flat, "flat", ok=False).returncode == 64
        n.cmd("cvt_cyrusdb", lst, "sqlite", flat, "flat")
        n.cmd("cvt_cyrusdb", flat, "flat", back, "sqlite")
        show1 = n.cmd("dbtool", lst, "sqlite", "show").stdout
        show2 = n.cmd("dbtool", back, "sqlite", "show").stdout
        assert show1 == show2 and "mailbox/user.rc\t" in show1, (show1, show2)

        # dbtool get/set on the live mailbox list: the ACL a client sees.
        got = n.cmd("dbtool", "mailboxes.db", "sqlite", "get", "mailbox/user.rc").stdout
        assert "uniqueid=" in got and "partition=default" in got, got
        n.cmd("dbtool", "mailboxes.db", "sqlite", "set", "mailbox/user.rc",
              "acl=admin%09lrswipkxtecda%09rc%09lrs%09")
        m = n.imap()
        typ, data = m.getacl("user.rc")
        m.logout()
        assert b"rc lrs" in data[0], data
        assert n.cmd("dbtool", "mailboxes.db", "sqlite", "get", "mailbox/user.nobody", ok=False).returncode == 1
        assert "consistent" in n.cmd("dbtool", lst, "sqlite", "consistent").stdout


if __name__ == "__main__":
    run_tests([test_chk_and_reconstruct_while_running, test_deleted_index_and_mailbox_list,
               test_cyrusdb_checkpoint_restore_cvt_dbtool])
