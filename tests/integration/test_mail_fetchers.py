#!/usr/bin/env python3
"""Real mail fetchers against a real cyr_master (tests/integration/harness.py):
fetchmail over POP3 (delete after fetching, then keep + UIDL fetching only
new mail) and over IMAP (only unseen mail by default, marking it \\Seen; keep
vs. delete; a daemon woken by IDLE; another folder; a size limit;
fetchall), each message handed to an MDA script that writes it to a file so
the bytes can be compared with what the server stored; and offlineimap3
syncing a Maildir with the server both ways over three connections (messages
and flags down, new messages, flag changes, deletions and folders up,
folders created on the server appearing locally, UTF-8 folder names against
the server's modified UTF-7, server-side changes coming back, and a final
sync that changes nothing).

Mail arrives over the node's LMTP service (smtplib.LMTP) or by IMAP APPEND.
Everything runs on 127.0.0.1 inside the node's temporary directory, and every
client run is bounded by CLIENT_TIMEOUT. A test whose client program is not
installed prints "SKIPPED: reason" and passes; install them with
ops/scripts/install-deps.sh --tests (fetchmail, offlineimap3)."""

import imaplib
import os
import poplib
import pwd
import re
import shutil
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, set_password, wait_for  # noqa: E402

CYRUS_CONF = ('SERVICES {\n'
              '  imap cmd="imapd" listen="127.0.0.1:0"\n'
              '  pop3 cmd="pop3d" listen="127.0.0.1:0"\n'
              '  lmtp cmd="lmtpd -a" listen="127.0.0.1:0"\n'
              '}\n')
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\n"
CLIENT_TIMEOUT = 60  # seconds for any one client program run
PASSWORD = "secret"


# -- node and server-side helpers ---------------------------------------------


def addr(node, service):
    host, port = node.ports()[service][0].rsplit(":", 1)
    return host, int(port)


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def imap(node, user="fred"):
    c = imaplib.IMAP4(*addr(node, "imap"), timeout=30)
    ok(c.login(user, PASSWORD))
    return c


