"""A real Postfix (Debian's package) hands mail to our LMTP service
(relay_transport = lmtp:inet:127.0.0.1:PORT). The test installs postfix
non-interactively if it is missing ("No configuration": no system instance),
runs its own instance from a temporary config directory (postfix -c DIR),
submits over SMTP, checks delivery, and stops that instance. Without postfix
and without a way to install it, the test says so and fails: it cannot be
claimed to have passed."""

import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

from harness import run_tests, wait_for
from test_lmtp import LmtpNode

MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
showq     unix  n - n - - showq
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.test
mydestination =
relay_domains = example.com
relay_transport = lmtp:inet:127.0.0.1:{lmtp_port}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
smtputf8_enable = no
biff = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximum_backoff_time = 2s
"""


def ensure_postfix():
    if shutil.which("postfix") or os.path.exists("/usr/sbin/postfix"):
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    subprocess.run(["debconf-set-selections"], input=b"postfix postfix/main_mailer_type select No configuration\n")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postfix"],
                       env=env, capture_output=True, timeout=600)
    return r.returncode == 0 and os.path.exists("/usr/sbin/postfix")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postfix:
    def __init__(self, lmtp_port):
        # Postfix's daemons run as the postfix user: the directory must be
        # reachable by it (mkdtemp gives 0700).
        self.dir = tempfile.mkdtemp(prefix="cyr_postfix.")
        os.chmod(self.dir, 0o755)
        self.smtp_port = free_port()
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(dir=self.dir, lmtp_port=lmtp_port))
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(smtp_port=self.smtp_port))
        for d in ("queue", "data"):
            os.makedirs(os.path.join(self.dir, d))
        shutil.chown(os.path.join(self.dir, "data"), "postfix")

    def run(self, *args):
        return subprocess.run(["/usr/sbin/postfix", "-c", self.dir] + list(args),
                              capture_output=True, timeout=120)

    def start(self):
        r = self.run("start")
        assert r.returncode == 0, (r.stdout, r.stderr, self.log())
        wait_for(self.listening, 20, what="postfix smtpd to listen")

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        self.run("stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def test_postfix_delivers_over_lmtp(args):
    if not ensure_postfix():
        raise AssertionError("postfix is not installed and could not be installed "
                             "(apt-get install postfix); this test cannot run here")
    with LmtpNode(args) as n:
        n.start()
        n.provision(("create", ("user.alice",)), ("create", ("user.bob",)))
        pf = Postfix(n.addr("lmtp")[1])
        try:
            pf.start()
            s = smtplib.SMTP("127.0.0.1", pf.smtp_port, timeout=60)
            msg = ("From: sender@example.org\r\nTo: alice@example.com, bob@example.com\r\n"
                   "Subject: via postfix\r\nMessage-ID: <pf1@example.org>\r\n\r\nHello via Postfix.\r\n")
            refused = s.sendmail("sender@example.org", ["alice@example.com", "bob@example.com",
                                                        "nobody@example.com"], msg)
            assert refused == {}, refused
            s.quit()
            # Postfix delivers asynchronously: wait for it to report both
            # deliveries before reading the mailboxes over IMAP.
            wait_for(lambda: pf.log().count("status=sent") >= 2, 60,
                     what="postfix to deliver (maillog:\n%s)" % pf.log())
            assert n.messages("user.alice") == 1
            assert n.messages("user.bob") == 1
            # The unknown recipient bounced permanently (550 5.1.1 from our LMTP).
            wait_for(lambda: "status=bounced" in pf.log() and "5.1.1" in pf.log(), 30,
                     what="the bounce of nobody@ in the postfix log:\n%s" % pf.log())
        finally:
            pf.stop()
        assert n.stop() == 0


if __name__ == "__main__":
    run_tests([test_postfix_delivers_over_lmtp])
