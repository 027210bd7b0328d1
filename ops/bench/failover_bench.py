#!/usr/bin/env python3
"""Failover timings on loopback (two cyr_master nodes, a witness, proxies;
see tests/integration/failover_kit.py):

  - kill -9 of the primary -> first LMTP delivery accepted by the new
    primary, with failover_timeout 5 s (the default) and 1 s (aggressive);
  - planned switchover: the write pause cyr_failover reports, and the gap
    an LMTP sender sees between its last 250 on the old primary and its
    first 250 on the new one;
  - LMTP throughput with sync_mode: sync relative to async.

    python3 ops/bench/failover_bench.py --bin build/bin [--rounds 3]
        [--only kill|switchover|throughput] [--senders 4,16] [--auth on|off|both]
        [--sync-link direct|proxy]

--auth: the pair shares a failover_secret (on, the default, as deployed),
none (off), or each kill/switchover round is run both ways back to back
(both), to show what authenticating every control connection costs.

Prints one line per measurement and the median per scenario."""

import argparse
import functools
import os
import re
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from failover_kit import KIT_SECRET, Load, Pair, addr_of, deliver, imap  # noqa: E402
from harness import wait_for  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import freed_inodes  # noqa: E402

# Every pair's directories stay until the benchmark ends (freed_inodes.py).
REMOVAL = freed_inodes.DeferredRemoval()


def close_pair(pair):
    """Stops the pair's processes; its nodes' directories are removed at the
    end of the benchmark, not now."""
    for n in pair.nodes.values():
        if not n.keep:
            n.keep = True
            REMOVAL.add(n.dir)
    pair.close()


class Args:
    def __init__(self, bin_dir, keep, secret=KIT_SECRET):
        self.bin, self.keep, self.secret = bin_dir, keep, secret

    def with_secret(self, on):
        return Args(self.bin, self.keep, KIT_SECRET if on else None)


def started_pair(args, timeout):
    pair = Pair(args, timeout=timeout, secret=args.secret)
    pair.start("a")
    pair.start("b")
    pair.wait_role("a", "primary", 0, timeout=30)
    c = imap(pair.node("a"))
    assert c.create("user.fred")[0] == "OK"
    c.logout()
    wait_for(lambda: "INBOX" in str(message_ids_or_none(pair)), 30, what="user.fred on the replica")
    return pair


def message_ids_or_none(pair):
    c = imap(pair.node("b"), "fred")
    try:
        return c.list()[1]
    finally:
        c.logout()


def kill_to_first_delivery(args, timeout):
    pair = started_pair(args, timeout)
    try:
        load = Load(pair, "a")
        wait_for(lambda: len(load.accepted) >= 20, 30, what="deliveries")
        t_kill = time.monotonic()
        pair.kill("a")
        try:
            wait_for(lambda: any(n == "b" for (_, n, _, _) in load.accepted), 60, interval=0.01,
                     what="a delivery on the new primary")
        except AssertionError:
            print("no delivery on the new primary; its status: %s" % pair.status("b"))
            raise
        first = min(t1 for (_, n, _, t1) in load.accepted if n == "b")
        load.finish()
        return first - t_kill
    finally:
        close_pair(pair)


def switchover_pause(args):
    pair = started_pair(args, 1)
    try:
        load = Load(pair, "a")
        wait_for(lambda: len(load.accepted) >= 20, 30, what="deliveries")
        res = pair.failover_cmd("a", "switchover", timeout=120)
        out = res.stdout.decode()
        assert res.returncode == 0, out + res.stderr.decode()
        reported = int(out.split("write_pause_ms")[1].split()[0]) / 1000.0
        wait_for(lambda: sum(1 for (_, n, _, _) in load.accepted if n == "b") >= 5, 60, interval=0.01,
                 what="deliveries on the new primary")
        acc = load.finish()
        last_a = max(t1 for (_, n, _, t1) in acc if n == "a")
        first_b = min(t1 for (_, n, _, t1) in acc if n == "b")
        return reported, first_b - last_a
    finally:
        close_pair(pair)


def direct_sync_link(pair):
    """Points node a's replication (sync_host) at node b's sync server
    itself instead of the kit's proxy; b must be running, a not yet. The
    proxy is there so that tests can cut the link; it is a Python process
    relaying every byte of every round on the same cores, which no
    deployment has."""
    host, port = addr_of(pair.node("b"), "syncserver")
    conf = pair.node("a").imapd_conf
    with open(conf) as f:
        text = f.read()
    new, n = re.subn(r"^sync_host: .*$", "sync_host: %s:%d" % (host, port), text, flags=re.M)
    assert n == 1, "no sync_host line in %s" % conf
    with open(conf, "w") as f:
        f.write(new)


