#!/usr/bin/env python3
"""Replication benchmarks (issue 6). Prints numbers; never run as a test.

    python3 ops/bench/repl_bench.py --bin build/bin [--messages 100000] [--zstd]
        [--lag-seconds 20] [--cyrus] [--cyrus-messages N] [--only initial,lag,cyrus]

1. initial: a fresh pair of our nodes (two cyr_master on loopback). N unique
   4 KiB messages are delivered to user.bench on the master over LMTP, then
   `cyr_sync_client -u bench` (with -z when --zstd) copies them into the empty
   replica over csync/TCP. Printed: messages/s and MB/s of the sync alone, and
   a --verify that must be clean.
2. lag: the master runs rolling replication (sync_log: on). First LMTP
   delivers as fast as it can (8 sessions) for a few seconds: that is the
   maximum rate, and the lag of those messages is "lag under max rate". Then
   LMTP delivers at half that rate, one message at a time at fixed intervals,
   for --lag-seconds. Lag of a message = when the replica first shows it
   (IMAP STATUS polled every 10 ms) minus when LMTP answered 250 for it.
   Printed: median and p99.
3. cyrus (--cyrus): the same initial sync with Debian's Cyrus 3.6 pair from
   ../shared/peers/cyrus (PEER_ROOT=/tmp/peers-replperf, ports offset by +300
   from the kit's defaults; run the kit's setup.sh pair first with those
   variables, see docs/performance.md): the same messages delivered over
   LMTP to the primary (rolling client not running), then
   `sync_client -u u1` timed into the empty replica; the ratio ours/Cyrus is
   printed. Needs root (the Cyrus master drops to the cyrus user).

Every load loop is bounded by its message count or its duration.
"""

import argparse
import imaplib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from harness import Node  # noqa: E402

IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\nduplicatesuppression: no\n"
REPLICA_CONF = ('SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n'
                '  syncserver cmd="sync_server" listen="127.0.0.1:0"\n}\n')
MASTER_CONF = ('SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n'
               '  lmtp cmd="lmtpd -a" listen="127.0.0.1:0"\n}\n')


def load():
    return os.getloadavg()[0]


def message(i, size):
    head = ("From: bench@example.org\r\nTo: bench@example.com\r\nSubject: bench %d\r\n"
            "Message-ID: <%d.%d@bench.example.org>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n"
            % (i, i, os.getpid()))
    line = "message %d body line of the replication benchmark...........\r\n" % i
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


# ---- LMTP -------------------------------------------------------------------------------

