#!/usr/bin/env python3
"""Side-by-side benchmark: our node, Cyrus IMAP 3.6 and Dovecot 2.3 (Debian's
packages, run on loopback by the peers kit, ../shared/peers next to the
repository), under the same loads, interleaved in one run so that the noise
of a shared machine hits all three alike. Prints a table with our ratios.

    python3 ops/bench/compare_peers.py --bin build/bin [--peers-kit DIR]
        [--peer-root /tmp/peers-bench] [--port-offset 500] [--quick]

Loads (ops/bench/imap_bench.py, ops/bench/lmtp_bench.py):
  APPEND 4 KiB on 1 connection and on 16; SELECT + FETCH 1:* (UID FLAGS
  RFC822.SIZE ENVELOPE) of a 100,000-message INBOX; RSS per idle logged-in
  connection (server process tree delta / N); LMTP with smtp-source -s 8,
  one mailbox and one user per message. Then, on our node only, 10,000
  concurrent IDLE connections (RSS per connection, IDLE wake-up time).

Must run as root (the kit starts Cyrus and Dovecot as their own users).
The kit's instances are started if they are not running and left running
(stop them with the kit's stop.sh); our node is started fresh and stopped."""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, HERE)
import freed_inodes  # noqa: E402
from harness import Node  # noqa: E402

OUR_CYRUS_CONF = (
    'SERVICES {\n'
    '  imap     cmd="imapd" listen="127.0.0.1:0"\n'
    '  lmtp     cmd="lmtpd -a" listen="127.0.0.1:0"\n'
    '}\n')

# The same choices the kit makes for Cyrus (admins, plaintext, namespace),
# and Cyrus SASL's SCRAM iteration count (4096) instead of our default
# 100,000: 10,000 logins must not spend minutes in PBKDF2.
OUR_IMAPD = (
    "admins: admin\n"
    "allowplaintext: yes\n"
    "altnamespace: no\n"
    "unixhierarchysep: no\n"
    "lmtp_downcase_rcpt: yes\n"
    "sasl_scram_iteration_counter: 4096\n"
    "servername: bench\n")

NUSERS = 50


def load():
    return os.getloadavg()[0]


def log(msg):
    print("[%s load %.1f] %s" % (time.strftime("%H:%M:%S", time.gmtime()), load(), msg), flush=True)


class Server:
    def __init__(self, name, imap_port, lmtp_port, master_pid):
        self.name = name
        self.imap_port = imap_port
        self.lmtp_port = lmtp_port
        self.master_pid = master_pid


