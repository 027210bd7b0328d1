#!/usr/bin/env python3
"""CATENATE (RFC 4469) and REPLACE (RFC 8508) against a real cyr_master
(harness.py), over a raw socket so that every literal (synchronizing or
not) and every response line is exactly what the test says:

- a message built from a TEXT header and a URL part of another message
  (SECTION=1, SECTION=TEXT, HEADER.FIELDS, the whole message, PARTIAL, the
  full imap://fred@server form) is byte-exact;
- NO [BADURL url] for a mailbox without rights (none, and 'l' only), a wrong
  UIDVALIDITY, a missing message or section, another user's or another
  server's URL, a relative URL; nothing is appended then;
- NO [TOOBIG] for TEXT parts over APPENDLIMIT (before the literal is sent:
  the session goes on with the next command) and for a URL part taking the
  result over it;
- MULTIAPPEND with CATENATE: one bad part appends none of the messages;
- a TEXT part with a NUL: NO as a plain literal, stored as a literal8;
- REPLACE and UID REPLACE: the new message stored (APPENDUID in an untagged
  OK), the old one expunged (EXPUNGE, or VANISHED with QRESYNC), into
  another mailbox or the selected one, with CATENATE naming the message
  being replaced; refused read-only, without rights and for a missing UID."""

import imaplib
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

CYRUS_CONF = ('SERVICES {\n'
              '  imap cmd="imapd" listen="127.0.0.1:0"\n'
              '}\n')
SERVER = "mail.example.com"
MAX_MESSAGE = 20000
IMAPD_EXTRA = ("admins: admin\nallowplaintext: yes\nservername: %s\nmaxmessagesize: %d\n"
               % (SERVER, MAX_MESSAGE))

MULTIPART = (b"From: Fred <fred@example.com>\r\n"
             b"To: barney@example.com\r\n"
             b"Subject: Parts\r\n"
             b"Date: Tue, 3 Mar 2020 10:00:00 +0000\r\n"
             b"Message-ID: <parts@example.com>\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"xyz\"\r\n"
             b"\r\n"
             b"preamble\r\n"
             b"--xyz\r\n"
             b"Content-Type: text/plain\r\n"
             b"\r\n"
             b"First part, line one.\r\nline two.\r\n"
             b"--xyz\r\n"
             b"Content-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: base64\r\n"
             b"\r\n"
             b"AAECAwQFBgcICQ==\r\n"
             b"--xyz--\r\n")
PART1 = b"First part, line one.\r\nline two."
TEXT_OF = MULTIPART[MULTIPART.index(b"\r\n\r\n") + 4:]
HEADER = (b"From: Fred <fred@example.com>\r\n"
          b"To: wilma@example.com\r\n"
          b"Subject: Forwarded\r\n"
          b"\r\n")


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def addr(node):
    host, port = node.ports()["imap"][0].rsplit(":", 1)
    return host, int(port)


class Lit:
    """A literal in a command: {n} (sync), {n+} or ~{n+} (binary)."""

    def __init__(self, data, sync=False, binary=False):
        self.data, self.sync, self.binary = data, sync, binary