def throughput(args, extra, messages=300, senders=4, users=1, link="direct"):
    """Deliveries/s to the primary of a pair with `extra` in imapd.conf;
    message i goes to user i % users (fred when users is 1). link: the
    replication connection goes straight to the replica (direct) or through
    the kit's proxy (proxy)."""
    pair = Pair(args, timeout=1, extra=extra, secret=args.secret)
    try:
        if link == "direct":
            pair.start("b")
            direct_sync_link(pair)
            pair.start("a")
        else:
            pair.start("a")
            pair.start("b")
        pair.wait_role("a", "primary", 0, timeout=30)
        names = ["fred"] if users == 1 else ["u%d" % k for k in range(users)]
        c = imap(pair.node("a"))
        for n in names:
            assert c.create("user." + n)[0] == "OK"
        c.logout()
        wait_for(lambda: " lag_changes 0 " in pair.status("a").get("replication", ""), 30,
                 what="the users on the replica")
        if users == 1:
            wait_for(lambda: "INBOX" in str(message_ids_or_none(pair)), 30, what="user.fred on the replica")
        counter = iter(range(messages))
        lock = threading.Lock()
        failures = []

        def sender():
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                code, _, _ = deliver(pair.node("a"), i, "t", rcpt=names[i % len(names)])
                if code != 250:
                    failures.append(code)

        t0 = time.monotonic()
        threads = [threading.Thread(target=sender) for _ in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        assert not failures, failures[:5]
        return messages / elapsed, pair.status("a").get("sync_mode", "")
    finally:
        close_pair(pair)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", choices=("kill", "switchover", "throughput"))
    # Each sender waits for its 250 before the next message, so in sync mode
    # few senders measure the latency of one replication round, many the
    # throughput (Postfix's default destination concurrency is 20).
    ap.add_argument("--senders", default="4,16", help="concurrent LMTP senders for the throughput figure (list)")
    # 300 messages (the default until run 15) took a quarter of a second at
    # async speeds: a measurement of start-up noise as much as of throughput.
    ap.add_argument("--messages", type=int, default=1200)
    # One user is the worst case for sync mode: one owner's rounds run one
    # after the other; several users replicate on parallel streams.
    ap.add_argument("--users", default="1", help="recipients, messages spread over them (list)")
    # Until run 14 (docs/performance.md) the throughput figure went through
    # the test kit's proxy like the kill and switchover figures (they need
    # it to cut links); --sync-link proxy still measures that way.
    ap.add_argument("--sync-link", choices=("direct", "proxy"), default="direct",
                    help="throughput: replication straight to the replica, or through the kit's proxy")
    ap.add_argument("--auth", choices=("on", "off", "both"), default="on",
                    help="failover_secret on the pair (kill and switchover: both = each round both ways)")
    a = ap.parse_args()
    args = Args(os.path.abspath(a.bin), a.keep, None if a.auth == "off" else KIT_SECRET)
    freed_inodes.settle()
    try:
        if a.only in (None, "kill"):
            kill_figures(args, a)
        if a.only in (None, "switchover"):
            switchover_figures(args, a)
        if a.only in (None, "throughput"):
            throughput_figures(args, a)
    finally:
        REMOVAL.remove_all()


def auth_modes(args, a):
    """(label, args) per mode; with --auth both the modes alternate within
    each round, so a change in the shared machine's load hits both alike."""
    if a.auth == "both":
        return [("secret", args.with_secret(True)), ("open", args.with_secret(False))]
    return [("secret" if args.secret else "open", args)]


def kill_figures(args, a):
    modes = auth_modes(args, a)
    for timeout in (5, 1):
        values = {label: [] for label, _ in modes}
        for r in range(a.rounds):
            for label, margs in modes:
                v = kill_to_first_delivery(margs, timeout)
                values[label].append(v)
                print("kill -9 -> first delivery on the new primary (failover_timeout %ds, %s): %.2f s"
                      % (timeout, label, v))
        for label, v in values.items():
            print("  median %.2f s, %s (target: under %d s)" % (statistics.median(v), label, 10 if timeout == 5 else 3))
        if len(values) == 2:
            print("  secret/open: %.2f" % (statistics.median(values["secret"]) / statistics.median(values["open"])))


def switchover_figures(args, a):
    modes = auth_modes(args, a)
    reported = {label: [] for label, _ in modes}
    seen = {label: [] for label, _ in modes}
    for r in range(a.rounds):
        for label, margs in modes:
            p, g = switchover_pause(margs)
            reported[label].append(p)
            seen[label].append(g)
            print("switchover (%s): write pause %.3f s (reported), LMTP gap %.3f s (seen by the sender)"
                  % (label, p, g))
    for label, _ in modes:
        print("  median write pause %.3f s, LMTP gap %.3f s, %s (target: under 2 s)"
              % (statistics.median(reported[label]), statistics.median(seen[label]), label))
    if len(modes) == 2:
        print("  secret/open write pause: %.2f" % (statistics.median(reported["secret"]) /
                                                   statistics.median(reported["open"])))


def throughput_figures(args, a):
    for users in [int(x) for x in a.users.split(",")]:
        for senders in [int(x) for x in a.senders.split(",")]:
            throughput_figure(args, a, senders, users)


def throughput_figure(args, a, senders, users):
    # Rounds alternate async and sync, so a change in the machine's load
    # (it is shared) hits both modes alike.
    messages = max(a.messages, 40 * senders)
    rates = {"async": [], "sync": []}
    for r in range(a.rounds):
        for mode in ("async", "sync"):
            rate, state = throughput(args, "sync_mode: %s\nsync_timeout: 3s\n" % mode, messages=messages,
                                     senders=senders, users=users, link=a.sync_link)
            rates[mode].append(rate)
            print("LMTP throughput, sync_mode %s (%d senders, %d users, %d messages, one connection per "
                  "message, %s replication link): %.1f msg/s [%s]"
                  % (mode, senders, users, messages, a.sync_link, rate, state))
    med = {m: statistics.median(v) for m, v in rates.items()}
    print("  %d senders, %d users, %s link: median async %.1f msg/s, sync %.1f msg/s; sync/async: %.0f%% "
          "(target: at least 70%%)" % (senders, users, a.sync_link, med["async"], med["sync"],
                                       100.0 * med["sync"] / med["async"]))


print = functools.partial(print, flush=True)  # noqa: A001 - progress as it happens

if __name__ == "__main__":
    main()
