"""The housekeeping commands against a store populated through the running
daemon (LMTP and IMAP), each checked by its effect as a client sees it:
cyr_expire (duplicate-db prune, purge of expunged messages), cyr_unexpunge
(list and restore), cyr_ipurge (by size, by Date: header age, by internal
date, user mailboxes only with -f), cyr_userseen, cyr_df, cyr_tls_prune, and
the removal of LMTP spool files left by a crash when the master starts.

The commands run while the master is up, as an operator runs them."""

import imaplib
import os
import subprocess
import time

from harness import run_tests
from test_lmtp import LmtpNode, message, transaction


class HkNode(LmtpNode):
    def create(self, *names):
        """CREATE as the admin, who then gets every right (the admin holds
        only l and a implicitly) to append, flag and expunge in the test."""
        m = self.imap()
        try:
            for name in names:
                typ, data = m.create(name)
                assert typ == "OK", (name, data)
                typ, data = m.setacl(name, "admin", "lrswipkxtecda")
                assert typ == "OK", (name, data)
        finally:
            m.logout()

    def cmd(self, name, *args, ok=True):
        p = subprocess.run([os.path.join(self.bin_dir, "cyr_" + name), "-C", self.imapd_conf] + list(args),
                           capture_output=True, text=True, timeout=120)
        if ok:
            assert p.returncode == 0, (name, args, p.returncode, p.stdout, p.stderr)
        return p

    def uids(self, mailbox):
        m = self.imap()
        try:
            typ, _ = m.select(mailbox)
            assert typ == "OK", mailbox
            typ, data = m.uid("SEARCH", "ALL")
            assert typ == "OK"
            return [int(x) for x in data[0].split()]
        finally:
            m.logout()

    def deliver(self, rcpt, msgid, body="Hello\r\n", extra_headers=""):
        c = self.lmtp()
        try:
            _, dr = transaction(c, [rcpt], message(msgid, body, extra_headers))
            assert dr and dr[0][0] == 250, dr
        finally:
            c.quit()

    def message_files(self, mailbox):
        d = self.cmd("mbpath", mailbox).stdout.strip()
        return sorted(f for f in os.listdir(d) if f.endswith("."))


def test_duplicate_prune_and_purge_and_unexpunge(args):
    with HkNode(args) as n:
        n.start()
        n.create("user.hk")
        n.deliver("hk", "dup-1@x")
        n.deliver("hk", "dup-1@x")  # suppressed: same Message-ID, same mailbox
        assert n.messages("user.hk") == 1
        time.sleep(1.1)  # entries are pruned when strictly older than the cut-off
        out = n.cmd("expire", "-E", "0").stdout
        assert "pruned 1 of 1" in out, out
        n.deliver("hk", "dup-1@x")  # the mark is gone: delivered again
        assert n.messages("user.hk") == 2

        # Expunge one message over IMAP; its file stays for cyr_unexpunge.
        first, second = n.uids("user.hk")
        m = n.imap()
        m.select("user.hk")
        m.uid("STORE", str(first), "+FLAGS", "(\\Deleted \\Answered)")
        m.expunge()
        m.logout()
        assert n.uids("user.hk") == [second]
        listing = n.cmd("unexpunge", "-l", "user.hk").stdout
        assert "UID: %d\t" % first in listing and "1 restorable" in listing, listing
        bad = n.cmd("unexpunge", "-u", "user.hk", str(second), ok=False)
        assert bad.returncode != 0 and "not an expunged message" in bad.stderr, bad.stderr
        out = n.cmd("unexpunge", "-d", "-v", "-u", "user.hk", str(first)).stdout
        assert "restored UID %d as UID" % first in out, out
        now = n.uids("user.hk")
        assert len(now) == 2 and now[0] == second and now[1] > second, now  # a new UID
        m = n.imap()
        m.select("user.hk")
        typ, data = m.uid("FETCH", str(now[1]), "(FLAGS)")
        m.logout()
        flags = data[0].decode()
        assert "\\Answered" in flags and "\\Deleted" not in flags, flags  # -d cleared \Deleted

        # Expunge again, then purge: the file goes and nothing is restorable.
        m = n.imap()
        m.select("user.hk")
        m.uid("STORE", str(now[1]), "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()
        files_before = n.message_files("user.hk")
        dry = n.cmd("expire", "-X", "0", "-n").stdout
        assert "would have purged" in dry, dry
        assert n.message_files("user.hk") == files_before
        time.sleep(1.1)
        out = n.cmd("expire", "-X", "0", "-v").stdout
        assert "purged 2 expunged messages" in out, out  # the first tombstone and this one
        assert "0 restorable" in n.cmd("unexpunge", "-l", "user.hk").stdout
        assert len(n.message_files("user.hk")) == len(files_before) - 2
        assert n.messages("user.hk") == 1

        bad = n.cmd("expire", "-E", "3x", ok=False)
        assert bad.returncode == 64 and "bad duration" in bad.stderr, bad.stderr


def test_ipurge(args):
    with HkNode(args) as n:
        n.start()
        n.create("user.ip", "archive")
        n.deliver("ip", "u-small@x")
        m = n.imap()
        big = "x" * 3000 + "\r\n"
        for i, body in enumerate(["small\r\n", big, "small again\r\n"]):
            typ, _ = m.append("archive", None, None, message("a%d@x" % i, body).encode())
            assert typ == "OK"
        # Internal date 40 days ago, Date: header now; and the other way round.
        old_internal = imaplib.Time2Internaldate(time.time() - 40 * 86400)
        typ, _ = m.append("user.ip", None, old_internal,
                          message("old-internal@x", extra_headers="Date: %s\r\n" %
                                  time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())).encode())
        assert typ == "OK"
        old_header = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(time.time() - 60 * 86400))
        typ, _ = m.append("user.ip", None, None,
                          message("old-header@x", extra_headers="Date: %s\r\n" % old_header).encode())
        assert typ == "OK"
        m.logout()

        out = n.cmd("ipurge", "-b", "2000", "-n").stdout
        assert "would delete 1 of 3" in out, out  # user mailboxes skipped without -f
        assert n.messages("archive") == 3
        out = n.cmd("ipurge", "-b", "2000", "archive").stdout
        assert "deleted 1 of 3" in out, out
        assert n.messages("archive") == 2
        assert n.messages("user.ip") == 3

        # Date: header age (default) finds only the old-header message.
        out = n.cmd("ipurge", "-f", "-d", "30", "user.ip").stdout
        assert "deleted 1 of 3" in out, out
        # Internal date (-X) finds only the old-internal one.
        out = n.cmd("ipurge", "-f", "-X", "-d", "30", "user.ip").stdout
        assert "deleted 1 of 2" in out, out
        m = n.imap()
        m.select("user.ip")
        typ, data = m.search(None, "HEADER", "Message-ID", "u-small@x")
        assert data[0].split(), "the recent LMTP message must survive"
        m.logout()
        assert n.messages("user.ip") == 1

        bad = n.cmd("ipurge", "archive", ok=False)
        assert bad.returncode == 64 and "exactly one of" in bad.stderr, bad.stderr