def start_node(args):
    n = Node(args.bin, CYRUS_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    try:
        for user in ("admin", "fred"):
            set_password(n, user, PASSWORD)
        n.start()
        admin = imap(n, "admin")
        ok(admin.create("user/fred"))
        admin.logout()
    except BaseException:
        n.cleanup()
        raise
    return n


def skip_unless(tool, package):
    if shutil.which(tool) is None:
        print("SKIPPED: %s is not installed (apt-get install -y %s)" % (tool, package))
        return True
    return False


def message(tag, body="Hello.\r\n", n=0, extra=""):
    """A message whose Message-ID <tag@example.com> identifies it."""
    return ("From: Fred Flintstone <fred@example.com>\r\n"
            "To: barney@example.com\r\n"
            "Subject: %s\r\n"
            "Date: Tue, 3 Mar 2020 10:%02d:00 +0000\r\n"
            "Message-ID: <%s@example.com>\r\n%s"
            "\r\n%s" % (tag, n % 60, tag, extra, body)).encode()


def varied_messages(prefix):
    """Messages with the awkward bits a fetcher must carry through untouched."""
    return [
        message(prefix + "-plain", n=1),
        # Lines POP3 must dot-stuff (RFC 1939 3), a lone dot, "From " (mbox),
        # trailing blanks and a tab, an empty line at the end.
        message(prefix + "-dots", ".leading dot\r\n..two dots\r\n.\r\nFrom the start of a line\r\n"
                "trailing blanks   \r\n\tindented\r\n\r\n", n=2),
        # Folded header, MIME multipart.
        message(prefix + "-mime",
                "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\npart one\r\n"
                "--b1\r\nContent-Type: application/octet-stream\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQoLDA0ODw==\r\n--b1--\r\n",
                n=3, extra="MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"b1\"\r\n"),
        # Bigger than one read buffer: ~200 KB.
        message(prefix + "-big", "".join("line %06d of a longer message, padded with text.\r\n" % i
                                         for i in range(4000)), n=4),
    ]


def lmtp_deliver(node, msgs, rcpt="fred"):
    c = smtplib.LMTP(*addr(node, "lmtp"), timeout=30)
    try:
        for m in msgs:
            refused = c.sendmail("sender@example.com", [rcpt], m)
            assert refused == {}, refused
    finally:
        c.quit()


def msgid(data):
    m = re.search(rb"^Message-ID: <([^>]*)>\r?$", data, re.M | re.I)
    assert m, data[:300]
    return m.group(1).decode()


def server_messages(node, folder="INBOX"):
    """{message-id: (stored bytes, flags without \\Recent)} of one folder, read-only."""
    c = imap(node)
    try:
        typ, data = c.select('"%s"' % folder, readonly=True)
        assert typ == "OK", (folder, data)
        out = {}
        if int(data[0]) > 0:
            for part in ok(c.fetch("1:*", "(FLAGS BODY.PEEK[])")):
                if not isinstance(part, tuple):
                    continue
                flags = re.search(rb"FLAGS \(([^)]*)\)", part[0]).group(1).decode().split()
                out[msgid(part[1])] = (part[1], tuple(sorted(f for f in flags if f != "\\Recent")))
        return out
    finally:
        c.logout()


def pop3_stat(node):
    p = poplib.POP3(*addr(node, "pop3"), timeout=30)
    try:
        p.user("fred")
        p.pass_(PASSWORD)
        return p.stat()
    finally:
        p.quit()


def lf(data):
    return data.replace(b"\r\n", b"\n")


# -- fetchmail ---------------------------------------------------------------

class Fetchmail:
    """fetchmail with its own FETCHMAILHOME, rcfile and an MDA script that
    writes each message it is given to a file of its own in out/."""

    def __init__(self, node):
        self.node = node
        self.home = node.path("fetchmail")
        self.out = os.path.join(self.home, "out")
        os.makedirs(self.out)
        os.chmod(self.home, 0o700)
        self.mda = os.path.join(self.home, "mda.sh")
        with open(self.mda, "w") as f:
            # Written under a dot name, then renamed: a reader never sees half.
            f.write('#!/bin/sh\nt=$(mktemp "%s/.part.XXXXXX") && cat > "$t" && '
                    'mv "$t" "%s/msg.${t##*.part.}"\n' % (self.out, self.out))
        os.chmod(self.mda, 0o755)
        self.rc = os.path.join(self.home, "fetchmailrc")
        self.idfile = os.path.join(self.home, "fetchids")
        self.log = ""

    def command(self, protocol, options, uidl=False, auth="password", flags=()):
        """Writes the rcfile; returns (argv, env). options: user options
        (keep/nokeep, fetchall, folder, limit, idle); uidl: the server option
        that makes POP3 remember fetched messages; auth None: fetchmail's
        default (auth any: CAPA first, then it picks); flags: more
        command-line options."""
        service = {"POP3": "pop3", "IMAP": "imap"}[protocol]
        host, port = addr(self.node, service)
        try:
            local = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            local = os.environ.get("USER", "root")
        # sslproto '' turns off fetchmail 6.4's opportunistic STLS/STARTTLS;
        # norewrite keeps the header lines as the server sent them; no
        # bouncemail so a failure never tries to send mail.
        rc = ("set no bouncemail\n"
              "poll %s service %d protocol %s%s%s timeout 20\n"
              "  user \"fred\" there with password \"%s\" is \"%s\" here\n"
              "  mda \"%s\"\n"
              "  norewrite sslproto '' %s\n" % (host, port, protocol, " uidl" if uidl else "",
                                                " auth " + auth if auth else "", PASSWORD, local,
                                                self.mda, options))
        with open(self.rc, "w") as f:
            f.write(rc)
        os.chmod(self.rc, 0o600)  # fetchmail refuses a readable rcfile
        env = dict(os.environ, FETCHMAILHOME=self.home, HOME=self.home, LC_ALL="C")
        # --pidfile: run as root, fetchmail would otherwise lock
        # /var/run/fetchmail.pid and refuse to run beside any other fetchmail.
        argv = ["fetchmail", "-f", self.rc, "-i", self.idfile, "--pidfile",
                os.path.join(self.home, "fetchmail.pid"), "--nosyslog", "--nodetach",
                "-v"] + list(flags)
        return argv, env

    def run(self, protocol, options, expect_status=0, **kw):
        """Runs one poll; returns {message-id: bytes as handed to the MDA}
        (see collect)."""
        argv, env = self.command(protocol, options, **kw)
        res = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=CLIENT_TIMEOUT)
        self.log = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
        # Exit status 0: mail was delivered; 1: there was no mail.
        assert res.returncode == expect_status, \
            "fetchmail %s %r exited %d, expected %d:\n%s" % (protocol, options, res.returncode,
                                                          expect_status, self.log)
        # The server refused nothing fetchmail asked (-v logs every exchange).
        refused = re.findall(r"IMAP< A\d+ (?:NO|BAD).*|POP3< -ERR.*", self.log)
        assert not refused, "fetchmail %s %r: server refused %s:\n%s" % (protocol, options, refused,
                                                                         self.log)
        return self.collect()

    def daemon(self, protocol, options, interval=300, **kw):
        """Starts fetchmail as a (foreground) daemon polling every interval
        seconds; its log goes to daemon.log. The caller stops it."""
        argv, env = self.command(protocol, options, flags=["--daemon", str(interval)], **kw)
        self.daemon_log = os.path.join(self.home, "daemon.log")
        with open(self.daemon_log, "wb") as log:
            return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)

    def read_daemon_log(self):
        with open(self.daemon_log, errors="replace") as f:
            return f.read()

    def collect(self):
        """{message-id: bytes} of the messages the MDA wrote; empties out/."""
        got = {}
        for name in sorted(os.listdir(self.out)):
            if name.startswith("."):
                continue
            p = os.path.join(self.out, name)
            with open(p, "rb") as f:
                data = f.read()
            os.unlink(p)
            assert msgid(data) not in got, "delivered twice: %s" % msgid(data)
            got[msgid(data)] = data
        return got


