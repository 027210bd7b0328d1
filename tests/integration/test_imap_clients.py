#!/usr/bin/env python3
"""Real IMAP clients against a real cyr_master (tests/integration/harness.py):
mbsync (isync) syncing a Maildir both ways, curl's IMAP support (list, fetch,
custom command, upload), and a SCRAM-SHA-256 exchange done by hand with only
the Python standard library, checking the server's signature.

A test whose client program is not installed prints "SKIPPED: reason" and
passes; install them with ops/scripts/install-deps.sh --tests (isync, curl)."""

import base64
import hashlib
import hmac
import imaplib
import os
import re
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password  # noqa: E402

CYRUS_CONF = 'SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n}\n'
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"
CLIENT_TIMEOUT = 60  # seconds for any one client program run


def message(subject, body="Hello.\r\n", n=0):
    return ("From: Fred <fred@example.com>\r\n"
            "To: barney@example.com\r\n"
            "Subject: %s\r\n"
            "Date: Tue, 3 Mar 2020 10:%02d:00 +0000\r\n"
            "Message-ID: <%s@example.com>\r\n"
            "\r\n%s" % (subject, n % 60, re.sub(r"\W", "", subject), body)).encode()


def address(node):
    host, port = node.ports()["imap"][0].rsplit(":", 1)
    return host, int(port)