class Raw:
    """A minimal IMAP client over a socket: commands as pieces of text and
    literals; the answer is the tagged line and the untagged lines (with any
    literal data in them inline)."""

    def __init__(self, node, user="fred"):
        self.sock = socket.create_connection(addr(node), timeout=30)
        self.buf = b""
        self.tags = 0
        greeting = self.line()
        assert greeting.startswith(b"* OK"), greeting
        if user:
            tagged, _ = self.command(b"LOGIN %s secret" % user.encode())
            assert b" OK " in tagged, tagged

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def line(self):
        """One response line, with the data of any literals in it."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            i = self.buf.index(b"\r\n") + 2
            piece, self.buf = self.buf[:i], self.buf[i:]
            out += piece
            m = re.search(rb"\{(\d+)\}\r\n$", piece)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += self.buf[:n]
            self.buf = self.buf[n:]

    def command(self, *pieces):
        """Sends tag + pieces; a synchronizing literal waits for "+". Returns
        (tagged line, untagged lines); if the server answers instead of
        "+", the rest of the command is not sent (RFC 3501 7.5)."""
        self.tags += 1
        tag = b"T%d" % self.tags
        untagged = []
        out = tag + b" "
        for p in pieces:
            if isinstance(p, Lit):
                out += b"%s{%d%s}\r\n" % (b"~" if p.binary else b"", len(p.data),
                                          b"" if p.sync else b"+")
                if p.sync:
                    self.sock.sendall(out)
                    out = b""
                    while True:
                        resp = self.line()
                        if resp.startswith(b"+"):
                            break
                        if resp.startswith(tag + b" "):
                            return resp, untagged
                        untagged.append(resp)
                out += p.data
            else:
                out += p
        self.sock.sendall(out + b"\r\n")
        while True:
            resp = self.line()
            if resp.startswith(tag + b" "):
                return resp, untagged
            untagged.append(resp)

    def ok(self, *pieces):
        tagged, untagged = self.command(*pieces)
        assert re.match(rb"T\d+ OK", tagged), (tagged, untagged)
        return tagged, untagged

    def fetch_body(self, mailbox, uid):
        self.ok(b"EXAMINE \"%s\"" % mailbox.encode())
        _, lines = self.ok(b"UID FETCH %d (BODY.PEEK[])" % uid)
        assert len(lines) == 1, lines
        m = re.search(rb"BODY\[\] \{(\d+)\}\r\n", lines[0])
        assert m, lines
        start = m.end()
        return lines[0][start:start + int(m.group(1))]

    def messages(self, mailbox):
        _, lines = self.ok(b"STATUS \"%s\" (MESSAGES)" % mailbox.encode())
        return int(re.search(rb"MESSAGES (\d+)", lines[0]).group(1))


def start_node(args, max_message=MAX_MESSAGE):
    extra = IMAPD_EXTRA.replace("maxmessagesize: %d" % MAX_MESSAGE, "maxmessagesize: %d" % max_message)
    n = Node(args.bin, CYRUS_CONF, imapd_extra=extra, keep=args.keep)
    for user in ("admin", "fred", "barney"):
        set_password(n, user)
    n.start()
    host, port = addr(n)
    admin = imaplib.IMAP4(host, port, timeout=30)
    ok(admin.login("admin", "secret"))
    for mbox in ("user/fred", "user/fred/Drafts", "user/barney", "user/barney/Peek"):
        ok(admin.create(mbox))
    # fred may see barney's Peek folder but not read it.
    ok(admin.setacl("user/barney/Peek", "fred", "l"))
    admin.logout()
    return n


def appended(tagged):
    """(uidvalidity, uid) from "... OK [APPENDUID v u] ..."."""
    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", tagged)
    assert m, tagged
    return int(m.group(1)), int(m.group(2))


def seed(n):
    """Appends MULTIPART to fred's INBOX: (client, uidvalidity, uid)."""
    c = Raw(n)
    tagged, _ = c.ok(b"APPEND INBOX ", Lit(MULTIPART))
    v, uid = appended(tagged)
    return c, v, uid


# -- building messages ------------------------------------------------------------

def test_capabilities(args):
    with start_node(args) as n:
        c = Raw(n)
        _, lines = c.ok(b"CAPABILITY")
        caps = lines[0].split()
        assert b"CATENATE" in caps and b"REPLACE" in caps, lines
        assert b"APPENDLIMIT=%d" % MAX_MESSAGE in caps, lines
        c.close()


