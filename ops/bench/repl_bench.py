#!/usr/bin/env python3
"""Replication benchmarks (issue 6). Prints numbers; never run as a test.

    python3 ops/bench/repl_bench.py --bin build/bin [--messages 100000]
        [--modes plain,zstd] [--rounds R] [--lag-seconds 20] [--cyrus-messages N]
        [--only initial,cyrus,lag] [--peer-root DIR] [--port-offset 3000]

Both data sets are delivered first; then the timed initial syncs alternate
(ours in each mode, then Cyrus) for R rounds, each into an emptied replica,
so that the load of the shared machine falls on both alike; per-round and
median ratios are printed.

1. initial: a fresh pair of our nodes (two cyr_master on loopback). N unique
   4 KiB messages are delivered to user/bench on the master over LMTP, then
   `cyr_sync_client -u bench` copies them into an empty replica over
   csync/TCP, once per mode (plain, then -z into a second empty replica, so
   the messages are delivered once). Printed: messages/s and MB/s of the
   sync alone; the --verify after each must be clean or the run stops.
2. lag: the master runs rolling replication (sync_log: on). First LMTP
   delivers as fast as it can (8 sessions) for a few seconds: that is the
   maximum rate, and the lag of those messages is "lag under max rate". Then
   LMTP delivers at half that rate, on 4 sessions paced to fixed intervals,
   for --lag-seconds. Lag: the k-th message the replica shows (IMAP STATUS
   polled every 10 ms; replication keeps UID order, and UIDs are given in
   commit order) against the k-th 250 that LMTP answered. Printed: median
   and p99.
3. cyrus (--only ...,cyrus): the same initial sync with Debian's Cyrus 3.6 pair from
   ../shared/peers/cyrus (--peer-root, ports offset by --port-offset from
   the kit's defaults so other users of the kit are not disturbed; the kit's
   packages must be extracted under the peer root already, see
   docs/performance.md): the same messages delivered over LMTP to the
   primary (rolling client not running), then `sync_client -u u1` timed
   into the empty replica; the ratio ours/Cyrus is printed. Cyrus's client
   turns on COMPRESS DEFLATE by itself whenever the replica offers it.
   Needs root (the Cyrus master drops to the cyrus user).

Every load loop is bounded by its message count or its duration.
"""

import argparse
import imaplib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
from harness import Node, set_password  # noqa: E402

# unixhierarchysep is on by default here: IMAP names are user/NAME.
IMAPD_EXTRA = "admins: admin\nallowplaintext: yes\nduplicatesuppression: no\n"
REPLICA_CONF = ('SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n'
                '  syncserver cmd="sync_server" listen="127.0.0.1:0"\n}\n')
MASTER_CONF = ('SERVICES {\n  imap cmd="imapd" listen="127.0.0.1:0"\n'
               '  lmtp cmd="lmtpd -a" listen="127.0.0.1:0"\n}\n')


def load():
    return os.getloadavg()[0]


# A vocabulary of made-up words: message bodies are text that compresses
# about as well as real mail text (a body of one repeated line would make
# the zstd figures meaningless).
_SYLL = ["ka", "re", "mo", "tin", "sa", "lu", "per", "di", "gon", "va", "el", "shi", "ro", "mit", "an", "qu"]
WORDS = [a + b + c for a in _SYLL for b in _SYLL for c in ("", "s", "ed", "ing")]


def message(i, size):
    head = ("From: bench@example.org\r\nTo: bench@example.com\r\nSubject: bench %d\r\n"
            "Message-ID: <%d.%d@bench.example.org>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n"
            % (i, i, os.getpid()))
    rnd = random.Random(i * 7919 + os.getpid())
    out, n = [head], len(head)
    while n < size - 2:
        line = " ".join(rnd.choices(WORDS, k=10)) + "\r\n"
        out.append(line)
        n += len(line)
    data = "".join(out).encode()[:size - 2]
    return data.rstrip(b"\r\n") + b" " * (size - 2 - len(data.rstrip(b"\r\n"))) + b"\r\n"


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
    for typ, _ in (c.create("user/bench"), c.setacl("user/bench", "admin", "lrswipkxtecda")):
        assert typ == "OK"
    c.logout()
    return master, replica


def stop_pair(master, replica):
    for n in (master, replica):
        n.stop()
        n.cleanup()


def new_replica(a):
    replica = Node(a.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=a.keep)
    set_password(replica, "admin")
    replica.start()
    return replica


