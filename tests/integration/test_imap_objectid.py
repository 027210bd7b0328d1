#!/usr/bin/env python3
"""OBJECTID (RFC 8474), SAVEDATE (RFC 8514), WITHIN (RFC 5032) and PREVIEW
(RFC 8970) against a real cyr_master (harness.py), through imaplib with
every server line recorded, so the exact untagged and tagged responses are
checked: MAILBOXID on CREATE, SELECT, STATUS and LIST-STATUS (and kept by
RENAME); EMAILID = "M" + the first 24 hex digits of the SHA-1 of the
message, the same for a COPY; THREADID NIL; SAVEDATE of an APPEND and a
COPY against an old internal date; SAVED*/EMAILID/THREADID/OLDER/YOUNGER
in SEARCH, ESEARCH, UID SEARCH and SORT, with bad forms answered BAD; and
PREVIEW of a quoted-printable ISO-8859-1 part, an HTML-only message, a
multipart/alternative and a message without text, with CHANGEDSINCE and
UID FETCH."""

import datetime
import hashlib
import imaplib
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

CYRUS_CONF = ('SERVICES {\n'
              '  imap cmd="imapd" listen="127.0.0.1:0"\n'
              '}\n')
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"


class Recording(imaplib.IMAP4):
    """imaplib with every line the server sends kept in self.lines (literal
    contents are not lines; imaplib hands them back in its results)."""

    def __init__(self, *a, **kw):
        self.lines = []
        super().__init__(*a, **kw)

    def _get_line(self):
        line = super()._get_line()
        self.lines.append(line)
        return line

    def take(self):
        lines, self.lines = self.lines, []
        return lines

    def raw(self, command_text):
        """Sends `command_text` with a fresh tag; returns (tagged line,
        untagged lines). imaplib's own parsing is bypassed, so a BAD does
        not raise."""
        tag = self._new_tag().decode()
        self.take()
        self.send(("%s %s\r\n" % (tag, command_text)).encode())
        while True:
            line = self._get_line()
            if line.startswith(tag.encode() + b" "):
                lines = self.take()
                return line.decode(), [x.decode("utf-8", "replace") for x in lines[:-1]]
            m = re.search(rb"\{(\d+)\}$", line)
            if m:  # a literal: read it, keep it inline for the caller
                data = self.read(int(m.group(1)))
                self.lines[-1] = line + b"\x00LITERAL\x00" + data


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def connect(node, user="fred"):
    host, port = node.ports()["imap"][0].rsplit(":", 1)
    c = Recording(host, int(port), timeout=30)
    ok(c.login(user, "secret"))
    return c