class Lmtp:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=60)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")
        self.reply()
        self.s.sendall(b"LHLO bench.example.org\r\n")
        self.reply()

    def reply(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("LMTP connection closed")
            if line[3:4] != b"-":
                return line

    def deliver(self, rcpt, data):
        # Pipelined envelope (PIPELINING), then the body: two round trips.
        self.s.sendall(b"MAIL FROM:<bench@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
        for _ in range(3):
            r = self.reply()
            if r[:1] not in (b"2", b"3"):
                raise RuntimeError("LMTP refused: %r" % r)
        self.s.sendall(data + b"\r\n.\r\n")
        r = self.reply()
        if not r.startswith(b"250"):
            raise RuntimeError("LMTP refused: %r" % r)

    def close(self):
        try:
            self.s.sendall(b"QUIT\r\n")
            self.s.close()
        except OSError:
            pass


def deliver_many(addr, rcpt, first, count, size, sessions=8, stamps=None, until=None):
    """Delivers messages first..first+count-1 over `sessions` connections as fast
    as the server takes them (or until the monotonic deadline `until`).
    stamps (dict) receives message index -> time of its 250. Returns how many."""
    lock = threading.Lock()
    nxt = [first]
    done = [0]
    errors = []

    def work():
        c = Lmtp(*addr)
        try:
            while True:
                with lock:
                    i = nxt[0]
                    if i >= first + count or (until and time.monotonic() > until):
                        return
                    nxt[0] += 1
                c.deliver(rcpt, message(i, size))
                now = time.monotonic()
                with lock:
                    done[0] += 1
                    if stamps is not None:
                        stamps[i] = now
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            c.close()

    ts = [threading.Thread(target=work) for _ in range(sessions)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return done[0]


# ---- IMAP -------------------------------------------------------------------------------

def imap_count(host, port, user, password, mailbox):
    c = imaplib.IMAP4(host, port)
    c.login(user, password)
    typ, data = c.status(mailbox, "(MESSAGES)")
    c.logout()
    if typ != "OK":
        raise RuntimeError("STATUS %s: %s %s" % (mailbox, typ, data))
    return int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" )"))


class Watcher(threading.Thread):
    """Polls STATUS MESSAGES on the replica every `interval` seconds; records
    when each count was first seen (count k visible => messages 1..k are)."""

    def __init__(self, host, port, mailbox, interval=0.01):
        super().__init__(daemon=True)
        self.c = imaplib.IMAP4(host, port)
        self.c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.c.login("admin", "secret")
        self.mailbox = mailbox
        self.interval = interval
        self.seen = []  # (time, count), counts increasing
        self.stop_flag = False

    def run(self):
        last = -1
        while not self.stop_flag:
            typ, data = self.c.status(self.mailbox, "(MESSAGES)")
            now = time.monotonic()
            n = int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" )")) if typ == "OK" else 0
            if n > last:
                self.seen.append((now, n))
                last = n
            time.sleep(self.interval)

    def visible_at(self, k):
        for t, n in self.seen:
            if n >= k:
                return t
        return None

    def wait_count(self, k, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.seen and self.seen[-1][1] >= k:
                return True
            time.sleep(0.05)
        return False


# ---- our pair ---------------------------------------------------------------------------

def set_password(node, user, password="secret"):
    os.makedirs(node.confdir, exist_ok=True)
    os.makedirs(node.path("spool"), exist_ok=True)
    subprocess.run([os.path.join(node.bin_dir, "cyr_passwd"), "-C", node.imapd_conf, user],
                   input=(password + "\n").encode(), check=True, capture_output=True)


def addr(node, service):
    host, port = node.ports()[service][0].rsplit(":", 1)
    return host, int(port)


def start_pair(a, rolling, extra=""):
    replica = Node(a.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=a.keep)
    set_password(replica, "admin")
    replica.start()
    host, port = addr(replica, "syncserver")
    master = Node(a.bin, MASTER_CONF, keep=a.keep, imapd_extra=IMAPD_EXTRA + extra +
                  "sync_host: %s:%d\nsync_authname: admin\nsync_password: secret\n%s"
                  % (host, port, "sync_log: on\n" if rolling else ""))
    set_password(master, "admin")
    master.start()
    c = imaplib.IMAP4(*addr(master, "imap"))
    c.login("admin", "secret")
    for typ, _ in (c.create("user.bench"), c.setacl("user.bench", "admin", "lrswipkxtecda")):
        assert typ == "OK"
    c.logout()
    return master, replica


def stop_pair(master, replica):
    for n in (master, replica):
        n.stop()
        n.cleanup()


def bench_initial(a):
    master, replica = start_pair(a, rolling=False)
    try:
        t0 = time.monotonic()
        got = deliver_many(addr(master, "lmtp"), "bench@example.com", 1, a.messages, a.size)
        t1 = time.monotonic()
        print("ours: delivered %d x %d B over LMTP in %.1fs (%.0f msg/s), load %.1f"
              % (got, a.size, t1 - t0, got / (t1 - t0), load()), flush=True)
        argv = [os.path.join(a.bin, "cyr_sync_client"), "-C", master.imapd_conf, "-u", "bench"]
        if a.zstd:
            argv.insert(-2, "-z")
        t0 = time.monotonic()
        res = subprocess.run(argv, capture_output=True, timeout=3600)
        t1 = time.monotonic()
        if res.returncode != 0:
            raise SystemExit("sync failed: %s %s" % (res.stdout.decode(), res.stderr.decode()))
        secs = t1 - t0
        n = imap_count(*addr(replica, "imap"), "admin", "secret", "user.bench")
        assert n == a.messages, (n, a.messages)
        mb = a.messages * a.size / 1e6
        print("ours: initial sync%s of %d x %d B: %.2fs = %.0f msg/s, %.1f MB/s (load %.1f)"
              % (" (-z)" if a.zstd else "", a.messages, a.size, secs, a.messages / secs, mb / secs, load()),
              flush=True)
        res = subprocess.run([os.path.join(a.bin, "cyr_sync_client"), "-C", master.imapd_conf, "--verify", "bench"],
                             capture_output=True, timeout=3600)
        print("ours: --verify exit %d" % res.returncode, flush=True)
        return a.messages / secs
    finally:
        stop_pair(master, replica)


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def bench_lag(a):
    master, replica = start_pair(a, rolling=True, extra=a.master_extra)
    try:
        w = Watcher(*addr(replica, "imap"), "user.bench")
        w.start()
        laddr = addr(master, "lmtp")
        # Max rate: 8 sessions flat out for a few seconds.
        stamps = {}
        t0 = time.monotonic()
        n = deliver_many(laddr, "bench@example.com", 1, 10 ** 7, a.size, stamps=stamps,
                         until=t0 + a.burst_seconds)
        t1 = time.monotonic()
        max_rate = n / (t1 - t0)
        if not w.wait_count(n, 120):
            raise SystemExit("replica did not catch up with the burst")
        lags = [w.visible_at(i) - stamps[i] for i in range(1, n + 1)]
        print("ours: max LMTP rate %.0f msg/s (%d msgs in %.1fs); lag under max rate: median %.3fs p99 %.3fs "
              "max %.3fs; caught up %.2fs after the last 250 (load %.1f)"
              % (max_rate, n, t1 - t0, statistics.median(lags), percentile(lags, 99), max(lags),
                 w.visible_at(n) - max(stamps.values()), load()), flush=True)
        # Half rate, fixed intervals, one connection (a fast server keeps up).
        rate = max(1.0, max_rate / 2)
        first = n + 1
        total = int(rate * a.lag_seconds)
        stamps = {}
        senders = 4
        per = 1.0 / rate * senders

        def paced(k):
            c = Lmtp(*laddr)
            start = time.monotonic()
            j = 0
            try:
                for i in range(first + k, first + total, senders):
                    due = start + j * per
                    j += 1
                    d = due - time.monotonic()
                    if d > 0:
                        time.sleep(d)
                    c.deliver("bench@example.com", message(i, a.size))
                    stamps[i] = time.monotonic()
            finally:
                c.close()

        ts = [threading.Thread(target=paced, args=(k,)) for k in range(senders)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        t1 = time.monotonic()
        last = first + total - 1
        if not w.wait_count(last, 120):
            raise SystemExit("replica did not catch up at half rate")
        lags = [w.visible_at(i) - stamps[i] for i in range(first, last + 1)]
        print("ours: steady lag at %.0f msg/s (half of max; achieved %.0f msg/s, %d msgs): median %.3fs "
              "p99 %.3fs max %.3fs (load %.1f)"
              % (rate, total / (t1 - t0), total, statistics.median(lags), percentile(lags, 99), max(lags),
                 load()), flush=True)
        w.stop_flag = True
    finally:
        stop_pair(master, replica)


# ---- Cyrus 3.6 pair ---------------------------------------------------------------------

def cyrus_env(a):
    env = dict(os.environ)
    env.update(PEER_ROOT=a.peer_root, CYRUS_IMAP_PORT="21443", CYRUS_LMTP_PORT="21324", CYRUS_SYNC_PORT="21305",
               CYRUS_REPLICA_IMAP_PORT="22443", CYRUS_REPLICA_LMTP_PORT="22324",
               CYRUS_REPLICA_SYNC_PORT="22305", CYRUS_NUSERS="4")
    return env


def bench_cyrus(a):
    env = cyrus_env(a)
    kit = a.peers
    root = a.peer_root
    cyrus_bin = os.path.join(root, "pkg/usr/lib/cyrus/bin")
    if not os.path.exists(os.path.join(cyrus_bin, "sync_client")):
        raise SystemExit("run first: PEER_ROOT=%s CYRUS_IMAP_PORT=21443 ... sh %s/cyrus/setup.sh pair" % (root, kit))
    subprocess.run(["sh", os.path.join(kit, "cyrus/stop.sh"), "pair"], env=env, capture_output=True)
    # Empty both roles: fresh spool and databases, configs and users re-made.
    for role in ("primary", "replica"):
        shutil.rmtree(os.path.join(root, role), ignore_errors=True)
    subprocess.run(["sh", os.path.join(kit, "cyrus/setup.sh"), "pair"], env=env, check=True, capture_output=True)
    # The primary without its rolling sync_client: the one-shot sync is what is timed.
    prim = os.path.join(root, "primary")
    with open(os.path.join(prim, "cyrus.conf")) as f:
        conf = f.read()
    conf = conf[:conf.index("DAEMON {")] if "DAEMON {" in conf else conf
    with open(os.path.join(prim, "cyrus-bench.conf"), "w") as f:
        f.write(conf)
    try:
        subprocess.run(["sh", os.path.join(kit, "cyrus/start.sh"), "replica"], env=env, check=True,
                       capture_output=True)
        subprocess.run([os.path.join(cyrus_bin, "master"), "-C", os.path.join(prim, "imapd.conf"), "-M",
                        os.path.join(prim, "cyrus-bench.conf"), "-p", os.path.join(prim, "master.pid"), "-d",
                        "-l", "256"], env=env, check=True)
        end = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", 21443), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)
        subprocess.run([sys.executable, os.path.join(kit, "cyrus/create_mailboxes.py"), "21443", "1", "1"],
                       env=env, check=True, capture_output=True)
        t0 = time.monotonic()
        got = deliver_many(("127.0.0.1", 21324), "u1@localhost", 1, a.cyrus_messages, a.size)
        t1 = time.monotonic()
        print("cyrus: delivered %d x %d B over LMTP in %.1fs (%.0f msg/s), load %.1f"
              % (got, a.size, t1 - t0, got / (t1 - t0), load()), flush=True)
        t0 = time.monotonic()
        res = subprocess.run(["runuser", "-u", "cyrus", "--", os.path.join(cyrus_bin, "sync_client"), "-C",
                              os.path.join(prim, "imapd.conf"), "-u", "u1"], capture_output=True, timeout=3600)
        t1 = time.monotonic()
        if res.returncode != 0:
            raise SystemExit("cyrus sync_client failed: %s %s" % (res.stdout.decode(), res.stderr.decode()))
        n = imap_count("127.0.0.1", 22443, "u1", "pw", "INBOX")
        assert n == a.cyrus_messages, (n, a.cyrus_messages)
        secs = t1 - t0
        print("cyrus: initial sync (sync_client -u) of %d x %d B: %.2fs = %.0f msg/s, %.1f MB/s (load %.1f)"
              % (a.cyrus_messages, a.size, secs, a.cyrus_messages / secs, a.cyrus_messages * a.size / 1e6 / secs,
                 load()), flush=True)
        return a.cyrus_messages / secs
    finally:
        subprocess.run(["sh", os.path.join(kit, "cyrus/stop.sh"), "pair"], env=env, capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--zstd", action="store_true", help="cyr_sync_client -z (compressed stream, when supported)")
    ap.add_argument("--lag-seconds", type=float, default=20)
    ap.add_argument("--burst-seconds", type=float, default=5)
    ap.add_argument("--master-extra", default="", help="extra imapd.conf lines for the lag master")
    ap.add_argument("--only", default="initial,lag", help="comma list of: initial, lag, cyrus")
    ap.add_argument("--cyrus-messages", type=int, default=0, help="default: --messages")
    ap.add_argument("--peers", default=os.path.join(HERE, "..", "..", "..", "shared", "peers"))
    ap.add_argument("--peer-root", default="/tmp/peers-replperf")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    a.peers = os.path.abspath(a.peers)
    a.cyrus_messages = a.cyrus_messages or a.messages
    only = set(a.only.split(","))
    print("repl_bench: %s, nproc %d, load %.1f" % (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                                   os.cpu_count(), load()), flush=True)
    ours = cyrus = None
    if "initial" in only:
        ours = bench_initial(a)
    if "cyrus" in only:
        cyrus = bench_cyrus(a)
    if ours and cyrus:
        print("ratio ours/cyrus (initial sync, msg/s): %.2f" % (ours / cyrus), flush=True)
    if "lag" in only:
        bench_lag(a)


if __name__ == "__main__":
    main()