def drop_return_path(data):
    """The message without its Return-Path: lines. fetchmail takes the
    server's Return-Path as the envelope sender and writes its own, in front
    of or in place of the server's, so the comparison leaves them out."""
    return b"\n".join(l for l in data.split(b"\n") if not l.startswith(b"Return-Path: "))


def strip_fetchmail_received(data):
    """fetchmail prepends one Received: header (with continuation lines) and
    hands the MDA LF line ends; returns the rest."""
    data = drop_return_path(data)
    assert data.startswith(b"Received: from "), data[:200]
    lines = data.split(b"\n")
    i = 1
    while lines[i].startswith((b" ", b"\t")):
        i += 1
    assert b"fetchmail" in b"\n".join(lines[:i]), data[:300]
    return b"\n".join(lines[i:])


def check_fetched(got, stored, ids, what):
    """Every message in ids arrived exactly once, byte for byte as stored on
    the server (CRLF -> LF; fetchmail's Received: header and the
    Return-Path: aside)."""
    assert sorted(got) == sorted(ids), "%s: fetched %s, expected %s" % (what, sorted(got), sorted(ids))
    for i in ids:
        body = strip_fetchmail_received(got[i])
        want = drop_return_path(lf(stored[i]))
        assert body == want, "%s: %s differs:\n%r\n---\n%r" % (what, i, body[:500], want[:500])