def test_catenate_byte_exact(args):
    with start_node(args) as n:
        c, v, uid = seed(n)
        # The server's own BODY[1] and BODY[TEXT] are the reference.
        c.ok(b"EXAMINE INBOX")
        _, lines = c.ok(b"UID FETCH %d (BODY.PEEK[1])" % uid)
        assert lines[0].endswith(PART1 + b")\r\n"), lines
        cases = [
            (b"/INBOX;UIDVALIDITY=%d/;UID=%d/;SECTION=1" % (v, uid), PART1),
            (b"/INBOX/;UID=%d/;SECTION=TEXT" % uid, TEXT_OF),
            (b"/INBOX;UIDVALIDITY=%d/;UID=%d" % (v, uid), MULTIPART),
            (b"/INBOX/;UID=%d/;SECTION=1/;PARTIAL=6.4" % uid, PART1[6:10]),
            (b"/INBOX/;UID=%d/;PARTIAL=5000" % uid, b""),
            (b"/INBOX/;UID=%d/;SECTION=HEADER.FIELDS%%20(SUBJECT)" % uid, b"Subject: Parts\r\n\r\n"),
            (b"imap://fred@%s/INBOX;UIDVALIDITY=%d/;UID=%d/;SECTION=1" % (SERVER.encode(), v, uid), PART1),
            (b"IMAP://fred;AUTH=*@%s:143/INBOX/;UID=%d/;SECTION=1" % (SERVER.upper().encode(), uid), PART1),
        ]
        for url, data in cases:
            tagged, _ = c.ok(b"APPEND Drafts (\\Draft) CATENATE (TEXT ", Lit(HEADER),
                             b" URL \"" + url + b"\")")
            dv, duid = appended(tagged)
            assert c.fetch_body("Drafts", duid) == HEADER + data, url
        # Several parts, synchronizing literals, a literal URL, a URL between
        # two TEXT parts; sizes as RFC822.SIZE says.
        tagged, _ = c.ok(b"APPEND Drafts CATENATE (TEXT ", Lit(HEADER, sync=True),
                         b" URL ", Lit(b"/INBOX/;UID=%d/;SECTION=1" % uid, sync=True),
                         b" TEXT ", Lit(b"\r\n-- \r\nFred\r\n", sync=True), b")")
        _, duid = appended(tagged)
        expect = HEADER + PART1 + b"\r\n-- \r\nFred\r\n"
        assert c.fetch_body("Drafts", duid) == expect
        _, lines = c.ok(b"UID FETCH %d (RFC822.SIZE FLAGS)" % duid)
        assert b"RFC822.SIZE %d" % len(expect) in lines[0], lines
        # The source is untouched and still \Seen-less.
        assert c.fetch_body("INBOX", uid) == MULTIPART
        _, lines = c.ok(b"UID FETCH %d (FLAGS)" % uid)
        assert b"\\Seen" not in lines[0], lines
        c.close()


def test_catenate_large_parts(args):
    # Parts above the in-memory literal size (256 KiB): the TEXT literal is
    # staged to a file and copied, the whole-message URL copied from the
    # message file, a PARTIAL of it read as a range.
    with start_node(args, max_message=8 << 20) as n:
        c = Raw(n)
        body = b"".join(b"line %07d of a large message\r\n" % i for i in range(40000))
        big = b"Subject: big\r\n\r\n" + body
        tagged, _ = c.ok(b"APPEND INBOX ", Lit(big, sync=True))
        _, uid = appended(tagged)
        text = b"X-Note: " + b"n" * 600000 + b"\r\n"
        tagged, _ = c.ok(b"APPEND Drafts CATENATE (TEXT ", Lit(text, sync=True),
                         b" URL \"/INBOX/;UID=%d\" URL \"/INBOX/;UID=%d/;PARTIAL=300000.500000\"" % (uid, uid),
                         b" URL \"/INBOX/;UID=%d/;SECTION=TEXT/;PARTIAL=17\")" % uid)
        _, duid = appended(tagged)
        got = c.fetch_body("Drafts", duid)
        want = text + big + big[300000:800000] + body[17:]
        assert len(got) == len(want) and got == want, (len(got), len(want))
        c.close()