def sync_into(a, master, replica, mode):
    """Times one `cyr_sync_client -u bench` into `replica`; checks count and --verify."""
    host, port = addr(replica, "syncserver")
    via = ["-S", "%s:%d" % (host, port)]
    argv = [os.path.join(a.bin, "cyr_sync_client"), "-C", master.imapd_conf, "-v"] + via
    if mode == "zstd":
        argv.append("-z")
    t0 = time.monotonic()
    res = subprocess.run(argv + ["-u", "bench"], capture_output=True, timeout=3600)
    secs = time.monotonic() - t0
    if res.returncode != 0:
        raise SystemExit("sync failed: %s %s" % (res.stdout.decode(), res.stderr.decode()))
    wire = [ln for ln in res.stdout.decode().splitlines() if "on the wire" in ln]
    n = imap_count(*addr(replica, "imap"), "admin", "secret", "user/bench")
    if n != a.messages:
        raise SystemExit("replica has %d of %d messages after the sync" % (n, a.messages))
    mb = a.messages * a.size / 1e6
    print("ours: initial sync (%s) of %d x %d B: %.2fs = %.0f msg/s, %.1f MB/s (load %.1f)%s"
          % (mode, a.messages, a.size, secs, a.messages / secs, mb / secs, load(),
             "; " + "; ".join(wire) if wire else ""), flush=True)
    res = subprocess.run([os.path.join(a.bin, "cyr_sync_client"), "-C", master.imapd_conf] + via
                         + ["--verify", "bench"], capture_output=True, timeout=3600)
    if res.returncode != 0:
        raise SystemExit("--verify after the %s sync: exit %d\n%s" % (mode, res.returncode, res.stdout.decode()[-2000:]))
    print("ours: --verify clean", flush=True)
    return a.messages / secs


def prepare_ours(a):
    """A pair of our nodes with --messages delivered to user/bench on the master."""
    master, replica = start_pair(a, rolling=False)
    try:
        t0 = time.monotonic()
        got = deliver_many(addr(master, "lmtp"), "bench@example.com", 1, a.messages, a.size)
        t1 = time.monotonic()
    except BaseException:
        stop_pair(master, replica)
        raise
    print("ours: delivered %d x %d B over LMTP in %.1fs (%.0f msg/s), load %.1f"
          % (got, a.size, t1 - t0, got / (t1 - t0), load()), flush=True)
    return master, replica


# Replicas (ours) and Cyrus replica folders used by earlier rounds, removed
# only when the run ends. On a file system without a journal (this machine's
# /tmp) ext4 skips, at every inode allocation, each inode of the group freed
# in the last 1-5 minutes, and its allocator places a new top directory in
# the group with the fewest directories, which is the one a tree just
# deleted left behind: deleting round k's replica right before round k+1
# made round k+1's replica pay that scan for every message it created (up
# to 2x its CPU) on one side or the other, by chance (docs/performance.md,
# Replication).
USED_REPLICAS = []


def remove_used_replicas():
    for r in USED_REPLICAS:
        if isinstance(r, str):
            shutil.rmtree(r, ignore_errors=True)
        else:
            r.cleanup()
    USED_REPLICAS.clear()


def round_ours(a, master, first_replica, k):
    """One initial sync per mode, each into an empty replica. Returns {mode: msg/s}."""
    out = {}
    for j, mode in enumerate(a.modes):
        r = first_replica if (k == 0 and j == 0) else new_replica(a)
        try:
            out[mode] = sync_into(a, master, r, mode)
        finally:
            if r is not first_replica:
                r.stop()
                USED_REPLICAS.append(r)
    return out


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def ordered_lags(w, stamps, before):
    """The k-th acknowledged message against the replica's (before+k)-th:
    with several LMTP sessions the index of a message says nothing about its
    UID, but the order of the 250s does (a UID is given at commit)."""
    acks = sorted(stamps.values())
    return [w.visible_at(before + k + 1) - t for k, t in enumerate(acks)]


def bench_lag(a):
    master, replica = start_pair(a, rolling=True, extra=a.master_extra)
    try:
        w = Watcher(*addr(replica, "imap"), "user/bench")
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
        lags = ordered_lags(w, stamps, 0)
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
        if not w.wait_count(last, 120) or len(stamps) != total:
            raise SystemExit("replica did not catch up at half rate")
        lags = ordered_lags(w, stamps, n)
        print("ours: steady lag at %.0f msg/s (half of max; achieved %.0f msg/s, %d msgs): median %.3fs "
              "p99 %.3fs max %.3fs (load %.1f)"
              % (rate, total / (t1 - t0), total, statistics.median(lags), percentile(lags, 99), max(lags),
                 load()), flush=True)
        w.stop_flag = True
    finally:
        stop_pair(master, replica)


