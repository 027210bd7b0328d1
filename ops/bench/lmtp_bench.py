#!/usr/bin/env python3
"""LMTP delivery throughput: Postfix's smtp-source -L drives 8 concurrent
LMTP sessions of 4 KiB messages into a fresh node (durable: every 250 is
fsync'd), once to one mailbox and once spread over many users.

    python3 ops/bench/lmtp_bench.py --bin build/bin [--messages 4000]

Prints messages/second per scenario and checks that every message arrived.
Needs /usr/sbin/smtp-source (Debian package postfix)."""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from test_lmtp import LmtpNode  # noqa: E402


def run(node, rcpt_args, messages, sessions, size):
    host, port = node.addr("lmtp")
    cmd = ["/usr/sbin/smtp-source", "-L", "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-f", "bench@example.org"] + rcpt_args + ["%s:%d" % (host, port)]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, timeout=3600)
    elapsed = time.monotonic() - start
    if p.returncode != 0:
        raise SystemExit("smtp-source failed: %s" % p.stderr.decode())
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not os.path.exists("/usr/sbin/smtp-source"):
        raise SystemExit("needs /usr/sbin/smtp-source (apt-get install postfix)")
    with LmtpNode(a, "duplicatesuppression: no\n") as n:
        n.start()
        # smtp-source -N prepends a sequence number to each recipient:
        # "0u@example.com", "1u@example.com", ... one user per message.
        names = ["%du" % i for i in range(a.messages + 1)]
        n.provision(("create", ("user.one",)), *[("create", ("user." + u,)) for u in names])
        t = run(n, ["-t", "one@example.com"], a.messages, a.sessions, a.size)
        got = n.messages("user.one")
        assert got == a.messages, (got, a.messages)
        print("one mailbox: %d msgs x %d B, %d sessions: %.1fs, %.0f msg/s"
              % (a.messages, a.size, a.sessions, t, a.messages / t))
        t = run(n, ["-N", "-t", "u@example.com"], a.messages, a.sessions, a.size)
        m = n.imap()
        total = 0
        for u in names:
            typ, data = m.status("user." + u, "(MESSAGES)")
            total += int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" )"))
        m.logout()
        assert total == a.messages, (total, a.messages)
        print("many users:  %d msgs x %d B, %d sessions, one user each: %.1fs, %.0f msg/s"
              % (a.messages, a.size, a.sessions, t, a.messages / t))
        n.stop()

if __name__ == "__main__":
    main()
