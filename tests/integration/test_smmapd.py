"""smmapd, the socket map daemon ("smmapd" in cyrus.conf SERVICES), against
the running daemon: the socketmap protocol over TCP and a unix socket
(several requests in one write, one request split over writes, a malformed
one ending the connection), Postfix's own socketmap client (postmap -q),
and a real Postfix that rejects an unknown recipient at RCPT time through
relay_recipient_maps = socketmap:... (the address never reaches LMTP).

Postfix is Debian's package; the Postfix parts install it as
test_lmtp_postfix.py does and fail if it cannot be had."""

import os
import smtplib
import socket
import subprocess

from harness import Node, run_tests, wait_for
from test_lmtp import IMAPD_EXTRA, LmtpNode
from test_lmtp_postfix import Postfix, ensure_postfix

CYRUS_CONF = (
    'SERVICES {\n'
    '  imap     cmd="imapd" listen="127.0.0.1:0"\n'
    '  lmtp     cmd="lmtpd -a" listen="127.0.0.1:0"\n'
    '  smmap    cmd="smmapd" listen="127.0.0.1:0"\n'
    '  smmapunix cmd="/usr/lib/cyrus/bin/smmapd" listen="{dir}/smmap.sock"\n'
    '}\n')


class SmmapNode(LmtpNode):
    def __init__(self, args):
        Node.__init__(self, args.bin, CYRUS_CONF, IMAPD_EXTRA + "postuser: bb\n", keep=args.keep)


def netstring(s):
    b = s.encode()
    return b"%d:%s," % (len(b), b)


def read_netstring(f):
    digits = b""
    while True:
        c = f.read(1)
        if not c:
            return None
        if c == b":":
            break
        digits += c
    body = f.read(int(digits))
    assert f.read(1) == b","
    return body.decode()


def provision(n):
    m = n.imap()
    for name in ("user.fred", "user.full", "shared.news"):
        assert m.create(name)[0] == "OK", name
    assert m.setacl("shared.news", "anyone", "lrsp")[0] == "OK"
    assert m.setacl("user.fred", "admin", "lrswipkxtecda")[0] == "OK"
    c = n.lmtp()
    c.sendmail("a@example.org", ["full"], b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n")
    c.quit()
    assert m.setquota("user.full", "(STORAGE 1)")[0] == "OK"  # 3 KB used: over
    m.logout()


def test_socketmap_protocol(args):
    with SmmapNode(args) as n:
        n.start()
        provision(n)
        s = socket.create_connection(n.addr("smmap"), timeout=30)
        f = s.makefile("rb")
        # Several requests in one write, answered in order.
        s.sendall(netstring("cyrus fred@example.com") + netstring("cyrus nobody") +
                  netstring("cyrus bb+shared.news") + netstring("cyrus full"))
        assert read_netstring(f) == "OK fred@example.com"
        assert read_netstring(f) == "NOTFOUND Mailbox does not exist"
        assert read_netstring(f) == "OK bb+shared.news"
        assert read_netstring(f) == "TEMP Over quota"
        # One request split over several writes.
        req = netstring("cyrus fred+Anything@example.com")
        for i in range(0, len(req), 5):
            s.sendall(req[i:i + 5])
        assert read_netstring(f) == "OK fred+Anything@example.com"
        # A malformed request: PERM, and the connection ends.
        s.sendall(b"12:cyrus fred@x;")
        assert read_netstring(f).startswith("PERM Protocol error")
        assert f.read(1) == b""
        s.close()
        # An oversized one is refused from its length alone.
        s = socket.create_connection(n.addr("smmap"), timeout=30)
        s.sendall(b"99999:")
        assert read_netstring(s.makefile("rb")).startswith("PERM Protocol error (request of 99999 bytes")
        s.close()
        # The unix socket, named with an absolute path as Debian's cyrus.conf does.
        u = socket.socket(socket.AF_UNIX)
        u.connect(n.path("smmap.sock"))
        u.sendall(netstring("cyrus fred"))
        assert read_netstring(u.makefile("rb")) == "OK fred"
        u.close()
        assert n.stop() == 0


def test_postfix_socketmap_client(args):
    if not ensure_postfix():
        raise AssertionError("postfix is not installed and could not be installed; this test cannot run here")
    with SmmapNode(args) as n:
        n.start()
        provision(n)
        host, port = n.addr("smmap")
        table = "socketmap:inet:%s:%d:cyrus" % (host, port)
        conf = n.path("postfix")  # postmap reads a main.cf; none is installed
        os.makedirs(conf)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")

        def postmap(key, t=table):
            return subprocess.run(["/usr/sbin/postmap", "-c", conf, "-q", key, t], capture_output=True, text=True)

        r = postmap("fred@example.com")
        assert r.returncode == 0 and r.stdout.strip() == "fred@example.com", (r.returncode, r.stdout, r.stderr)
        r = postmap("nobody@example.com")
        assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout, r.stderr)  # not found
        r = postmap("fred", "socketmap:unix:%s:cyrus" % n.path("smmap.sock"))
        assert r.returncode == 0 and r.stdout.strip() == "fred", (r.returncode, r.stdout, r.stderr)
        assert n.stop() == 0


def test_postfix_rejects_unknown_recipients_at_rcpt(args):
    if not ensure_postfix():
        raise AssertionError("postfix is not installed and could not be installed; this test cannot run here")
    with SmmapNode(args) as n:
        n.start()
        provision(n)
        pf = Postfix(n.addr("lmtp")[1])
        host, port = n.addr("smmap")
        with open(os.path.join(pf.dir, "main.cf"), "a") as f:
            f.write("relay_recipient_maps = socketmap:inet:%s:%d:cyrus\n" % (host, port))
        try:
            pf.start()
            s = smtplib.SMTP("127.0.0.1", pf.smtp_port, timeout=60)
            msg = ("From: sender@example.org\r\nTo: fred@example.com\r\nSubject: checked\r\n"
                   "Message-ID: <smmap1@example.org>\r\n\r\nHello.\r\n")
            refused = s.sendmail("sender@example.org", ["fred@example.com", "nobody@example.com"], msg)
            s.quit()
            # Refused by Postfix itself, in the SMTP dialogue: no bounce later.
            assert list(refused) == ["nobody@example.com"] and refused["nobody@example.com"][0] == 550, refused
            wait_for(lambda: pf.log().count("status=sent") >= 1, 60, what="postfix to deliver:\n%s" % pf.log())
            assert n.messages("user.fred") == 1
            assert "nobody@example.com" not in n.log()  # never asked of LMTP
        finally:
            pf.stop()
        assert n.stop() == 0


if __name__ == "__main__":
    run_tests([test_socketmap_protocol, test_postfix_socketmap_client, test_postfix_rejects_unknown_recipients_at_rcpt])
