"""cyr_deny, cyr_synclog and cyr_ctl_deliver against running daemons.

cyr_deny: a user denied while the master runs is refused at the next login
over IMAP (LOGIN and AUTHENTICATE: NO [AUTHORIZATIONFAILED] with the
admin's message), POP3 (USER/PASS and AUTH: -ERR [AUTH] message) and
ManageSieve, while another user still logs in; -s pop3 denies POP3 only;
-a lets the user in again; -l lists the entries.

cyr_synclog: on a node that keeps no change log it writes nothing and says
so; with sync_log on, a record for a user whose mail predates the log makes
the rolling replicator (inside cyr_master) copy that user to the replica.
On the replica, cyr_deny -s syncserver refuses the csync login.

cyr_ctl_deliver: -d shows the duplicate-delivery entry that two LMTP
deliveries of one Message-ID left; -E 0 prunes it."""

import base64
import imaplib
import os
import poplib
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, wait_for  # noqa: E402
from test_lmtp import LmtpNode, message, transaction  # noqa: E402

CYRUS_CONF = (
    'SERVICES {\n'
    '  imap     cmd="imapd" listen="127.0.0.1:0"\n'
    '  pop3     cmd="pop3d" listen="127.0.0.1:0"\n'
    '  sieve    cmd="timsieved" listen="127.0.0.1:0"\n'
    '  lmtp     cmd="lmtpd -a" listen="127.0.0.1:0"\n'
    '  lmtpunix cmd="lmtpd" listen="{dir}/lmtp.sock"\n'
    '}\n')

DEFAULT_MESSAGE = "Access to this service has been blocked"


class DenyNode(LmtpNode):
    def __init__(self, args, extra=""):
        super().__init__(args, extra)
        self.write_cyrus_conf(CYRUS_CONF)

    def start(self, **kw):
        super().start(**kw)
        for user, pw in (("fred", "fredpw"), ("barney", "barneypw")):
            self.set_password(user, pw)
        self.provision(("create", ("user.fred",)), ("create", ("user.barney",)))
        return self

    def set_password(self, user, pw):
        p = subprocess.run([os.path.join(self.bin_dir, "cyr_passwd"), "-C", self.imapd_conf, user],
                           input=(pw + "\n").encode(), capture_output=True)
        assert p.returncode == 0, p.stderr

    def cmd(self, name, *args, ok=True):
        p = subprocess.run([os.path.join(self.bin_dir, "cyr_" + name), "-C", self.imapd_conf] + list(args),
                           capture_output=True, text=True, timeout=120)
        if ok:
            assert p.returncode == 0, (name, args, p.returncode, p.stdout, p.stderr)
        return p

    def imap_login(self, user, pw):
        """(typ, text) of LOGIN."""
        host, port = self.addr("imap")
        m = imaplib.IMAP4(host, port)
        try:
            typ, data = m.login(user, pw)
            m.logout()
            return typ, data[0].decode()
        except imaplib.IMAP4.error as e:
            return "NO", str(e)

    def imap_authenticate_raw(self, user, pw):
        """The tagged reply line of AUTHENTICATE PLAIN with an initial response."""
        s = socket.create_connection(self.addr("imap"), timeout=30)
        f = s.makefile("rb")
        f.readline()  # greeting
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        s.sendall(("a1 AUTHENTICATE PLAIN %s\r\n" % ir).encode())
        line = f.readline()
        while line.startswith(b"* "):
            line = f.readline()
        s.close()
        return line.decode().rstrip("\r\n")

    def pop_login(self, user, pw):
        """The server's answer to PASS (or the error text)."""
        host, port = self.addr("pop3")
        p = poplib.POP3(host, port, timeout=60)
        try:
            p.user(user)
            resp = p.pass_(pw).decode()
            p.quit()
            return resp
        except poplib.error_proto as e:
            return e.args[0].decode()

    def pop_auth_plain(self, user, pw):
        s = socket.create_connection(self.addr("pop3"), timeout=30)
        f = s.makefile("rb")
        f.readline()
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        s.sendall(("AUTH PLAIN %s\r\n" % ir).encode())
        line = f.readline().decode().rstrip("\r\n")
        s.close()
        return line

    def sieve_auth_plain(self, user, pw):
        s = socket.create_connection(self.addr("sieve"), timeout=30)
        f = s.makefile("rb")
        while not f.readline().startswith(b"OK"):
            pass
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        s.sendall(('AUTHENTICATE "PLAIN" "%s"\r\n' % ir).encode())
        line = f.readline().decode().rstrip("\r\n")
        s.close()
        return line


