#!/usr/bin/env python3
"""IMAP extensions and limits against a real cyr_master (harness.py):
\\Recent across sessions after LMTP delivery (SELECT claims it, EXAMINE does
not), BINARY fetches and a literal8 APPEND, METADATA on a mailbox and on the
server, maxlogins_per_user refusing the N+1th login, and Debian's mutt
reading a delivered mailbox, copying a message to another folder and
deleting one, with the result checked over imaplib.

The mutt test prints "SKIPPED: reason" and passes when mutt is not installed
(ops/scripts/install-deps.sh --tests installs it)."""

import fcntl
import imaplib
import os
import pty
import re
import select
import shutil
import smtplib
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

CYRUS_CONF = ('SERVICES {\n'
              '  imap cmd="imapd" listen="127.0.0.1:0"\n'
              '  lmtp cmd="lmtpd -a" listen="127.0.0.1:0"\n'
              '}\n')
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"
CLIENT_TIMEOUT = 60  # seconds for the mutt run

# imaplib refuses commands it does not know; these are RFC 5464's.
imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))


def message(subject, body="Hello.\r\n", minute=0):
    return ("From: Fred <fred@example.com>\r\n"
            "To: fred@example.com\r\n"
            "Subject: %s\r\n"
            "Date: Tue, 3 Mar 2020 10:%02d:00 +0000\r\n"
            "Message-ID: <%s@example.com>\r\n"
            "\r\n%s" % (subject, minute, re.sub(r"\W", "", subject), body)).encode()


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


def start_node(args, extra=""):
    n = Node(args.bin, CYRUS_CONF, imapd_extra=IMAPD_EXTRA + extra, keep=args.keep)
    for user in ("admin", "fred"):
        set_password(n, user)
    n.start()
    admin = connect(n, "admin")
    ok(admin.create("user/fred"))
    admin.logout()
    return n


def deliver(node, *messages):
    host, port = addr(node, "lmtp")
    lmtp = smtplib.LMTP(host, port, timeout=60)
    try:
        for m in messages:
            refused = lmtp.sendmail("sender@example.com", ["fred"], m)
            assert not refused, refused
    finally:
        lmtp.quit()


def untagged(c, name):
    return c.untagged_responses.get(name, [])


# -- \Recent --------------------------------------------------------------------

def test_recent_across_sessions(args):
    with start_node(args) as n:
        deliver(n, message("One", minute=1), message("Two", minute=2))
        a, b = connect(n), connect(n)
        data = ok(a.status("INBOX", "(RECENT MESSAGES)"))
        assert b"MESSAGES 2" in data[0] and b"RECENT 2" in data[0], data
        # EXAMINE sees \Recent but leaves it for the next SELECT.
        ok(b.select("INBOX", readonly=True))
        assert untagged(b, "RECENT") == [b"2"], untagged(b, "RECENT")
        ok(b.unselect())
        ok(a.select("INBOX"))
        assert untagged(a, "RECENT") == [b"2"], untagged(a, "RECENT")
        flags = ok(a.fetch("1:*", "(FLAGS)"))
        assert all(b"\\Recent" in f for f in flags), flags
        assert ok(a.search(None, "NEW")) == [b"1 2"]
        # Session b selects after a: nothing is recent for it.
        ok(b.select("INBOX"))
        assert untagged(b, "RECENT") == [b"0"], untagged(b, "RECENT")
        assert ok(b.search(None, "RECENT")) == [b""]
        # A delivery while both have INBOX selected is recent in exactly one of them.
        deliver(n, message("Three", minute=3))
        time.sleep(0.2)
        ok(a.noop())
        ok(b.noop())
        ra = ok(a.search(None, "RECENT"))[0].split()
        rb = ok(b.search(None, "RECENT"))[0].split()
        assert (b"3" in ra) != (b"3" in rb), (ra, rb)
        for c in (a, b):
            c.logout()


# -- BINARY -----------------------------------------------------------------------

