"""LMTP delivery against a running cyr_master, with Python's smtplib.LMTP:
per-recipient replies after DATA, plus-addressing with and without the p
right, duplicate suppression, over-quota, bare newlines, 8-bit headers, a
30 MiB message, pipelining, the unix socket, and a dropped connection.

Mailboxes are provisioned and inspected over IMAP as the admin (CREATE,
SETACL, SETQUOTA, STATUS), the way an operator does with cyradm."""

import imaplib
import os
import smtplib
import socket
import subprocess
import time

from harness import Node, run_tests

CYRUS_CONF = (
    'SERVICES {\n'
    '  imap     cmd="imapd" listen="127.0.0.1:0"\n'
    '  lmtp     cmd="lmtpd -a" listen="127.0.0.1:0"\n'
    '  lmtpunix cmd="lmtpd" listen="{dir}/lmtp.sock"\n'
    '}\n')

IMAPD_EXTRA = (
    "admins: admin\n"
    "allowplaintext: yes\n"
    "altnamespace: no\n"
    "unixhierarchysep: no\n"
    "lmtp_strict_quota: yes\n"
    "servername: lmtptest\n")


class LmtpNode(Node):
    def __init__(self, args, extra=""):
        super().__init__(args.bin, CYRUS_CONF, IMAPD_EXTRA + extra, keep=args.keep)

    def start(self, **kw):
        super().start(**kw)
        p = subprocess.run([os.path.join(self.bin_dir, "cyr_passwd"), "-C", self.imapd_conf, "admin"],
                           input=b"secret\n", capture_output=True)
        assert p.returncode == 0, p.stderr
        return self

    def addr(self, service):
        a = self.ports()[service][0]
        host, port = a.rsplit(":", 1)
        return host, int(port)

    def lmtp(self):
        host, port = self.addr("lmtp")
        c = smtplib.LMTP(host, port, timeout=120)
        code, _ = c.ehlo_or_helo_if_needed() or (250, b"")
        return c

    def imap(self):
        host, port = self.addr("imap")
        m = imaplib.IMAP4(host, port)
        m.login("admin", "secret")
        return m

    def provision(self, *cmds):
        m = self.imap()
        try:
            for name, args in cmds:
                typ, data = getattr(m, name)(*args)
                assert typ == "OK", (name, args, typ, data)
                if name == "create":
                    # Admins hold only l and a implicitly; STATUS needs r.
                    typ, data = m.setacl(args[0], "admin", "lrsa")
                    assert typ == "OK", (args, typ, data)
        finally:
            m.logout()

    def messages(self, mailbox):
        m = self.imap()
        try:
            typ, data = m.status(mailbox, "(MESSAGES)")
            assert typ == "OK", (mailbox, data)
            return int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" )"))
        finally:
            m.logout()


def message(msgid, body="Hello\r\n", extra_headers=""):
    return ("From: sender@example.com\r\nTo: rcpt@example.com\r\nSubject: test\r\n"
            "Message-ID: <%s>\r\n%s\r\n%s" % (msgid, extra_headers, body))


def transaction(c, rcpts, msg, sender="sender@example.com"):
    """MAIL, RCPTs, DATA; returns (rcpt replies, per-recipient DATA replies)."""
    code, _ = c.mail(sender)
    assert code == 250
    rcpt_replies = [c.rcpt(r) for r in rcpts]
    accepted = sum(1 for code, _ in rcpt_replies if code == 250)
    data_replies = []
    if accepted:
        data_replies.append(c.data(msg.encode() if isinstance(msg, str) else msg))
        for _ in range(accepted - 1):
            data_replies.append(c.getreply())
    return rcpt_replies, data_replies


