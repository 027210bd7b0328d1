"""POP3 against a running cyr_master with Python's poplib: USER/PASS and
AUTH PLAIN, STAT/LIST/UIDL/RETR/TOP, deletions only at QUIT, a dropped
connection deleting nothing, UIDL stable across sessions, the exclusive
maildrop lock, and popminpoll. Mail arrives over LMTP; mailboxes are
provisioned and counted over IMAP as the admin."""

import base64
import imaplib
import poplib
import smtplib
import socket

from harness import run_tests
from test_lmtp import LmtpNode, transaction

CYRUS_CONF = (
    'SERVICES {\n'
    '  imap     cmd="imapd" listen="127.0.0.1:0"\n'
    '  pop3     cmd="pop3d" listen="127.0.0.1:0"\n'
    '  lmtp     cmd="lmtpd -a" listen="127.0.0.1:0"\n'
    '  lmtpunix cmd="lmtpd" listen="{dir}/lmtp.sock"\n'
    '}\n')


class PopNode(LmtpNode):
    def __init__(self, args, extra=""):
        super().__init__(args, extra)
        self.write_cyrus_conf(CYRUS_CONF)

    def start(self, **kw):
        super().start(**kw)
        self.set_password("pat", "popsecret")
        self.provision(("create", ("user.pat",)))
        return self

    def set_password(self, user, pw):
        import os
        import subprocess
        p = subprocess.run([os.path.join(self.bin_dir, "cyr_passwd"), "-C", self.imapd_conf, user],
                           input=(pw + "\n").encode(), capture_output=True)
        assert p.returncode == 0, p.stderr

    def pop(self):
        host, port = self.addr("pop3")
        return poplib.POP3(host, port, timeout=60)

    def login(self):
        p = self.pop()
        p.user("pat")
        p.pass_("popsecret")
        return p

    def deliver(self, n, body_extra=""):
        c = self.lmtp()
        for i in range(n):
            msg = ("From: s@x\r\nSubject: m%d\r\nMessage-ID: <pop%d-%s@x>\r\n\r\n"
                   "line one\r\n.dotted line\r\n%s" % (i, i, body_extra, body_extra))
            _, dr = transaction(c, ["pat"], msg)
            assert dr[0][0] == 250, dr
        c.quit()


def test_retrieve_and_delete_at_quit(args):
    with PopNode(args) as n:
        n.start()
        n.deliver(3)
        p = n.login()
        count, size = p.stat()
        assert count == 3 and size > 0
        resp, lines, octets = p.retr(1)
        assert resp.startswith(b"+OK")
        assert b"Subject: m0" in lines
        assert b".dotted line" in lines  # dot-stuffing undone by poplib
        resp, top, _ = p.top(2, 0)
        assert b"Subject: m1" in top and b"line one" not in top
        uidls = p.uidl()[1]
        assert len(uidls) == 3
        p.dele(1)
        assert n.messages("user.pat") == 3, "DELE must not delete before QUIT"
        p.rset()
        p.dele(2)
        try:
            p.retr(2)
            raise AssertionError("RETR of a deleted message must fail")
        except poplib.error_proto:
            pass
        p.quit()
        assert n.messages("user.pat") == 2
        # UIDL of the survivors is unchanged in a new session.
        p = n.login()
        again = p.uidl()[1]
        assert [u.split()[1] for u in again] == [uidls[0].split()[1], uidls[2].split()[1]], (uidls, again)
        p.quit()
        assert n.stop() == 0


def test_dropped_connection_deletes_nothing(args):
    with PopNode(args) as n:
        n.start()
        n.deliver(2)
        p = n.login()
        p.dele(1)
        p.dele(2)
        p.sock.close()  # no QUIT
        p.file.close()
        # The lock is released when the server notices, then a new session works.
        import time
        deadline = time.monotonic() + 10
        while True:
            try:
                p = n.login()
                break
            except poplib.error_proto as e:
                assert b"IN-USE" in e.args[0], e
                assert time.monotonic() < deadline, "maildrop stayed locked"
                time.sleep(0.1)
        assert p.stat()[0] == 2
        p.quit()
        assert n.messages("user.pat") == 2
        assert n.stop() == 0