# ---- Cyrus 3.6 pair ---------------------------------------------------------------------

# The kit's default ports; --port-offset moves all of them.
KIT_PORTS = dict(CYRUS_IMAP_PORT=21143, CYRUS_LMTP_PORT=21024, CYRUS_SYNC_PORT=21005,
                 CYRUS_REPLICA_IMAP_PORT=22143, CYRUS_REPLICA_LMTP_PORT=22024, CYRUS_REPLICA_SYNC_PORT=22005)


def cyrus_port(a, name):
    return KIT_PORTS[name] + a.port_offset


def cyrus_env(a):
    env = dict(os.environ)
    env.update(PEER_ROOT=a.peer_root, CYRUS_NUSERS="4")
    env.update({k: str(cyrus_port(a, k)) for k in KIT_PORTS})
    return env


class CyrusPair:
    """Debian's Cyrus 3.6 primary and replica from the peers kit, on our own
    PEER_ROOT and ports. The primary runs without its rolling sync_client;
    round() empties the replica (except in round 0) and times one
    `sync_client -u u1` into it."""

    def __init__(self, a):
        self.a = a
        self.env = cyrus_env(a)
        self.kit = a.peers
        self.root = a.peer_root
        self.bin = os.path.join(self.root, "pkg/usr/lib/cyrus/bin")
        self.prim = os.path.join(self.root, "primary")
        if not os.path.exists(os.path.join(self.bin, "sync_client")):
            raise SystemExit("no Cyrus packages under %s/pkg: run the kit's setup.sh pair with PEER_ROOT=%s "
                             "(or copy a prefetched pkg/ and debs/ there)" % (self.root, self.root))
        self.imap_port = cyrus_port(a, "CYRUS_IMAP_PORT")
        self.lmtp_port = cyrus_port(a, "CYRUS_LMTP_PORT")
        self.replica_imap = cyrus_port(a, "CYRUS_REPLICA_IMAP_PORT")

    def kit_sh(self, *argv, check=True):
        return subprocess.run(["sh", os.path.join(self.kit, "cyrus", argv[0])] + list(argv[1:]), env=self.env,
                              check=check, capture_output=True)

    def prepare(self):
        a = self.a
        self.kit_sh("stop.sh", "pair", check=False)
        # Empty both roles: fresh spool and databases, configs and users re-made.
        for role in ("primary", "replica"):
            shutil.rmtree(os.path.join(self.root, role), ignore_errors=True)
        self.kit_sh("setup.sh", "pair")
        # The primary without its rolling sync_client: the one-shot sync is what is timed.
        with open(os.path.join(self.prim, "cyrus.conf")) as f:
            conf = f.read()
        conf = conf[:conf.index("DAEMON {")] if "DAEMON {" in conf else conf
        with open(os.path.join(self.prim, "cyrus-bench.conf"), "w") as f:
            f.write(conf)
        self.kit_sh("start.sh", "replica")
        subprocess.run([os.path.join(self.bin, "master"), "-C", os.path.join(self.prim, "imapd.conf"), "-M",
                        os.path.join(self.prim, "cyrus-bench.conf"), "-p", os.path.join(self.prim, "master.pid"),
                        "-d", "-l", "256"], env=self.env, check=True)
        wait_port(self.imap_port)
        subprocess.run([sys.executable, os.path.join(self.kit, "cyrus/create_mailboxes.py"), str(self.imap_port),
                        "1", "1"], env=self.env, check=True, capture_output=True)
        t0 = time.monotonic()
        got = deliver_many(("127.0.0.1", self.lmtp_port), "u1@localhost", 1, a.cyrus_messages, a.size)
        t1 = time.monotonic()
        print("cyrus: delivered %d x %d B over LMTP in %.1fs (%.0f msg/s), load %.1f"
              % (got, a.size, t1 - t0, got / (t1 - t0), load()), flush=True)

    def empty_replica(self):
        self.kit_sh("stop.sh", "replica")
        # Moved aside, removed at the end of the run (see USED_REPLICAS).
        aside = os.path.join(self.root, "replica.used.%d" % len(USED_REPLICAS))
        shutil.rmtree(aside, ignore_errors=True)
        os.rename(os.path.join(self.root, "replica"), aside)
        USED_REPLICAS.append(aside)
        # setup.sh only knows "pair"; it keeps the primary's mail and rewrites
        # the same configs, and makes the replica's folders and users again.
        self.kit_sh("setup.sh", "pair")
        self.kit_sh("start.sh", "replica")
        wait_port(self.replica_imap)

    def round(self, k):
        a = self.a
        if k > 0:
            self.empty_replica()
        t0 = time.monotonic()
        res = subprocess.run(["runuser", "-u", "cyrus", "--", os.path.join(self.bin, "sync_client"), "-C",
                              os.path.join(self.prim, "imapd.conf"), "-u", "u1"], capture_output=True, timeout=3600)
        secs = time.monotonic() - t0
        if res.returncode != 0:
            raise SystemExit("cyrus sync_client failed: %s %s" % (res.stdout.decode(), res.stderr.decode()))
        n = imap_count("127.0.0.1", self.replica_imap, "u1", "pw", "INBOX")
        if n != a.cyrus_messages:
            raise SystemExit("Cyrus replica has %d of %d messages" % (n, a.cyrus_messages))
        print("cyrus: initial sync (sync_client -u) of %d x %d B: %.2fs = %.0f msg/s, %.1f MB/s (load %.1f)"
              % (a.cyrus_messages, a.size, secs, a.cyrus_messages / secs, a.cyrus_messages * a.size / 1e6 / secs,
                 load()), flush=True)
        return a.cyrus_messages / secs

    def stop(self):
        self.kit_sh("stop.sh", "pair", check=False)