def connect(node, user=None, password="secret"):
    host, port = address(node)
    c = imaplib.IMAP4(host, port, timeout=30)
    if user:
        ok(c.login(user, password))
    return c


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def start_node(args):
    n = Node(args.bin, CYRUS_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    for user in ("admin", "fred"):
        set_password(n, user, "secret")
    n.start()
    admin = connect(n, "admin")
    ok(admin.create("user/fred"))
    admin.logout()
    return n


def skip_unless(tool):
    if shutil.which(tool) is None:
        print("SKIPPED: %s is not installed (apt-get install -y %s)"
              % (tool, "isync" if tool == "mbsync" else tool))
        return True
    return False


def server_state(node, folders):
    """{folder: sorted [(subject, sorted flags)]} as the server sees it (\\Recent ignored)."""
    c = connect(node, "fred")
    out = {}
    for f in folders:
        typ, data = c.select('"%s"' % f, readonly=True)
        assert typ == "OK", (f, data)
        items = []
        if int(data[0]) > 0:
            data = ok(c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
            for part in data:
                if not isinstance(part, tuple):
                    continue
                flags = re.search(rb"FLAGS \(([^)]*)\)", part[0]).group(1).decode().split()
                subject = part[1].decode().split(":", 1)[1].strip()
                items.append((subject, tuple(sorted(x for x in flags if x != "\\Recent"))))
        out[f] = sorted(items)
    c.logout()
    return out


# -- mbsync ------------------------------------------------------------------

MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


def maildir_write(folder, name, data, flags=None):
    """Writes a message into folder/new (flags None) or folder/cur with flags."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    if flags is None:
        path = os.path.join(folder, "new", name)
    else:
        path = os.path.join(folder, "cur", name + ":2," + flags)
    with open(path, "wb") as f:
        f.write(data)
    return path


def maildir_state(folder):
    """sorted [(subject, sorted flags)] of one Maildir folder."""
    items = []
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                m = re.search(rb"^Subject: (.*?)\r?$", f.read(), re.M)
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            items.append((m.group(1).decode().strip(),
                          tuple(sorted(MAILDIR_FLAGS[c] for c in flags if c in MAILDIR_FLAGS))))
    return sorted(items)


def maildir_find(folder, subject):
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                if ("Subject: " + subject + "\r\n").encode() in f.read():
                    return os.path.join(d, name)
    raise AssertionError("no message %r in %s" % (subject, folder))


def run_mbsync(rc, *options):
    res = subprocess.run(["mbsync", "-c", rc] + list(options) + ["fred"], capture_output=True,
                         timeout=CLIENT_TIMEOUT)
    out = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
    assert res.returncode == 0, "mbsync %s failed (%d):\n%s" % (options, res.returncode, out)
    # mbsync reports server replies it did not like as errors or warnings
    # without always failing; none is expected (the plaintext-password warning
    # for SSLType None aside).
    odd = [l for l in out.splitlines() if re.search(r"error|warning", l, re.I)
           and "in the clear" not in l and "unencrypted" not in l]
    assert not odd, "mbsync %s complained:\n%s" % (options, out)
    return out


def test_mbsync(args):
    if skip_unless("mbsync"):
        return
    with start_node(args) as n:
        host, port = address(n)
        tmp = n.path("mbsync")
        mail = os.path.join(tmp, "mail")
        os.makedirs(mail)
        rc = os.path.join(tmp, "mbsyncrc")
        with open(rc, "w") as f:
            f.write("IMAPAccount fred\nHost %s\nPort %d\nUser fred\nPass secret\n"
                    "SSLType None\nAuthMechs LOGIN\nTimeout 20\n\n"
                    "IMAPStore remote\nAccount fred\n\n"
                    "MaildirStore local\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
                    "Channel fred\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\n"
                    "Expunge Both\nSyncState *\n" % (host, port, mail, mail))
        inbox, work, archive = (os.path.join(mail, x) for x in ("INBOX", "Work", "Archive/2019"))
        maildir_write(inbox, "1.a.host", message("inbox one", n=1), "S")
        maildir_write(inbox, "2.a.host", message("inbox two", n=2), "")
        maildir_write(inbox, "3.a.host", message("inbox three", n=3))
        maildir_write(work, "4.a.host", message("work one", n=4), "FS")
        maildir_write(work, "5.a.host", message("work two", "A longer body.\r\n" * 200, n=5), "RS")
        maildir_write(archive, "6.a.host", message("old one", n=6), "S")
        folders = ("INBOX", "Work", "Archive/2019")

        # 1. Push the Maildir to the (empty) server.
        run_mbsync(rc, "--push")
        expected = {
            "INBOX": sorted([("inbox one", ("\\Seen",)), ("inbox two", ()), ("inbox three", ())]),
            "Work": sorted([("work one", ("\\Flagged", "\\Seen")),
                            ("work two", ("\\Answered", "\\Seen"))]),
            "Archive/2019": [("old one", ("\\Seen",))],
        }
        assert server_state(n, folders) == expected, server_state(n, folders)

        # 2. Change the server: append, flag, delete; pull them back.
        c = connect(n, "fred")
        ok(c.append("INBOX", "(\\Seen)", None, message("from server", n=7)))
        ok(c.select("Work"))
        typ, data = c.search(None, "SUBJECT", '"work two"')
        ok(c.store(data[0].decode(), "+FLAGS", "(\\Flagged)"))
        ok(c.select("INBOX"))
        typ, data = c.search(None, "SUBJECT", '"inbox two"')
        ok(c.store(data[0].decode(), "+FLAGS", "(\\Deleted)"))
        ok(c.expunge())
        c.logout()
        run_mbsync(rc, "--pull")
        expected["INBOX"] = sorted([("inbox one", ("\\Seen",)), ("inbox three", ()),
                                    ("from server", ("\\Seen",))])
        expected["Work"] = sorted([("work one", ("\\Flagged", "\\Seen")),
                                   ("work two", ("\\Answered", "\\Flagged", "\\Seen"))])
        for f in folders:
            assert maildir_state(os.path.join(mail, f)) == expected[f], (f, maildir_state(os.path.join(mail, f)))
        assert server_state(n, folders) == expected

        # 3. Change the Maildir: a new message, a flag set by renaming; push.
        maildir_write(work, "8.a.host", message("work three", n=8))
        # A mail reader marks a message by moving it to cur/ with the flags in
        # its name's info part (":2,FS"); the ",U=" part mbsync added stays.
        path = maildir_find(inbox, "inbox three")
        base = os.path.basename(path).split(":2,", 1)[0]
        os.rename(path, os.path.join(inbox, "cur", base + ":2,FS"))
        run_mbsync(rc, "--push")
        expected["Work"] = sorted(expected["Work"] + [("work three", ())])
        expected["INBOX"] = sorted([("inbox one", ("\\Seen",)), ("inbox three", ("\\Flagged", "\\Seen")),
                                    ("from server", ("\\Seen",))])
        assert server_state(n, folders) == expected, server_state(n, folders)
        for f in folders:
            assert maildir_state(os.path.join(mail, f)) == expected[f], (f, maildir_state(os.path.join(mail, f)))

        # 4. A full sync now has nothing to do and changes nothing.
        run_mbsync(rc)
        assert server_state(n, folders) == expected
        for f in folders:
            assert maildir_state(os.path.join(mail, f)) == expected[f]


# -- curl --------------------------------------------------------------------

def run_curl(*argv, check=True):
    res = subprocess.run(["curl", "-sS", "--max-time", "30", "-u", "fred:secret"] + list(argv),
                         capture_output=True, timeout=CLIENT_TIMEOUT)
    if check:
        assert res.returncode == 0, "curl %s failed (%d): %s" % (argv, res.returncode, res.stderr)
    return res


def test_curl(args):
    if skip_unless("curl"):
        return
    with start_node(args) as n:
        host, port = address(n)
        base = "imap://%s:%d" % (host, port)
        c = connect(n, "fred")
        ok(c.create("Work"))
        first = message("curl first", "Line one\r\n\tline two with tab \r\nno final newline", n=1)
        ok(c.append("INBOX", None, None, first))
        ok(c.append("INBOX", "(\\Seen)", None, message("curl second", n=2)))
        c.logout()

        # Listing: the top level shows every folder; INBOX shows itself.
        out = run_curl(base + "/").stdout.decode()
        assert re.search(r'^\* LIST \([^)]*\) "/" "?INBOX"?\r?$', out, re.M), out
        assert re.search(r'^\* LIST \([^)]*\) "/" "?Work"?\r?$', out, re.M), out
        out = run_curl(base + "/INBOX").stdout.decode()
        assert "INBOX" in out, out

        # Fetch by UID, byte for byte.
        got = run_curl(base + "/INBOX;UID=1").stdout
        assert got == first, (got, first)
        got = run_curl(base + "/INBOX;UID=2").stdout
        assert got == message("curl second", n=2), got

        # A custom command: EXAMINE.
        out = run_curl("-X", "EXAMINE INBOX", base + "/").stdout.decode()
        assert re.search(r"^\* 2 EXISTS\r?$", out, re.M), out
        assert "UIDVALIDITY" in out, out

        # Upload (APPEND), then check it is there, byte for byte.
        upload = message("curl upload", "Uploaded by curl.\r\n", n=3)
        path = n.path("upload.eml")
        with open(path, "wb") as f:
            f.write(upload)
        run_curl("-T", path, base + "/INBOX")
        c = connect(n, "fred")
        typ, data = c.select("INBOX", readonly=True)
        assert data == [b"3"], data
        data = ok(c.uid("FETCH", "3", "(FLAGS BODY.PEEK[])"))
        assert data[0][1] == upload, data
        # curl appends with (\Seen).
        assert b"\\Seen" in data[0][0], data
        c.logout()
        got = run_curl(base + "/INBOX;UID=3").stdout
        assert got == upload

        # A wrong password is refused (curl exit 67: login denied).
        res = subprocess.run(["curl", "-sS", "--max-time", "30", "-u", "fred:wrong", base + "/INBOX"],
                             capture_output=True, timeout=CLIENT_TIMEOUT)
        assert res.returncode == 67, (res.returncode, res.stderr)


# -- SCRAM-SHA-256 by hand ---------------------------------------------------

def hmac256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


class RawImap:
    """A line-at-a-time IMAP client on a plain socket, for the SASL exchange."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=20)
        self.file = self.sock.makefile("rb")
        greeting = self.line()
        assert greeting.startswith(b"* OK"), greeting

    def line(self):
        data = self.file.readline(65536)
        assert data.endswith(b"\r\n"), data
        return data[:-2]

    def send(self, data):
        self.sock.sendall(data + b"\r\n")

    def tagged(self, tag):
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return line

    def close(self):
        self.file.close()
        self.sock.close()


def scram_exchange(node, user, password):
    """Runs AUTHENTICATE SCRAM-SHA-256; returns (tagged line, server signature verified)."""
    host, port = address(node)
    r = RawImap(host, port)
    try:
        nonce = base64.b64encode(os.urandom(18)).decode()
        client_first_bare = "n=%s,r=%s" % (user, nonce)
        r.send(b"a1 AUTHENTICATE SCRAM-SHA-256")
        line = r.line()
        assert line in (b"+", b"+ "), line
        r.send(base64.b64encode(("n,," + client_first_bare).encode()))
        line = r.line()
        assert line.startswith(b"+ "), line
        server_first = base64.b64decode(line[2:]).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(nonce) and len(attrs["r"]) > len(nonce), server_first
        salt, iterations = base64.b64decode(attrs["s"]), int(attrs["i"])
        assert 4096 <= iterations <= 1000000, iterations

        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        client_key = hmac256(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        auth_message = ",".join([client_first_bare, server_first, without_proof]).encode()
        signature = hmac256(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        r.send(base64.b64encode((without_proof + ",p=" + base64.b64encode(proof).decode()).encode()))

        line = r.line()
        if not line.startswith(b"+ "):
            return line, False
        server_final = base64.b64decode(line[2:]).decode()
        expected = hmac256(hmac256(salted, b"Server Key"), auth_message)
        verified = server_final == "v=" + base64.b64encode(expected).decode()
        assert verified, "server signature %r does not match" % server_final
        r.send(b"")
        tagged = r.tagged(b"a1")
        if tagged.startswith(b"a1 OK"):
            # The session is authenticated as the user.
            r.send(b"a2 SELECT INBOX")
            assert r.tagged(b"a2").startswith(b"a2 OK")
        r.send(b"a3 LOGOUT")
        r.tagged(b"a3")
        return tagged, verified
    finally:
        r.close()


def test_scram_sha256(args):
    with start_node(args) as n:
        c = connect(n)
        assert "AUTH=SCRAM-SHA-256" in c.capabilities, c.capabilities
        c.logout()
        tagged, verified = scram_exchange(n, "fred", "secret")
        assert tagged.startswith(b"a1 OK") and verified, tagged
        tagged, verified = scram_exchange(n, "fred", "wrong")
        assert tagged.startswith(b"a1 NO") and b"AUTHENTICATIONFAILED" in tagged, tagged
        assert not verified
        # An unknown user looks the same as a wrong password.
        tagged, _ = scram_exchange(n, "nobody", "secret")
        assert tagged.startswith(b"a1 NO") and b"AUTHENTICATIONFAILED" in tagged, tagged


if __name__ == "__main__":
    run_tests([test_scram_sha256, test_curl, test_mbsync])
