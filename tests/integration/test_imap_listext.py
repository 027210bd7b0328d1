#!/usr/bin/env python3
"""LIST-MYRIGHTS (RFC 8440), LIST-METADATA (RFC 9590), XLIST and
UNAUTHENTICATE (RFC 8437) against a real cyr_master (harness.py).

The commands go over a plain socket (imaplib sorts untagged responses by
type and loses their order, which is what these extensions are about), and
every untagged line is compared exactly: MYRIGHTS and METADATA follow their
mailbox's LIST line, match what MYRIGHTS and GETMETADATA answer for that
mailbox, and another user's shared folder shows only the rights granted.
UNAUTHENTICATE is followed by a login as someone else, who must find
nothing of the first user's session (selection, ENABLE, login count,
capabilities), also under COMPRESS."""

import os
import re
import socket
import ssl
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

CYRUS_CONF = ('SERVICES {\n'
              '  imap cmd="imapd" listen="127.0.0.1:0"\n'
              '}\n')
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"
USERS = ("admin", "fred", "joe")


class Client:
    """One IMAP connection, line by line; after deflate() both directions
    are compressed (RFC 4978)."""

    def __init__(self, node):
        host, port = node.ports()["imap"][0].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.buf = b""
        self.out = self.inf = None
        self.n = 0
        self.greeting = self.readline()
        assert self.greeting.startswith(b"* OK"), self.greeting

    def send(self, data):
        if self.out:
            data = self.out.compress(data) + self.out.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self):
        raw = self.sock.recv(65536)
        if not raw:
            raise EOFError("server closed the connection")
        self.buf += self.inf.decompress(raw) if self.inf else raw

    def readline(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def command(self, text):
        """(untagged lines, tagged line) as str, without CRLF; a literal
        in a line is kept inline as {n}CRLF<bytes>."""
        self.n += 1
        tag = "t%d" % self.n
        self.send(("%s %s\r\n" % (tag, text)).encode())
        lines = []
        while True:
            line = self.readline()
            while True:
                m = re.search(rb"\{(\d+)\}\r\n$", line)
                if not m:
                    break
                line += self.read(int(m.group(1))) + self.readline()
            text_line = line[:-2].decode("utf-8", "replace")
            if text_line.startswith(tag + " "):
                return lines, text_line[len(tag) + 1:]
            lines.append(text_line)

    def ok(self, text):
        lines, tagged = self.command(text)
        assert tagged.startswith("OK"), (text, lines, tagged)
        return lines

    def login(self, user):
        return self.ok("LOGIN %s secret" % user)

    def deflate(self):
        lines, tagged = self.command("COMPRESS DEFLATE")
        assert tagged.startswith("OK"), (lines, tagged)
        assert not self.buf, self.buf
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inf = zlib.decompressobj(-15)

    def starttls(self):
        lines, tagged = self.command("STARTTLS")
        assert tagged.startswith("OK"), (lines, tagged)
        assert not self.buf, self.buf
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)

    def capabilities(self):
        lines = self.ok("CAPABILITY")
        assert len(lines) == 1 and lines[0].startswith("* CAPABILITY "), lines
        return lines[0].split()[2:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def start_node(args, extra="", tls=False):
    n = Node(args.bin, CYRUS_CONF, imapd_extra=IMAPD_EXTRA + extra, keep=args.keep)
    if tls:  # STARTTLS offered, with a throwaway certificate
        cert, key = n.path("cert.pem"), n.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        n.write_imapd_conf(IMAPD_EXTRA + extra +
                           "tls_server_cert: %s\ntls_server_key: %s\n" % (cert, key))
    for user in USERS:
        set_password(n, user)
    n.start()
    admin = Client(n)
    admin.login("admin")
    for user in USERS[1:]:
        admin.ok("CREATE user/%s" % user)
    admin.ok("LOGOUT")
    admin.close()
    return n


def message(subject):
    return ("From: fred@example.com\r\nTo: joe@example.com\r\nSubject: %s\r\n"
            "Date: Tue, 3 Mar 2020 10:00:00 +0000\r\n\r\nHello.\r\n" % subject)


def append(c, mailbox, subject, flags=""):
    msg = message(subject).encode()
    c.send(("a%d APPEND %s %s{%d}\r\n" % (c.n, mailbox, flags, len(msg))).encode())
    line = c.readline()
    assert line.startswith(b"+"), line
    c.send(msg + b"\r\n")
    while True:
        line = c.readline()
        if line.startswith(("a%d " % c.n).encode()):
            assert b" OK " in line, line
            return


def fred_folders(n):
    """fred's Work (joe: l), Shared (joe: lr) and Shared/Sub (joe: lrs)."""
    fred = Client(n)
    fred.login("fred")
    for name in ("Work", "Shared", "Shared/Sub"):
        fred.ok("CREATE %s" % name)
    fred.ok("SETACL Work joe l")
    fred.ok("SETACL Shared joe lr")
    fred.ok("SETACL Shared/Sub joe lrs")
    return fred


# -- LIST-MYRIGHTS ------------------------------------------------------------------

def test_list_myrights(args):
    with start_node(args) as n:
        fred = fred_folders(n)
        assert "LIST-MYRIGHTS" in fred.capabilities()
        # The owner: one MYRIGHTS line right after each LIST line, exactly
        # what the MYRIGHTS command answers.
        lines = fred.ok('LIST "" "*" RETURN (MYRIGHTS)')
        names = ["INBOX", "Shared", "Shared/Sub", "Work"]
        assert [l for l in lines if l.startswith("* LIST ")] == [
            '* LIST (\\HasNoChildren) "/" INBOX',
            '* LIST (\\HasChildren) "/" Shared',
            '* LIST (\\HasNoChildren) "/" Shared/Sub',
            '* LIST (\\HasNoChildren) "/" Work',
        ], lines
        assert len(lines) == 8, lines
        for i, name in enumerate(names):
            assert lines[2 * i].endswith(" " + name), lines
            assert [lines[2 * i + 1]] == fred.ok("MYRIGHTS %s" % name), (name, lines)
        # The owner's rights are the implicit ones plus the ACL's.
        assert lines[1].startswith("* MYRIGHTS INBOX l"), lines

        # joe: another user's folders with a limited ACL show only what was granted.
        joe = Client(n)
        joe.login("joe")
        lines = joe.ok('LIST "" "*" RETURN (MYRIGHTS)')
        expected = [
            '* LIST (\\HasNoChildren) "/" INBOX',
            lines[1],  # joe's own rights on his INBOX
            '* LIST (\\Noselect \\HasChildren) "/" "Other Users"',
            '* LIST (\\Noselect \\HasChildren) "/" "Other Users/fred"',
            '* LIST (\\HasChildren) "/" "Other Users/fred/Shared"',
            '* MYRIGHTS "Other Users/fred/Shared" lr',
            '* LIST (\\HasNoChildren) "/" "Other Users/fred/Shared/Sub"',
            '* MYRIGHTS "Other Users/fred/Shared/Sub" lrs',
            '* LIST (\\HasNoChildren) "/" "Other Users/fred/Work"',
            '* MYRIGHTS "Other Users/fred/Work" l',
        ]
        assert lines == expected, lines
        assert lines[1].startswith("* MYRIGHTS INBOX "), lines
        for name in ("Shared", "Shared/Sub", "Work"):
            mine = joe.ok('MYRIGHTS "Other Users/fred/%s"' % name)
            assert mine[0] in lines, (mine, lines)

        # With STATUS and SUBSCRIBED: LIST, then STATUS (only with r), then
        # MYRIGHTS; the \NonExistent subscription gets neither.
        append(fred, "Shared", "one")
        joe.ok('SUBSCRIBE "Other Users/fred/Shared"')
        joe.ok('SUBSCRIBE "Other Users/fred/Work"')
        fred.ok("CREATE Gone")
        fred.ok("SETACL Gone joe lr")
        joe.ok('SUBSCRIBE "Other Users/fred/Gone"')
        fred.ok("DELETE Gone")
        lines = joe.ok('LIST (SUBSCRIBED) "Other Users/fred/" "*" '
                       'RETURN (STATUS (MESSAGES) MYRIGHTS)')
        assert lines == [
            '* LIST (\\NonExistent \\Subscribed) "/" "Other Users/fred/Gone"',
            '* LIST (\\Subscribed \\HasChildren) "/" "Other Users/fred/Shared"',
            '* STATUS "Other Users/fred/Shared" (MESSAGES 1)',
            '* MYRIGHTS "Other Users/fred/Shared" lr',
            '* LIST (\\Subscribed \\HasNoChildren) "/" "Other Users/fred/Work"',
            '* MYRIGHTS "Other Users/fred/Work" l',
        ], lines
        lines = joe.ok('LIST "Other Users/fred/" "%" RETURN (SUBSCRIBED MYRIGHTS MYRIGHTS)')
        assert lines == [
            '* LIST (\\Subscribed \\HasChildren) "/" "Other Users/fred/Shared"',
            '* MYRIGHTS "Other Users/fred/Shared" lr',
            '* LIST (\\Subscribed \\HasNoChildren) "/" "Other Users/fred/Work"',
            '* MYRIGHTS "Other Users/fred/Work" l',
        ], lines
        # A right taken away shows at once.
        fred.ok("SETACL Shared joe l")
        lines = joe.ok('LIST "" "Other Users/fred/Shared" RETURN (MYRIGHTS)')
        assert lines == ['* LIST (\\HasChildren) "/" "Other Users/fred/Shared"',
                         '* MYRIGHTS "Other Users/fred/Shared" l'], lines
        # Bad forms change nothing and list nothing.
        for bad in ('LIST "" "*" RETURN (MYRIGHTS (x))', 'LIST "" "*" RETURN MYRIGHTS',
                    'LSUB "" "*" RETURN (MYRIGHTS)'):
            lines, tagged = joe.command(bad)
            assert lines == [] and tagged.startswith("BAD"), (bad, lines, tagged)
        for c in (fred, joe):
            c.ok("LOGOUT")
            c.close()


# -- LIST-METADATA ------------------------------------------------------------------

def getmetadata(c, mailbox, entries, options=""):
    return c.ok("GETMETADATA %s%s %s" % (options, mailbox, entries))


def test_list_metadata(args):
    with start_node(args) as n:
        fred = fred_folders(n)
        assert "LIST-METADATA" in fred.capabilities()
        fred.ok('SETMETADATA Work (/private/comment "mine" /shared/comment "ours")')
        fred.ok('SETMETADATA Shared (/shared/comment "for joe" /private/comment "not for joe")')
        entries = "(/private/comment /shared/comment)"
        lines = fred.ok('LIST "" "*" RETURN (METADATA %s)' % entries)
        assert lines == [
            '* LIST (\\HasNoChildren) "/" INBOX',
            '* METADATA INBOX (/private/comment NIL /shared/comment NIL)',
            '* LIST (\\HasChildren) "/" Shared',
            '* METADATA Shared (/private/comment "not for joe" /shared/comment "for joe")',
            '* LIST (\\HasNoChildren) "/" Shared/Sub',
            '* METADATA Shared/Sub (/private/comment NIL /shared/comment NIL)',
            '* LIST (\\HasNoChildren) "/" Work',
            '* METADATA Work (/private/comment "mine" /shared/comment "ours")',
        ], lines
        # The same lines GETMETADATA gives, mailbox by mailbox.
        for i, name in enumerate(["INBOX", "Shared", "Shared/Sub", "Work"]):
            assert [lines[2 * i + 1]] == getmetadata(fred, name, entries), name

        # MAXSIZE: a value longer is left out and reported in the tagged OK.
        fred.ok('SETMETADATA Work (/shared/comment "twenty characters!!!")')
        lines, tagged = fred.command('LIST "" "Work" RETURN (METADATA (/shared/comment /private/comment) MAXSIZE 5)')
        assert lines == ['* LIST (\\HasNoChildren) "/" Work',
                         '* METADATA Work (/private/comment "mine")'], lines
        assert tagged == "OK [METADATA LONGENTRIES 20] List completed", tagged
        _, get_tagged = fred.command("GETMETADATA (MAXSIZE 5) Work (/shared/comment /private/comment)")
        assert "[METADATA LONGENTRIES 20]" in get_tagged, get_tagged
        lines = fred.ok('LIST "" "Work" RETURN (METADATA (/shared/comment MAXSIZE 100))')
        assert lines == ['* LIST (\\HasNoChildren) "/" Work',
                         '* METADATA Work (/shared/comment "twenty characters!!!")'], lines

        # joe: shared values where he has l and r; never fred's private
        # ones; nothing where he has only l (GETMETADATA says NO there).
        joe = Client(n)
        joe.login("joe")
        lines = joe.ok('LIST "Other Users/fred/" "*" RETURN (MYRIGHTS METADATA %s)' % entries)
        assert lines == [
            '* LIST (\\HasChildren) "/" "Other Users/fred/Shared"',
            '* MYRIGHTS "Other Users/fred/Shared" lr',
            '* METADATA "Other Users/fred/Shared" (/private/comment NIL /shared/comment "for joe")',
            '* LIST (\\HasNoChildren) "/" "Other Users/fred/Shared/Sub"',
            '* MYRIGHTS "Other Users/fred/Shared/Sub" lrs',
            '* METADATA "Other Users/fred/Shared/Sub" (/private/comment NIL /shared/comment NIL)',
            '* LIST (\\HasNoChildren) "/" "Other Users/fred/Work"',
            '* MYRIGHTS "Other Users/fred/Work" l',
        ], lines
        _, tagged = joe.command('GETMETADATA "Other Users/fred/Work" /shared/comment')
        assert tagged.startswith("NO"), tagged
        # joe's own private value is his alone.
        joe.ok('SETMETADATA "Other Users/fred/Shared" (/private/comment "joe\'s note")')
        lines = joe.ok('LIST "" "Other Users/fred/Shared" RETURN (METADATA /private/comment)')
        assert lines[1] == '* METADATA "Other Users/fred/Shared" (/private/comment "joe\'s note")', lines
        lines = fred.ok('LIST "" "Shared" RETURN (METADATA /private/comment)')
        assert lines[1] == '* METADATA Shared (/private/comment "not for joe")', lines

        # With STATUS and SUBSCRIBED: LIST, STATUS, MYRIGHTS, METADATA.
        fred.ok("SUBSCRIBE Work")
        lines = fred.ok('LIST "" "Work" RETURN (METADATA (/private/comment) '
                        'SUBSCRIBED STATUS (MESSAGES UIDNEXT) MYRIGHTS)')
        rights = fred.ok("MYRIGHTS Work")[0]
        assert lines == ['* LIST (\\Subscribed \\HasNoChildren) "/" Work',
                         '* STATUS Work (MESSAGES 0 UIDNEXT 1)',
                         rights,
                         '* METADATA Work (/private/comment "mine")'], lines

        # Bad requests: BAD before anything is listed.
        for bad in ('LIST "" "*" RETURN (METADATA)',
                    'LIST "" "*" RETURN (METADATA ())',
                    'LIST "" "*" RETURN (METADATA (/bogus/comment))',
                    'LIST "" "*" RETURN (METADATA (/shared/a*))',
                    'LIST "" "*" RETURN (METADATA (/shared))',
                    'LIST "" "*" RETURN (METADATA (/shared/a) METADATA (/shared/b))',
                    'LIST "" "*" RETURN (METADATA (/shared/a) MAXSIZE 99999999999999999999)',
                    'LIST "" "*" RETURN (METADATA (/shared/a) MAXSIZE -1)'):
            lines, tagged = fred.command(bad)
            assert lines == [] and tagged.startswith("BAD"), (bad, lines, tagged)
        for c in (fred, joe):
            c.ok("LOGOUT")
            c.close()


# -- XLIST ----------------------------------------------------------------------------

def test_xlist(args):
    with start_node(args) as n:
        fred = Client(n)
        fred.login("fred")
        assert "XLIST" in fred.capabilities()
        fred.ok("CREATE Sent (USE (\\Sent))")
        fred.ok("CREATE Trash (USE (\\Trash))")
        fred.ok("CREATE Work/Sub")
        lines = fred.ok('XLIST "" "*"')
        assert lines == [
            '* XLIST (\\HasNoChildren \\Inbox) "/" INBOX',
            '* XLIST (\\HasNoChildren \\Sent) "/" Sent',
            '* XLIST (\\HasNoChildren \\Trash) "/" Trash',
            '* XLIST (\\HasChildren) "/" Work',
            '* XLIST (\\HasNoChildren) "/" Work/Sub',
        ], lines
        # The same as LIST apart from the verb and \Inbox.
        listed = fred.ok('LIST "" "*" RETURN (SPECIAL-USE CHILDREN)')
        assert [l.replace("* LIST", "* XLIST", 1) for l in listed] == \
            [lines[0].replace(" \\Inbox", "")] + lines[1:], (listed, lines)
        assert fred.ok('XLIST "" "%"') == lines[:4]
        assert fred.ok('XLIST "" "Work/%"') == lines[4:]
        assert fred.ok('XLIST "" ""') == ['* XLIST (\\Noselect) "/" ""']
        assert fred.ok('XLIST "" "nothing*"') == []
        # Someone else's INBOX is not \Inbox for joe.
        fred.ok("SETACL INBOX joe lr")
        joe = Client(n)
        joe.login("joe")
        lines = joe.ok('XLIST "" "*"')
        assert lines[0] == '* XLIST (\\HasNoChildren \\Inbox) "/" INBOX', lines
        assert '* XLIST (\\HasNoChildren) "/" "Other Users/fred"' in lines, lines
        # Selected state too; bad forms are BAD.
        joe.ok("SELECT INBOX")
        assert joe.ok('XLIST "" INBOX') == ['* XLIST (\\HasNoChildren \\Inbox) "/" INBOX']
        for bad in ('XLIST ""', 'XLIST "" "*" RETURN (CHILDREN)', 'XLIST (SUBSCRIBED) "" "*"'):
            lines, tagged = joe.command(bad)
            assert lines == [] and tagged.startswith("BAD"), (bad, lines, tagged)
        # Not before login.
        anon = Client(n)
        lines, tagged = anon.command('XLIST "" "*"')
        assert lines == [] and tagged.startswith("BAD"), tagged
        for c in (fred, joe, anon):
            c.ok("LOGOUT")
            c.close()


# -- UNAUTHENTICATE -----------------------------------------------------------------

def unauthenticate_then_joe(fred, n):
    """fred (logged in, INBOX selected with QRESYNC) unauthenticates and
    logs in as joe; joe must find nothing of fred's session."""
    lines = fred.ok("UNAUTHENTICATE")
    assert lines == [], lines
    # Not authenticated: no selection, no authenticated-state commands.
    lines, tagged = fred.command("FETCH 1 (FLAGS)")
    assert lines == [] and tagged == "BAD Please login first", (lines, tagged)
    lines, tagged = fred.command("LIST \"\" \"*\"")
    assert lines == [] and tagged == "BAD Please login first", (lines, tagged)
    caps = fred.capabilities()
    assert "UNAUTHENTICATE" not in caps and "LIST-MYRIGHTS" not in caps, caps
    assert "AUTH=PLAIN" in caps or any(c.startswith("AUTH=") for c in caps), caps
    assert "COMPRESS=DEFLATE" not in caps, caps
    lines = fred.login("joe")
    caps = fred.capabilities()
    assert "UNAUTHENTICATE" in caps, caps
    # Nothing selected: the selected-state commands are refused.
    for cmd in ("FETCH 1 (FLAGS)", "UNSELECT", "CLOSE", "EXPUNGE", "SEARCH ALL"):
        lines, tagged = fred.command(cmd)
        assert lines == [] and tagged == "BAD Please select a mailbox first", (cmd, lines, tagged)
    # ENABLEd extensions are gone: joe enables them afresh.
    assert fred.ok("ENABLE QRESYNC") == ["* ENABLED QRESYNC"]
    # joe's own folders only.
    lines = fred.ok('LIST "" "*"')
    assert lines == ['* LIST (\\HasNoChildren) "/" INBOX'], lines
    assert fred.ok("NAMESPACE")[0].startswith('* NAMESPACE (("" "/"))'), "namespace"
    return fred


def idle_for(c, seconds, meanwhile):
    """IDLE on c while meanwhile() runs; the untagged lines it got."""
    c.n += 1
    tag = "t%d" % c.n
    c.send(("%s IDLE\r\n" % tag).encode())
    line = c.readline()
    assert line.startswith(b"+"), line
    meanwhile()
    time.sleep(seconds)
    c.send(b"DONE\r\n")
    lines = []
    while True:
        line = c.readline()[:-2].decode()
        if line.startswith(tag + " "):
            assert line.startswith(tag + " OK"), line
            return lines
        lines.append(line)


def test_unauthenticate(args):
    with start_node(args, "maxlogins_per_user: 1\n") as n:
        fred = Client(n)
        caps = fred.capabilities()
        assert "UNAUTHENTICATE" not in caps, caps
        fred.login("fred")
        assert "UNAUTHENTICATE" in fred.capabilities()
        append(fred, "INBOX", "one", "(\\Deleted) ")
        append(fred, "INBOX", "two")
        assert fred.ok("ENABLE QRESYNC") == ["* ENABLED QRESYNC"]
        lines = fred.ok("SELECT INBOX")
        assert "* 2 EXISTS" in lines, lines
        unauthenticate_then_joe(fred, n)

        # fred's \Deleted message was not expunged; fred's login count was
        # given back (maxlogins_per_user 1 lets a new session in).
        other = Client(n)
        other.login("fred")
        lines = other.ok("STATUS INBOX (MESSAGES)")
        assert lines == ["* STATUS INBOX (MESSAGES 2)"], lines
        # A change to fred's INBOX reaches fred's sessions only, not the
        # connection that was fred's (no selection, no watcher left: IDLE
        # in the authenticated state reports nothing).
        lines = idle_for(fred, 1.0, lambda: append(other, "INBOX", "three"))
        assert lines == [], lines
        # joe's INBOX, not fred's.
        lines = fred.ok("SELECT INBOX")
        assert "* 0 EXISTS" in lines, lines
        lines = fred.ok("NOOP")
        assert lines == [], lines
        append(other, "INBOX", "four")
        lines = fred.ok("NOOP")
        assert lines == [], lines
        # The log names the user who left.
        n.wait_log("unauthenticate: fred")
        # UNAUTHENTICATE before login is BAD; LOGOUT still works after it.
        fred.ok("UNAUTHENTICATE")
        lines, tagged = fred.command("UNAUTHENTICATE")
        assert lines == [] and tagged == "BAD Please login first", (lines, tagged)
        lines, tagged = fred.command("LOGOUT")
        assert tagged.startswith("OK") and lines[0].startswith("* BYE"), (lines, tagged)
        for c in (fred, other):
            c.close()


def test_unauthenticate_keeps_tls(args):
    with start_node(args, tls=True) as n:
        c = Client(n)
        assert "STARTTLS" in c.capabilities()
        c.starttls()
        c.login("fred")
        c.ok("UNAUTHENTICATE")
        caps = c.capabilities()
        assert "STARTTLS" not in caps and "UNAUTHENTICATE" not in caps, caps
        lines, tagged = c.command("STARTTLS")
        assert tagged == "BAD Already using TLS", tagged
        c.login("joe")  # still over TLS
        assert c.ok('LIST "" "*"') == ['* LIST (\\HasNoChildren) "/" INBOX']
        c.ok("LOGOUT")
        c.close()


def test_unauthenticate_admin_and_compress(args):
    with start_node(args, tls=True) as n:
        c = Client(n)
        assert "STARTTLS" in c.capabilities()
        c.login("admin")
        admin_caps = c.capabilities()
        assert "X-REPLICATION" in admin_caps and "UNAUTHENTICATE" in admin_caps, admin_caps
        assert c.ok('LIST "" "user/%"') == ['* LIST (\\HasNoChildren) "/" user/fred',
                                          '* LIST (\\HasNoChildren) "/" user/joe']
        # COMPRESS stays active across UNAUTHENTICATE (it belongs to the connection).
        c.deflate()
        c.ok("UNAUTHENTICATE")
        caps = c.capabilities()
        assert "X-REPLICATION" not in caps and "COMPRESS=DEFLATE" not in caps, caps
        # TLS would have to go above compression (RFC 4978 4): not offered, refused.
        assert "STARTTLS" not in caps, caps
        lines, tagged = c.command("STARTTLS")
        assert lines == [] and tagged == "BAD TLS cannot start once COMPRESS is active", tagged
        c.login("fred")
        caps = c.capabilities()
        # An admin's powers are gone: no X-REPLICATION, no other users' folders.
        assert "X-REPLICATION" not in caps, (admin_caps, caps)
        assert "COMPRESS=DEFLATE" not in caps, caps  # still active
        for cmd in ('SELECT "Other Users/joe"', 'GETACL "Other Users/joe"',
                    'SETQUOTA "Other Users/joe" (STORAGE 100)'):
            lines, tagged = c.command(cmd)
            assert lines == [] and tagged.startswith("NO"), (cmd, lines, tagged)
        lines, tagged = c.command("COMPRESS DEFLATE")
        assert "COMPRESSIONACTIVE" in tagged, tagged
        assert c.ok('LIST "" "*"') == ['* LIST (\\HasNoChildren) "/" INBOX']
        c.ok("LOGOUT")
        c.close()


if __name__ == "__main__":
    run_tests([test_list_myrights, test_list_metadata, test_xlist, test_unauthenticate,
               test_unauthenticate_keeps_tls, test_unauthenticate_admin_and_compress])