def test_two_sessions_of_one_maildrop(args):
    """As in Cyrus and Dovecot, a second session may open the maildrop; each
    works on the list it saw at login, and deleting a message the other
    session already removed is harmless."""
    with PopNode(args) as n:
        n.start()
        n.deliver(2)
        first = n.login()
        second = n.login()
        assert first.stat()[0] == 2 and second.stat()[0] == 2
        second.dele(1)
        assert second.quit().startswith(b"+OK")
        # The first session still lists it; its RETR answers the message (its
        # file stays until cyr_expire removes expunged files) or, once the
        # file is gone, -ERR: never another message's bytes.
        try:
            resp, lines, _ = first.retr(1)
            assert resp.startswith(b"+OK") and any(l == b"Subject: m0" for l in lines), lines[:8]
        except poplib.error_proto as e:
            assert b"removed" in e.args[0], e
        assert first.retr(2)[0].startswith(b"+OK")
        first.dele(1)
        first.dele(2)
        assert first.quit().startswith(b"+OK")
        assert n.login().stat()[0] == 0
        assert n.stop() == 0


def test_exclusive_lock_and_auth_plain(args):
    with PopNode(args, extra="pop3_exclusive_lock: yes\n") as n:
        n.start()
        n.deliver(1)
        first = n.login()
        second = n.pop()
        second.user("pat")
        try:
            second.pass_("popsecret")
            raise AssertionError("second POP3 session must be refused")
        except poplib.error_proto as e:
            assert b"IN-USE" in e.args[0], e
        second.quit()
        first.quit()
        # AUTH PLAIN (RFC 5034), which poplib does not speak: by hand.
        s = socket.create_connection(n.addr("pop3"))
        f = s.makefile("rb")
        assert f.readline().startswith(b"+OK")
        s.sendall(b"CAPA\r\n")
        caps = []
        line = f.readline()
        while line != b".\r\n":
            caps.append(line.strip())
            line = f.readline()
        assert b"UIDL" in caps and b"TOP" in caps, caps
        cred = base64.b64encode(b"\0pat\0popsecret")
        s.sendall(b"AUTH PLAIN " + cred + b"\r\n")
        assert f.readline().startswith(b"+OK"), "AUTH PLAIN"
        s.sendall(b"STAT\r\nQUIT\r\n")
        assert f.readline().startswith(b"+OK 1 ")
        assert f.readline().startswith(b"+OK")
        f.close()
        s.close()
        p = n.pop()
        p.user("pat")
        try:
            p.pass_("wrong")
            raise AssertionError("bad password accepted")
        except poplib.error_proto as e:
            assert b"AUTH" in e.args[0]
        p.quit()
        assert n.stop() == 0


def test_popminpoll(args):
    with PopNode(args, "popminpoll: 10\n") as n:
        n.start()
        p = n.login()
        p.quit()
        p = n.pop()
        p.user("pat")
        try:
            p.pass_("popsecret")
            raise AssertionError("second login within popminpoll accepted")
        except poplib.error_proto as e:
            assert b"LOGIN-DELAY" in e.args[0], e
        p.quit()
        assert n.stop() == 0


def test_popuseimapflags(args):
    """popuseimapflags, as Cyrus: a message IMAP marked \\Deleted is not in
    the maildrop, what RETR sent is \\Seen after QUIT (TOP does not count),
    and the login leaves no message \\Recent for the user."""
    with PopNode(args, "popuseimapflags: yes\n") as n:
        n.start()
        n.deliver(3)
        host, port = n.addr("imap")
        m = imaplib.IMAP4(host, port)
        m.login("pat", "popsecret")
        m.select("INBOX")
        assert m.store("2", "+FLAGS", "(\\Deleted)")[0] == "OK"
        m.unselect()  # not CLOSE: that would expunge it
        p = n.login()
        assert p.stat()[0] == 2  # message 2 is hidden
        assert b"Subject: m0" in p.retr(1)[1]
        assert b"Subject: m2" in p.top(2, 0)[1]
        p.quit()
        typ, data = m.select("INBOX", readonly=True)
        assert typ == "OK"
        assert m.response("RECENT")[1] == [b"0"], m.response("RECENT")
        flags = {int(x.split()[0]): x for x in m.fetch("1:3", "(FLAGS)")[1]}
        assert b"\\Seen" in flags[1] and b"\\Seen" not in flags[3] and b"\\Deleted" in flags[2], flags
        m.logout()
        assert n.stop() == 0


if __name__ == "__main__":
    run_tests([
        test_retrieve_and_delete_at_quit,
        test_dropped_connection_deletes_nothing,
        test_two_sessions_of_one_maildrop,
        test_exclusive_lock_and_auth_plain,
        test_popminpoll,
        test_popuseimapflags,
    ])