def test_fetchmail_pop3(args):
    if skip_unless("fetchmail", "fetchmail"):
        return
    with start_node(args) as n:
        fm = Fetchmail(n)
        msgs = varied_messages("pop")
        lmtp_deliver(n, msgs)
        stored = {i: data for i, (data, _) in server_messages(n).items()}
        # The server stores the message as sent, with a Return-Path: and a
        # Received: trace field in front.
        for m in msgs:
            got = stored[msgid(m)]
            assert got.startswith(b"Return-Path: <sender@example.com>\r\nReceived: from "), got[:200]
            assert got.endswith(b" +0000\r\n" + m), got[:300]
        ids = [msgid(m) for m in msgs]

        # 1. --fetchall, no keep: everything fetched, then deleted on the
        # server. Default authentication: fetchmail asks CAPA, then (seeing
        # no SASL mechanism it speaks over POP3 among SCRAM-SHA-256, PLAIN,
        # LOGIN) uses USER/PASS. (Without fetchall or uidl it would also send
        # LAST, which RFC 1939 dropped; our -ERR makes it fall back to UIDL.)
        got = fm.run("POP3", "nokeep", auth=None, flags=["--fetchall"])
        check_fetched(got, stored, ids, "pop3 fetchall")
        assert "POP3> CAPA" in fm.log and "POP3> USER fred" in fm.log, fm.log
        assert re.search(r"POP3> DELE 4", fm.log), fm.log
        assert pop3_stat(n) == (0, 0)
        assert server_messages(n) == {}
        # Nothing left: status 1 ("no mail").
        assert fm.run("POP3", "fetchall nokeep", expect_status=1) == {}

        # 2. keep + uidl: only messages not fetched before, none deleted.
        first = [message("pop-keep1", n=5), message("pop-keep2", n=6)]
        lmtp_deliver(n, first)
        stored = {i: d for i, (d, _) in server_messages(n).items()}
        got = fm.run("POP3", "keep", uidl=True)
        check_fetched(got, stored, [msgid(m) for m in first], "pop3 keep uidl")
        assert "DELE" not in fm.log, fm.log
        assert pop3_stat(n)[0] == 2
        assert os.path.exists(fm.idfile), "fetchmail wrote no UIDL id file"

        later = [message("pop-keep3", "A later one.\r\n", n=7)]
        lmtp_deliver(n, later)
        stored = {i: d for i, (d, _) in server_messages(n).items()}
        got = fm.run("POP3", "keep", uidl=True)
        check_fetched(got, stored, [msgid(later[0])], "pop3 keep uidl, second run")
        assert pop3_stat(n)[0] == 3
        # A third run finds nothing new.
        assert fm.run("POP3", "keep", expect_status=1, uidl=True) == {}
        assert pop3_stat(n)[0] == 3

        # 3. fetchall without keep again: the three old ones, then gone.
        got = fm.run("POP3", "fetchall nokeep", uidl=True)
        check_fetched(got, stored, [msgid(m) for m in first + later], "pop3 final fetchall")
        assert pop3_stat(n) == (0, 0)
        assert n.stop() == 0