def start_node(args):
    n = Node(args.bin, CYRUS_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    for user in ("admin", "fred"):
        set_password(n, user)
    return n


def create_inbox(n):
    admin = connect(n, "admin")
    ok(admin.create("user/fred"))
    admin.logout()


def message(subject, body=b"hello\r\n", headers=b""):
    return (b"From: Ann <ann@example.com>\r\nTo: fred@example.com\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + re.sub(r"\W", "", subject).encode() + b"@example.com>\r\n"
            + headers + b"\r\n" + body)


def imap_date(t):
    return time.strftime('"%d-%b-%Y %H:%M:%S +0000"', time.gmtime(t))


def search_date(t):
    return time.strftime("%d-%b-%Y", time.gmtime(t)).lstrip("0")


def one_untagged(lines, prefix):
    found = [x for x in lines if x.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


def test_capabilities(args):
    with start_node(args) as n:
        n.start()
        create_inbox(n)
        c = connect(n)
        tag, lines = c.raw("CAPABILITY")
        assert tag.endswith("OK Capability completed") or " OK " in tag, tag
        caps = one_untagged(lines, "* CAPABILITY ").split()
        for cap in ("OBJECTID", "SAVEDATE", "WITHIN", "PREVIEW"):
            assert cap in caps, (cap, caps)
        c.logout()


def test_mailboxid(args):
    with start_node(args) as n:
        n.start()
        create_inbox(n)
        c = connect(n)
        tag, lines = c.raw('CREATE "Projects"')
        m = re.fullmatch(r"\S+ OK \[MAILBOXID \(([A-Za-z0-9_-]{1,255})\)\] Create completed", tag)
        assert m, tag
        pid = m.group(1)
        tag, lines = c.raw('CREATE "Other"')
        oid = re.search(r"MAILBOXID \(([^)]+)\)", tag).group(1)
        assert oid != pid, (oid, pid)

        tag, lines = c.raw('STATUS "Projects" (MESSAGES MAILBOXID)')
        assert " OK " in tag, tag
        assert lines == ['* STATUS Projects (MESSAGES 0 MAILBOXID (%s))' % pid], lines

        tag, lines = c.raw('LIST "" "*" RETURN (STATUS (MAILBOXID))')
        assert " OK " in tag, tag
        assert '* STATUS Projects (MAILBOXID (%s))' % pid in lines, lines
        assert '* STATUS Other (MAILBOXID (%s))' % oid in lines, lines
        inbox = [x for x in lines if x.startswith("* STATUS INBOX (MAILBOXID (")]
        assert len(inbox) == 1, lines

        for verb in ("SELECT", "EXAMINE"):
            tag, lines = c.raw('%s "Projects"' % verb)
            assert " OK " in tag, tag
            assert "* OK [MAILBOXID (%s)] Ok" % pid in lines, lines

        # RFC 8474: a renamed mailbox keeps its id.
        tag, _ = c.raw("UNSELECT")
        assert " OK " in tag, tag
        tag, _ = c.raw('RENAME "Projects" "Archive"')
        assert " OK " in tag, tag
        tag, lines = c.raw('STATUS "Archive" (MAILBOXID)')
        assert lines == ['* STATUS Archive (MAILBOXID (%s))' % pid], lines

        tag, _ = c.raw('STATUS "Archive" (MAILBOXID 1)')
        assert " BAD " in tag, tag
        c.logout()


def fetch_value(lines, item):
    """The value of `item` in the single FETCH line of `lines`: a quoted or
    literal string (as str), NIL (None) or a parenthesised list (as str)."""
    fetches = [x for x in lines if re.match(r"\* \d+ FETCH", x)]
    assert len(fetches) == 1, lines
    line = fetches[0]
    if "\x00LITERAL\x00" in line:
        head, data = line.split("\x00LITERAL\x00", 1)
        if re.search(r"[ (]%s \{\d+\}$" % re.escape(item), head):
            return data
        line = head
    m = re.search(r"[ (]%s (NIL|\([^)]*\)|\"(?:[^\"\\]|\\.)*\")" % re.escape(item), line)
    assert m, (item, line)
    v = m.group(1)
    if v == "NIL":
        return None
    if v.startswith('"'):
        return re.sub(r"\\(.)", r"\1", v[1:-1])
    return v


def test_emailid_threadid_savedate(args):
    with start_node(args) as n:
        n.start()
        create_inbox(n)
        c = connect(n)
        ok(c.create("Copies"))
        old = 978307200  # 1-Jan-2001 00:00:00 UTC
        msg = message("object ids")
        ok(c.append("INBOX", None, imap_date(old), msg))
        ok(c.append("INBOX", None, None, message("another")))
        ok(c.select("INBOX"))
        want = "M" + hashlib.sha1(msg).hexdigest()[:24]

        tag, lines = c.raw("FETCH 1 (EMAILID THREADID SAVEDATE INTERNALDATE)")
        assert " OK " in tag, tag
        assert fetch_value(lines, "EMAILID") == "(%s)" % want, lines
        assert fetch_value(lines, "THREADID") is None, lines
        assert fetch_value(lines, "INTERNALDATE") == "01-Jan-2001 00:00:00 +0000", lines
        saved = fetch_value(lines, "SAVEDATE")
        saved_t = datetime.datetime.strptime(saved, "%d-%b-%Y %H:%M:%S %z").timestamp()
        assert abs(saved_t - time.time()) < 120, (saved, lines)
        assert lines[-1] == (
            '* 1 FETCH (EMAILID (%s) THREADID NIL SAVEDATE "%s" '
            'INTERNALDATE "01-Jan-2001 00:00:00 +0000")' % (want, saved)), lines

        time.sleep(1.1)  # the copy's save date is a later second
        ok(c.copy("1", "Copies"))
        tag, lines = c.raw('EXAMINE "Copies"')
        assert " OK " in tag, tag
        tag, lines = c.raw("UID FETCH 1 (EMAILID SAVEDATE INTERNALDATE)")
        assert fetch_value(lines, "EMAILID") == "(%s)" % want, lines
        assert fetch_value(lines, "INTERNALDATE") == "01-Jan-2001 00:00:00 +0000", lines
        copy_saved = datetime.datetime.strptime(
            fetch_value(lines, "SAVEDATE"), "%d-%b-%Y %H:%M:%S %z").timestamp()
        assert copy_saved > old and copy_saved > saved_t, (copy_saved, saved_t, lines)
        assert re.fullmatch(r"\* 1 FETCH \(UID 1 EMAILID \(%s\) SAVEDATE \"[^\"]+\" "
                            r"INTERNALDATE \"01-Jan-2001 00:00:00 \+0000\"\)" % want,
                            lines[-1]), lines

        ok(c.select("INBOX"))
        other = "M" + hashlib.sha1(message("another")).hexdigest()[:24]
        checks = [
            ("SEARCH EMAILID %s" % want, "* SEARCH 1"),
            ("UID SEARCH EMAILID %s" % other, "* SEARCH 2"),
            ("SEARCH EMAILID M000000000000000000000000", "* SEARCH"),
            ("SEARCH THREADID T0123456789abcdef", "* SEARCH"),
            ("SEARCH NOT THREADID T0123456789abcdef", "* SEARCH 1 2"),
            ("SEARCH SAVEDATESUPPORTED", "* SEARCH 1 2"),
            ("SEARCH BEFORE 1-Jan-2002", "* SEARCH 1"),
            ("SEARCH SAVEDBEFORE 1-Jan-2002", "* SEARCH"),
            ("SEARCH SAVEDON %s" % search_date(saved_t), "* SEARCH 1 2"),
            ("SEARCH SAVEDSINCE %s" % search_date(saved_t + 86400 * 2), "* SEARCH"),
            ("SEARCH SAVEDSINCE 1-Jan-2001", "* SEARCH 1 2"),
            ("SEARCH RETURN (COUNT) EMAILID %s" % want, None),
            ("SORT (REVERSE ARRIVAL) UTF-8 OR EMAILID %s EMAILID %s" % (want, other), "* SORT 2 1"),
        ]
        for cmd, expect in checks:
            tag, lines = c.raw(cmd)
            assert " OK " in tag, (cmd, tag)
            if expect is None:
                assert lines == ['* ESEARCH (TAG "%s") COUNT 1' % tag.split()[0]], (cmd, lines)
            else:
                assert lines == [expect], (cmd, lines)

        for bad in ("SEARCH EMAILID M12.34", "SEARCH EMAILID", 'SEARCH EMAILID "M1"',
                    "SEARCH THREADID T.1", "SEARCH SAVEDON 31-Foo-2024", "SEARCH SAVEDBEFORE x",
                    "SORT (ARRIVAL) UTF-8 SAVEDSINCE 2024-01-01",
                    "FETCH 1 (EMAILID[])", "FETCH 1 SAVEDATE.PEEK"):
            tag, lines = c.raw(bad)
            assert " BAD " in tag, (bad, tag)
            assert not any(x.startswith(("* SEARCH", "* SORT", "* 1 FETCH")) for x in lines), lines

        # CONDSTORE / QRESYNC FETCH and UID FETCH carry the new items too.
        for cmd in ("UNSELECT", "ENABLE QRESYNC", "SELECT INBOX"):
            tag, _ = c.raw(cmd)
            assert " OK " in tag, (cmd, tag)
        tag, lines = c.raw("UID FETCH 1:* (EMAILID SAVEDATE) (CHANGEDSINCE 0)")
        assert " OK " in tag, tag
        fl = [x for x in lines if " FETCH " in x]
        assert len(fl) == 2, lines
        assert re.fullmatch(r"\* 1 FETCH \(UID 1 MODSEQ \(\d+\) EMAILID \(%s\) SAVEDATE \"[^\"]+\"\)"
                            % want, fl[0]), fl
        c.logout()


def test_within(args):
    with start_node(args) as n:
        n.start()
        create_inbox(n)
        c = connect(n)
        now = int(time.time())
        ok(c.append("INBOX", None, imap_date(now - 7200), message("two hours old")))
        ok(c.append("INBOX", None, imap_date(now - 10), message("ten seconds old")))
        ok(c.append("INBOX", None, imap_date(now - 86400 * 400), message("last year")))
        ok(c.select("INBOX"))
        checks = [
            ("SEARCH OLDER 3600", "* SEARCH 1 3"),
            ("SEARCH YOUNGER 3600", "* SEARCH 2"),
            ("UID SEARCH YOUNGER 86400 OLDER 3600", "* SEARCH 1"),
            ("SEARCH NOT YOUNGER 4294967295", "* SEARCH"),
            ("SEARCH OLDER 4294967295", "* SEARCH"),
            ("SORT (DATE) UTF-8 OLDER 60", "* SORT 3 1"),
        ]
        for cmd, expect in checks:
            tag, lines = c.raw(cmd)
            assert " OK " in tag, (cmd, tag)
            assert lines == [expect], (cmd, lines)
        tag, lines = c.raw("SEARCH RETURN (MIN MAX) YOUNGER 7300")
        assert lines == ['* ESEARCH (TAG "%s") MIN 1 MAX 2' % tag.split()[0]], lines
        for bad in ("SEARCH OLDER 0", "SEARCH OLDER x", "SEARCH YOUNGER", "SEARCH YOUNGER -1",
                    "SEARCH OLDER 4294967296", "SORT (DATE) UTF-8 YOUNGER 0"):
            tag, lines = c.raw(bad)
            assert " BAD " in tag, (bad, tag)
            assert lines == [], (bad, lines)
        c.logout()


QP_LATIN1 = message(
    "latin1", headers=b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=ISO-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    body=b"  Caf=E9   cr=E8me\r\n\r\n\tbr=FBl=E9e, tr=E8s =\r\nbien.\r\n")
HTML_ONLY = message(
    "html", headers=b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n",
    body=b"<html><head><title>Title</title><style>p{color:red}</style></head>"
         b"<body><p>Hello&nbsp;<b>W</b>orld &amp; all</p>\r\n<div>x &lt; y</div>"
         b"<script>var a = 1;</script></body></html>\r\n")
ALTERNATIVE = message(
    "alternative", headers=b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/alternative; boundary=\"b1\"\r\n",
    body=b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: base64\r\n\r\n"
         b"UGxhaW4gdmVyc2lvbiDigJQgw6kK\r\n"
         b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
         b"<p>HTML version</p>\r\n--b1--\r\n")
NO_TEXT = message(
    "picture", headers=b"MIME-Version: 1.0\r\nContent-Type: image/png\r\n"
    b"Content-Transfer-Encoding: base64\r\n", body=b"iVBORw0KGgo=\r\n")
LONG = message("long", body=(b"word " * 30000) + b"\r\n")


def test_preview(args):
    with start_node(args) as n:
        n.start()
        create_inbox(n)
        c = connect(n)
        for m in (QP_LATIN1, HTML_ONLY, ALTERNATIVE, NO_TEXT, LONG):
            ok(c.append("INBOX", None, None, m))
        ok(c.select("INBOX"))
        expect = {
            1: "Café crème brûlée, très bien.",
            2: "Hello World & all x < y",
            3: "Plain version — é",
            4: "",
            5: ("word " * 40).strip(),
        }
        for seq, text in expect.items():
            for item in ("PREVIEW", "PREVIEW (LAZY)"):
                tag, lines = c.raw("FETCH %d %s" % (seq, item))
                assert " OK " in tag, (seq, tag)
                got = fetch_value(lines, "PREVIEW")
                assert got == text, (seq, item, got, lines)
        tag, lines = c.raw("FETCH 2 (UID PREVIEW)")
        assert lines == ['* 2 FETCH (UID 2 PREVIEW "Hello World & all x < y")'], lines
        tag, lines = c.raw("FETCH 4 PREVIEW")
        assert lines == ['* 4 FETCH (PREVIEW "")'], lines
        # UID FETCH with CHANGEDSINCE, PREVIEW (LAZY) next to other items.
        tag, lines = c.raw("UID FETCH 5 (PREVIEW (LAZY) RFC822.SIZE) (CHANGEDSINCE 1)")
        assert " OK " in tag, tag
        assert re.fullmatch(r'\* 5 FETCH \(UID 5 MODSEQ \(\d+\) PREVIEW "%s" RFC822\.SIZE %d\)'
                            % (expect[5], len(LONG)), lines[-1]), lines
        # The preview does not set \Seen.
        tag, lines = c.raw("FETCH 1:5 FLAGS")
        assert all("\\Seen" not in x for x in lines), lines
        for bad in ("FETCH 1 (PREVIEW (FUZZY))", "FETCH 1 (PREVIEW ())", "FETCH 1 PREVIEW[]",
                    "FETCH 1 PREVIEW (FUZZY)"):
            tag, lines = c.raw(bad)
            assert " BAD " in tag, (bad, tag)
        c.logout()


if __name__ == "__main__":
    run_tests([test_capabilities, test_mailboxid, test_emailid_threadid_savedate, test_within,
               test_preview])
