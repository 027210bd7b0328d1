#!/usr/bin/env python3
"""IMAP server sessions against a real cyr_master (tests/integration/harness.py):
login, mailbox life (create, append, select, fetch, store, search, copy, move,
expunge, rename, delete), ACL, quota, two sessions seeing each other's changes,
IDLE woken by another session's APPEND, and the replica write fence."""

import imaplib
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

imaplib.Commands.setdefault("BOGUS", ("AUTH", "NONAUTH", "SELECTED"))
imaplib.Commands.setdefault("MOVE", ("SELECTED",))

CYRUS_CONF = 'SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n}\n'
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"

MESSAGE = (b"From: Fred <fred@example.com>\r\n"
           b"To: barney@example.com\r\n"
           b"Subject: =?utf-8?Q?caf=C3=A9?= plans\r\n"
           b"Date: Tue, 3 Mar 2020 10:00:00 +0000\r\n"
           b"Message-ID: <1@example.com>\r\n"
           b"\r\n"
           b"Let us meet for a coffee.\r\n")


def address(node):
    addr = node.ports()["imap"][0]
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def connect(node, user=None, password="secret"):
    host, port = address(node)
    c = imaplib.IMAP4(host, port)
    if user:
        typ, _ = c.login(user, password)
        assert typ == "OK"
    return c


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def start_node(args):
    n = Node(args.bin, CYRUS_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    for user in ("admin", "fred", "barney"):
        set_password(n, user, "secret")
    n.start()
    admin = connect(n, "admin")
    for user in ("fred", "barney"):
        ok(admin.create("user/" + user))
    admin.logout()
    return n


def test_greeting_and_login(args):
    with start_node(args) as n:
        c = connect(n)
        assert "IMAP4REV1" in c.capabilities
        assert "AUTH=PLAIN" in c.capabilities or any(x.startswith("AUTH=") for x in c.capabilities)
        try:
            c.login("fred", "wrong")
            raise AssertionError("bad password accepted")
        except imaplib.IMAP4.error as e:
            assert "AUTHENTICATIONFAILED" in str(e), e
        ok(c.login("fred", "secret"))
        typ, caps = c.capability()
        assert b"UIDPLUS" in caps[0] and b"IDLE" in caps[0], caps
        typ, ns = c.namespace()
        assert typ == "OK" and b'"/"' in ns[0], ns
        # An unknown command is BAD, the session goes on.
        try:
            c._simple_command("BOGUS")  # noqa: SLF001
            raise AssertionError("BOGUS accepted")
        except imaplib.IMAP4.error as e:
            assert "BAD" in str(e), e
        ok(c.noop())
        c.logout()


def test_authenticate_plain_sasl_ir(args):
    with start_node(args) as n:
        c = connect(n)
        ok(c.authenticate("PLAIN", lambda _: b"\0fred\0secret"))
        ok(c.select("INBOX"))
        c.logout()


def test_mailbox_life(args):
    with start_node(args) as n:
        c = connect(n, "fred")
        ok(c.create("Work"))
        ok(c.create("Work/2024"))
        typ, data = c.create("Work")
        assert typ == "NO" and b"ALREADYEXISTS" in data[0], data
        typ, data = c.list('""', "*")
        names = b"\n".join(data)
        assert b"INBOX" in names and b'"Work/2024"' in names or b"Work/2024" in names, data
        typ, data = c.list('""', "%")
        assert not any(b"Work/2024" in d for d in data), data
        assert any(b"\\HasChildren" in d and b"Work" in d for d in data), data

        data = ok(c.append("INBOX", "(\\Flagged)", None, MESSAGE))
        assert b"APPENDUID" in data[0], data
        ok(c.append("INBOX", None, None, MESSAGE.replace(b"coffee", b"tea")))
        typ, data = c.status("INBOX", "(MESSAGES UIDNEXT UNSEEN)")
        assert b"MESSAGES 2" in data[0] and b"UNSEEN 2" in data[0], data

        data = ok(c.select("INBOX"))
        assert data == [b"2"], data
        typ, data = c.fetch("1", "(FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
        first = data[0] if isinstance(data[0], bytes) else data[0][0]
        assert b"\\Flagged" in first and b'"fred"' in first and b'"TEXT" "PLAIN"' in first, data
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"Subject: =?utf-8?Q?caf=C3=A9?= plans" in data[0][1], data
        typ, data = c.fetch("1", "(FLAGS)")
        assert b"\\Seen" not in data[0], data
        typ, data = c.fetch("1", "(BODY[TEXT])")
        assert data[0][1] == b"Let us meet for a coffee.\r\n", data
        typ, data = c.fetch("1", "(FLAGS)")
        assert b"\\Seen" in data[0], data
        typ, data = c.fetch("2", "(BODY.PEEK[]<0.4>)")
        assert data[0][1] == b"From", data

        ok(c.search(None, "ALL"))
        typ, data = c.search("UTF-8", "SUBJECT", '"CAFÉ"'.encode())
        assert data == [b"1 2"], data
        typ, data = c.search(None, "BODY", "tea")
        assert data == [b"2"], data
        typ, data = c.search(None, "UNSEEN")
        assert data == [b"2"], data
        c.uid("SEARCH", "RETURN", "(COUNT MIN)", "ALL")
        typ, data = c.response("ESEARCH")
        assert b"COUNT 2" in data[0] and b"MIN 1" in data[0], data
        typ, data = c.search("ISO-2022-JP", "ALL")
        assert typ == "NO", (typ, data)

        typ, data = c.store("2", "+FLAGS", "(\\Deleted $Work)")
        assert b"\\Deleted" in data[0] and b"$Work" in data[0], data
        typ, data = c.copy("1", "Work")
        assert typ == "OK", data
        typ, data = c.copy("1", "Nope")
        assert typ == "NO" and b"TRYCREATE" in data[0], data
        typ, data = c.expunge()
        assert data == [b"2"], data
        typ, data = c._simple_command("MOVE", "1", "Work/2024")  # noqa: SLF001
        assert typ == "OK", data
        typ, data = c.status("Work", "(MESSAGES)")
        assert b"MESSAGES 1" in data[0], data
        ok(c.close())

        ok(c.rename("Work/2024", "Archive"))
        typ, data = c.status("Archive", "(MESSAGES)")
        assert b"MESSAGES 1" in data[0], data
        ok(c.subscribe("Archive"))
        typ, data = c.lsub('""', "*")
        assert any(b"Archive" in d for d in data), data
        ok(c.delete("Archive"))
        typ, data = c.select("Archive")
        assert typ == "NO" and b"NONEXISTENT" in data[0], data
        c.logout()


def test_acl_and_quota(args):
    with start_node(args) as n:
        fred = connect(n, "fred")
        ok(fred.create("Shared"))
        ok(fred.append("Shared", None, None, MESSAGE))
        barney = connect(n, "barney")
        typ, data = barney.select('"Other Users/fred/Shared"')
        assert typ == "NO", data
        ok(fred.setacl("Shared", "barney", "lr"))
        typ, data = fred.getacl("Shared")
        assert b"barney lr" in data[0], data
        data = ok(barney.select('"Other Users/fred/Shared"', readonly=True))
        assert data == [b"1"], data
        typ, data = barney.store("1", "+FLAGS", "(\\Flagged)")
        assert typ == "NO", data
        typ, data = barney.myrights('"Other Users/fred/Shared"')
        assert b" lr" in data[0], data
        # APPEND needs the i right; without l or r the mailbox is not there
        # for him (NONEXISTENT, as for one that does not exist in another
        # user's folders: he could not create it, so no TRYCREATE).
        typ, data = barney.append('"Other Users/fred/Shared"', None, None, MESSAGE)
        assert typ == "NO" and b"NOPERM" in data[0], data
        typ, data = barney.append('"Other Users/fred/INBOX"', None, None, MESSAGE)
        assert typ == "NO" and b"NONEXISTENT" in data[0], data
        typ, data = barney.append("Nowhere", None, None, MESSAGE)
        assert typ == "NO" and b"TRYCREATE" in data[0], data
        typ, data = barney.list('""', "*")
        assert any(b'"Other Users/fred/Shared"' in d for d in data), data
        ok(fred.deleteacl("Shared", "barney"))
        typ, data = barney.status('"Other Users/fred/Shared"', "(MESSAGES)")
        assert typ == "NO", data

        typ, data = fred.setquota("INBOX", "(STORAGE 1)")
        assert typ == "NO", data
        admin = connect(n, "admin")
        ok(admin.setquota("user/fred", "(STORAGE 1)"))
        typ, data = fred.getquotaroot("INBOX")
        flat = [x for part in data for x in (part if isinstance(part, list) else [part])]
        assert typ == "OK" and any(b"STORAGE" in d for d in flat), data
        big = MESSAGE + b"x" * 4096 + b"\r\n"
        typ, data = fred.append("INBOX", None, None, big)
        assert typ == "NO" and b"OVERQUOTA" in data[0], data
        for c in (fred, barney, admin):
            c.logout()


def test_seen_is_per_user_on_shared_mailboxes(args):
    with start_node(args) as n:
        fred = connect(n, "fred")
        ok(fred.create("Team"))
        ok(fred.append("Team", None, None, MESSAGE))
        ok(fred.setacl("Team", "barney", "lrsw"))
        barney = connect(n, "barney")
        ok(barney.select('"Other Users/fred/Team"'))
        typ, data = barney.fetch("1", "(BODY[TEXT])")
        assert typ == "OK"
        typ, data = barney.fetch("1", "(FLAGS)")
        assert b"\\Seen" in data[0], data
        ok(fred.select("Team"))
        typ, data = fred.fetch("1", "(FLAGS)")
        assert b"\\Seen" not in data[0], data
        ok(barney.store("1", "-FLAGS", "(\\Seen)"))
        ok(barney.store("1", "+FLAGS", "(\\Flagged)"))
        barney.close()
        ok(barney.select('"Other Users/fred/Team"'))
        typ, data = barney.fetch("1", "(FLAGS)")
        assert b"\\Seen" not in data[0] and b"\\Flagged" in data[0], data
        fred.logout()
        barney.logout()


def test_two_sessions_and_idle(args):
    with start_node(args) as n:
        a = connect(n, "fred")
        b = connect(n, "fred")
        ok(a.select("INBOX"))
        ok(b.append("INBOX", None, None, MESSAGE))
        typ, data = a.noop()
        assert a.untagged_responses.get("EXISTS", [b""])[-1] == b"1", a.untagged_responses
        ok(b.select("INBOX"))
        ok(b.store("1", "+FLAGS", "(\\Answered)"))
        a.untagged_responses.clear()
        ok(a.noop())
        assert "FETCH" in a.untagged_responses and b"\\Answered" in a.untagged_responses["FETCH"][0], \
            a.untagged_responses

        # IDLE by hand: a raw socket so we can read the untagged EXISTS.
        host, port = address(n)
        s = socket.create_connection((host, port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"a LOGIN fred secret\r\nb SELECT INBOX\r\n")
        while not f.readline().startswith(b"b OK"):
            pass
        s.sendall(b"c IDLE\r\n")
        assert f.readline().startswith(b"+"), "no IDLE continuation"
        start = time.monotonic()
        ok(b.append("INBOX", None, None, MESSAGE))
        line = f.readline()
        assert re.match(rb"\* 2 EXISTS", line), line
        assert time.monotonic() - start < 2.0
        s.sendall(b"DONE\r\n")
        line = f.readline()
        while line.startswith(b"* "):  # "* 2 RECENT" follows EXISTS, as from Cyrus
            line = f.readline()
        assert line.startswith(b"c OK"), "IDLE not ended: %r" % line
        s.sendall(b"d LOGOUT\r\n")
        s.close()

        ok(b.store("1", "+FLAGS", "(\\Deleted)"))
        ok(b.expunge())
        a.untagged_responses.clear()
        ok(a.noop())
        assert a.untagged_responses.get("EXPUNGE") == [b"1"], a.untagged_responses
        a.logout()
        b.logout()


def multiappend(node, user, mailbox, messages):
    """One APPEND of several messages with LITERAL+ (imaplib sends one per command)."""
    host, port = address(node)
    with socket.create_connection((host, port), timeout=30) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"a LOGIN %s secret\r\n" % user.encode())
        assert f.readline().startswith(b"a OK")
        cmd = b"b APPEND " + mailbox.encode()
        for m in messages:
            cmd += b" {%d+}\r\n" % len(m) + m
        s.sendall(cmd + b"\r\n")
        for _ in range(len(messages) + 10):  # the tagged reply, after any untagged ones
            line = f.readline()
            if line.startswith(b"b "):
                assert line.startswith(b"b OK"), line
                break
        else:
            raise AssertionError("no reply to APPEND")
        s.sendall(b"c LOGOUT\r\n")


def test_fetch_across_chunks(args):
    # FETCH reads stored structures 1,024 messages at a time, the next chunk
    # while the current one is formatted: more than two chunks, with holes
    # at a chunk boundary, must come back complete and in order.
    total = 2600
    with start_node(args) as n:
        msgs = [b"From: s%d@example.com\r\nSubject: m%d\r\n"
                b"Content-Type: text/plain; charset=us-ascii\r\n\r\nbody %d\r\n" % (i, i, i)
                for i in range(1, total + 1)]
        for k in range(0, total, 500):
            multiappend(n, "fred", "INBOX", msgs[k:k + 500])
        c = connect(n, "fred")
        typ, data = c.select("INBOX")
        assert typ == "OK" and int(data[0]) == total, data
        gone = {1024, 1025, 1500}
        ok(c.uid("STORE", ",".join(map(str, sorted(gone))), "+FLAGS", "(\\Deleted)"))
        ok(c.expunge())
        uids = [u for u in range(1, total + 1) if u not in gone]

        data = ok(c.fetch("1:*", "(UID ENVELOPE)"))
        got = []
        for item in data:
            m = re.match(rb'(\d+) \(UID (\d+) ENVELOPE \(NIL "m(\d+)" \(\(NIL NIL "s(\d+)" "example\.com"\)\)',
                         item if isinstance(item, bytes) else item[0])
            assert m, item
            seq, uid, subj, sender = map(int, m.groups())
            assert uid == subj == sender == uids[seq - 1], item
            got.append(uid)
        assert got == uids, (len(got), len(uids))

        # The full structure path (BODYSTRUCTURE), across the same boundaries.
        data = ok(c.uid("FETCH", "1000:2100", "(BODYSTRUCTURE)"))
        bs = [x for x in data if x and b"BODYSTRUCTURE" in (x if isinstance(x, bytes) else x[0])]
        assert len(bs) == len([u for u in uids if 1000 <= u <= 2100]), len(bs)
        assert all(b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT"' in x for x in bs), bs[0]

        # Sparse sets take the one-lookup-per-message path.
        data = ok(c.fetch("1,1030,%d" % len(uids), "(UID ENVELOPE)"))
        sparse = [int(re.search(rb"UID (\d+)", x).group(1)) for x in data]
        assert sparse == [uids[0], uids[1029], uids[-1]], sparse
        c.logout()


def inbox_holds(node, user, msgs):
    """Checks that user's INBOX holds exactly msgs, byte for byte, in order;
    returns the session (INBOX selected read-only)."""
    c = connect(node, user)
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK" and int(data[0]) == len(msgs), data
    for i, m in enumerate(msgs):
        data = ok(c.fetch(str(i + 1), "(BODY.PEEK[])"))
        assert data[0][1] == m, (i, len(data[0][1]), len(m))
    return c


def test_append_bodies_in_memory_and_spooled(args):
    # A session keeps a literal of up to 256 KiB in memory, up to 1 MiB per
    # command, and streams the others to a temporary file: one MULTIAPPEND
    # that takes both ways must store every message byte for byte, and
    # leave no temporary file behind.
    def body(i, size):
        head = b"From: s%d@example.com\r\nSubject: size %d\r\n\r\n" % (i, size)
        line = b"%06d abcdefghijklmnopqrstuvwxyz0123456789\r\n"
        out = head
        n = 0
        while len(out) < size:
            out += line % n
            n += 1
        return out[:size - 2] + b"\r\n"
    sizes = [100 * 1024, 300 * 1024, 200 * 1024, 200 * 1024, 200 * 1024, 200 * 1024, 200 * 1024, 10 * 1024]
    msgs = [body(i, sz) for i, sz in enumerate(sizes)]
    with start_node(args) as n:
        multiappend(n, "fred", "INBOX", msgs)
        c = inbox_holds(n, "fred", msgs)
        # And one by one (imaplib's synchronising literals), both ways again.
        ok(c.select("INBOX"))
        ok(c.append("INBOX", None, None, msgs[0]))
        ok(c.append("INBOX", None, None, msgs[1]))
        for seq, m in ((len(msgs) + 1, msgs[0]), (len(msgs) + 2, msgs[1])):
            data = ok(c.fetch(str(seq), "(BODY.PEEK[])"))
            assert data[0][1] == m, seq
        c.logout()
        tmp = os.path.join(n.confdir, "tmp")
        left = os.listdir(tmp) if os.path.isdir(tmp) else []
        assert left == [], left


def test_killed_master_loses_no_acknowledged_append(args):
    # A message of up to store_journal_max (64 KiB) is acknowledged once its
    # index commit (which holds its bytes) is flushed; its file is flushed a
    # moment later. Kill the master right after the last OK, then remove
    # the files of every message still in a body journal, as a power loss
    # could: the restarted master must serve every message byte for byte.
    import sqlite3
    small = [b"From: k%d@example.com\r\nSubject: kill %d\r\n\r\n%s\r\n" % (i, i, b"x" * (300 + 37 * i))
             for i in range(30)]
    large = b"From: big@example.com\r\nSubject: big\r\n\r\n" + b"y" * (100 * 1024) + b"\r\n"
    msgs = small[:15] + [large] + small[15:]
    with start_node(args) as n:
        c = connect(n, "fred")
        for m in msgs:
            ok(c.append("INBOX", None, None, m))
        n.proc.kill()
        n.proc.wait()
        shard = None
        for root, _, files in os.walk(os.path.join(n.confdir, "shards")):
            for f in files:
                if f.endswith(".db"):
                    db = sqlite3.connect(os.path.join(root, f))
                    if db.execute("SELECT 1 FROM mailbox WHERE name='user.fred'").fetchone():
                        shard = db
        assert shard is not None
        pending = shard.execute(
            "SELECT r.uid, m.uniqueid FROM body_journal j JOIN record r ON r.guid = j.guid"
            " JOIN mailbox m ON m.mbid = r.mbid").fetchall()
        shard.close()
        assert pending, "no message was left in the journal"
        print("  %d journaled messages had their files removed" % len(pending))
        removed = 0
        for uid, uniqueid in pending:
            for root, dirs, files in os.walk(n.path("spool")):
                if os.path.basename(root) == uniqueid and ("%d." % uid) in files:
                    os.unlink(os.path.join(root, "%d." % uid))
                    removed += 1
        assert removed == len(pending), (removed, pending)
        # The killed master left its ports file and a "ready:" line behind.
        os.unlink(os.path.join(n.confdir, "ports"))
        n.start(wait_ready=False)
        n.wait_log("ready:", count=2)
        n.wait_ready()
        c = inbox_holds(n, "fred", msgs)
        c.logout()
        assert "body journal" in n.log(), n.log()[-2000:]


def test_sigterm_says_bye(args):
    with start_node(args) as n:
        host, port = address(n)
        s = socket.create_connection((host, port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"a LOGIN fred secret\r\n")
        assert f.readline().startswith(b"a OK")
        n.send_signal(15)
        line = f.readline()
        assert line.startswith(b"* BYE"), line
        s.close()


def self_signed(n):
    """A throw-away certificate and key in the node's directory."""
    cert, key = n.path("cert.pem"), n.path("key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def test_starttls(args):
    n = Node(args.bin, CYRUS_CONF, imapd_extra="", keep=args.keep)
    with n:
        cert, key = self_signed(n)
        n.write_imapd_conf("tls_server_cert: %s\ntls_server_key: %s\n" % (cert, key))
        set_password(n, "fred", "secret")
        n.start()
        c = connect(n)
        assert "STARTTLS" in c.capabilities and "LOGINDISABLED" in c.capabilities, c.capabilities
        typ, data = c._simple_command("LOGIN", "fred", "secret")  # noqa: SLF001
        assert typ == "NO", (typ, data)
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ok(c.starttls(ssl_context=ctx))
        assert "STARTTLS" not in c.capabilities and "LOGINDISABLED" not in c.capabilities
        ok(c.login("fred", "secret"))
        c.logout()


def test_tls_required(args):
    """tls_required: no authentication at all before STARTTLS, not even SCRAM
    (which allowplaintext does not cover) and even with allowplaintext."""
    n = Node(args.bin, CYRUS_CONF, imapd_extra="", keep=args.keep)
    with n:
        cert, key = self_signed(n)
        n.write_imapd_conf("tls_server_cert: %s\ntls_server_key: %s\nallowplaintext: yes\ntls_required: yes\n"
                           % (cert, key))
        set_password(n, "fred", "secret")
        n.start()
        c = connect(n)
        assert "LOGINDISABLED" in c.capabilities, c.capabilities
        assert not [x for x in c.capabilities if x.startswith("AUTH=")], c.capabilities
        typ, data = c._simple_command("LOGIN", "fred", "secret")  # noqa: SLF001
        assert typ == "NO", (typ, data)
        typ, data = c._simple_command("AUTHENTICATE", "SCRAM-SHA-256")  # noqa: SLF001
        assert typ == "NO", (typ, data)
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ok(c.starttls(ssl_context=ctx))
        assert "AUTH=SCRAM-SHA-256" in c.capabilities and "LOGINDISABLED" not in c.capabilities, c.capabilities
        ok(c.login("fred", "secret"))
        c.logout()


if __name__ == "__main__":
    run_tests([test_greeting_and_login, test_authenticate_plain_sasl_ir, test_mailbox_life,
               test_acl_and_quota, test_seen_is_per_user_on_shared_mailboxes,
               test_two_sessions_and_idle, test_fetch_across_chunks,
               test_append_bodies_in_memory_and_spooled, test_killed_master_loses_no_acknowledged_append,
               test_sigterm_says_bye, test_starttls, test_tls_required])