def test_fetchmail_imap(args):
    if skip_unless("fetchmail", "fetchmail"):
        return
    with start_node(args) as n:
        fm = Fetchmail(n)
        msgs = varied_messages("imap")
        c = imap(n)
        # One is already \Seen: fetchmail by default fetches only unseen mail.
        ok(c.append("INBOX", "(\\Seen)", None, msgs[0]))
        for m in msgs[1:3]:
            ok(c.append("INBOX", None, None, m))
        c.logout()
        lmtp_deliver(n, msgs[3:])
        before = server_messages(n)
        stored = {i: d for i, (d, _) in before.items()}
        assert before[msgid(msgs[0])][1] == ("\\Seen",), before[msgid(msgs[0])][1]
        assert all(before[msgid(m)][1] == () for m in msgs[1:])

        # 1. keep: the three unseen ones, now \Seen on the server, none
        # deleted (default authentication here too).
        got = fm.run("IMAP", "keep", auth=None)
        assert "SEARCH UNSEEN" in fm.log, fm.log
        check_fetched(got, stored, [msgid(m) for m in msgs[1:]], "imap keep")
        after = server_messages(n)
        assert sorted(after) == sorted(before), after.keys()
        for i, (_, flags) in after.items():
            assert flags == ("\\Seen",), (i, flags)
        # 2. Again: nothing unseen, nothing fetched.
        assert fm.run("IMAP", "keep", expect_status=1) == {}

        # 3. New mail, keep: only it.
        new = message("imap-new", "Just arrived.\r\n", n=5)
        lmtp_deliver(n, [new])
        stored = {i: d for i, (d, _) in server_messages(n).items()}
        got = fm.run("IMAP", "keep")
        check_fetched(got, stored, [msgid(new)], "imap keep, new mail")
        assert server_messages(n)[msgid(new)][1] == ("\\Seen",)

        # 3b. IDLE: fetchmail as a daemon polling only every 300 s, told to
        # idle, is woken by the server's EXISTS when mail arrives over LMTP
        # (another process) and fetches it at once.
        proc = fm.daemon("IMAP", "keep idle")
        try:
            wait_for(lambda: re.search(r"IMAP> A\d+ IDLE\n.*IMAP< \+ ", fm.read_daemon_log(), re.S),
                     20, what="fetchmail to IDLE")
            pushed = message("imap-pushed", "Pushed by IDLE.\r\n", n=10)
            lmtp_deliver(n, [pushed])
            wait_for(lambda: any(not f.startswith(".") for f in os.listdir(fm.out)),
                     20, what="fetchmail to fetch the message IDLE announced")
            stored = {i: d for i, (d, _) in server_messages(n).items()}
            check_fetched(fm.collect(), stored, [msgid(pushed)], "imap idle")
            wait_for(lambda: server_messages(n)[msgid(pushed)][1] == ("\\Seen",), 20,
                     what="the pushed message to be marked \\Seen")
            log = fm.read_daemon_log()
            assert re.search(r"IMAP< \* \d+ EXISTS\n(.*\n)?.*IMAP> DONE", log), log
            assert not re.findall(r"IMAP< A\d+ (?:NO|BAD).*", log), log
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        # 4. New mail, no keep: fetched, then deleted and expunged; the old
        # (seen) ones are not fetched and stay.
        gone = message("imap-gone", "Fetch and delete me.\r\n", n=6)
        lmtp_deliver(n, [gone])
        stored = {i: d for i, (d, _) in server_messages(n).items()}
        got = fm.run("IMAP", "nokeep")
        check_fetched(got, stored, [msgid(gone)], "imap nokeep")
        assert re.search(r"IMAP> A\d+ STORE \d+ \+FLAGS \(\\Seen \\Deleted\)", fm.log), fm.log
        assert re.search(r"IMAP> A\d+ EXPUNGE", fm.log), fm.log
        left = server_messages(n)
        assert sorted(left) == sorted([msgid(m) for m in msgs + [new, pushed]]), sorted(left)

        # 5. Another folder, by name.
        c = imap(n)
        ok(c.create("Lists"))
        listmsg = message("imap-list", "In a folder.\r\n", n=7)
        ok(c.append("Lists", None, None, listmsg))
        c.logout()
        stored_lists = {i: d for i, (d, _) in server_messages(n, "Lists").items()}
        got = fm.run("IMAP", 'keep folder "Lists"')
        check_fetched(got, stored_lists, [msgid(listmsg)], "imap folder Lists")
        assert server_messages(n, "Lists")[msgid(listmsg)][1] == ("\\Seen",)

        # 6. limit: an oversized message (RFC822.SIZE) is skipped and left
        # unseen; a small one is fetched.
        big = message("imap-oversized", ("y" * 70 + "\r\n") * 500, n=8)
        small = message("imap-small", "Small.\r\n", n=9)
        lmtp_deliver(n, [big, small])
        stored = {i: d for i, (d, _) in server_messages(n).items()}
        got = fm.run("IMAP", "keep limit 20000")
        check_fetched(got, stored, [msgid(small)], "imap limit")
        left = server_messages(n)
        assert left[msgid(big)][1] == () and left[msgid(small)][1] == ("\\Seen",), left
        assert "oversized" in fm.log, fm.log

        # 7. fetchall, no keep: every message, seen or not; INBOX empty after.
        got = fm.run("IMAP", "fetchall nokeep")
        check_fetched(got, stored, sorted(left), "imap fetchall nokeep")
        assert server_messages(n) == {}
        assert len(server_messages(n, "Lists")) == 1
        assert n.stop() == 0


# -- offlineimap3 ------------------------------------------------------------

MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


def maildir_messages(folder):
    """{message-id: (path, bytes, sorted IMAP flags)} of one Maildir folder."""
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                data = f.read()
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            out[msgid(data)] = (p, data, tuple(sorted(MAILDIR_FLAGS[c] for c in flags
                                                      if c in MAILDIR_FLAGS)))
    return out