def test_three_recipients_three_replies(args):
    with LmtpNode(args) as n:
        n.start()
        n.provision(("create", ("user.alice",)), ("create", ("user.bob",)),
                    ("setquota", ("user.bob", "(STORAGE 1)")))
        c = n.lmtp()
        rr, dr = transaction(c, ["alice@example.com", "bob@example.com", "nobody@example.com"],
                             message("three@x", "x" * 4000 + "\r\n"))
        assert [r[0] for r in rr] == [250, 250, 550], rr
        assert rr[2][1].startswith(b"5.1.1"), rr
        assert [r[0] for r in dr] == [250, 452], dr
        assert dr[1][1].startswith(b"4.2.2"), dr
        c.quit()
        assert n.messages("user.alice") == 1
        assert n.messages("user.bob") == 0
        assert n.stop() == 0


def test_plus_addressing_with_and_without_p(args):
    with LmtpNode(args) as n:
        n.start()
        n.provision(("create", ("user.carol",)), ("create", ("user.carol.lists",)),
                    ("create", ("user.carol.private",)),
                    ("setacl", ("user.carol.lists", "anyone", "p")))
        c = n.lmtp()
        _, dr = transaction(c, ["carol+lists@example.com"], message("p1@x"))
        assert dr[0][0] == 250, dr
        _, dr = transaction(c, ["carol+private@example.com"], message("p2@x"))
        assert dr[0][0] == 250, dr
        _, dr = transaction(c, ["carol+nonexistent@example.com"], message("p3@x"))
        assert dr[0][0] == 250, dr
        c.quit()
        assert n.messages("user.carol.lists") == 1
        assert n.messages("user.carol.private") == 0
        assert n.messages("user.carol") == 2
        assert n.stop() == 0


def test_duplicate_suppression(args):
    with LmtpNode(args) as n:
        n.start()
        n.provision(("create", ("user.dave",)))
        c = n.lmtp()
        for _ in range(3):
            _, dr = transaction(c, ["dave@example.com"], message("dup@x"))
            assert dr[0][0] == 250, dr
        _, dr = transaction(c, ["dave@example.com"], message("other@x"))
        c.quit()
        assert n.messages("user.dave") == 2
        assert os.path.exists(os.path.join(n.confdir, "deliver.db"))
        assert n.stop() == 0


def raw_session(n, unix=False):
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(n.path("lmtp.sock"))
    else:
        s = socket.create_connection(n.addr("lmtp"))
    s.settimeout(60)
    f = s.makefile("rb")
    return s, f


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line)
        if line[3:4] != b"-":
            return b"".join(lines)


def test_pipelined_bare_newline_and_8bit(args):
    with LmtpNode(args) as n:
        n.start()
        n.provision(("create", ("user.erin",)))
        s, f = raw_session(n, unix=True)
        assert read_reply(f).startswith(b"220")
        # Everything up to DATA in one write (PIPELINING).
        s.sendall(b"LHLO t\r\nMAIL FROM:<a@b>\r\nRCPT TO:<erin>\r\nDATA\r\n")
        assert b"PIPELINING" in read_reply(f)
        assert read_reply(f).startswith(b"250")
        assert read_reply(f).startswith(b"250")
        assert read_reply(f).startswith(b"354")
        s.sendall(b"Subject: x\r\n\r\nbare\nnewline\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<erin>\r\nDATA\r\n")
        assert read_reply(f).startswith(b"554 5.6.0"), "bare newline must be refused"
        assert read_reply(f).startswith(b"250")
        assert read_reply(f).startswith(b"250")
        assert read_reply(f).startswith(b"354")
        s.sendall("Subject: caf\u00e9\r\nMessage-ID: <8bit@x>\r\n\r\nbody\r\n.\r\n".encode())
        assert read_reply(f).startswith(b"250"), "8-bit header is munged, not refused"
        s.sendall(b"QUIT\r\n")
        assert read_reply(f).startswith(b"221")
        f.close()
        s.close()
        assert n.messages("user.erin") == 1
        assert n.stop() == 0
    with LmtpNode(args, "reject8bit: yes\n") as n:
        n.start()
        n.provision(("create", ("user.erin",)))
        c = n.lmtp()
        _, dr = transaction(c, ["erin"], "Subject: caf\u00e9\r\n\r\nbody\r\n".encode())
        assert dr[0][0] == 554, dr
        c.quit()
        assert n.messages("user.erin") == 0
        assert n.stop() == 0