def test_binary_fetch_and_literal8_append(args):
    with start_node(args) as n:
        c = connect(n)
        caps = ok(c.capability())[0].split()  # after login (the greeting's list is shorter)
        assert b"BINARY" in caps, caps
        msg = (b"Subject: bin\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
               b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"
               b"--B\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--B--\r\n")
        ok(c.append("INBOX", None, None, msg))
        ok(c.select("INBOX"))
        data = ok(c.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[2])"))
        assert data[0][1] == "café".encode(), data
        assert b"BINARY.SIZE[2] 4" in data[1] or b"BINARY.SIZE[2] 4" in data[0][0], data
        data = ok(c.fetch("1", "(BINARY.PEEK[2])"))
        assert data[0][1] == b"\x00\x01\x02\xff", data
        assert b"~{4}" in data[0][0], data  # literal8: the content holds a NUL

        # APPEND with literal8: binary content with NULs is stored as is.
        raw = b"Subject: raw\r\n\r\nA\x00B\r\n"
        typ, resp = c._simple_command("APPEND", "INBOX", "~{%d+}\r\n" % len(raw) + raw.decode("latin-1"))
        assert typ == "OK", (typ, resp)
        data = ok(c.fetch("2", "(BINARY.PEEK[])"))
        assert data[0][1] == raw, data
        c.logout()


# -- METADATA ---------------------------------------------------------------------

def test_metadata(args):
    with start_node(args) as n:
        c = connect(n)
        caps = ok(c.capability())[0].split()
        assert b"METADATA" in caps and b"METADATA-SERVER" in caps, caps
        ok(c._simple_command("SETMETADATA", "INBOX", '(/private/comment "My own" /shared/comment "Ours")'))
        typ, _ = c._simple_command("GETMETADATA", "INBOX", "(/private/comment /shared/comment)")
        assert typ == "OK"
        typ, data = c._untagged_response(typ, [], "METADATA")
        text = b" ".join(d if isinstance(d, bytes) else b"".join(d) for d in data)
        assert b'/private/comment "My own"' in text and b'/shared/comment "Ours"' in text, text
        # Another user with "lr" sees the shared value but not fred's private one.
        ok(c.setacl("INBOX", "admin", "lr"))
        admin = connect(n, "admin")
        typ, _ = admin._simple_command("GETMETADATA", "user/fred", "(/private/comment /shared/comment)")
        assert typ == "OK"
        typ, data = admin._untagged_response(typ, [], "METADATA")
        text = b" ".join(d if isinstance(d, bytes) else b"".join(d) for d in data)
        assert b'/shared/comment "Ours"' in text and b"/private/comment NIL" in text, text
        # Server metadata: only an admin sets shared entries.
        typ, data = c._simple_command("SETMETADATA", '""', '(/shared/motd "x")')
        assert typ == "NO" and b"NOPERM" in data[0], (typ, data)
        ok(admin._simple_command("SETMETADATA", '""', '(/shared/motd "Maintenance at noon")'))
        typ, _ = c._simple_command("GETMETADATA", '""', "/shared/motd")
        typ, data = c._untagged_response(typ, [], "METADATA")
        assert b"Maintenance at noon" in b"".join(d if isinstance(d, bytes) else b"".join(d) for d in data)
        admin.logout()
        c.logout()


# -- LIST and CREATE as Cyrus 3.6 answers them ------------------------------------

def list_lines(c, *args):
    """The untagged LIST/LSUB lines of one command, as text."""
    typ, data = c._simple_command(*args)
    assert typ == "OK", (args, typ, data)
    verb = "LSUB" if args[0] == "LSUB" else "LIST"
    typ, data = c._untagged_response(typ, [], verb)
    out = []
    for d in data:
        if d is None:
            continue
        out.append(d.decode() if isinstance(d, bytes) else b"".join(x for x in d if isinstance(x, bytes)).decode())
    return out