def test_deny_allow_list_while_running(args):
    with DenyNode(args) as n:
        n.start()
        assert n.imap_login("fred", "fredpw")[0] == "OK"
        assert n.pop_login("fred", "fredpw").startswith("+OK")

        out = n.cmd("deny", "-m", "Account suspended, call the helpdesk", "fred").stdout
        assert "denied fred" in out, out
        # IMAP LOGIN and AUTHENTICATE: authorization failure with the message.
        typ, text = n.imap_login("fred", "fredpw")
        assert typ == "NO" and "[AUTHORIZATIONFAILED] Account suspended, call the helpdesk" in text, (typ, text)
        assert n.imap_authenticate_raw("fred", "fredpw") == \
            "a1 NO [AUTHORIZATIONFAILED] Account suspended, call the helpdesk"
        # A wrong password still reads as an authentication failure.
        assert "[AUTHENTICATIONFAILED]" in n.imap_login("fred", "nope")[1]
        # POP3 USER/PASS and AUTH, ManageSieve AUTHENTICATE.
        assert n.pop_login("fred", "fredpw") == "-ERR [AUTH] Account suspended, call the helpdesk"
        assert n.pop_auth_plain("fred", "fredpw") == "-ERR [AUTH] Account suspended, call the helpdesk"
        assert n.sieve_auth_plain("fred", "fredpw") == 'NO "Account suspended, call the helpdesk"'
        # Another user is not affected.
        assert n.imap_login("barney", "barneypw")[0] == "OK"
        assert n.pop_login("barney", "barneypw").startswith("+OK")
        assert n.sieve_auth_plain("barney", "barneypw").startswith("OK")

        # -l lists the entry in Cyrus's columns.
        lines = n.cmd("deny", "-l").stdout.splitlines()
        assert lines[0].split() == ["Username", "Service(s)", "Message"], lines
        assert lines[1].split(None, 2) == ["fred", "*", "Account suspended, call the helpdesk"], lines

        # -a: in again at the next login, no restart.
        assert "allowed fred again" in n.cmd("deny", "-a", "fred").stdout
        assert n.imap_login("fred", "fredpw")[0] == "OK"
        assert n.pop_login("fred", "fredpw").startswith("+OK")
        assert n.cmd("deny", "-l").stdout.splitlines()[1:] == []

        # -s pop3: POP3 only, with the default message.
        n.cmd("deny", "-s", "pop3", "fred")
        assert n.pop_login("fred", "fredpw") == "-ERR [AUTH] " + DEFAULT_MESSAGE
        assert n.imap_login("fred", "fredpw")[0] == "OK"
        assert n.sieve_auth_plain("fred", "fredpw").startswith("OK")
        # "*,!imap": everything but IMAP.
        n.cmd("deny", "-s", "*,!imap", "fred")
        assert n.imap_login("fred", "fredpw")[0] == "OK"
        assert n.pop_login("fred", "fredpw").startswith("-ERR [AUTH]")
        # The admin is exempt on IMAP, as in Cyrus's imapd.
        n.cmd("deny", "admin")
        assert n.imap_login("admin", "secret")[0] == "OK"
        n.cmd("deny", "-a", "admin")

        # Bad arguments: usage, nothing written.
        for bad in (["-a", "-l"], ["-s", "imap,,pop3", "barney"], ["barney", "fred"], []):
            p = n.cmd("deny", *bad, ok=False)
            assert p.returncode == 64, (bad, p.returncode, p.stderr)
        assert [l.split()[0] for l in n.cmd("deny", "-l").stdout.splitlines()[1:]] == ["fred"]
        assert "denied by user_deny.db for service pop3" in n.log()


