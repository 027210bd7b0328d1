#!/usr/bin/env python3
"""SORT, UID SORT, ESORT and THREAD (RFC 5256, 5957, 5267) against a real
cyr_master (harness.py): messages with known headers are APPENDed with
imaplib and every sort key, both threading algorithms, search keys inside
SORT/THREAD, UID forms, ESORT RETURN options and the errors (BADCHARSET,
BAD syntax) are checked exactly. A second test appends 2,000 messages in
one pipelined burst (LITERAL+) and checks SORT against the same ordering
computed here."""

import imaplib
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

CYRUS_CONF = ('SERVICES {\n'
              '  imap cmd="imapd" listen="127.0.0.1:0"\n'
              '}\n')
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def connect(node, user="fred", password="secret"):
    host, port = node.ports()["imap"][0].rsplit(":", 1)
    c = imaplib.IMAP4(host, int(port), timeout=60)
    ok(c.login(user, password))
    return c


def start_node(args):
    n = Node(args.bin, CYRUS_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    for user in ("admin", "fred"):
        set_password(n, user)
    n.start()
    admin = connect(n, "admin")
    ok(admin.create("user/fred"))
    admin.logout()
    return n


def mail(headers, body="Hello.\r\n"):
    return ("".join("%s: %s\r\n" % h for h in headers) + "\r\n" + body).encode()


# (headers, INTERNALDATE). Sent dates in UTC: 1 Mar 3 10:00, 2 Mar 3 09:30,
# 3 Mar 2, 4 Mar 4, 5 none (INTERNALDATE Mar 1 12:00), 6 Mar 5.
MESSAGES = [
    ([("From", "\"Aaron Zed\" <zed@a.example>"), ("To", "bob@b.example"),
      ("Cc", "carol@c.example"), ("Subject", "Lunch"),
      ("Date", "Tue, 3 Mar 2020 10:00:00 +0000"), ("Message-ID", "<m1@x>")],
     "20-Mar-2020 10:00:00 +0000"),
    ([("From", "amy@b.example"), ("To", "Alice <alice@a.example>"), ("Subject", "Re: Lunch"),
      ("Date", "Tue, 3 Mar 2020 11:30:00 +0200"), ("Message-ID", "<m2@x>"),
      ("In-Reply-To", "<m1@x>")],
     "19-Mar-2020 10:00:00 +0000"),
    ([("From", "Bob <bob@b.example>"), ("Subject", "[list] Budget"),
      ("Date", "Mon, 2 Mar 2020 10:00:00 +0000"), ("Message-ID", "<m3@x>")],
     "18-Mar-2020 10:00:00 +0000"),
    ([("From", "Carol <carol@c.example>"), ("To", "fred@example.com"), ("Subject", "Re: Re: lunch"),
      ("Date", "Wed, 4 Mar 2020 10:00:00 +0000"), ("Message-ID", "<m4@x>"),
      ("In-Reply-To", "<m3@x>"), ("References", "<m1@x>\r\n <m2@x>")],
     "17-Mar-2020 10:00:00 +0000"),
    ([("From", "=?utf-8?q?=C3=89lodie?= <elodie@e.example>"), ("To", "fred@example.com"),
      ("Subject", "=?utf-8?q?Budget?= (fwd)"), ("Message-ID", "<m5@x>"),
      ("References", "<missing@x>")],
     "01-Mar-2020 12:00:00 +0000"),
    ([("From", "Fred <fred@example.com>"), ("To", "fred@example.com"), ("Subject", "Orphan"),
      ("Date", "Thu, 5 Mar 2020 10:00:00 +0000"), ("Message-ID", "<m6@x>"),
      ("References", "<missing@x>")],
     "16-Mar-2020 10:00:00 +0000"),
]


def numbers(data):
    return [int(x) for x in data[0].split()] if data and data[0] else []


def fill(c):
    # A first message expunged, so that UIDs are sequence numbers + 1.
    ok(c.append("INBOX", None, '"01-Jan-2020 00:00:00 +0000"', mail([("Subject", "gone")])))
    for headers, internal in MESSAGES:
        ok(c.append("INBOX", None, '"%s"' % internal, mail(headers)))
    ok(c.select("INBOX"))
    ok(c.store("1", "+FLAGS", "\\Deleted"))
    ok(c.expunge())


def sort(c, criteria, *search, charset="UTF-8"):
    return numbers(ok(c.sort(criteria, charset, *search)))


def uid_sort(c, criteria, *search):
    return numbers(ok(c.uid("SORT", criteria, "UTF-8", *search)))


def thread(c, algorithm, *search, uid=False):
    if uid:
        data = ok(c.uid("THREAD", algorithm, "UTF-8", *search))
    else:
        data = ok(c.thread(algorithm, "UTF-8", *search))
    return data[0].decode() if data and data[0] else ""


def test_sort_and_thread(args):
    with start_node(args) as n:
        c = connect(n)
        caps = ok(c.capability())[0].decode().split()
        for cap in ("SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"):
            assert cap in caps, caps
        fill(c)

        assert sort(c, "(DATE)", "ALL") == [5, 3, 2, 1, 4, 6]
        assert sort(c, "(REVERSE DATE)", "ALL") == [6, 4, 1, 2, 3, 5]
        assert sort(c, "(ARRIVAL)", "ALL") == [5, 6, 4, 3, 2, 1]
        assert sort(c, "(SUBJECT)", "ALL") == [3, 5, 1, 2, 4, 6]
        assert sort(c, "(SUBJECT DATE)", "ALL") == [5, 3, 2, 1, 4, 6]
        assert sort(c, "(SUBJECT REVERSE DATE)", "ALL") == [3, 5, 4, 1, 2, 6]
        assert sort(c, "(FROM)", "ALL") == [2, 3, 4, 5, 6, 1]
        assert sort(c, "(DISPLAYFROM)", "ALL") == [1, 2, 3, 4, 6, 5]
        assert sort(c, "(TO)", "ALL") == [3, 2, 1, 4, 5, 6]
        assert sort(c, "(DISPLAYTO)", "ALL") == [3, 2, 1, 4, 5, 6]
        assert sort(c, "(CC)", "ALL") == [2, 3, 4, 5, 6, 1]
        assert sort(c, "(REVERSE CC)", "ALL") == [1, 2, 3, 4, 5, 6]
        sizes = ok(c.fetch("1:*", "(RFC822.SIZE)"))
        by_size = [int(re.search(rb"RFC822\.SIZE (\d+)", s).group(1)) for s in sizes]
        want = sorted(range(1, 7), key=lambda i: by_size[i - 1])
        assert sort(c, "(SIZE)", "ALL") == want, (by_size, want)

        # Search keys narrow the set, as in SEARCH.
        assert sort(c, "(DATE)", "SUBJECT", "lunch") == [2, 1, 4]
        assert sort(c, "(DATE)", "OR", "FROM", "amy", "FROM", "bob") == [3, 2]
        assert sort(c, "(DATE)", "SENTSINCE", "4-Mar-2020") == [4, 6]
        assert sort(c, "(DATE)", "2:4") == [3, 2, 4]
        assert sort(c, "(DATE)", "SUBJECT", "\"nothing like this\"") == []
        assert sort(c, "(DATE)", "ALL", charset="US-ASCII") == [5, 3, 2, 1, 4, 6]

        # UID SORT answers UIDs (sequence number + 1 here).
        assert uid_sort(c, "(DATE)", "ALL") == [6, 4, 3, 2, 5, 7]
        assert uid_sort(c, "(SUBJECT)", "UID", "2:4") == [4, 2, 3]

        # ESORT: MIN and MAX are the first and last in sort order; ALL keeps it.
        typ, _ = c._simple_command("SORT", "RETURN", "(MIN MAX COUNT ALL)", "(DATE)", "UTF-8", "ALL")
        assert typ == "OK"
        es = c.untagged_responses.pop("ESEARCH", [])
        assert len(es) == 1 and es[0].endswith(b"MIN 5 MAX 6 ALL 5,3,2,1,4,6 COUNT 6"), es
        typ, _ = c._simple_command("UID", "SORT", "RETURN", "(COUNT)", "(DATE)", "UTF-8", "ALL")
        es = c.untagged_responses.pop("ESEARCH", [])
        assert typ == "OK" and len(es) == 1 and es[0].endswith(b"UID COUNT 6"), es
        typ, _ = c._simple_command("SORT", "RETURN", "()", "(ARRIVAL)", "UTF-8", "1:3")
        es = c.untagged_responses.pop("ESEARCH", [])
        assert typ == "OK" and es[0].endswith(b"ALL 3,2,1"), es

        # THREAD. REFERENCES: 2 answers 1 (In-Reply-To), 4 answers 2 (References
        # wins over In-Reply-To), 5 and 6 share a missing parent (a dummy),
        # and 3 joins that dummy by its base subject "Budget".
        assert thread(c, "REFERENCES", "ALL") == "((5)(3)(6))(1 2 4)"
        assert thread(c, "ORDEREDSUBJECT", "ALL") == "(5 3)(2 (1)(4))(6)"
        assert thread(c, "REFERENCES", "ALL", uid=True) == "((6)(4)(7))(2 3 5)"
        assert thread(c, "ORDEREDSUBJECT", "ALL", uid=True) == "(6 4)(3 (2)(5))(7)"
        # Without 2, 4 still hangs below 1 through its References.
        assert thread(c, "REFERENCES", "NOT", "2") == "((5)(3)(6))(1 4)"
        assert thread(c, "REFERENCES", "SUBJECT", "\"nothing like this\"") == ""

        # Errors.
        typ, data = c._simple_command("SORT", "(DATE)", "KOI8-R", "ALL")
        assert typ == "NO" and b"[BADCHARSET" in data[0], (typ, data)
        typ, data = c._simple_command("THREAD", "REFERENCES", "KOI8-R", "ALL")
        assert typ == "NO", (typ, data)
        for bad in (("SORT", "(NOSUCHKEY)", "UTF-8", "ALL"), ("SORT", "(DATE)", "UTF-8"),
                    ("SORT", "DATE", "UTF-8", "ALL"), ("THREAD", "NOSUCHALGORITHM", "UTF-8", "ALL")):
            try:
                c._simple_command(*bad)
                raise AssertionError("accepted: %r" % (bad,))
            except imaplib.IMAP4.error:
                pass
        c.logout()


def pipelined_append(node, msgs):
    """APPENDs every message with LITERAL+, all written before any answer is read."""
    host, port = node.ports()["imap"][0].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=120)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"l LOGIN fred secret\r\n")
    while not f.readline().startswith(b"l "):
        pass
    out = bytearray()
    for i, (m, internal) in enumerate(msgs):
        out += b'a%d APPEND INBOX "%s" {%d+}\r\n' % (i, internal.encode(), len(m)) + m + b"\r\n"
    s.sendall(bytes(out))
    done = 0
    while done < len(msgs):
        line = f.readline()
        assert line, "connection closed"
        if line.startswith(b"a"):
            assert b" OK " in line, line
            done += 1
    s.sendall(b"z LOGOUT\r\n")
    s.close()


