#!/usr/bin/env python3
"""IMAP COMPRESS=DEFLATE (RFC 4978) against a real cyr_master (harness.py):
logged in with imaplib, COMPRESS DEFLATE on the raw socket (with the next
command pipelined behind it, already compressed), then SELECT, FETCH of a
large message, APPEND, IDLE woken by another session's APPEND and by an LMTP
delivery, a second COMPRESS (NO [COMPRESSIONACTIVE]) and LOGOUT, all through
zlib raw DEFLATE streams; the same over STARTTLS and over implicit TLS
(imaps); an unknown mechanism (BAD); and a corrupt stream, which ends the
session."""

import base64
import imaplib
import os
import random
import re
import smtplib
import ssl
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

CYRUS_CONF = ('SERVICES {\n'
              '  imap cmd="imapd" listen="127.0.0.1:0"\n'
              '  lmtp cmd="lmtpd -a" listen="127.0.0.1:0"\n'
              '}\n')
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"

imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def addr(node, service):
    host, port = node.ports()[service][0].rsplit(":", 1)
    return host, int(port)


def connect(node, user="fred", password="secret"):
    host, port = addr(node, "imap")
    c = imaplib.IMAP4(host, port, timeout=30)
    if user:
        ok(c.login(user, password))
    return c


def start_node(args, extra="", conf=CYRUS_CONF):
    n = Node(args.bin, conf, imapd_extra=IMAPD_EXTRA + extra, keep=args.keep)
    for user in ("admin", "fred"):
        set_password(n, user)
    return n


def create_inbox(n):
    admin = connect(n, "admin")
    ok(admin.create("user/fred"))
    admin.logout()