def test_userseen_df_tls_prune_and_spool_cleanup(args):
    with HkNode(args) as n:
        spool = n.path("spool", "lmtp.spool")
        os.makedirs(spool)
        stale = os.path.join(spool, "lmtp-Ab12Cd")
        with open(stale, "w") as f:
            f.write("half a message")
        n.start()
        assert not os.path.exists(stale), "leftover spool file not removed at start"
        assert "removed 1 spool file" in n.log()

        n.create("board", "user.reader")
        m = n.imap()
        m.setacl("board", "reader", "lrs")
        m.append("board", None, None, message("b1@x").encode())
        m.logout()
        p = subprocess.run([os.path.join(n.bin_dir, "cyr_passwd"), "-C", n.imapd_conf, "reader"],
                           input=b"rpw\n", capture_output=True)
        assert p.returncode == 0, p.stderr

        def reader_flags():
            host, port = n.addr("imap")
            r = imaplib.IMAP4(host, port)
            r.login("reader", "rpw")
            r.select("board")
            typ, data = r.fetch("1", "(FLAGS)")
            r.logout()
            return data[0].decode()

        host, port = n.addr("imap")
        r = imaplib.IMAP4(host, port)
        r.login("reader", "rpw")
        r.select("board")
        r.fetch("1", "(BODY[])")  # sets \Seen for reader only (shared mailbox)
        r.logout()
        assert "\\Seen" in reader_flags()

        out = n.cmd("userseen").stdout
        assert "board: seen state of reader would be cleared" in out and "would clear 1" in out, out
        assert "\\Seen" in reader_flags()
        out = n.cmd("userseen", "-d").stdout
        assert "cleared 1 seen entries" in out, out
        assert "\\Seen" not in reader_flags()
        # Selecting again records a visit (lastread) but no seen message.
        out = n.cmd("userseen").stdout
        assert "would clear 0" in out or "reader would be cleared (-)" in out, out

        out = n.cmd("df").stdout.splitlines()
        assert out[0].split()[:2] == ["Partition", "1k-blocks"], out
        row = out[1].split()
        assert row[0] == "default" and row[-1] == n.path("spool") and int(row[1]) > 0, out
        bad = n.cmd("df", "-p", "nosuch", ok=False)
        assert bad.returncode != 0 and "no partition named nosuch" in bad.stderr

        out = n.cmd("tls_prune").stdout
        assert "nothing to prune" in out, out


def test_expire_by_annotation(args):
    with HkNode(args) as n:
        n.start()
        n.create("lists", "lists.old", "keep")
        m = n.imap()
        old = imaplib.Time2Internaldate(time.time() - 40 * 86400)
        for box in ("lists", "lists.old", "keep"):
            for i, date in enumerate((old, None)):
                typ, _ = m.append(box, None, date, message("%s-%d@x" % (box, i)).encode())
                assert typ == "OK"
        typ, _ = m.append("lists", "(\\Flagged)", old, message("flagged@x").encode())
        assert typ == "OK"
        imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
        typ, data = m._simple_command("SETMETADATA", "lists", '(/shared/vendor/cmu/cyrus-imapd/expire "30")')
        assert typ == "OK", data
        try:
            m._simple_command("SETMETADATA", "keep", '(/shared/vendor/cmu/cyrus-imapd/expire "soon")')
            raise AssertionError("a non-numeric expire value was accepted")
        except imaplib.IMAP4.error as e:
            assert "number of days" in str(e), e
        m.logout()

        out = n.cmd("expire", "-n").stdout
        assert "would have expired 2 of" in out, out
        assert n.messages("lists") == 3
        out = n.cmd("expire", "-v").stdout
        # lists and lists.old (inherited) lose their 40-day-old message; the
        # \Flagged one and the mailbox without the annotation keep theirs.
        assert "expired 2 of" in out and "lists.old: expire 1" in out, out
        assert n.messages("lists") == 2 and n.messages("lists.old") == 1 and n.messages("keep") == 2
        out = n.cmd("expire", "-u", "nobody", "-v").stdout
        assert "expired 0 of 0" in out, out


if __name__ == "__main__":
    run_tests([test_duplicate_prune_and_purge_and_unexpunge, test_ipurge,
               test_userseen_df_tls_prune_and_spool_cleanup, test_expire_by_annotation])
