"""Interoperability with a real Cyrus IMAP 3.6 (Debian 12 packages), on loopback.

Not a ctest test (it needs root, the extracted Cyrus binaries and minutes of time):
ops/scripts/cyrus-interop.sh prepares the binaries and runs it before every release.

  python3 interop_cyrus.py --bin BUILD/bin --cyrus-bin DIR [--keep] [--only NAME...]
  python3 interop_cyrus.py --bin BUILD/bin --cyrus-bin DIR --bench N

Scenarios (each starts fresh instances in its own temporary directory):
  cyrus_to_us_csync   Cyrus master (sync_log: 1, sync_try_imap: no) -> our syncserver:
                      one-shot -u, then -A, then rolling -r while Cyrus keeps changing.
  cyrus_to_us_imap    the same through our IMAP port (sync_try_imap: yes, X-REPLICATION),
                      run only when our imapd offers X-REPLICATION.
  us_to_cyrus         the rollback path: our node (filled by Cyrus -> us) replicates with
                      cyr_sync_client (-u, -A, rolling) into a Cyrus 3.6 sync_server.
  refusal             a Cyrus mailbox we cannot represent (ACL right '7') is refused alone,
                      logged and counted (cyr_info sync-status); the rest still arrives.
Every comparison reads both servers over IMAP (as admin, and as each user through the
admin's proxy authorization): mailbox names, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, per
message UID, MODSEQ, flags, keywords, internal date, size and SHA-1 of the bytes (the
GUID), \\Seen per user (shared folders too), subscriptions, quotas, ACLs and mailbox
annotations; and, where our node is the master, our verifier (cyr_sync_client --verify)
compares through csync.  Exit status 1 on any difference.

--bench N: time N messages Cyrus -> us and Cyrus -> Cyrus (one-shot sync_client -A of
the same populated master) and print both rates.
"""

import argparse
import hashlib
import imaplib
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, pid_alive, wait_for  # noqa: E402

ADMIN_PW = "adminpw"
USER_PW = "pw"
USERS = ["u1", "u2", "u3"]
CYRUS_RUN_USER = "cyrus"
CYRUS_RUN_GROUP = "mail"

imaplib._MAXLINE = 10 * 1024 * 1024
imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20.0):
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(up, timeout, 0.1, "127.0.0.1:%d" % port)


# --- syslog ------------------------------------------------------------------------
# Cyrus logs only through syslog(3).  Without a syslog daemon (containers) we bind
# /dev/log ourselves for the run, so that a failure comes with Cyrus's own words.

class SyslogSink:
    def __init__(self, path):
        self.path = path
        self.sock = None
        self.thread = None

    def start(self):
        if os.path.exists("/dev/log"):
            return False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("/dev/log")
        os.chmod("/dev/log", 0o666)
        self.out = open(self.path, "ab", buffering=0)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return True

    def _run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.out.write(data.rstrip(b"\0\n") + b"\n")

    def stop(self):
        if self.sock is not None:
            try:
                os.unlink("/dev/log")
            except FileNotFoundError:
                pass
            self.sock.close()
            self.sock = None


# --- a private Cyrus instance ---------------------------------------------------------