def test_deny_ends_running_imap_pop3_and_sieve_sessions(args):
    """As Cyrus's imapd: a session already logged in when its user is
    denied gets BYE [ALERT] <message> at its next command (checked at most
    every 5 s, auth::DenyRecheck), and the connection ends."""
    with DenyNode(args) as n:
        n.start()
        s = socket.create_connection(n.addr("imap"), timeout=30)
        f = s.makefile("rb")
        f.readline()  # greeting

        def command(line):
            s.sendall(line.encode() + b"\r\n")
            tag, out = line.split()[0], []
            while True:
                got = f.readline().decode()
                if not got:
                    return out, None  # connection closed
                out.append(got.rstrip("\r\n"))
                if got.startswith(tag + " "):
                    return out, got.rstrip("\r\n")

        assert command("a1 LOGIN barney barneypw")[1].startswith("a1 OK")
        assert command("a2 SELECT INBOX")[1].startswith("a2 OK")
        n.cmd("deny", "-m", "Mailbox moving, back in an hour", "barney")
        time.sleep(5.5)
        untagged, tagged = command("a3 NOOP")
        assert tagged is None and untagged == ["* BYE [ALERT] Mailbox moving, back in an hour"], (untagged, tagged)
        s.close()
        assert "access denied by cyr_deny since login; session ended" in n.log()
        # Allowed again: a new session runs past the recheck.
        n.cmd("deny", "-a", "barney")
        assert n.imap_login("barney", "barneypw")[0] == "OK"

        # POP3, as Cyrus's pop3d: -ERR [SYS/TEMP] <message>, and the session
        # ends without its UPDATE state (the DELE is not carried out).
        c = n.lmtp()
        _, dr = transaction(c, ["barney"], message("pop-deny@example.com"))
        assert dr and dr[0][0] == 250, dr
        c.quit()
        p = socket.create_connection(n.addr("pop3"), timeout=30)
        pf = p.makefile("rb")
        pf.readline()
        for line in ("USER barney", "PASS barneypw", "DELE 1"):
            p.sendall(line.encode() + b"\r\n")
            assert pf.readline().startswith(b"+OK"), line
        n.cmd("deny", "-s", "pop3", "-m", "POP3 closed for the move", "barney")
        time.sleep(5.5)
        p.sendall(b"QUIT\r\n")
        assert pf.readline() == b"-ERR [SYS/TEMP] POP3 closed for the move\r\n"
        assert pf.readline() == b""  # closed
        p.close()
        n.cmd("deny", "-a", "barney")
        host, port = n.addr("pop3")
        pop = poplib.POP3(host, port, timeout=60)
        pop.user("barney")
        pop.pass_("barneypw")
        assert pop.stat()[0] == 1  # the DELE was not carried out
        pop.quit()

        # ManageSieve: BYE with the message at the next command.
        m = socket.create_connection(n.addr("sieve"), timeout=30)
        mf = m.makefile("rb")
        while not mf.readline().startswith(b"OK"):  # capabilities, then OK
            pass
        plain = base64.b64encode(b"\0barney\0barneypw").decode()
        m.sendall(('AUTHENTICATE "PLAIN" "%s"\r\n' % plain).encode())
        assert mf.readline().startswith(b"OK"), "managesieve login"
        m.sendall(b"LISTSCRIPTS\r\n")
        assert mf.readline().startswith(b"OK")
        n.cmd("deny", "-s", "sieve", "-m", "Sieve closed for the move", "barney")
        time.sleep(5.5)
        m.sendall(b"LISTSCRIPTS\r\n")
        assert mf.readline() == b'BYE "Sieve closed for the move"\r\n'
        assert mf.readline() == b""  # closed
        m.close()


def test_ctl_deliver_dump_and_prune(args):
    with DenyNode(args) as n:
        n.start()
        assert "got 0 entries" in n.cmd("ctl_deliver", "-d").stdout
        for _ in range(2):
            c = n.lmtp()
            _, dr = transaction(c, ["fred"], message("same-id-1@example.com"))
            assert dr and dr[0][0] == 250, dr
            c.quit()
        assert n.messages("user.fred") == 1  # the second was suppressed
        out = n.cmd("ctl_deliver", "-d").stdout
        entries = [l for l in out.splitlines() if l.startswith("id: ")]
        assert len(entries) == 1, out
        fields = entries[0].split("\t")
        assert fields[0].split() == ["id:", "<same-id-1@example.com>"], fields
        assert fields[1].split() == ["to:", "user.fred"], fields
        at = int(fields[2].split()[1])
        assert abs(at - time.time()) < 120, fields
        assert fields[3] == "uid: 0", fields
        assert "got 1 entries" in out, out
        time.sleep(1.1)  # pruned when strictly older than the cut-off
        out = n.cmd("ctl_deliver", "-E", "0").stdout
        assert "pruned 1 of 1" in out, out
        assert "got 0 entries" in n.cmd("ctl_deliver", "-d").stdout
        p = n.cmd("ctl_deliver", "-E", "soon", ok=False)
        assert p.returncode == 64 and "bad age" in p.stderr, p


# --- cyr_synclog: a replicated pair --------------------------------------------

REPLICA_CONF = ('SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n'
                '  syncserver cmd="sync_server" listen="127.0.0.1:0"\n}\n')
MASTER_CONF = 'SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n}\n'
PAIR_EXTRA = "admins: admin\nallowplaintext: yes\n"


def node_addr(node, service):
    host, port = node.ports()[service][0].rsplit(":", 1)
    return host, int(port)


def node_passwd(node, user, pw):
    os.makedirs(node.confdir, exist_ok=True)
    os.makedirs(node.path("spool"), exist_ok=True)
    p = subprocess.run([os.path.join(node.bin_dir, "cyr_passwd"), "-C", node.imapd_conf, user],
                       input=(pw + "\n").encode(), capture_output=True)
    assert p.returncode == 0, p.stderr


def admin_imap(node):
    host, port = node_addr(node, "imap")
    c = imaplib.IMAP4(host, port)
    assert c.login("admin", "secret")[0] == "OK"
    return c


