#!/usr/bin/env python3
"""LMTP delivery throughput: Postfix's smtp-source -L drives 8 concurrent
LMTP sessions of 4 KiB messages, once to one mailbox and once spread over
many users (smtp-source -N: every message to its own user, "0u", "1u", ...).

Our node (a fresh one, started here; every 250 is fsync'd):
    python3 ops/bench/lmtp_bench.py --bin build/bin [--messages 4000]
Any LMTP server whose recipients already exist (Cyrus, Dovecot; see
ops/bench/compare_peers.py, which provisions them):
    python3 ops/bench/lmtp_bench.py --lmtp 127.0.0.1:21024 \\
        --one-rcpt u1@localhost --spread-rcpt u@localhost

Prints "RESULT lmtp_one|lmtp_spread <msg/s> msg/s <details>" per scenario;
with --bin it also checks over IMAP that every message arrived.
Needs /usr/sbin/smtp-source (Debian package postfix)."""

import argparse
import os
import subprocess
import sys
import time

SMTP_SOURCE = "/usr/sbin/smtp-source"


def smtp_source(hostport, rcpt_args, messages, sessions, size):
    """Runs smtp-source to completion; returns the wall time in seconds."""
    cmd = [SMTP_SOURCE, "-L", "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-f", "bench@example.org"] + rcpt_args + [hostport]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, timeout=3600)
    elapsed = time.monotonic() - start
    # smtp-source stops at the first refused message, so exit 0 means all
    # were accepted (a 250 for every recipient).
    if p.returncode != 0:
        raise SystemExit("smtp-source %s failed: %s %s" % (hostport, p.stdout.decode()[-500:],
                                                            p.stderr.decode()[-500:]))
    return elapsed


def spread_users(messages):
    """The users smtp-source -N -t u@... delivers to (one per message)."""
    return ["%du" % i for i in range(messages + 1)]


def rss_kib(pid):
    """VmRSS of a process, in KiB (0 if unknown)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def report(name, messages, size, sessions, t, what):
    print("RESULT %s %.1f msg/s %d msgs x %d B, %d sessions, %s, %.2fs"
          % (name, messages / t, messages, size, sessions, what, t), flush=True)


def run_external(a):
    if a.scenario in ("one", "both"):
        t = smtp_source(a.lmtp, ["-t", a.one_rcpt], a.messages, a.sessions, a.size)
        report("lmtp_one", a.messages, a.size, a.sessions, t, "one mailbox")
    if a.scenario in ("spread", "both"):
        t = smtp_source(a.lmtp, ["-N", "-t", a.spread_rcpt], a.messages, a.sessions, a.size)
        report("lmtp_spread", a.messages, a.size, a.sessions, t, "one user per message")


def run_own_node(a):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "tests", "integration"))
    from test_lmtp import LmtpNode  # noqa: E402
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import freed_inodes  # noqa: E402

    freed_inodes.settle()
    extra = "".join(line.strip() + "\n" for line in a.conf)
    with LmtpNode(a, "duplicatesuppression: no\n" + extra) as n:
        n.start()
        names = spread_users(a.messages)
        n.provision(("create", ("user.one",)), *[("create", ("user." + u,)) for u in names])
        host, port = n.addr("lmtp")
        hostport = "%s:%d" % (host, port)
        if a.scenario in ("one", "both"):
            t = smtp_source(hostport, ["-t", "one@example.com"], a.messages, a.sessions, a.size)
            got = n.messages("user.one")
            assert got == a.messages, (got, a.messages)
            report("lmtp_one", a.messages, a.size, a.sessions, t, "one mailbox")
        if a.scenario in ("spread", "both"):
            t = smtp_source(hostport, ["-N", "-t", "u@example.com"], a.messages, a.sessions, a.size)
            m = n.imap()
            total = 0
            for u in names:
                typ, data = m.status("user." + u, "(MESSAGES)")
                total += int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" )"))
            m.logout()
            assert total == a.messages, (total, a.messages)
            report("lmtp_spread", a.messages, a.size, a.sessions, t, "one user per message")
            print("node RSS after spread: %.0f MiB" % (rss_kib(n.proc.pid) / 1024.0), flush=True)
        n.stop()
    if not a.keep:
        freed_inodes.note_cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="our build's bin directory: start a fresh node")
    ap.add_argument("--lmtp", help="HOST:PORT of a running LMTP server instead")
    ap.add_argument("--one-rcpt", default="u1@localhost")
    ap.add_argument("--spread-rcpt", default="u@localhost", help="smtp-source -N prefixes 0, 1, ...")
    ap.add_argument("--scenario", choices=("one", "spread", "both"), default="both")
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--conf", action="append", default=[],
                    help="our node: an extra imapd.conf line, e.g. 'store_open_shards: 4096' (repeatable)")
    a = ap.parse_args()
    if not os.path.exists(SMTP_SOURCE):
        raise SystemExit("needs %s (apt-get install postfix)" % SMTP_SOURCE)
    if bool(a.bin) == bool(a.lmtp):
        raise SystemExit("give exactly one of --bin and --lmtp")
    if a.lmtp:
        run_external(a)
    else:
        run_own_node(a)


if __name__ == "__main__":
    main()