def test_list_and_create_like_cyrus(args):
    """Checked side by side against Cyrus 3.6 (altnamespace and unixhierarchysep,
    the defaults): "INBOX/x" is a folder of its own below INBOX, INBOX has
    children only when such folders exist, CREATE makes the missing levels,
    LSUB "%" and RECURSIVEMATCH report levels with subscribed folders below,
    and a special-use attribute is shown only on the user's own folders."""
    with start_node(args) as n:
        c = connect(n)
        ok(c.create("Sent"))
        ok(c.create("Archive/2023/Q1"))
        lines = list_lines(c, "LIST", '""', '"*"')
        assert '(\\HasNoChildren) "/" INBOX' in lines, lines
        assert '(\\HasChildren) "/" Archive' in lines, lines  # made by the CREATE, selectable
        assert '(\\HasChildren) "/" Archive/2023' in lines, lines
        ok(c.select("Archive"))
        ok(c.close())
        # "INBOX/Sub" is not "Sub": both may exist, each listed under its own name.
        ok(c.create("INBOX/Sub"))
        ok(c.create("Sub"))
        assert list_lines(c, "LIST", '""', '"INBOX*"') == ['(\\HasChildren) "/" INBOX', '(\\HasNoChildren) "/" INBOX/Sub']
        assert list_lines(c, "LIST", '""', '"Sub"') == ['(\\HasNoChildren) "/" Sub']
        ok(c.append("INBOX/Sub", None, None, message("below inbox")))
        assert ok(c.status("Sub", "(MESSAGES)"))[0].endswith(b"(MESSAGES 0)")
        assert ok(c.status("INBOX/Sub", "(MESSAGES)"))[0].endswith(b"(MESSAGES 1)")
        # Subscriptions below levels the pattern does not reach.
        ok(c.subscribe("Archive/2023/Q1"))
        ok(c.subscribe("Sent"))
        assert '(\\Noselect \\HasChildren) "/" Archive' in list_lines(c, "LSUB", '""', '"%"')
        rec = list_lines(c, "LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', '"%"')
        assert any(l.startswith('(\\HasChildren) "/" Archive') and "CHILDINFO" in l for l in rec), rec
        assert any(l.startswith('(\\Subscribed \\HasNoChildren) "/" Sent') for l in rec), rec
        # Special use: fred's \Sent is his; the admin, browsing fred's folders, sees none.
        ok(c._simple_command("SETMETADATA", "Sent", "(/private/specialuse \"\\\\Sent\")"))
        assert '(\\HasNoChildren \\Sent) "/" Sent' in list_lines(c, "LIST", '""', '"Sent"')
        ok(c.setacl("Sent", "admin", "lr"))
        admin = connect(n, "admin")
        assert list_lines(admin, "LIST", '""', '"user/fred/Sent"') == ['(\\HasNoChildren) "/" user/fred/Sent']
        admin.logout()
        # TRYCREATE only where a CREATE could succeed (RFC 3501 6.3.11).
        typ, data = c.append("Nope", None, None, message("x"))
        assert typ == "NO" and b"TRYCREATE" in data[0], (typ, data)
        typ, data = c.append('"Other Users/nobody/Nope"', None, None, message("x"))
        assert typ == "NO" and b"NONEXISTENT" in data[0], (typ, data)
        # An owner cannot cut their own rights on their own folder (Cyrus: NO).
        typ, data = c.setacl("Sent", "fred", "lr")
        assert typ == "NO" and b"NOPERM" in data[0], (typ, data)
        untagged, _ = raw_command(c, 'LISTRIGHTS Sent admin')
        assert untagged and untagged[0].endswith(" n"), untagged  # the annotation right too (RFC 5464)
        # The owner's implicit rights are implicit_owner_rights ("lkxan"),
        # 'n' included, whatever the owner's own ACL entry says (Cyrus).
        untagged, _ = raw_command(c, 'LISTRIGHTS Sent fred')
        assert untagged and untagged[0].startswith('* LISTRIGHTS Sent fred "lkxan"'), untagged
        admin = connect(n, "admin")
        ok(admin.setacl("user/fred/Sent", "fred", "lrs"))
        admin.logout()
        untagged, _ = raw_command(c, 'MYRIGHTS Sent')
        assert untagged == ['* MYRIGHTS Sent lrskxcan'], untagged  # c: the legacy letter for k
        c.logout()


def raw_command(c, line):
    """Sends one tagged command line; returns (untagged lines, tagged line) as text."""
    tag = c._new_tag().decode()
    c.send(("%s %s\r\n" % (tag, line)).encode())
    untagged = []
    while True:
        l = c._get_line().decode()
        if l.startswith(tag + " "):
            return untagged, l
        untagged.append(l)


def test_flags_and_modseqs_across_sessions(args):
    """What a second session sees of the first one's changes, as Cyrus 3.6
    answers: a FETCH never shows flags older than a committed STORE, a new
    keyword comes with new FLAGS and PERMANENTFLAGS, with QRESYNC every
    FETCH carries the UID, and a CONDSTORE EXPUNGE answers HIGHESTMODSEQ."""
    with start_node(args) as n:
        deliver(n, message("one"), message("two", minute=1))
        a, b = connect(n), connect(n)
        ok(a.select("INBOX"))
        ok(b.select("INBOX"))
        ok(a.store("2", "+FLAGS", "(\\Seen)"))
        untagged, tagged = raw_command(b, "FETCH 2 (FLAGS)")
        assert tagged.split()[1] == "OK", tagged
        fetches = [l for l in untagged if l.startswith("* 2 FETCH")]
        assert fetches and all("\\Seen" in l for l in fetches), untagged
        # A keyword nobody used before: B is told of it before the FETCH shows it.
        ok(a.store("1", "+FLAGS", "($Project)"))
        untagged, _ = raw_command(b, "NOOP")
        flags_at = [i for i, l in enumerate(untagged) if l.startswith("* FLAGS (") and "$Project" in l]
        fetch_at = [i for i, l in enumerate(untagged) if l.startswith("* 1 FETCH") and "$Project" in l]
        assert flags_at and fetch_at and flags_at[0] < fetch_at[0], untagged
        assert any("PERMANENTFLAGS" in l and "$Project" in l for l in untagged), untagged
        # QRESYNC: a STORE's FETCH responses carry the UID; EXPUNGE ends with HIGHESTMODSEQ.
        q = connect(n)
        _, tagged = raw_command(q, "ENABLE QRESYNC")  # in the authenticated state (RFC 5161)
        assert " OK" in tagged, tagged
        ok(q.select("INBOX"))
        untagged, _ = raw_command(q, "STORE 1 +FLAGS (\\Deleted)")
        assert any(l.startswith("* 1 FETCH") and "UID " in l and "MODSEQ" in l for l in untagged), untagged
        untagged, tagged = raw_command(q, "EXPUNGE")
        assert any(l.startswith("* VANISHED") for l in untagged), untagged
        assert "[HIGHESTMODSEQ " in tagged, tagged
        for c in (a, b, q):
            c.logout()


# -- maxlogins_per_user -------------------------------------------------------------

def test_maxlogins_per_user(args):
    with start_node(args, "maxlogins_per_user: 2\n") as n:
        first, second = connect(n), connect(n)
        third = connect(n, user=None)
        try:
            third.login("fred", "secret")
            raise AssertionError("the third login of fred was accepted")
        except imaplib.IMAP4.error as e:
            assert "LIMIT" in str(e) or "too many" in str(e).lower(), str(e)
        # Refused but not disconnected; another user is not affected.
        ok(third.noop())
        ok(third.login("admin", "secret"))
        third.logout()
        # When one of fred's sessions ends, fred may log in again.
        first.logout()
        again = connect(n)
        ok(again.select("INBOX"))
        again.logout()
        second.logout()


def test_maxlogins_per_host(args):
    with start_node(args, "maxlogins_per_host: 2\n") as n:
        first, second = connect(n), connect(n, "admin")
        third = connect(n, user=None)
        try:
            third.login("fred", "secret")
            raise AssertionError("a third login from 127.0.0.1 was accepted")
        except imaplib.IMAP4.error as e:
            assert "LIMIT" in str(e) and "host" in str(e), str(e)
        ok(third.noop())  # refused, not disconnected
        # A session that ends (or logs out) frees its place.
        second.logout()
        ok(third.login("fred", "secret"))
        third.logout()
        first.logout()


# -- mutt -----------------------------------------------------------------------------

def run_under_pty(argv, env, timeout):
    """Runs a curses program on a pseudo-terminal, draining its output;
    returns (exit status, output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True, start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk and proc.poll() is not None:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError("mutt did not finish in %ds; screen: %r" % (timeout, bytes(out[-2000:])))
        return proc.wait(timeout=10), bytes(out)
    finally:
        os.close(master)


def test_mutt_reads_copies_and_deletes(args):
    if shutil.which("mutt") is None:
        print("SKIPPED: mutt is not installed (apt-get install -y mutt)")
        return
    with start_node(args) as n:
        deliver(n, message("Alpha", minute=1), message("Beta", minute=2), message("Gamma", minute=3))
        host, port = addr(n, "imap")
        home = n.path("mutthome")
        os.makedirs(home, exist_ok=True)
        muttrc = os.path.join(home, "muttrc")
        with open(muttrc, "w") as f:
            f.write("\n".join([
                "set imap_user=fred",
                "set imap_pass=secret",
                "set folder=imap://%s:%d/" % (host, port),
                "set spoolfile=+INBOX",
                "set ssl_starttls=no",
                "set ssl_force_tls=no",
                "set imap_authenticators=\"plain:login\"",
                "set confirmcreate=no",
                "set confirmappend=no",
                "set delete=yes",
                "set move=no",
                "set quit=yes",
                "set wait_key=no",
                "set mark_old=no",
                "set record=\"\"",
                "set sort=date",
                "set tmpdir=%s" % home,
                # Read Alpha (FETCH BODY[] sets \\Seen), copy it to Archive (created
                # on the way), delete Beta, expunge, quit.
                'push "<search>~s Alpha<enter><display-message><exit>'
                '<tag-pattern>~s Alpha<enter><tag-prefix><copy-message><kill-line>=Archive<enter>'
                '<delete-pattern>~s Beta<enter><sync-mailbox><quit>"',
                ""]))
        env = {"HOME": home, "TERM": "vt100", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LANG": "C.UTF-8"}
        status, screen = run_under_pty(["mutt", "-n", "-F", muttrc], env, CLIENT_TIMEOUT)
        assert status == 0, (status, screen[-2000:])

        c = connect(n)
        ok(c.select("INBOX", readonly=True))
        data = ok(c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        inbox = {}
        for part in data:
            if isinstance(part, tuple):
                subject = part[1].decode().split(":", 1)[1].strip()
                inbox[subject] = re.search(rb"FLAGS \(([^)]*)\)", part[0]).group(1).decode().split()
        assert sorted(inbox) == ["Alpha", "Gamma"], (inbox, screen[-2000:])
        assert "\\Seen" in inbox["Alpha"] and "\\Seen" not in inbox["Gamma"], inbox
        ok(c.select("Archive", readonly=True))
        data = ok(c.fetch("1:*", "(BODY.PEEK[])"))
        bodies = [p[1] for p in data if isinstance(p, tuple)]
        assert len(bodies) == 1 and b"Subject: Alpha" in bodies[0], bodies
        c.logout()


def test_specialuse_protect(args):
    """As Cyrus 3.6 (specialuse_protect, by default \\Archive \\Drafts
    \\Important \\Junk \\Sent \\Trash): a user cannot delete such a folder
    nor move it under another parent ("SPECIAL-USE flag conflict"); a rename
    beside it is fine, the admin may delete it, and without its special use
    it is an ordinary folder."""
    with start_node(args) as n:
        c = connect(n)
        ok(c._simple_command("CREATE", "Sent", "(USE (\\Sent))"))
        ok(c._simple_command("CREATE", "Trash", "(USE (\\Trash))"))
        ok(c.create("Folder"))
        typ, data = c.delete("Sent")
        assert typ == "NO" and data == [b"[CANNOT] SPECIAL-USE flag conflict"], (typ, data)
        typ, data = c.rename("Sent", "Folder/Sent")
        assert typ == "NO" and b"SPECIAL-USE flag conflict" in data[0], (typ, data)
        ok(c.rename("Sent", '"Sent Items"'))
        ok(c._simple_command("SETMETADATA", "Trash", "(/private/specialuse NIL)"))
        ok(c.delete("Trash"))
        ok(c.setacl('"Sent Items"', "admin", "lrswipkxtecda"))
        admin = connect(n, "admin")
        ok(admin.delete('"user/fred/Sent Items"'))
        admin.logout()
        c.logout()


def test_specialuse_protect_can_be_emptied(args):
    with start_node(args, "specialuse_protect:\n") as n:
        c = connect(n)
        ok(c._simple_command("CREATE", "Sent", "(USE (\\Sent))"))
        ok(c.delete("Sent"))
        c.logout()


if __name__ == "__main__":
    run_tests([test_recent_across_sessions, test_binary_fetch_and_literal8_append, test_metadata,
               test_list_and_create_like_cyrus, test_flags_and_modseqs_across_sessions, test_maxlogins_per_user, test_maxlogins_per_host,
               test_mutt_reads_copies_and_deletes, test_specialuse_protect, test_specialuse_protect_can_be_emptied])