def maildir_write(folder, name, data):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    path = os.path.join(folder, "new", name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def set_maildir_flags(path, flags):
    """What a mail reader does: move the message to cur/ with flags in the
    info part of its name (":2,FS"), keeping the rest of the name."""
    folder = os.path.dirname(os.path.dirname(path))
    base = os.path.basename(path).split(":2,", 1)[0]
    new = os.path.join(folder, "cur", base + ":2," + "".join(sorted(flags)))
    os.rename(path, new)
    return new


class OfflineImap:
    def __init__(self, node):
        self.dir = node.path("offlineimap")
        self.mail = os.path.join(self.dir, "mail")
        os.makedirs(self.mail)
        host, port = addr(node, "imap")
        self.rc = os.path.join(self.dir, "offlineimaprc")
        with open(self.rc, "w") as f:
            # ssl = no and starttls = no: plain IMAP on 127.0.0.1. sep = / so
            # the server's "Projects/2026" is the nested Maildir
            # mail/Projects/2026 locally. utf8foldernames: local folder names
            # in UTF-8, the server's in modified UTF-7 (RFC 3501 5.1.3).
            # maxconnections = 3: folders are synced in parallel, several
            # sessions of one user at once.
            f.write("[general]\naccounts = fred\nmetadata = %s\nui = basic\n\n"
                    "[Account fred]\nlocalrepository = local\nremoterepository = remote\n"
                    "utf8foldernames = yes\n\n"
                    "[Repository local]\ntype = Maildir\nlocalfolders = %s\nsep = /\n\n"
                    "[Repository remote]\ntype = IMAP\nremotehost = %s\nremoteport = %d\n"
                    "remoteuser = fred\nremotepass = %s\nssl = no\nstarttls = no\n"
                    "timeout = 20\nmaxconnections = 3\n"
                    % (os.path.join(self.dir, "meta"), self.mail, host, port, PASSWORD))

    def folder(self, name):
        return os.path.join(self.mail, name)

    def sync(self):
        env = dict(os.environ, HOME=self.dir, LC_ALL="C.UTF-8")
        res = subprocess.run(["offlineimap", "-o", "-u", "basic", "-c", self.rc], env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=CLIENT_TIMEOUT)
        log = res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")
        assert res.returncode == 0, "offlineimap exited %d:\n%s" % (res.returncode, log)
        # offlineimap logs a failed folder or message and goes on; none is expected.
        odd = [l for l in log.splitlines() if re.search(r"error|warning|traceback|abort", l, re.I)]
        assert not odd, "offlineimap complained:\n%s" % log
        return log


def check_in_sync(n, oi, folders):
    """Server and Maildir hold the same messages (content modulo line ends)
    with the same flags, folder by folder; returns the server state."""
    state = {}
    for f in folders:
        server = server_messages(n, f)
        local = maildir_messages(oi.folder(f))
        assert sorted(server) == sorted(local), (f, sorted(server), sorted(local))
        for i, (data, flags) in server.items():
            _, ldata, lflags = local[i]
            assert lf(ldata) == lf(data), (f, i, ldata[:300], data[:300])
            assert lflags == flags, (f, i, "local", lflags, "server", flags)
        state[f] = {i: flags for i, (_, flags) in server.items()}
    return state


def test_offlineimap(args):
    if skip_unless("offlineimap", "offlineimap3"):
        return
    with start_node(args) as n:
        oi = OfflineImap(n)
        msgs = varied_messages("oi")
        c = imap(n)
        ok(c.create("Work"))
        ok(c.append("INBOX", "(\\Seen)", None, msgs[0]))
        ok(c.append("INBOX", "(\\Seen \\Flagged)", None, msgs[1]))
        ok(c.append("INBOX", None, None, msgs[2]))
        ok(c.append("Work", "(\\Answered \\Seen)", None, msgs[3]))
        c.logout()

        # 1. Server -> Maildir: messages with their content and flags.
        oi.sync()
        state = check_in_sync(n, oi, ["INBOX", "Work"])
        assert state["INBOX"] == {msgid(msgs[0]): ("\\Seen",),
                                  msgid(msgs[1]): ("\\Flagged", "\\Seen"),
                                  msgid(msgs[2]): ()}, state
        assert state["Work"] == {msgid(msgs[3]): ("\\Answered", "\\Seen")}, state
        local = maildir_messages(oi.folder("INBOX"))
        assert local[msgid(msgs[1])][0].endswith(":2,FS"), local[msgid(msgs[1])][0]
        assert local[msgid(msgs[0])][0].endswith(":2,S"), local[msgid(msgs[0])][0]

        # 2. Maildir -> server: a new message, a flag change (read and
        # flagged), a deletion, a new folder; and on the server a new folder
        # tree.
        up = message("oi-up", "Written locally.\n", n=9).replace(b"\r\n", b"\n")
        maildir_write(oi.folder("INBOX"), "1700000000.P1Q1.localhost", up)
        note = message("oi-note", "In a folder made locally.\n", n=12).replace(b"\r\n", b"\n")
        maildir_write(oi.folder("Notes"), "1700000001.P1Q2.localhost", note)
        buero = message("oi-buero", "Filed locally.\n", n=13).replace(b"\r\n", b"\n")
        maildir_write(oi.folder("B\u00fcro"), "1700000002.P1Q3.localhost", buero)
        set_maildir_flags(local[msgid(msgs[2])][0], "FS")
        os.unlink(local[msgid(msgs[0])][0])
        c = imap(n)
        ok(c.create("Projects"))
        ok(c.create("Projects/2026"))
        proj = message("oi-proj", "On the server.\r\n", n=10)
        ok(c.append("Projects/2026", "(\\Seen)", None, proj))
        ok(c.create('"Entw&APw-rfe"'))  # "Entwürfe"
        ok(c.create('"Sent Items"'))
        draft = message("oi-draft", "Not sent yet.\r\n", n=14)
        ok(c.append('"Entw&APw-rfe"', "(\\Draft)", None, draft))
        ok(c.append('"Sent Items"', "(\\Seen)", None, message("oi-sent", n=15)))
        c.logout()
        oi.sync()
        server = server_messages(n)
        assert msgid(msgs[0]) not in server, "deleted locally but still on the server"
        assert server[msgid(up)][0] == up.replace(b"\n", b"\r\n"), server[msgid(up)][0]
        assert server[msgid(up)][1] == (), server[msgid(up)]
        assert server[msgid(msgs[2])][1] == ("\\Flagged", "\\Seen"), server[msgid(msgs[2])]
        assert os.path.isdir(oi.folder("Projects/2026/cur")), os.listdir(oi.mail)
        c = imap(n)
        names = [re.search(rb'"/" "?([^"]*)"?$', l).group(1).decode() for l in ok(c.list())]
        c.logout()
        assert "B&APw-ro" in names, names  # "Büro", created by offlineimap
        assert os.path.isdir(oi.folder("Entw\u00fcrfe/cur")), os.listdir(oi.mail)
        folders = ["INBOX", "Work", "Notes", "Projects", "Projects/2026", "Sent Items"]
        state = check_in_sync(n, oi, folders)
        for server_name, local_name in (("B&APw-ro", "B\u00fcro"), ("Entw&APw-rfe", "Entw\u00fcrfe")):
            server = server_messages(n, server_name)
            local = maildir_messages(oi.folder(local_name))
            assert sorted(server) == sorted(local), (server_name, sorted(server), sorted(local))
            for i, (data, flags) in server.items():
                assert lf(local[i][1]) == lf(data) and local[i][2] == flags, (i, flags, local[i])
        assert server_messages(n, "Entw&APw-rfe")[msgid(draft)][1] == ("\\Draft",)
        assert server_messages(n, "B&APw-ro")[msgid(buero)][0] == buero.replace(b"\n", b"\r\n")
        assert state["Projects/2026"] == {msgid(proj): ("\\Seen",)}, state
        assert state["Notes"] == {msgid(note): ()}, state
        assert server_messages(n, "Notes")[msgid(note)][0] == note.replace(b"\n", b"\r\n")

        # 3. Server changes come back: a flag removed, a message expunged,
        # a new one.
        c = imap(n)
        ok(c.select("INBOX"))
        typ, data = c.search(None, "HEADER", "Message-ID", "<%s>" % msgid(msgs[1]))
        ok(c.store(data[0].decode(), "-FLAGS", "(\\Flagged)"))
        ok(c.select("Work"))
        ok(c.store("1", "+FLAGS", "(\\Deleted)"))
        ok(c.expunge())
        late = message("oi-late", "Arrived after.\r\n", n=11)
        c.logout()
        lmtp_deliver(n, [late])
        oi.sync()
        state = check_in_sync(n, oi, folders)
        assert state["INBOX"] == {msgid(msgs[1]): ("\\Seen",),
                                  msgid(msgs[2]): ("\\Flagged", "\\Seen"),
                                  msgid(up): (),
                                  msgid(late): ()}, state
        assert state["Work"] == {}, state

        # 4. Nothing changed: a sync changes nothing on either side.
        names = {f: sorted(os.path.basename(p) for p, _, _ in maildir_messages(oi.folder(f)).values())
                 for f in folders}
        oi.sync()
        assert check_in_sync(n, oi, folders) == state
        assert names == {f: sorted(os.path.basename(p) for p, _, _ in
                                   maildir_messages(oi.folder(f)).values()) for f in folders}
        assert n.stop() == 0


if __name__ == "__main__":
    run_tests([test_fetchmail_pop3, test_fetchmail_imap, test_offlineimap])