def test_catenate_badurl(args):
    with start_node(args) as n:
        c, v, uid = seed(n)
        b = Raw(n, "barney")
        tagged, _ = b.ok(b"APPEND INBOX ", Lit(MULTIPART))
        _, buid = appended(tagged)
        b.ok(b"APPEND Peek ", Lit(MULTIPART))
        b.close()
        bad = [
            (b"/Other%%20Users/barney/;UID=%d" % buid, b"No such mailbox"),       # no rights at all
            (b"/Other%20Users/barney/Peek/;UID=1", b"Permission denied"),        # 'l' only
            (b"/INBOX;UIDVALIDITY=%d/;UID=%d" % (v + 1, uid), b"UIDVALIDITY"),   # wrong UIDVALIDITY
            (b"/INBOX/;UID=%d" % (uid + 50), b"No such message"),
            (b"/INBOX/;UID=%d/;SECTION=7" % uid, b"No such section"),
            (b"/Nonesuch/;UID=1", b"No such mailbox"),
            (b"imap://barney@%s/INBOX/;UID=%d" % (SERVER.encode(), buid), b"another user"),
            (b"imap://%s/INBOX/;UID=%d" % (SERVER.encode(), uid), b"another user"),  # anonymous
            (b"imap://fred@other.example.net/INBOX/;UID=%d" % uid, b"another server"),
            (b"INBOX/;UID=%d" % uid, b"absolute"),                               # relative
            (b"/INBOX/;UID=%d/;URLAUTH=anonymous:internal:0123" % uid, b""),
        ]
        before = c.messages("Drafts")
        for url, why in bad:
            tagged, _ = c.command(b"APPEND Drafts CATENATE (TEXT ", Lit(HEADER),
                                  b" URL \"" + url + b"\" TEXT ", Lit(b"tail\r\n"), b")")
            want = b"NO [BADURL " + url + b"] CATENATE: "
            assert tagged.startswith(b"T%d " % c.tags + want), (url, tagged)
            assert why in tagged, (url, tagged)
        assert c.messages("Drafts") == before
        # Synchronizing literals after a bad URL: the server still asks for
        # them ("+"), reads the whole command, then answers BADURL; the next
        # command is read as a command.
        url = b"/INBOX/;UID=%d" % (uid + 50)
        tagged, _ = c.command(b"APPEND Drafts CATENATE (URL \"" + url + b"\" TEXT ",
                              Lit(b"a\r\n", sync=True), b" TEXT ", Lit(b"b\r\n", sync=True), b")")
        assert b"NO [BADURL " + url + b"] " in tagged, tagged
        c.ok(b"NOOP")
        # A URL that cannot go into the response code as it is.
        tagged, _ = c.command(b"APPEND INBOX CATENATE (URL \"/IN]BOX/;UID=1\")")
        assert b"NO [BADURL /IN%5DBOX/;UID=1] " in tagged, tagged
        # Bad syntax is BAD, not BADURL.
        tagged, _ = c.command(b"APPEND INBOX CATENATE (URL)")
        assert b" BAD " in tagged, tagged
        c.ok(b"NOOP")
        c.close()