def test_large_message(args):
    with LmtpNode(args) as n:
        n.start()
        n.provision(("create", ("user.frank",)))
        line = ("%s\r\n" % ("y" * 76)).encode()
        body = line * ((30 * 1024 * 1024) // len(line) + 1)
        msg = message("big@x").encode() + body
        c = n.lmtp()
        start = time.monotonic()
        _, dr = transaction(c, ["frank"], msg)
        elapsed = time.monotonic() - start
        assert dr[0][0] == 250, dr
        c.quit()
        print("  30 MiB delivered in %.1fs" % elapsed)
        assert n.messages("user.frank") == 1
        assert n.stop() == 0


def test_dropped_connection_delivers_nothing(args):
    with LmtpNode(args) as n:
        n.start()
        n.provision(("create", ("user.gina",)))
        s, f = raw_session(n)
        read_reply(f)
        s.sendall(b"LHLO t\r\nMAIL FROM:<a@b>\r\nRCPT TO:<gina>\r\nDATA\r\n")
        for _ in range(4):
            read_reply(f)
        s.sendall(b"Subject: x\r\n\r\n" + b"partial line\r\n" * 1000)
        f.close()  # the file object holds the socket open too
        s.close()
        n.wait_log("connection lost during DATA", timeout=10)
        assert n.messages("user.gina") == 0
        left = os.listdir(n.path("spool", "lmtp.spool"))
        assert left == [], (left, n.log()[-2000:])
        assert n.stop() == 0


def cyr_deliver(n, argv, msg):
    p = subprocess.run([os.path.join(n.bin_dir, "cyr_deliver"), "-C", n.imapd_conf] + argv,
                       input=msg.encode(), capture_output=True, timeout=60)
    return p.returncode, p.stderr.decode()


def test_cyr_deliver_exit_codes_and_plus_mailbox(args):
    with LmtpNode(args) as n:
        n.write_imapd_conf(IMAPD_EXTRA + "lmtpsocket: %s\n" % n.path("lmtp.sock"))
        n.start()
        n.provision(("create", ("user.ivan",)), ("create", ("user.ivan.lists",)),
                    ("setacl", ("user.ivan.lists", "hank", "p")),
                    ("create", ("user.judy",)), ("setquota", ("user.judy", "(STORAGE 1)")))
        # Bare LF line ends on stdin, as procmail hands them over.
        body = "From: s@x\nSubject: d\nMessage-ID: <%s>\n\n.leading dot\nbody\n"
        assert cyr_deliver(n, ["--", "ivan"], body % "d1@x") == (0, "")
        code, err = cyr_deliver(n, ["-e", "-a", "hank", "-m", "lists", "ivan"], body % "d2@x")
        assert code == 0, err
        code, err = cyr_deliver(n, ["-m", "lists", "ivan"], body % "d3@x")  # no p right: INBOX
        assert code == 0, err
        code, err = cyr_deliver(n, ["nosuchuser"], body % "d4@x")
        assert code == 67, (code, err)  # EX_NOUSER
        code, err = cyr_deliver(n, ["judy"], body % "d5@x" + "x" * 3000 + "\n")
        assert code == 75, (code, err)  # EX_TEMPFAIL: over quota
        assert n.messages("user.ivan") == 2
        assert n.messages("user.ivan.lists") == 1
        m = n.imap()
        m.select("user.ivan")
        typ, data = m.fetch("1", "(BODY.PEEK[])")
        m.logout()
        raw = data[0][1]
        assert b"\r\n.leading dot\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b""), raw
        assert n.stop() == 0
        code, err = cyr_deliver(n, ["ivan"], body % "d6@x")
        assert code == 75, (code, err)  # node down: try later


if __name__ == "__main__":
    run_tests([
        test_three_recipients_three_replies,
        test_plus_addressing_with_and_without_p,
        test_duplicate_suppression,
        test_pipelined_bare_newline_and_8bit,
        test_large_message,
        test_dropped_connection_delivers_nothing,
        test_cyr_deliver_exit_codes_and_plus_mailbox,
    ])