def test_sort_many_messages(args):
    count = 2000
    subjects = ["Re: topic %d" % (i % 97) if i % 3 else "[list] topic %d" % (i % 97) for i in range(count)]
    msgs = []
    for i in range(count):
        day = 1 + (i * 7) % 28
        headers = [("From", "user%d@example.com" % ((i * 31) % 500)), ("Subject", subjects[i]),
                   ("Date", "%d Feb 2021 %02d:%02d:00 +0000" % (day, (i * 13) % 24, i % 60)),
                   ("Message-ID", "<n%d@x>" % i)]
        if i >= 97:
            headers.append(("References", "<n%d@x>" % (i - 97)))
        msgs.append((mail(headers), "01-Jan-2021 00:00:00 +0000"))
    with start_node(args) as n:
        pipelined_append(n, msgs)
        c = connect(n)
        ok(c.select("INBOX"))

        def sent(i):
            day = 1 + (i * 7) % 28
            return (day, (i * 13) % 24, i % 60)

        def base(s):
            return re.sub(r"^(Re: |\[list\] )", "", s).upper()

        start = time.monotonic()
        got = sort(c, "(SUBJECT REVERSE DATE)", "ALL")
        elapsed = time.monotonic() - start
        want = sorted(range(count), key=lambda i: (base(subjects[i]), tuple(-x for x in sent(i)), i))
        assert got == [i + 1 for i in want]
        got = sort(c, "(FROM DATE)", "ALL")
        want = sorted(range(count), key=lambda i: ("user%d" % ((i * 31) % 500), sent(i), i))
        assert got == [i + 1 for i in want]
        # 97 threads, each a chain through References.
        t = thread(c, "REFERENCES", "ALL")
        assert t.count("(") == 97 and t.startswith("(1 98 195 "), t[:40]
        print("SORT of %d messages: %.3f s" % (count, elapsed))
        c.logout()


if __name__ == "__main__":
    run_tests([test_sort_and_thread, test_sort_many_messages])