def mailbox_count(node, mailbox):
    c = admin_imap(node)
    try:
        typ, data = c.select(mailbox, readonly=True)
        return int(data[0]) if typ == "OK" else None
    finally:
        c.logout()


def synclog(node, *argv):
    return subprocess.run([os.path.join(node.bin_dir, "cyr_synclog"), "-C", node.imapd_conf] + list(argv),
                          capture_output=True, text=True, timeout=60)


def test_synclog_user_reaches_replica(args):
    replica = Node(args.bin, REPLICA_CONF, imapd_extra=PAIR_EXTRA, keep=args.keep)
    master = None
    try:
        node_passwd(replica, "admin", "secret")
        replica.start()
        host, port = node_addr(replica, "syncserver")
        pair = "sync_host: %s:%d\nsync_authname: admin\nsync_password: secret\n" % (host, port)
        # First without a change log: mail that no replicator will ever see.
        master = Node(args.bin, MASTER_CONF, imapd_extra=PAIR_EXTRA + pair, keep=args.keep)
        node_passwd(master, "admin", "secret")
        master.start()
        c = admin_imap(master)
        # unixhierarchysep (the default): "user/wilma" is internal user.wilma.
        assert c.create("user/wilma")[0] == "OK"
        assert c.setacl("user/wilma", "admin", "lrswipkxtecda")[0] == "OK"
        for i in range(3):
            msg = "From: a@x\r\nSubject: %d\r\nMessage-ID: <w%d@x>\r\n\r\nbody\r\n" % (i, i)
            assert c.append("user/wilma", None, None, msg.encode())[0] == "OK"
        c.logout()
        p = synclog(master, "-u", "wilma")
        assert p.returncode == 78 and "keeps no replication log" in p.stderr, p
        # Bad arguments: usage, nothing written.
        for bad in (["-m", "user..wilma"], ["-u"], ["-s", "wilma"], ["-U", "wilma"], []):
            p = synclog(master, *bad)
            assert p.returncode == 64, (bad, p)

        # Now with sync_log on: the rolling replicator runs inside the master,
        # but only changes from now on are logged; wilma is not on the replica.
        master.stop()
        master.write_imapd_conf(PAIR_EXTRA + pair + "sync_log: on\nsync_repeat_interval: 1\n")
        master.start()
        time.sleep(2)
        assert mailbox_count(replica, "user/wilma") is None
        p = synclog(master, "-u", "wilma")
        assert p.returncode == 0 and "logged USER wilma" in p.stdout, p
        wait_for(lambda: mailbox_count(replica, "user/wilma") == 3, 60, what="wilma on the replica")
        # -m and -s records are consumed too (the rolling status counts them).
        def replicated():
            with open(os.path.join(master.confdir, "sync", "status")) as f:
                for line in f:
                    if line.startswith("changes_replicated "):
                        return int(line.split()[1])
            return 0
        before = replicated()
        assert synclog(master, "-m", "user.wilma").returncode == 0
        p = synclog(master, "-s", "wilma", "user.wilma")
        assert p.returncode == 0 and p.stdout.startswith("logged SEEN wilma "), p
        wait_for(lambda: replicated() >= before + 2, 60, what="the -m and -s records replicated")
        p = synclog(master, "-s", "wilma", "user.nobody")
        assert p.returncode == 65, p

        # cyr_deny on the csync service: the replication login is refused
        # with the message; other services of the replica are not affected.
        def csync_login():
            s = socket.create_connection(node_addr(replica, "syncserver"), timeout=30)
            f = s.makefile("rb")
            while not f.readline().startswith(b"* OK"):
                pass
            ir = base64.b64encode(b"\0admin\0secret").decode()
            s.sendall(("AUTHENTICATE PLAIN %s\r\n" % ir).encode())
            line = f.readline().decode().rstrip("\r\n")
            s.close()
            return line
        assert csync_login().startswith("OK"), csync_login()
        deny = [os.path.join(replica.bin_dir, "cyr_deny"), "-C", replica.imapd_conf]
        p = subprocess.run(deny + ["-s", "syncserver", "-m", "Replication paused", "admin"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p
        assert csync_login() == "NO Replication paused"
        assert mailbox_count(replica, "user/wilma") == 3  # IMAP still lets the admin in
        assert subprocess.run(deny + ["-a", "admin"], capture_output=True).returncode == 0
        assert csync_login().startswith("OK")
    finally:
        for node in (master, replica):
            if node is not None:
                node.stop()
                node.cleanup()


if __name__ == "__main__":
    run_tests([test_deny_allow_list_while_running, test_deny_ends_running_imap_pop3_and_sieve_sessions,
               test_ctl_deliver_dump_and_prune,
               test_synclog_user_reaches_replica])