def test_catenate_toobig(args):
    with start_node(args) as n:
        c, v, uid = seed(n)
        # TEXT parts over APPENDLIMIT together: refused at the announcement of
        # the literal that crosses it, instead of "+"; the client sends no
        # more of the command and the next command is read as one.
        half = b"x" * (MAX_MESSAGE // 2)
        tagged, _ = c.command(b"APPEND INBOX CATENATE (TEXT ", Lit(half, sync=True),
                              b" TEXT ", Lit(half + b"yy", sync=True), b")")
        assert re.match(rb"T\d+ NO \[TOOBIG\]", tagged), tagged
        c.ok(b"NOOP")
        # The same non-synchronizing: the server reads and drops the rest.
        tagged, _ = c.command(b"APPEND INBOX CATENATE (TEXT ", Lit(half), b" TEXT ",
                              Lit(half + b"yy"), b")")
        assert re.match(rb"T\d+ NO \[TOOBIG\]", tagged), tagged
        c.ok(b"NOOP")
        # A URL part taking the result over the limit: TOOBIG when it runs.
        tagged, _ = c.command(b"APPEND INBOX CATENATE (TEXT ",
                              Lit(b"x" * (MAX_MESSAGE - len(MULTIPART) + 1)),
                              b" URL \"/INBOX/;UID=%d\")" % uid)
        assert re.match(rb"T\d+ NO \[TOOBIG\]", tagged), tagged
        # Exactly at the limit is fine.
        tagged, _ = c.ok(b"APPEND INBOX CATENATE (TEXT ",
                         Lit(b"x" * (MAX_MESSAGE - len(MULTIPART))),
                         b" URL \"/INBOX/;UID=%d\")" % uid)
        assert c.messages("INBOX") == 2
        c.close()


def test_multiappend_catenate_atomic(args):
    with start_node(args) as n:
        c, v, uid = seed(n)
        tagged, _ = c.command(b"APPEND Drafts ", Lit(MULTIPART),
                              b" CATENATE (TEXT ", Lit(HEADER), b" URL \"/INBOX/;UID=%d/;SECTION=1\")" % uid,
                              b" CATENATE (URL \"/INBOX/;UID=%d\")" % (uid + 9))
        assert b"NO [BADURL /INBOX/;UID=%d] " % (uid + 9) in tagged, tagged
        assert c.messages("Drafts") == 0
        # All good: three messages, one APPENDUID range.
        tagged, _ = c.ok(b"APPEND Drafts ", Lit(MULTIPART),
                         b" CATENATE (TEXT ", Lit(HEADER), b" URL \"/INBOX/;UID=%d/;SECTION=1\")" % uid,
                         b" (\\Seen) CATENATE (URL \"/INBOX/;UID=%d\")" % uid)
        assert re.search(rb"\[APPENDUID \d+ 1:3\]", tagged), tagged
        assert c.fetch_body("Drafts", 1) == MULTIPART
        assert c.fetch_body("Drafts", 2) == HEADER + PART1
        assert c.fetch_body("Drafts", 3) == MULTIPART
        _, lines = c.ok(b"UID FETCH 3 (FLAGS)")
        assert b"\\Seen" in lines[0], lines
        c.close()


def test_catenate_nul(args):
    with start_node(args) as n:
        c, v, uid = seed(n)
        tagged, _ = c.command(b"APPEND INBOX CATENATE (TEXT ", Lit(b"Subject: x\r\n\r\na\0b\r\n"), b")")
        assert re.match(rb"T\d+ NO .*NUL", tagged), tagged
        assert c.messages("INBOX") == 1
        tagged, _ = c.ok(b"APPEND INBOX CATENATE (TEXT ", Lit(b"Subject: x\r\n\r\na\0b\r\n", binary=True),
                         b" URL \"/INBOX/;UID=%d/;SECTION=1\")" % uid)
        _, nuid = appended(tagged)
        assert c.fetch_body("INBOX", nuid) == b"Subject: x\r\n\r\na\0b\r\n" + PART1
        c.close()


# -- REPLACE ----------------------------------------------------------------------

def test_replace(args):
    with start_node(args) as n:
        c = Raw(n)
        for i in range(3):
            c.ok(b"APPEND INBOX ", Lit(b"Subject: draft %d\r\n\r\nversion %d\r\n" % (i, i)))
        c.ok(b"SELECT INBOX")
        # Into another mailbox: APPENDUID untagged, then the EXPUNGE.
        new = b"Subject: draft 1\r\n\r\nversion 1b\r\n"
        tagged, lines = c.command(b"REPLACE 2 Drafts (\\Draft) ", Lit(new, sync=True))
        assert re.match(rb"T\d+ OK Replace completed", tagged), (tagged, lines)
        assert re.match(rb"\* OK \[APPENDUID \d+ 1\] ", lines[0]), lines
        assert lines[1:] == [b"* 2 EXPUNGE\r\n"], lines
        _, lines = c.ok(b"UID SEARCH ALL")
        assert lines == [b"* SEARCH 1 3\r\n"], lines
        # UID REPLACE into the selected mailbox, CATENATE reading the message
        # being replaced (it is expunged only after the new one is stored).
        tagged, lines = c.command(b"UID REPLACE 3 INBOX CATENATE (TEXT ",
                                  Lit(b"Subject: draft 2 (edited)\r\n\r\n"),
                                  b" URL \"/INBOX/;UID=3/;SECTION=TEXT\")")
        assert re.match(rb"T\d+ OK Replace completed", tagged), (tagged, lines)
        assert re.match(rb"\* OK \[APPENDUID \d+ 4\] ", lines[0]), lines
        assert b"* 2 EXPUNGE\r\n" in lines and b"* 2 EXISTS\r\n" in lines, lines
        _, lines = c.ok(b"UID FETCH 1:* (UID)")
        assert [re.search(rb"UID (\d+)", l).group(1) for l in lines] == [b"1", b"4"], lines
        assert c.fetch_body("INBOX", 4) == b"Subject: draft 2 (edited)\r\n\r\nversion 2\r\n"
        assert c.fetch_body("Drafts", 1) == new
        # With QRESYNC the expunge is a VANISHED.
        c.ok(b"UNSELECT")
        c.ok(b"ENABLE QRESYNC")
        c.ok(b"SELECT INBOX")
        tagged, lines = c.command(b"UID REPLACE 1 Drafts ", Lit(b"Subject: q\r\n\r\nq\r\n"))
        assert re.match(rb"T\d+ OK", tagged), (tagged, lines)
        assert b"* VANISHED 1\r\n" in lines, lines
        c.close()


def test_replace_refused(args):
    with start_node(args) as n:
        c = Raw(n)
        c.ok(b"APPEND INBOX ", Lit(b"Subject: one\r\n\r\none\r\n"))
        before = c.messages("Drafts")
        # Not selected: BAD; the literal is dropped with the command.
        tagged, _ = c.command(b"REPLACE 1 Drafts ", Lit(b"Subject: x\r\n\r\nx\r\n"))
        assert b" BAD " in tagged, tagged
        # Read-only (EXAMINE).
        c.ok(b"EXAMINE INBOX")
        tagged, _ = c.command(b"REPLACE 1 Drafts ", Lit(b"Subject: x\r\n\r\nx\r\n"))
        assert re.match(rb"T\d+ NO ", tagged), tagged
        c.ok(b"SELECT INBOX")
        # A UID that is not there; a sequence number past the end.
        tagged, _ = c.command(b"UID REPLACE 99 Drafts ", Lit(b"Subject: x\r\n\r\nx\r\n"))
        assert re.match(rb"T\d+ NO ", tagged), tagged
        tagged, _ = c.command(b"REPLACE 5 Drafts ", Lit(b"Subject: x\r\n\r\nx\r\n"))
        assert re.match(rb"T\d+ (NO|BAD) ", tagged), tagged
        # A target that does not exist: nothing expunged.
        tagged, lines = c.command(b"REPLACE 1 Nonesuch ", Lit(b"Subject: x\r\n\r\nx\r\n"))
        assert b"NO [TRYCREATE]" in tagged, tagged
        assert not any(b"EXPUNGE" in l for l in lines), lines
        # A bad URL: nothing appended, nothing expunged.
        tagged, lines = c.command(b"REPLACE 1 Drafts CATENATE (URL \"/INBOX/;UID=77\")")
        assert b"NO [BADURL /INBOX/;UID=77]" in tagged, tagged
        assert not any(b"EXPUNGE" in l for l in lines), lines
        assert c.messages("Drafts") == before
        c.ok(b"SELECT INBOX")
        _, lines = c.ok(b"UID SEARCH ALL")
        assert lines == [b"* SEARCH 1\r\n"], lines
        c.close()
        # Without 't' and 'e' on the source: NOPERM.
        b = Raw(n, "barney")
        b.ok(b"APPEND Peek ", Lit(b"Subject: p\r\n\r\np\r\n"))
        b.close()
        admin = imaplib.IMAP4(*addr(n), timeout=30)
        ok(admin.login("admin", "secret"))
        ok(admin.setacl("user/barney/Peek", "fred", "lrswi"))
        admin.logout()
        c = Raw(n)
        c.ok(b"SELECT \"Other Users/barney/Peek\"")
        tagged, _ = c.command(b"REPLACE 1 Drafts ", Lit(b"Subject: x\r\n\r\nx\r\n"))
        assert b"NO [NOPERM]" in tagged, tagged
        assert c.messages("Drafts") == before
        c.close()


if __name__ == "__main__":
    run_tests([test_capabilities, test_catenate_byte_exact, test_catenate_large_parts,
               test_catenate_badurl,
               test_catenate_toobig, test_multiappend_catenate_atomic, test_catenate_nul,
               test_replace, test_replace_refused])