def run_py(script, args, timeout=3600):
    """Runs one of the bench scripts; returns {result name: (value, details)}."""
    cmd = [sys.executable, os.path.join(HERE, script)] + [str(x) for x in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            parts = line.split(" ", 4)
            out[parts[1]] = (float(parts[2]), parts[4] if len(parts) > 4 else "")
        elif line.startswith("INFO "):
            log("  " + line[5:])
    if p.returncode != 0:
        log("  %s %s failed (%d): %s" % (script, " ".join(map(str, args[-3:])), p.returncode,
                                         (p.stderr or p.stdout)[-600:].strip()))
    return out


def imap_bench(srv, scenarios, extra=()):
    return run_py("imap_bench.py", ["--port", srv.imap_port, "--password", "pw"] + list(extra) + scenarios)


# -- the peers kit -------------------------------------------------------------

def kit_env(a, which):
    env = dict(os.environ)
    off = a.port_offset
    if which == "cyrus":
        env.update(PEER_ROOT=os.path.join(a.peer_root, "cyrus"),
                   CYRUS_IMAP_PORT=str(21143 + off), CYRUS_LMTP_PORT=str(21024 + off),
                   CYRUS_SYNC_PORT=str(21005 + off), CYRUS_REPLICA_IMAP_PORT=str(22143 + off),
                   CYRUS_REPLICA_LMTP_PORT=str(22024 + off), CYRUS_REPLICA_SYNC_PORT=str(22005 + off))
    else:
        env.update(PEER_ROOT=os.path.join(a.peer_root, "dovecot"),
                   DOVECOT_IMAP_PORT=str(23143 + off), DOVECOT_LMTP_PORT=str(23024 + off))
    return env


def kit(a, which, script, *args):
    # Daemons started by the kit inherit stdout: send it to a file, never a
    # pipe we wait on.
    with open(os.path.join(a.peer_root, which + "-kit.log"), "ab") as f:
        subprocess.run(["sh", os.path.join(a.peers_kit, which, script)] + list(args),
                       env=kit_env(a, which), stdout=f, stderr=subprocess.STDOUT, check=True,
                       stdin=subprocess.DEVNULL)


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


def start_cyrus(a, spread_users):
    env = kit_env(a, "cyrus")
    root = env["PEER_ROOT"]
    if not os.path.exists(os.path.join(root, "single", "imapd.conf")):
        kit(a, "cyrus", "setup.sh", "single")
    kit(a, "cyrus", "start.sh", "single")
    port = int(env["CYRUS_IMAP_PORT"])
    subprocess.run([sys.executable, os.path.join(a.peers_kit, "cyrus", "create_mailboxes.py"), str(port),
                    "1", str(NUSERS)], check=True, capture_output=True)
    import imaplib
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login("admin", "adminpw")
    for u in spread_users:
        typ, data = c.create("user." + u)
        if typ != "OK" and b"exists" not in b" ".join(d or b"" for d in data).lower():
            raise SystemExit("Cyrus CREATE user.%s: %s %s" % (u, typ, data))
    c.logout()
    return Server("cyrus", port, int(env["CYRUS_LMTP_PORT"]),
                  read_pid(os.path.join(root, "single", "master.pid")))


def start_dovecot(a, spread_users):
    env = kit_env(a, "dovecot")
    root = env["PEER_ROOT"]
    if not os.path.exists(os.path.join(root, "conf", "dovecot.conf")):
        kit(a, "dovecot", "setup.sh")
    # The spread users need passdb entries (LMTP looks them up); the
    # passwd-file is re-read when it changes.
    pw = os.path.join(root, "conf", "passwd")
    with open(pw) as f:
        have = {line.split(":", 1)[0] for line in f}
    with open(pw, "a") as f:
        for u in spread_users:
            if u not in have:
                f.write("%s:{PLAIN}pw::::::\n" % u)
    kit(a, "dovecot", "start.sh")
    return Server("dovecot", int(env["DOVECOT_IMAP_PORT"]), int(env["DOVECOT_LMTP_PORT"]),
                  read_pid(os.path.join(root, "run", "master.pid")))


def start_ours(a, spread_users):
    node = Node(a.bin, OUR_CYRUS_CONF, OUR_IMAPD, keep=a.keep)
    node.start()
    passwd = os.path.join(node.bin_dir, "cyr_passwd")
    for u in ["admin"] + ["u%d" % i for i in range(1, NUSERS + 1)]:
        p = subprocess.run([passwd, "-C", node.imapd_conf, u], input=b"adminpw\n" if u == "admin" else b"pw\n",
                           capture_output=True)
        assert p.returncode == 0, p.stderr
    import imaplib
    host, port = node.ports()["imap"][0].rsplit(":", 1)
    c = imaplib.IMAP4(host, int(port))
    c.login("admin", "adminpw")
    for u in ["u%d" % i for i in range(1, NUSERS + 1)] + spread_users:
        typ, data = c.create("user." + u)
        assert typ == "OK", (u, data)
    c.logout()
    lmtp = int(node.ports()["lmtp"][0].rsplit(":", 1)[1])
    return node, Server("ours", int(port), lmtp, node.proc.pid)


# -- the run ---------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="our build's bin directory")
    ap.add_argument("--peers-kit", default=os.path.join(REPO, "..", "shared", "peers"))
    ap.add_argument("--peer-root", default="/tmp/peers-bench")
    ap.add_argument("--port-offset", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=1, help="repeat the interleaved loads; medians")
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    ap.add_argument("--idle", type=int, default=10000, help="concurrent IDLE connections on our node")
    ap.add_argument("--only", default="", help="comma list: append,fetch,rss,lmtp,idle")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the peers kit starts Cyrus and Dovecot")
    a.bin = os.path.abspath(a.bin)
    a.peers_kit = os.path.abspath(a.peers_kit)
    os.makedirs(a.peer_root, exist_ok=True)
    # Our node's directory lives beside the peers', not among the test
    # suite's temporary directories (which other test runs may clean up).
    import tempfile
    tempfile.tempdir = os.path.join(a.peer_root, "ours")
    os.makedirs(tempfile.tempdir, exist_ok=True)
    # Our node and the IDLE client need > 10,000 descriptors; children inherit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(65536, a.idle * 2 + 1024)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    only = set(filter(None, a.only.split(","))) or {"append", "fetch", "rss", "lmtp", "idle"}
    scale = 10 if a.quick else 1
    n_append1, n_append16 = 1000 // scale, 4000 // scale
    n_fetch = 100000 // scale
    n_lmtp_one, n_lmtp_spread = 4000 // scale, 2000 // scale
    n_rss = 60  # Cyrus's kit config allows maxchild=100 imapd processes
    # Fresh spread users in every run (smtp-source -N prefixes 0, 1, ... to
    # the recipient), so "first" is a first delivery on the peers too.
    spread_tag = "s%d" % (int(time.time()) % 1000000)
    spread = ["%d%s" % (i, spread_tag) for i in range(n_lmtp_spread + 1)] if "lmtp" in only else []

    log("machine: %d CPUs, %s" % (os.cpu_count(), " ".join(os.uname()[2:3])))
    freed_inodes.settle(log)
    node, ours = start_ours(a, spread)
    log("ours: imap %d lmtp %d pid %d (%s)" % (ours.imap_port, ours.lmtp_port, ours.master_pid, node.dir))
    cyrus = start_cyrus(a, spread)
    log("cyrus: imap %d lmtp %d pid %d" % (cyrus.imap_port, cyrus.lmtp_port, cyrus.master_pid))
    dovecot = start_dovecot(a, spread)
    log("dovecot: imap %d lmtp %d pid %d" % (dovecot.imap_port, dovecot.lmtp_port, dovecot.master_pid))
    servers = [ours, cyrus, dovecot]
    results = {}  # (metric, server) -> [values]

    def put(metric, srv, res, key):
        if key in res:
            results.setdefault((metric, srv.name), []).append(res[key][0])
            log("  %-8s %-22s %10.4f  %s" % (srv.name, metric, res[key][0], res[key][1]))

    try:
        for rnd in range(a.rounds):
            log("round %d of %d" % (rnd + 1, a.rounds))
            if "append" in only:
                for s in servers:
                    r = imap_bench(s, ["append1=%d" % n_append1], ["--first-user", 1])
                    put("APPEND/s 1 conn", s, r, "append1")
                for s in servers:
                    r = imap_bench(s, ["appendC=%d" % n_append16], ["--first-user", 2, "--conns", 16])
                    put("APPEND/s 16 conns", s, r, "append16")
            if "rss" in only:
                for s in servers:
                    r = imap_bench(s, ["idle=%d" % n_rss], ["--first-user", 20, "--idle-users", 20,
                                                            "--rss-pid", s.master_pid])
                    put("KiB RSS/idle conn", s, r, "idle_rss_per_conn")
                    put("KiB PSS/idle conn", s, r, "idle_pss_per_conn")
            if "fetch" in only:
                for s in servers:
                    r = imap_bench(s, ["fetch=%d" % n_fetch], ["--fetch-user", "u50"])
                    put("SELECT s (%d)" % n_fetch, s, r, "select")
                    put("FETCH s (%d)" % n_fetch, s, r, "fetch")
            if "lmtp" in only:
                # smtp-source -N numbers recipients from 0 on every run, so the
                # second spread run delivers to the same users again: the first
                # is each user's first delivery (our node creates a user's shard
                # database then; Cyrus made its index at CREATE), the second is
                # the steady state of users who already have mail.
                for label, scen, n, key in (("one", "one", n_lmtp_one, "lmtp_one"),
                                            ("spread first", "spread", n_lmtp_spread, "lmtp_spread"),
                                            ("spread again", "spread", n_lmtp_spread, "lmtp_spread")):
                    for s in servers:
                        r = run_py("lmtp_bench.py", ["--lmtp", "127.0.0.1:%d" % s.lmtp_port, "--scenario", scen,
                                                     "--messages", n, "--one-rcpt", "u45@localhost",
                                                     "--spread-rcpt", spread_tag + "@localhost"])
                        put("LMTP msg/s " + label, s, r, key)
        if "idle" in only and a.idle > 0:
            log("our node: %d concurrent IDLE connections" % a.idle)
            r = imap_bench(ours, ["idle=%d" % a.idle], ["--first-user", 1, "--idle-users", 40,
                                                        "--rss-pid", ours.master_pid, "--login-parallel", 100,
                                                        "--timeout", 600])
            for key in ("idle_reached", "idle_rss_per_conn", "idle_pss_per_conn", "idle_wake"):
                put("%s (%d)" % (key, a.idle), ours, r, key)
    finally:
        node.stop()
        node.cleanup()
        if not node.keep:
            freed_inodes.note_cleanup()

    # -- the table ------------------------------------------------------------
    higher_better = lambda m: "/s" in m or "reached" in m  # noqa: E731
    print()
    print("| figure | ours | Cyrus 3.6 | Dovecot 2.3 | ours vs Cyrus | ours vs Dovecot |")
    print("|---|---|---|---|---|---|")
    metrics = []
    for (m, _s) in results:
        if m not in metrics:
            metrics.append(m)
    for m in metrics:
        vals = {s.name: statistics.median(results[(m, s.name)]) for s in servers if (m, s.name) in results}

        def fmt(v):
            return "-" if v is None else ("%.0f" % v if abs(v) >= 100 else "%.3g" % v)

        def ratio(o, p):
            if o is None or p is None or o == 0 or p == 0:
                return "-"
            return "%.2fx" % ((o / p) if higher_better(m) else (p / o))
        o, c, d = vals.get("ours"), vals.get("cyrus"), vals.get("dovecot")
        print("| %s | %s | %s | %s | %s | %s |" % (m, fmt(o), fmt(c), fmt(d), ratio(o, c), ratio(o, d)))
    print("\n(ratios: how many times better ours is; for times and memory, theirs / ours)")
    log("done")


if __name__ == "__main__":
    main()
