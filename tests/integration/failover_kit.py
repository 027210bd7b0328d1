"""Kit for the failover tests and benchmark: a witness process, a small TCP
proxy per link (so a test can cut the link between any two processes), and
a pair of cyr_master nodes wired through the proxies, with aggressive
timeouts (failover_timeout 1 s). The nodes and the witness share a
failover_secret (KIT_SECRET) unless told otherwise. Everything listens on
127.0.0.1 ephemeral ports. Not a test itself (the name does not start with
test_)."""

import imaplib
import os
import re
import select
import smtplib
import socket
import subprocess
import threading
import time

from harness import Node, set_password, wait_for

# The pair's failover_secret: control connections and lease requests
# authenticate with it (docs/failover.md).
KIT_SECRET = "kit-failover-secret-0123456789abcdef"

CYRUS_CONF = ('SERVICES {\n'
              '  imap       cmd="imapd" listen="127.0.0.1:0"\n'
              '  pop3       cmd="pop3d" listen="127.0.0.1:0"\n'
              '  lmtp       cmd="lmtpd -a" listen="127.0.0.1:0"\n'
              '  syncserver cmd="sync_server" listen="127.0.0.1:0"\n'
              '  failover   cmd="failover" listen="127.0.0.1:0"\n'
              '}\n')


class Proxy:
    """Forwards 127.0.0.1:<port> to a target that can change; cut() closes
    every connection and refuses new ones until heal()."""

    def __init__(self, name):
        self.name = name
        self.target = None
        self.is_cut = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            if self.is_cut or self.target is None:
                c.close()
                continue
            try:
                u = socket.create_connection(self.target, timeout=2)
            except OSError:
                c.close()
                continue
            # A wire does not hold bytes back: without TCP_NODELAY the
            # proxy's own sockets delayed a pipelined csync round (or its
            # second reply) until the previous one was ACKed, up to 40 ms.
            for x in (c, u):
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()

    def _pump(self, a, b):
        socks = [a, b]
        try:
            while not self.is_cut and not self.stopped:
                r, _, _ = select.select(socks, [], [], 0.1)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

    def cut(self):
        self.is_cut = True
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []

    def heal(self):
        self.is_cut = False

    def close(self):
        self.stopped = True
        self.cut()
        self.sock.close()


class Witness:
    def __init__(self, bin_dir, state_path, secret=None):
        self.bin_dir = bin_dir
        self.state = state_path
        self.proc = None
        self.secret_file = None
        if secret:
            # -k: a file, as an operator would do (a command line is public).
            self.secret_file = state_path + ".secret"
            with open(self.secret_file, "w") as f:
                f.write(secret + "\n")
            os.chmod(self.secret_file, 0o600)
        self.start()

    def start(self):
        argv = [os.path.join(self.bin_dir, "cyr_failover"), "witness", "-l", "127.0.0.1:0", "-s", self.state]
        if self.secret_file:
            argv += ["-k", self.secret_file]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"port (\d+)", line)
        assert m, "witness did not start: %r" % line
        self.port = int(m.group(1))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def addr_of(node, service):
    host, port = node.ports()[service][0].rsplit(":", 1)
    return host, int(port)


class Pair:
    """Nodes "a" (first primary) and "b", a witness, and proxies:
    a->b and b->a for the failover service and for csync, a->w and b->w.
    secret: the failover_secret of both nodes and the witness (None: none)."""

    def __init__(self, args, timeout=1, witness=True, extra="", secret=KIT_SECRET):
        self.args = args
        self.secret = secret
        self.bin = os.path.abspath(args.bin)
        self.proxies = {k: Proxy(k) for k in ("ab", "ba", "ab_sync", "ba_sync", "aw", "bw")}
        self.nodes = {}
        self.witness = None
        self.tmp = None
        for name, other in (("a", "b"), ("b", "a")):
            conf = ("servername: node%s\nadmins: admin\nallowplaintext: yes\n"
                    "altnamespace: no\nunixhierarchysep: no\n"
                    "sync_log: on\nsync_host: 127.0.0.1:%d\nsync_authname: admin\nsync_password: secret\n"
                    "sync_timeout: 5s\n"
                    "failover_role: %s\nfailover_peer: 127.0.0.1:%d\nfailover_timeout: %ds\n"
                    "failover_hook: {dir}/hook.sh\n" %
                    (name, self.proxies[name + other + "_sync"].port, "primary" if name == "a" else "replica",
                     self.proxies[name + other].port, timeout))
            if witness:
                conf += "failover_witness: 127.0.0.1:%d\n" % self.proxies[name + "w"].port
            if secret:
                conf += "failover_secret: %s\n" % secret
            node = Node(self.bin, CYRUS_CONF, imapd_extra=conf + extra, keep=args.keep)
            # imapd.conf is plain text: put the node's own directory in.
            with open(node.imapd_conf) as f:
                text = f.read().replace("{dir}", node.dir)
            with open(node.imapd_conf, "w") as f:
                f.write(text)
            node.script("hook.sh", 'echo "$@" >> {dir}/hook.log')
            for u in ("admin", "fred"):
                set_password(node, u)
            self.nodes[name] = node
        if witness:
            self.witness = Witness(self.bin, os.path.join(self.nodes["a"].dir, "witness.state"), secret)
            for k in ("aw", "bw"):
                self.proxies[k].target = ("127.0.0.1", self.witness.port)

    def node(self, name):
        return self.nodes[name]

    def start(self, name):
        node = self.nodes[name]
        other = "b" if name == "a" else "a"
        for f in (os.path.join(node.confdir, "ports"),):
            if os.path.exists(f):
                os.remove(f)
        if os.path.exists(node.log_file):
            os.rename(node.log_file, node.log_file + ".%d" % time.monotonic_ns())
        node.start()
        self.proxies[other + name].target = addr_of(node, "failover")
        self.proxies[other + name + "_sync"].target = addr_of(node, "syncserver")
        return node

    def kill(self, name):
        node = self.nodes[name]
        node.proc.kill()
        node.proc.wait()

    def cut_node(self, name):
        """Isolates `name` from its peer and the witness (clients still reach it)."""
        other = "b" if name == "a" else "a"
        for k in (name + other, other + name, name + other + "_sync", other + name + "_sync", name + "w"):
            self.proxies[k].cut()

    def heal(self):
        for p in self.proxies.values():
            p.heal()

    def failover_cmd(self, name, *argv, timeout=60, conf=None):
        """cyr_failover against node `name`'s failover service, with the
        node's imapd.conf (its failover_secret) unless `conf` names another."""
        node = self.nodes[name]
        host, port = addr_of(node, "failover")
        return subprocess.run([os.path.join(self.bin, "cyr_failover")] + list(argv) +
                              ["-C", conf or node.imapd_conf, "-a", "%s:%d" % (host, port)],
                              capture_output=True, timeout=timeout)

    def status(self, name):
        res = self.failover_cmd(name, "status", timeout=15)
        out = {}
        for line in res.stdout.decode(errors="replace").splitlines():
            if ":" in line and not line.startswith(" "):
                k, v = line.split(":", 1)
                out[k.strip()] = v.strip()
        return out

    def wait_role(self, name, role, epoch=None, writable=True, timeout=20):
        def ok():
            try:
                s = self.status(name)
            except (subprocess.TimeoutExpired, OSError):
                return False
            if s.get("role") != role:
                return False
            if epoch is not None and s.get("epoch") != str(epoch):
                return False
            if writable is not None and s.get("writable", "").startswith("yes") != writable:
                return False
            return s
        return wait_for(ok, timeout, interval=0.1, what="node %s to be %s" % (name, role))

    def close(self):
        for n in self.nodes.values():
            n.cleanup()
        if self.witness:
            self.witness.stop()
        for p in self.proxies.values():
            p.close()