class CyrusNode:
    """One Cyrus 3.6 master (imapd, lmtpd, sync_server) in its own directory."""

    def __init__(self, cyrus_bin, root, name, sync_target=None, try_imap=False):
        self.bin = cyrus_bin
        self.name = name
        self.dir = os.path.join(root, name)
        self.conf = os.path.join(self.dir, "imapd.conf")
        self.cyrus_conf = os.path.join(self.dir, "cyrus.conf")
        self.pid_file = os.path.join(self.dir, "master.pid")
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        self.sync_port = free_port()
        self.sync_target = sync_target  # (port, try_imap) of the replica, or None
        self.try_imap = try_imap
        self.rolling = None
        self.rolling_pid_file = os.path.join(self.dir, "sync_client.pid")
        os.makedirs(self.dir)
        for d in ("spool", "run/proc", "run/lock", "run/socket"):
            os.makedirs(os.path.join(self.dir, d))
        # configdirectory subfolders Cyrus expects to exist (else DBERROR ... skipstamp)
        for d in ("db", "socket", "log", "msg", "user", "quota", "sieve", "ptclient", "sync", "lock", "proc"):
            os.makedirs(os.path.join(self.dir, "conf", d))
        self.write_configs()
        for user, pw in [("admin", ADMIN_PW)] + [(u, USER_PW) for u in USERS]:
            subprocess.run(["saslpasswd2", "-p", "-c", "-f", os.path.join(self.dir, "sasldb2"), "-u", name, user],
                           input=(pw + "\n").encode(), check=True)
        subprocess.run(["chown", "-R", "%s:%s" % (CYRUS_RUN_USER, CYRUS_RUN_GROUP), self.dir], check=True)
        os.chmod(os.path.join(self.dir, "sasldb2"), 0o640)

    def write_configs(self):
        d = self.dir
        lines = [
            "configdirectory: %s/conf" % d, "defaultpartition: default", "partition-default: %s/spool" % d,
            "proc_path: %s/run/proc" % d, "mboxname_lockpath: %s/run/lock" % d,
            "lmtpsocket: %s/run/socket/lmtp" % d, "idlesocket: %s/run/socket/idle" % d,
            "notifysocket: %s/run/socket/notify" % d, "servername: %s" % self.name,
            "syslog_prefix: %s" % self.name, "admins: admin",
            # Debian's defaults (and ours in this run): user.u1.sub, '.' separator
            "altnamespace: no", "unixhierarchysep: no", "virtdomains: off", "hashimapspool: true",
            "lmtp_downcase_rcpt: yes", "allowplaintext: yes", "sasl_pwcheck_method: auxprop",
            "sasl_auxprop_plugin: sasldb", "sasl_sasldb_path: %s/sasldb2" % d, "sasl_mech_list: PLAIN LOGIN",
            # Stock 3.6 keeps expunged records and deleted folders (delayed modes): test with those.
            "delete_mode: delayed", "expunge_mode: delayed",
            "sievedir: %s/conf/sieve" % d,
        ]
        if self.sync_target is not None:
            lines += ["sync_log: 1", "sync_host: 127.0.0.1", "sync_port: %d" % self.sync_target,
                      "sync_try_imap: %s" % ("yes" if self.try_imap else "no"),
                      # Over csync, no force_sasl_client_mech: Cyrus's sync_client picks
                      # SCRAM-SHA-256 from our banner (our keys stay within Cyrus SASL's
                      # 65536 iterations). Over IMAP (sync_try_imap) Cyrus 3.6's client
                      # cancels SCRAM after the server's final continuation, against its
                      # own imapd just as against ours ("Q01 LOGOUT" in place of the empty
                      # response), so that path needs PLAIN.
                      ] + (["force_sasl_client_mech: PLAIN"] if self.try_imap else []) + [
                      "sync_authname: admin", "sync_password: %s" % ADMIN_PW, "sync_repeat_interval: 1",
                      "sync_shutdown_file: %s/conf/sync/shutdown" % d, "sync_timeout: 60"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        b, c = self.bin, self.conf
        with open(self.cyrus_conf, "w") as f:
            f.write('START {\n  recover cmd="%s/ctl_cyrusdb -C %s -r"\n}\n' % (b, c))
            f.write("SERVICES {\n")
            f.write('  imap cmd="%s/imapd -C %s" listen="127.0.0.1:%d" prefork=0 maxchild=50\n' % (b, c, self.imap_port))
            f.write('  lmtp cmd="%s/lmtpd -C %s -a" listen="127.0.0.1:%d" prefork=0 maxchild=20\n' % (b, c, self.lmtp_port))
            f.write('  syncserver cmd="%s/sync_server -C %s" listen="127.0.0.1:%d" prefork=0 maxchild=10\n'
                    % (b, c, self.sync_port))
            f.write("}\n")
            f.write('EVENTS {\n  checkpoint cmd="%s/ctl_cyrusdb -C %s -c" period=30\n}\n' % (b, c))

    def install_sieve(self, user, scripts, active):
        """Puts Sieve scripts where Cyrus 3.6 keeps them without a #sieve
        mailbox: the user's sieve directory, which 3.6 names like the INBOX's
        spool directory (sievedir/uuid/<a>/<b>/<uniqueid>/), with NAME.script,
        NAME.bc compiled by Cyrus's own sievec, and defaultbc -> the active
        NAME.bc. Its sync_client reads that when the replica does not offer
        SIEVE-MAILBOX."""
        res = self.tool("mbpath", "user." + user, check=True)
        spool = os.path.join(self.dir, "spool")
        inbox_dir = res.stdout.decode().strip().splitlines()[-1]
        home = os.path.join(self.dir, "conf", "sieve", os.path.relpath(inbox_dir, spool))
        os.makedirs(home, exist_ok=True)
        for name, text in scripts.items():
            src = os.path.join(home, name + ".script")
            with open(src, "wb") as f:
                f.write(text)
            subprocess.run(["chown", "-R", "%s:%s" % (CYRUS_RUN_USER, CYRUS_RUN_GROUP), os.path.join(self.dir, "conf", "sieve")],
                           check=True)
            self.tool("sievec", src, os.path.join(home, name + ".bc"), check=True)
        os.symlink(active + ".bc", os.path.join(home, "defaultbc"))
        subprocess.run(["chown", "-h", "%s:%s" % (CYRUS_RUN_USER, CYRUS_RUN_GROUP), os.path.join(home, "defaultbc")],
                       check=True)

    def start(self):
        subprocess.run([os.path.join(self.bin, "master"), "-C", self.conf, "-M", self.cyrus_conf,
                        "-p", self.pid_file, "-d"], check=True)
        wait_port(self.imap_port)
        wait_port(self.sync_port)
        return self

    def tool(self, name, *argv, timeout=600, check=False):
        """Runs a Cyrus tool as the cyrus user with this instance's config."""
        res = subprocess.run([os.path.join(self.bin, name), "-C", self.conf] + list(argv),
                             user=CYRUS_RUN_USER, group=CYRUS_RUN_GROUP, capture_output=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError("%s %s: exit %d\n%s%s" % (name, " ".join(argv), res.returncode,
                                                            res.stdout.decode(errors="replace"),
                                                            res.stderr.decode(errors="replace")))
        return res

    def start_rolling(self):
        # Cyrus's sync_client -r forks into the background unless it runs under
        # Cyrus's master (CYRUS_ISDAEMON set); a detached copy would outlive this
        # test and keep replicating into the next one. With the variable set it
        # stays our child, so its pid is the one we recorded.
        env = dict(os.environ, CYRUS_ISDAEMON="1")
        shutdown = os.path.join(self.dir, "conf", "sync", "shutdown")
        if os.path.exists(shutdown):
            os.unlink(shutdown)
        self.rolling = subprocess.Popen([os.path.join(self.bin, "sync_client"), "-C", self.conf, "-r", "-v"],
                                        user=CYRUS_RUN_USER, group=CYRUS_RUN_GROUP, env=env,
                                        stdout=open(os.path.join(self.dir, "rolling.log"), "ab"),
                                        stderr=subprocess.STDOUT)
        with open(self.rolling_pid_file, "w") as f:
            f.write("%d\n" % self.rolling.pid)

    def stop_rolling(self):
        """Stops the rolling sync_client: its shutdown file first (Cyrus's own way
        to stop it between passes), then SIGTERM, then SIGKILL, by its pid."""
        pid = None
        if self.rolling is not None:
            pid = self.rolling.pid
        elif os.path.exists(self.rolling_pid_file):
            try:
                with open(self.rolling_pid_file) as f:
                    pid = int(f.read().strip())
            except ValueError:
                pid = None
        if pid is not None:
            shutdown = os.path.join(self.dir, "conf", "sync", "shutdown")
            with open(shutdown, "w"):
                pass
            os.chown(shutdown, *self._cyrus_ids())
            for sig, wait in ((None, 10), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                if sig is not None:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        break
                if self._wait_gone(pid, wait):
                    break
        if os.path.exists(self.rolling_pid_file):
            os.unlink(self.rolling_pid_file)
        self.rolling = None

    def _wait_gone(self, pid, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rolling is not None and self.rolling.pid == pid:
                if self.rolling.poll() is not None:
                    return True
            elif not pid_alive(pid):
                return True
            time.sleep(0.1)
        return False

    @staticmethod
    def _cyrus_ids():
        import grp
        import pwd
        return pwd.getpwnam(CYRUS_RUN_USER).pw_uid, grp.getgrnam(CYRUS_RUN_GROUP).gr_gid

    def sync_log_pending(self):
        """Bytes left in the rolling client's log (0 once it caught up)."""
        total = 0
        sync_dir = os.path.join(self.dir, "conf", "sync")
        for root, _, files in os.walk(sync_dir):
            for f in files:
                if f.startswith("log"):
                    total += os.path.getsize(os.path.join(root, f))
        return total

    def stop(self):
        self.stop_rolling()
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


# --- our node -----------------------------------------------------------------------

OUR_CONF = ('SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n'
            '  lmtp cmd="lmtpd -a" listen="127.0.0.1:0"\n'
            '  sieve cmd="timsieved" listen="127.0.0.1:0"\n'
            '  syncserver cmd="sync_server" listen="127.0.0.1:0"\n}\n')
OUR_EXTRA = ("admins: admin\nallowplaintext: yes\naltnamespace: no\nunixhierarchysep: no\n"
             "servername: ours\n")


def our_node(args, extra=""):
    node = Node(args.bin, OUR_CONF, imapd_extra=OUR_EXTRA + extra, keep=args.keep)
    os.makedirs(node.confdir, exist_ok=True)
    os.makedirs(node.path("spool"), exist_ok=True)
    res = subprocess.run([os.path.join(args.bin, "cyr_passwd"), "-C", node.imapd_conf, "admin"],
                         input=(ADMIN_PW + "\n").encode(), capture_output=True)
    assert res.returncode == 0, res
    return node.start()


def our_port(node, service):
    return int(node.ports()[service][0].rsplit(":", 1)[1])


def our_tool(node, name, *argv, timeout=600):
    return subprocess.run([os.path.join(node.bin_dir, name), "-C", node.imapd_conf] + list(argv),
                          capture_output=True, timeout=timeout)


# Sieve scripts the Cyrus master has for SIEVE_USER: one active, one not (bytes
# as Cyrus keeps them). A user without a quota: Cyrus 3.6 keeps scripts in a
# mailbox (user.NAME.#sieve) whose size counts in the user's quota usage; we
# keep them beside the mail, outside the quota (docs/migrating-from-cyrus.md).
SIEVE_USER = "u3"
SIEVE_SCRIPTS = {
    "filters": b'require ["fileinto"];\r\nif header :contains "subject" "report" {\r\n  fileinto "INBOX.sub";\r\n}\r\n',
    "away": b'require "vacation";\r\nvacation :days 3 "Away.";\r\n',
}
SIEVE_ACTIVE = "filters"


def our_sieve_scripts(node, user):
    """{name: (bytes, active)} of `user` on our node, over ManageSieve as the admin
    authorizing as the user."""
    from test_managesieve import Sieve
    c = Sieve(("127.0.0.1", our_port(node, "sieve")))
    try:
        c.capabilities()
        r = c.auth_plain("admin", ADMIN_PW, authz=user)
        assert r.ok, r
        out = {}
        for name, active in c.list().items():
            r, body = c.get(name)
            assert r.ok, r
            out[name] = (body, active)
        return out
    finally:
        c.close()


def check_sieve(run, node, what):
    got = our_sieve_scripts(node, SIEVE_USER)
    want = {n: (t, n == SIEVE_ACTIVE) for n, t in SIEVE_SCRIPTS.items()}
    if got != want:
        print("%s: Sieve scripts of %s on our node: %r, expected %r" % (what, SIEVE_USER, got, want))
        run.failures.append("%s: Sieve scripts differ" % what)
    else:
        print("%s: %s's %d Sieve scripts arrived, %s active" % (what, SIEVE_USER, len(got), SIEVE_ACTIVE))


# --- IMAP helpers --------------------------------------------------------------------

def connect(port, as_user=None):
    c = imaplib.IMAP4("127.0.0.1", port)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if as_user is None:
        ok(c.login("admin", ADMIN_PW))
    else:
        # the admin acts as the user (SASL PLAIN authorization identity)
        ok(c.authenticate("PLAIN", lambda _: ("%s\0admin\0%s" % (as_user, ADMIN_PW)).encode()))
    return c


def ok(resp):
    assert resp[0] == "OK", resp
    return resp[1]


def q(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def message(i, subject=None, size=600, mime=False):
    subject = subject or "message %d" % i
    head = ("From: Sender %d <s%d@example.com>\r\nTo: u1@example.com\r\nSubject: %s\r\n"
            "Message-ID: <interop.%d.%s@example.com>\r\nDate: Mon, 2 Nov 2026 10:%02d:00 +0000\r\n"
            % (i, i, subject, i, hashlib.sha1(subject.encode()).hexdigest()[:8], i % 60))
    if not mime:
        body = "".join("line %d of message %d\r\n" % (n, i) for n in range(max(1, size // 24)))
        return (head + "\r\n" + body).encode()
    att = hashlib.sha256(str(i).encode()).digest() * 64
    import base64
    b64 = base64.encodebytes(att).decode().replace("\n", "\r\n")
    return (head + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
            "--b%d\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            "Gr=C3=BC=C3=9Fe, message %d\r\n--b%d\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\n"
            "%s--b%d--\r\n" % (i, i, i, i, b64, i)).encode()


def lmtp_deliver(port, rcpt, data):
    with smtplib.LMTP("127.0.0.1", port) as s:
        s.sendmail("sender@example.com", [rcpt], data)


# --- the varied data set ------------------------------------------------------------

def populate(port, lmtp_port, tag=""):
    """The issue's data set, through IMAP (admin and users) and LMTP."""
    a = connect(port)
    for u in USERS:
        ok(a.create("user.%s" % u))
    for sub in ("Sent", "Work", "Work.Projects", "Work.Projects.2026", "Old", "Gone", "Trash"):
        ok(a.create("user.u1.%s" % sub))
    ok(a.create("user.u2.Lists"))
    ok(a.create("shared"))
    ok(a.create("shared.team"))
    ok(a.setacl("shared", "anyone", "lrs"))
    ok(a.setacl("shared.team", "u1", "lrswipkxte"))
    ok(a.setacl("shared.team", "u2", "lrswi"))
    ok(a.setacl("shared.team", "u3", "lrs"))
    ok(a.setacl("shared.team", "-u3", "s"))          # negative right: u3 may not keep \Seen
    ok(a.setacl("user.u1.Work", "u2", "lrsw"))
    ok(a.setacl("user.u1.Work", "-u2", "w"))          # negative right on a user's folder
    ok(a.setquota("user.u1", "(STORAGE 300)"))        # KiB; filled to near the limit below
    ok(a.setquota("user.u2", "(STORAGE 100000 MESSAGE 1000)"))
    ok(a._simple_command("SETMETADATA", "user.u1", '(/shared/comment "u1 home folder")'))
    # (Cyrus 3.6.1 imapd asserts on SETMETADATA of a mailbox outside user.*: user_isnamespacelocked)
    ok(a._simple_command("SETMETADATA", "user.u2.Lists", '(/shared/comment "mailing lists")'))
    a.logout()

    # LMTP deliveries (plain and MIME), then IMAP appends with flags, keywords and dates.
    for i in range(20):
        lmtp_deliver(lmtp_port, "u1@localhost", message(i, mime=(i % 4 == 0)))
    for i in range(5):
        lmtp_deliver(lmtp_port, "u2@localhost", message(100 + i))
    lmtp_deliver(lmtp_port, "u3@localhost", message(200))
    u1 = connect(port, "u1")
    keywords = ["$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "Work", "Project_X", "todo", "$label1",
                "$label2", "Important", "later"]
    flags_cycle = ["\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Seen \\Flagged"]
    for i in range(30):
        fl = "(%s %s)" % (flags_cycle[i % len(flags_cycle)], " ".join(keywords[: 1 + i % len(keywords)]))
        when = imaplib.Time2Internaldate(1700000000 + i * 86400 + 37)
        ok(u1.append("INBOX.Work", fl, when, message(1000 + i)))
    for i in range(8):
        ok(u1.append("INBOX.Work.Projects.2026", "(\\Seen)", imaplib.Time2Internaldate(1600000000 + i), message(2000 + i, mime=True)))
    big = message(3000, size=180 * 1024)   # large message; the quota is now near its limit
    ok(u1.append("INBOX.Sent", "(\\Seen)", None, big))
    for i in range(6):
        ok(u1.append("INBOX.Old", None, None, message(4000 + i)))
        ok(u1.append("INBOX.Gone", None, None, message(4100 + i)))
    ok(u1.select("INBOX"))
    ok(u1.uid("STORE", "1:5", "+FLAGS", "(\\Seen $Important)"))
    ok(u1.uid("STORE", "6:8", "+FLAGS", "(\\Deleted)"))
    ok(u1.expunge())
    ok(u1.select("INBOX.Work"))
    ok(u1.uid("STORE", "3,7,11", "-FLAGS", "(\\Seen)"))
    ok(u1.uid("STORE", "2", "+FLAGS", "(\\Deleted)"))
    ok(u1.expunge())
    ok(u1.subscribe("INBOX.Work"))
    ok(u1.subscribe("INBOX.Sent"))
    ok(u1.subscribe("shared.team"))
    ok(u1._simple_command("SETMETADATA", "INBOX.Work", '(/private/comment "my work")'))
    u1.logout()

    # Shared folder: messages appended by u1; \Seen differs per user.
    u1 = connect(port, "u1")
    for i in range(10):
        ok(u1.append("shared.team", "(\\Flagged)" if i % 3 == 0 else None, None, message(5000 + i, mime=(i == 4))))
    ok(u1.select("shared.team"))
    ok(u1.uid("STORE", "1:4", "+FLAGS", "(\\Seen)"))
    u1.logout()
    u2 = connect(port, "u2")
    ok(u2.select("shared.team"))
    ok(u2.uid("STORE", "3:9", "+FLAGS", "(\\Seen)"))
    ok(u2.subscribe("shared.team"))
    ok(u2.subscribe("INBOX.Lists"))
    ok(u2.select("INBOX"))
    ok(u2.uid("STORE", "1:*", "+FLAGS", "(\\Seen)"))
    u2.logout()

    # Rename and delete (by the owner: the Cyrus admin holds only the implicit 'a' right).
    u1 = connect(port, "u1")
    ok(u1.rename("INBOX.Old", "INBOX.Archive"))
    ok(u1.delete("INBOX.Gone"))
    u1.logout()


def change_more(port, lmtp_port, round_no):
    """Changes made while rolling replication runs."""
    base = 10000 + 100 * round_no
    for i in range(5):
        lmtp_deliver(lmtp_port, "u2@localhost", message(base + i, mime=(i == 2)))
    u1 = connect(port, "u1")
    ok(u1.select("INBOX.Work"))
    ok(u1.uid("STORE", "1:10", "+FLAGS", "(round%d \\Answered)" % round_no))
    ok(u1.uid("STORE", "12", "+FLAGS", "(\\Deleted)"))
    ok(u1.expunge())
    ok(u1.create("INBOX.Round%d" % round_no))
    ok(u1.append("INBOX.Round%d" % round_no, "(\\Seen)", None, message(base + 50)))
    ok(u1.unsubscribe("INBOX.Sent"))
    ok(u1.subscribe("INBOX.Round%d" % round_no))
    u1.logout()
    u2 = connect(port, "u2")
    ok(u2.select("shared.team"))
    ok(u2.uid("STORE", "1:2", "+FLAGS", "(\\Seen)"))
    ok(u2.uid("STORE", "5", "-FLAGS", "(\\Seen)"))
    u2.logout()
    a = connect(port)
    ok(a.setacl("user.u1.Work", "u3", "lr"))
    ok(a.setacl("shared.team", "u2", "lrswite"))
    ok(a.setquota("user.u2", "(STORAGE %d MESSAGE 1000)" % (100000 + round_no)))
    ok(a._simple_command("SETMETADATA", "user.u1", '(/shared/comment "round %d")' % round_no))
    a.logout()
    if round_no == 1:
        u1 = connect(port, "u1")
        ok(u1.rename("INBOX.Archive", "INBOX.Archive2026"))
        u1.logout()


# --- snapshot and compare ------------------------------------------------------------

LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?:"(?P<sep>[^"]*)"|NIL) (?P<name>.*)$')
FETCH_RE = re.compile(rb"\* \d+ FETCH \((.*)\)$")


def unquote(raw):
    raw = raw.strip()
    if raw.startswith(b'"'):
        return raw[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\").decode()
    return raw.decode()


def list_names(c, pattern="*"):
    names = []
    for line in ok(c.list('""', pattern)):
        if line is None:
            continue
        if isinstance(line, tuple):  # literal name
            names.append(line[1].decode())
            continue
        m = LIST_RE.match(line)
        if m and b"\\Noselect" not in m.group("attrs") and b"\\NonExistent" not in m.group("attrs"):
            names.append(unquote(m.group("name")))
    return sorted(names)


def lsub_names(c):
    names = []
    for line in ok(c.lsub('""', "*")):
        if line is None:
            continue
        m = LIST_RE.match(line)
        if m:
            names.append(unquote(m.group("name")))
    return sorted(names)


def fetch_items(text, name):
    m = re.search(rb"\b" + name + rb" (\([^)]*\)|\"[^\"]*\"|\d+)", text)
    return m.group(1).decode() if m else None


def mailbox_state(c, name):
    c.untagged_responses.clear()
    typ, data = c._simple_command("EXAMINE", q(name), "(CONDSTORE)")
    if typ != "OK":
        return {"error": "EXAMINE %s" % typ, "messages": {}}
    c.state = "SELECTED"
    c.is_readonly = True
    st = {}
    for key in ("UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ"):
        v = c.untagged_responses.get(key)
        st[key.lower()] = v[-1].decode() if v else None
    msgs = {}
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ)")
    for line in data or []:
        if not line:
            continue
        text = line if isinstance(line, bytes) else line[0]
        uid = fetch_items(text, rb"UID")
        if uid is None:
            continue
        flags = fetch_items(text, rb"FLAGS") or "()"
        flags = " ".join(sorted(f for f in flags.strip("()").split() if f.lower() != "\\recent"))
        # " 1-Dec-2023" and "01-Dec-2023" are both RFC 3501 date-day-fixed: compare the time
        idate = fetch_items(text, rb"INTERNALDATE")
        when = imaplib.Internaldate2tuple(b'INTERNALDATE "' + re.sub(r"^ ", "0", idate.strip('"')).encode() + b'"') if idate else None
        msgs[int(uid)] = {"flags": flags, "internaldate": time.mktime(when) if when else idate,
                          "size": fetch_items(text, rb"RFC822.SIZE"), "modseq": fetch_items(text, rb"MODSEQ")}
    typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    for part in data or []:
        if isinstance(part, tuple):
            uid = fetch_items(part[0], rb"UID")
            if uid is not None and int(uid) in msgs:
                msgs[int(uid)]["guid"] = hashlib.sha1(part[1]).hexdigest()
    st["messages"] = msgs
    return st


def parse_acl(data):
    # ACL "name" id rights id rights ...
    if not data or data[0] is None:
        return None
    toks = re.findall(rb'"(?:[^"\\]|\\.)*"|\S+', data[0])
    pairs = [(unquote(toks[i]), "".join(sorted(unquote(toks[i + 1])))) for i in range(1, len(toks) - 1, 2)]
    return sorted(pairs)


def annotations(c, name, entries):
    c.untagged_responses.pop("METADATA", None)
    try:
        typ, data = c._simple_command("GETMETADATA", q(name), "(%s)" % " ".join(entries))
    except imaplib.IMAP4.error as e:  # BAD: the server has no METADATA (a difference, reported)
        return "GETMETADATA refused: %s" % e
    if typ != "OK":
        return "GETMETADATA " + typ
    typ, data = c._untagged_response(typ, data, "METADATA")
    out = []
    for d in data or []:
        if d is None:
            continue
        out.append(d if isinstance(d, bytes) else b"".join(x for x in d if isinstance(x, bytes)))
    text = b" ".join(out)
    found = re.findall(rb'"?(/[\w/.-]+)"? (?:"((?:[^"\\]|\\.)*)"|NIL)', text)
    return sorted((k.decode(), v.decode()) for k, v in found if v)


SHARED_ENTRIES = ["/shared/comment"]


def snapshot(port):
    """Everything the issue lists, as seen over IMAP, in a comparable structure."""
    snap = {}
    a = connect(port)
    # Cyrus 3.6 keeps a user's Sieve scripts in a mailbox of its own,
    # user.NAME.#sieve, which its admin sees in LIST; we keep them in the
    # user's database. Scripts are compared by check_sieve() and the
    # verifier (GET USER), not as mail.
    names = [n for n in list_names(a) if not n.startswith("DELETED.") and n.rsplit(".", 1)[-1] != "#sieve"]
    snap["mailboxes"] = names
    for n in names:
        snap["acl " + n] = parse_acl(ok(a.getacl(q(n))))
        snap["annotations " + n] = annotations(a, n, SHARED_ENTRIES)
    for u in USERS:
        typ, data = a.getquota(q("user." + u))
        # the text of a NO differs between servers; the answer itself must not
        snap["quota " + u] = (typ, [d.decode() if isinstance(d, bytes) else d for d in data] if typ == "OK" else None)
    a.logout()
    for u in USERS:
        c = connect(port, u)
        snap["subscriptions " + u] = lsub_names(c)
        for n in list_names(c):
            if n.startswith("DELETED."):
                continue
            snap["mailbox %s as %s" % (n, u)] = mailbox_state(c, n)
            if n.startswith("INBOX") or n.startswith("user." + u):
                snap["private annotations %s as %s" % (n, u)] = annotations(c, n, ["/private/comment"])
        c.logout()
    return snap


def diff(a, b, label_a, label_b):
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if isinstance(va, dict) and isinstance(vb, dict) and "messages" in va and "messages" in vb:
            for k in ("uidvalidity", "uidnext", "highestmodseq", "error"):
                if va.get(k) != vb.get(k):
                    out.append("%s: %s %s=%s %s=%s" % (key, k, label_a, va.get(k), label_b, vb.get(k)))
            ma, mb = va["messages"], vb["messages"]
            for uid in sorted(set(ma) | set(mb)):
                if ma.get(uid) != mb.get(uid):
                    out.append("%s: UID %d %s=%s %s=%s" % (key, uid, label_a, ma.get(uid), label_b, mb.get(uid)))
        else:
            out.append("%s: %s=%r %s=%r" % (key, label_a, va, label_b, vb))
    return out


def compare(port_a, port_b, label_a, label_b, timeout=60.0, what=""):
    """Polls until both servers agree (replication is asynchronous); returns the differences."""
    deadline = time.monotonic() + timeout
    while True:
        d = diff(snapshot(port_a), snapshot(port_b), label_a, label_b)
        if not d or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    print("compare %s: %d difference(s)" % (what, len(d)))
    for line in d[:60]:
        print("  " + line)
    return d


def count_messages(snap):
    return sum(len(v["messages"]) for k, v in snap.items() if k.startswith("mailbox ") and isinstance(v, dict)
               and "messages" in v)


# --- scenarios ----------------------------------------------------------------------

class Run:
    def __init__(self, args):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="cyr_interop.")
        os.chmod(self.root, 0o755)
        self.cleanups = []
        self.failures = []

    def cyrus(self, name, sync_target=None, try_imap=False):
        c = CyrusNode(self.args.cyrus_bin, self.root, name, sync_target, try_imap)
        self.cleanups.append(c.stop)
        return c.start()

    def ours(self, extra=""):
        n = our_node(self.args, extra)
        self.cleanups.append(lambda: (n.stop(), n.cleanup()))
        return n

    def check(self, differences, what):
        if differences:
            self.failures.append("%s: %d difference(s)" % (what, len(differences)))

    def close(self):
        for f in reversed(self.cleanups):
            try:
                f()
            except BaseException:  # one failed stop must not leave the others running
                traceback.print_exc()
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            print("kept", self.root)


def timed(what, fn):
    t = time.monotonic()
    r = fn()
    print("%s: %.1fs" % (what, time.monotonic() - t))
    return r


def scenario_cyrus_to_us(run, try_imap=False):
    us = run.ours()
    target = our_port(us, "imap" if try_imap else "syncserver")
    cy = run.cyrus("cyrus-master-imap" if try_imap else "cyrus-master", sync_target=target, try_imap=try_imap)
    timed("populate Cyrus", lambda: populate(cy.imap_port, cy.lmtp_port))
    cy.install_sieve(SIEVE_USER, SIEVE_SCRIPTS, SIEVE_ACTIVE)
    # one-shot by user first, then everything
    # Bounded: a sync_client that cannot log in retries for ever (15 s, 30 s, 60 s, ...).
    res = timed("sync_client -u u1", lambda: cy.tool("sync_client", "-v", "-u", "u1", timeout=180))
    print("sync_client -u u1: exit %d %s" % (res.returncode, res.stderr.decode(errors="replace")[-400:]))
    if res.returncode != 0:
        run.failures.append("Cyrus sync_client -u exit %d" % res.returncode)
    # Over csync, Cyrus's client must have logged in with SCRAM-SHA-256, its first choice.
    if not try_imap and not re.search(r"login: .*admin SCRAM-SHA-256", us.log()):
        run.failures.append("Cyrus sync_client did not log in with SCRAM-SHA-256")
    res = timed("sync_client -A", lambda: cy.tool("sync_client", "-v", "-A", timeout=300))
    print("sync_client -A: exit %d %s" % (res.returncode, res.stderr.decode(errors="replace")[-400:]))
    if res.returncode != 0:
        run.failures.append("Cyrus sync_client -A exit %d" % res.returncode)
    run.check(compare(cy.imap_port, our_port(us, "imap"), "cyrus", "ours", what="after sync_client -A"),
              "Cyrus->us one-shot")
    check_sieve(run, us, "Cyrus->us %s" % ("IMAP" if try_imap else "csync"))
    # rolling, with changes while it runs
    cy.start_rolling()
    for r in (1, 2):
        change_more(cy.imap_port, cy.lmtp_port, r)
        time.sleep(0.5)
    run.check(compare(cy.imap_port, our_port(us, "imap"), "cyrus", "ours", timeout=90, what="rolling"),
              "Cyrus->us rolling")
    cy.stop_rolling()
    return cy, us


def scenario_us_to_cyrus(run, us):
    """Rollback: our node, holding the migrated data, replicates into a fresh Cyrus sync_server."""
    back = run.cyrus("cyrus-rollback")
    host = "127.0.0.1:%d" % back.sync_port
    cfg_extra = "sync_host: %s\nsync_authname: admin\nsync_password: %s\n" % (host, ADMIN_PW)
    with open(us.imapd_conf, "a") as f:
        f.write(cfg_extra)
    res = timed("cyr_sync_client -u u1", lambda: our_tool(us, "cyr_sync_client", "-v", "-u", "u1"))
    print("cyr_sync_client -u u1: exit %d\n%s%s" % (res.returncode, res.stdout.decode()[-800:], res.stderr.decode()[-800:]))
    res = timed("cyr_sync_client -A", lambda: our_tool(us, "cyr_sync_client", "-v", "-A"))
    print("cyr_sync_client -A: exit %d\n%s%s" % (res.returncode, res.stdout.decode()[-800:], res.stderr.decode()[-800:]))
    if res.returncode != 0:
        run.failures.append("cyr_sync_client -A into Cyrus exit %d" % res.returncode)
    run.check(compare(our_port(us, "imap"), back.imap_port, "ours", "cyrus-rollback", what="us -> Cyrus"),
              "us->Cyrus one-shot")
    res = our_tool(us, "cyr_sync_client", "--verify")
    print("cyr_sync_client --verify: exit %d\n%s" % (res.returncode, (res.stdout + res.stderr).decode()[-1500:]))
    if res.returncode != 0:
        run.failures.append("our verifier against Cyrus: exit %d" % res.returncode)
    # Rolling: our master replicates its own changes into Cyrus as they happen.
    with open(us.imapd_conf, "a") as f:
        f.write("sync_log: 1\nsync_repeat_interval: 1\n")
    us.stop()
    # New ephemeral ports after the restart: wait for this start's "ready:"
    # and its own ports file, not the previous ones.
    readies = us.log().count("ready:")
    ports_file = os.path.join(us.confdir, "ports")
    if os.path.exists(ports_file):
        os.unlink(ports_file)
    us.start(wait_ready=False)
    us.wait_log("ready:", timeout=30, count=readies + 1)
    wait_for(lambda: us.ports() is not None, 30, 0.1, "our ports file")
    change_more(our_port(us, "imap"), our_port(us, "lmtp"), 3)
    run.check(compare(our_port(us, "imap"), back.imap_port, "ours", "cyrus-rollback", timeout=90,
                      what="us -> Cyrus rolling"), "us->Cyrus rolling")
    res = our_tool(us, "cyr_sync_client", "--verify")
    print("cyr_sync_client --verify (after rolling): exit %d\n%s" % (res.returncode, (res.stdout + res.stderr).decode()[-1500:]))
    if res.returncode != 0:
        run.failures.append("our verifier against Cyrus after rolling: exit %d" % res.returncode)


def scenario_refusal(run):
    """A mailbox Cyrus holds but we cannot represent (an ACL with Cyrus's user
    right '7') is refused alone and counted; the rest of the user and the other
    users still arrive, one-shot and rolling."""
    us = run.ours()
    cy = run.cyrus("cyrus-refusal", sync_target=our_port(us, "syncserver"))
    a = connect(cy.imap_port)
    for u in ("u1", "u2"):
        ok(a.create("user.%s" % u))
    ok(a.create("user.u1.Odd"))
    ok(a.create("user.u1.Fine"))
    a.logout()
    u1 = connect(cy.imap_port, "u1")
    ok(u1.setacl("INBOX.Odd", "u2", "lrs7"))
    ok(u1.append("INBOX.Fine", None, None, message(9001)))
    u1.logout()
    lmtp_deliver(cy.lmtp_port, "u2@localhost", message(9002))
    res = timed("sync_client -A (with one unrepresentable mailbox)",
                lambda: cy.tool("sync_client", "-v", "-A", timeout=300))
    print("sync_client -A: exit %d %s" % (res.returncode, res.stderr.decode(errors="replace")[-300:]))
    cy.start_rolling()
    lmtp_deliver(cy.lmtp_port, "u2@localhost", message(9003))

    def arrived():
        c = connect(our_port(us, "imap"))
        names = list_names(c)
        c.logout()
        if "user.u1.Fine" not in names or "user.u2" not in names:
            return False
        c = connect(our_port(us, "imap"), "u2")
        typ, data = c.status("INBOX", "(MESSAGES)")
        c.logout()
        return typ == "OK" and b"MESSAGES 2" in data[0]
    try:
        wait_for(arrived, 60, 0.5, "the representable mailboxes on our node")
    except AssertionError as e:
        run.failures.append("refusal scenario: %s" % e)
    cy.stop_rolling()
    c = connect(our_port(us, "imap"))
    names = list_names(c)
    c.logout()
    if "user.u1.Odd" in names:
        run.failures.append("refusal scenario: user.u1.Odd (ACL right '7') was stored")
    out = our_tool(us, "cyr_info", "sync-status")
    text = out.stdout.decode(errors="replace")
    print("cyr_info sync-status:\n" + text)
    m = re.search(r"replica refused_items: (\d+)", text)
    if out.returncode != 0 or not m or int(m.group(1)) < 1 or "user.u1.Odd" not in text:
        run.failures.append("refusal scenario: refused item not counted (%s)" % text.strip())
    if "refused APPLY MAILBOX user.u1.Odd" not in us.log():
        run.failures.append("refusal scenario: no log line for the refused mailbox")


def imap_replication_offered(args):
    us = our_node(args)
    try:
        c = imaplib.IMAP4("127.0.0.1", our_port(us, "imap"))
        ok(c.login("admin", ADMIN_PW))
        caps = c.capability()[1][0].decode().upper().split()
        c.logout()
        return "X-REPLICATION" in caps
    finally:
        us.stop()
        us.cleanup()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, help="our build's bin/ (cyr_master, cyr_sync_client, ...)")
    p.add_argument("--cyrus-bin", required=True, help="Cyrus 3.6 binaries (master, imapd, sync_client, ...)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--bench", type=int, default=0, help="messages for the migration benchmark")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("run as root: the Cyrus master drops privileges to the cyrus user")
        return 2
    # SIGTERM/SIGINT (a CI timeout, ^C) end the run through the finally below,
    # which stops every Cyrus and our nodes and removes the temporary directory.
    def _stop(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run = Run(args)
    sink = SyslogSink(os.path.join(run.root, "syslog.log"))
    if sink.start():
        run.cleanups.insert(0, sink.stop)
        print("Cyrus logs (syslog):", sink.path)
    try:
        if args.bench:
            return bench(run, args.bench)
        wanted = args.only or ["cyrus_to_us_csync", "us_to_cyrus", "cyrus_to_us_imap", "refusal"]
        us = None
        if "cyrus_to_us_csync" in wanted or "us_to_cyrus" in wanted:
            cy, us = scenario_cyrus_to_us(run)
            cy.stop()
        if "us_to_cyrus" in wanted:
            scenario_us_to_cyrus(run, us)
        if "cyrus_to_us_imap" in wanted:
            if imap_replication_offered(args):
                scenario_cyrus_to_us(run, try_imap=True)
            else:
                print("SKIP cyrus_to_us_imap: our imapd does not offer X-REPLICATION yet")
        if "refusal" in wanted:
            scenario_refusal(run)
    except Exception:
        traceback.print_exc()
        run.failures.append("exception")
    finally:
        run.close()
    print("RESULT:", "FAIL " + "; ".join(run.failures) if run.failures else "PASS")
    return 1 if run.failures else 0


# --- benchmark ----------------------------------------------------------------------

def bench(run, n):
    """N messages into one Cyrus master, then sync_client -A into us and into a Cyrus replica."""
    us = run.ours()
    cy_replica = run.cyrus("cyrus-replica")
    cy = run.cyrus("cyrus-master", sync_target=our_port(us, "syncserver"))
    a = connect(cy.imap_port)
    users = ["u1", "u2", "u3"]
    for u in users:
        ok(a.create("user.%s" % u))
    a.logout()
    t = time.monotonic()
    conns = [connect(cy.imap_port, u) for u in users]
    body = message(1, size=4000)
    for i in range(n):
        ok(conns[i % len(conns)].append("INBOX", None, None, body.replace(b"message 1", b"msg %07d" % i)))
    for c in conns:
        c.logout()
    print("bench: populated %d x %d B in %.1fs" % (n, len(body), time.monotonic() - t))
    results = {}

    def count_on(imap_port):
        total = 0
        for u in users:
            c = connect(imap_port, u)
            typ, data = c.status("INBOX", "(MESSAGES)")
            c.logout()
            m = re.search(rb"MESSAGES (\d+)", data[0] or b"") if typ == "OK" else None
            total += int(m.group(1)) if m else 0
        return total

    targets = (("cyrus->ours", our_port(us, "syncserver"), our_port(us, "imap")),
               ("cyrus->cyrus", cy_replica.sync_port, cy_replica.imap_port))
    for label, port, imap_port in targets:
        cy.stop()
        cy.sync_target = port
        cy.write_configs()
        cy.start()
        t = time.monotonic()
        res = cy.tool("sync_client", "-A", timeout=3600)
        dt = time.monotonic() - t
        results[label] = dt
        print("bench: %s sync_client -A of %d messages: exit %d, %.1fs, %.0f msg/s"
              % (label, n, res.returncode, dt, n / dt))
        if res.returncode != 0:
            print(res.stderr.decode(errors="replace")[-1000:])
            run.failures.append(label)
        # A rate only counts if everything arrived.
        got = count_on(imap_port)
        print("bench: %s: %d of %d messages on the target" % (label, got, n))
        if got != n:
            run.failures.append("%s: %d of %d messages arrived" % (label, got, n))
    print("bench: load average at the end: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