def wait_port(port, timeout=20):
    end = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def bench_initial(a, only):
    """Prepares both data sets, then alternates the timed syncs (ours in
    each mode, then Cyrus) for --rounds rounds, so that the load of the
    shared machine hits both alike; prints per-round and median ratios."""
    ours = cyrus = None
    try:
        if "initial" in only:
            ours = prepare_ours(a)
        if "cyrus" in only:
            cyrus = CyrusPair(a)
            cyrus.prepare()
        rates = {m: [] for m in a.modes}
        crates = []
        for k in range(a.rounds):
            print("-- round %d of %d (load %.1f)" % (k + 1, a.rounds, load()), flush=True)
            if ours:
                for m, r in round_ours(a, ours[0], ours[1], k).items():
                    rates[m].append(r)
            if cyrus:
                crates.append(cyrus.round(k))
            if ours and cyrus:
                for m in a.modes:
                    print("ratio round %d, ours (%s) / cyrus: %.2f" % (k + 1, m, rates[m][-1] / crates[-1]),
                          flush=True)
        if ours and cyrus:
            for m in a.modes:
                ratios = [x / y for x, y in zip(rates[m], crates)]
                print("ratio ours (%s) / cyrus, initial sync msg/s: median %.2f (rounds: %s; ours median %.0f, "
                      "cyrus median %.0f msg/s)%s"
                      % (m, statistics.median(ratios), ", ".join("%.2f" % x for x in ratios),
                         statistics.median(rates[m]), statistics.median(crates),
                         "" if a.messages == a.cyrus_messages else
                         " (different message counts: %d vs %d)" % (a.messages, a.cyrus_messages)), flush=True)
    finally:
        if ours:
            stop_pair(*ours)
        if cyrus:
            cyrus.stop()
        remove_used_replicas()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--modes", default="plain,zstd", help="initial sync modes, comma list of: plain, zstd (-z)")
    ap.add_argument("--lag-seconds", type=float, default=20)
    ap.add_argument("--burst-seconds", type=float, default=5)
    ap.add_argument("--master-extra", default="", help="extra imapd.conf lines for the lag master")
    ap.add_argument("--only", default="initial,cyrus,lag", help="comma list of: initial, cyrus, lag")
    ap.add_argument("--rounds", type=int, default=1, help="timed initial syncs of each kind, alternating")
    ap.add_argument("--cyrus-messages", type=int, default=0, help="default: --messages")
    ap.add_argument("--peers", default=os.path.join(HERE, "..", "..", "..", "shared", "peers"))
    ap.add_argument("--peer-root", default="/tmp/repl-bench-peers")
    ap.add_argument("--port-offset", type=int, default=3000, help="added to every port of the Cyrus kit")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    a.peers = os.path.abspath(a.peers)
    a.cyrus_messages = a.cyrus_messages or a.messages
    a.modes = [m for m in a.modes.split(",") if m]
    if any(m not in ("plain", "zstd") for m in a.modes):
        ap.error("--modes: plain and/or zstd")
    only = set(a.only.split(","))
    print("repl_bench: %s, nproc %d, load %.1f" % (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                                   os.cpu_count(), load()), flush=True)
    if only & {"initial", "cyrus"}:
        bench_initial(a, only)
    if "lag" in only:
        bench_lag(a)


if __name__ == "__main__":
    main()