def imap(node, user="admin"):
    host, port = addr_of(node, "imap")
    c = imaplib.IMAP4(host, port)
    assert c.login(user, "secret")[0] == "OK"
    return c


def message(i, tag="m"):
    return ("From: a@example.com\r\nTo: fred@example.com\r\nSubject: %s %d\r\n"
            "Message-ID: <%s-%d@example.com>\r\n\r\nbody of %s %d\r\n" % (tag, i, tag, i, tag, i)).encode()


def deliver(node, i, tag="m", timeout=5, rcpt="fred"):
    """One LMTP delivery (to fred unless told). Returns (code, t_sent, t_replied)."""
    t0 = time.monotonic()
    try:
        host, port = addr_of(node, "lmtp")
    except (TypeError, KeyError):  # restarting: no ports file yet
        return 0, t0, time.monotonic()
    try:
        c = smtplib.LMTP(host, port, timeout=timeout)
        try:
            c.ehlo_or_helo_if_needed()
            c.mail("a@example.com")
            code, _ = c.rcpt(rcpt)
            if code == 250:
                t0 = time.monotonic()
                c.putcmd("data")
                code, _ = c.getreply()
                if code == 354:
                    data = message(i, tag).replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n"
                    c.send(data)
                    code, _ = c.getreply()
        finally:
            try:
                c.close()
            except Exception:
                pass
    except (OSError, smtplib.SMTPException):
        code = 0
    return code, t0, time.monotonic()


def message_ids(node, user="fred", mailbox="INBOX"):
    c = imap(node, user)
    try:
        typ, data = c.select(mailbox, readonly=True)
        assert typ == "OK", data
        typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])") if int(data[0]) else ("OK", [])
        ids = set()
        for item in data:
            if isinstance(item, tuple):
                m = re.search(rb"<([^>]+)>", item[1])
                if m:
                    ids.add(m.group(1).decode())
        return ids
    finally:
        c.logout()


def verify(pair, name):
    node = pair.node(name)
    return subprocess.run([os.path.join(pair.bin, "cyr_sync_client"), "-C", node.imapd_conf, "--verify"],
                          capture_output=True, timeout=120)


class Load:
    """Delivers numbered messages to fred in a thread, like an MTA: to the
    node `target()` names; a 4xx or a refused connection is retried (same
    number) after a short pause, so every message is eventually accepted
    once. Records (number, node, t_sent, t_replied) of each 250."""

    def __init__(self, pair, target="a", tag="m", limit=100000, pause=0.0, follow=True):
        # follow: after a refusal, try the other node next (an MTA with two
        # MX hosts); otherwise keep delivering to `target` only.
        self.pair, self.current, self.tag, self.limit, self.pause = pair, target, tag, limit, pause
        self.follow = follow
        self.accepted = []
        self.refused = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.stop and i < self.limit:
            name = self.current
            code, t0, t1 = deliver(self.pair.node(name), i, self.tag)
            if code == 250:
                self.accepted.append((i, name, t0, t1))
                i += 1
                if self.pause:
                    time.sleep(self.pause)
            else:
                self.refused += 1
                if self.follow:
                    self.current = "b" if name == "a" else "a"
                time.sleep(0.05)

    def finish(self):
        self.stop = True
        self.thread.join(60)
        return self.accepted