def big_message(subject, size):
    # Base64 of random bytes: compresses to about 3/4, so it does not shrink
    # to nothing and the FETCH really streams through the compressor.
    rnd = random.Random(subject)
    raw = bytes(rnd.getrandbits(8) for _ in range(size * 3 // 4))
    body = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return (b"From: Fred <fred@example.com>\r\nTo: fred@example.com\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + re.sub(r"\W", "", subject).encode() + b"@example.com>\r\n"
            b"\r\n" + body)


def deliver(node, msg):
    host, port = addr(node, "lmtp")
    lmtp = smtplib.LMTP(host, port, timeout=60)
    try:
        assert not lmtp.sendmail("sender@example.com", ["fred"], msg)
    finally:
        lmtp.quit()


def read_plain_line(sock):
    """One line read a byte at a time: what follows it may be compressed."""
    line = b""
    while not line.endswith(b"\n"):
        b = sock.recv(1)
        assert b, "connection closed after %r" % line
        line += b
    return line


class Deflated:
    """Both directions of an IMAP connection after COMPRESS DEFLATE."""

    def __init__(self, sock):
        self.sock = sock
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inf = zlib.decompressobj(-15)
        self.buf = b""

    @staticmethod
    def compressed(comp, data):
        return comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)

    def send(self, data):
        self.sock.sendall(self.compressed(self.out, data))

    def _fill(self):
        raw = self.sock.recv(65536)
        if not raw:
            raise EOFError("server closed the connection")
        self.buf += self.inf.decompress(raw)

    def readline(self):
        while b"\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, tag):
        """Untagged lines (with their literals) up to the tagged one."""
        lines = []
        while True:
            line = self.readline()
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                line += self.read(int(m.group(1))) + self.readline()
            if line.startswith(tag + b" "):
                return lines, line
            lines.append(line)

    def command(self, tag, text):
        self.send(tag + b" " + text + b"\r\n")
        return self.response(tag)


def start_compress(c, pipelined=b""):
    """COMPRESS DEFLATE on imaplib's socket; `pipelined` goes out compressed
    in the same write, before the OK has been read."""
    assert b"COMPRESS=DEFLATE" in ok(c.capability())[0].split()
    sock = c.sock
    z = Deflated(sock)
    behind = z.compressed(z.out, pipelined) if pipelined else b""
    sock.sendall(b"z1 COMPRESS DEFLATE\r\n" + behind)
    line = read_plain_line(sock)
    assert line.startswith(b"z1 OK"), line
    return z


def exercise(n, z, big, big_uid):
    # SELECT was pipelined behind COMPRESS.
    lines, tagged = z.response(b"z2")
    assert tagged.startswith(b"z2 OK"), (lines, tagged)
    assert any(re.match(rb"\* \d+ EXISTS", l) for l in lines), lines

    # A large FETCH: the literal must come out whole.
    lines, tagged = z.command(b"z3", b"UID FETCH %d (BODY.PEEK[])" % big_uid)
    assert tagged.startswith(b"z3 OK"), tagged
    assert len(lines) == 1 and big in lines[0], [l[:100] for l in lines]

    # APPEND with a synchronizing literal through the inflater.
    msg = big_message("Appended compressed", 300 * 1024)
    z.send(b"z4 APPEND INBOX {%d}\r\n" % len(msg))
    cont = z.readline()
    assert cont.startswith(b"+"), cont
    z.send(msg + b"\r\n")
    lines, tagged = z.response(b"z4")
    assert tagged.startswith(b"z4 OK"), (lines, tagged)

    # A second COMPRESS is refused; the stream goes on.
    lines, tagged = z.command(b"z5", b"COMPRESS DEFLATE")
    assert tagged.startswith(b"z5 NO [COMPRESSIONACTIVE]"), tagged
    lines, tagged = z.command(b"z6", b"NOOP")
    assert tagged.startswith(b"z6 OK"), tagged

    # IDLE: every update must reach the client at once (a sync flush), or
    # it would sit in the compressor until the next response.
    z.send(b"z7 IDLE\r\n")
    assert z.readline().startswith(b"+"), "no continuation"
    other = connect(n)
    ok(other.append("INBOX", None, None, b"Subject: other\r\n\r\nfrom another session\r\n"))
    other.logout()
    line = z.readline()
    assert re.match(rb"\* \d+ EXISTS", line), line
    # A Message-ID of its own each time: lmtpd suppresses duplicates.
    deliver(n, b"Subject: lmtp\r\nMessage-ID: <lmtp.%d@example.com>\r\n\r\nby LMTP\r\n"
            % random.getrandbits(48))
    line = z.readline()
    while not re.match(rb"\* \d+ EXISTS", line):
        line = z.readline()
    z.send(b"DONE\r\n")
    lines, tagged = z.response(b"z7")
    assert tagged.startswith(b"z7 OK"), (lines, tagged)

    lines, tagged = z.command(b"z8", b"UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert tagged.startswith(b"z8 OK"), tagged
    text = b"".join(lines)
    for s in (b"Appended compressed", b"other", b"lmtp"):
        assert s in text, text

    lines, tagged = z.command(b"z9", b"LOGOUT")
    assert tagged.startswith(b"z9 OK"), tagged
    assert any(l.startswith(b"* BYE") for l in lines), lines
    try:
        z._fill()
        assert False, "connection still open after LOGOUT"
    except EOFError:
        pass


def setup_mailbox(n):
    create_inbox(n)
    big = big_message("Big one", 2 * 1024 * 1024)
    deliver(n, big)
    return big


def test_compress_plain(args):
    with start_node(args) as n:
        n.start()
        big = setup_mailbox(n)
        c = connect(n, user=None)
        assert "COMPRESS=DEFLATE" not in c.capabilities, c.capabilities  # after login only
        ok(c.login("fred", "secret"))
        z = start_compress(c, pipelined=b"z2 SELECT INBOX\r\n")
        exercise(n, z, big, 1)
        c.sock.close()


def test_compress_over_tls(args):
    # imaps: implicit TLS from the master (imapd -s).
    conf = CYRUS_CONF.replace("}\n", '  imaps cmd="imapd -s" listen="127.0.0.1:0"\n}\n')
    n = start_node(args, conf=conf)
    with n:
        cert, key = n.path("cert.pem"), n.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        n.write_imapd_conf(IMAPD_EXTRA + "tls_server_cert: %s\ntls_server_key: %s\n" % (cert, key))
        n.start()
        big = setup_mailbox(n)
        c = connect(n, user=None)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ok(c.starttls(ssl_context=ctx))
        ok(c.login("fred", "secret"))
        assert isinstance(c.sock, ssl.SSLSocket)
        # Compression inside TLS: the Deflated wrapper writes to the TLS socket.
        z = start_compress(c, pipelined=b"z2 SELECT INBOX\r\n")
        exercise(n, z, big, 1)
        c.sock.close()
        # The same over implicit TLS, on the mailbox as the first run left it.
        host, port = addr(n, "imaps")
        c = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=30)
        ok(c.login("fred", "secret"))
        z = start_compress(c, pipelined=b"z2 SELECT INBOX\r\n")
        exercise(n, z, big, 1)
        c.sock.close()


def test_unknown_mechanism_and_corrupt_stream(args):
    with start_node(args) as n:
        n.start()
        create_inbox(n)
        c = connect(n, user=None)
        # Not before login (the server says BAD, imaplib raises).
        try:
            c._simple_command("COMPRESS", "DEFLATE")
            assert False, "COMPRESS accepted before login"
        except imaplib.IMAP4.error:
            pass
        ok(c.login("fred", "secret"))
        try:
            c._simple_command("COMPRESS", "LZW")
            assert False, "unknown mechanism accepted"
        except imaplib.IMAP4.error as e:
            assert "BAD" in str(e) or "mechanism" in str(e), e
        ok(c.noop())
        # A corrupt stream ends the session (and only it).
        z = start_compress(c)
        z.sock.sendall(b"\xff\xff\xff\xff not deflate\r\n")
        try:
            while True:
                z._fill()
        except (EOFError, ConnectionResetError):
            pass
        n.wait_log("COMPRESS: ending the session")
        d = connect(n)
        ok(d.noop())
        d.logout()


if __name__ == "__main__":
    run_tests([test_compress_plain, test_compress_over_tls,
               test_unknown_mechanism_and_corrupt_stream])
