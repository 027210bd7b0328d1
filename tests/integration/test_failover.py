"""The failover pair on loopback: two cyr_master nodes and a witness
(cyr_failover witness), every link through a proxy the test can cut
(tests/integration/failover_kit.py), failover_timeout 1 s.

- kill -9 of the primary under LMTP load: the replica is promoted (hook
  run), the old primary restarts, becomes replica, reconciles, and every
  delivery that got 250 from either node is on both; the verifier is clean.
- a partition isolating the primary: it stops taking writes before the
  replica starts; accepted deliveries on the two nodes never overlap in time.
- planned switchover under load: roles swap, no acknowledged delivery is
  lost, the write pause is short; writes on the replica are refused the
  way each protocol says (IMAP NO [UNAVAILABLE], LMTP 4xx, POP3 DELE -ERR).
- sync_mode: sync: after a kill -9 of the primary, every delivery it
  answered 250 is on the new primary before any rejoin.
- failover_secret (set in every pair here): requests without it, or with a
  wrong one, are refused and logged by the nodes and the witness; a node
  restarted without the secret cannot talk to its peer, and both say why.

Every pair here runs with a failover_secret (failover_kit.KIT_SECRET)."""

import hashlib
import hmac
import os
import poplib
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import run_tests, wait_for  # noqa: E402
from failover_kit import KIT_SECRET, Load, Pair, addr_of, imap, message, message_ids, verify  # noqa: E402


def start_pair(args, **kw):
    pair = Pair(args, **kw)
    try:
        pair.start("a")
        pair.start("b")
        pair.wait_role("a", "primary", 0)
        c = imap(pair.node("a"))
        assert c.create("user.fred")[0] == "OK"
        c.logout()
        wait_for(lambda: "user.fred" in str(imap_list(pair.node("b"))), 20, what="user.fred on the replica")
    except Exception:
        pair.close()
        raise
    return pair


def imap_list(node):
    c = imap(node)
    try:
        return c.list()[1]
    finally:
        c.logout()


def expected_ids(accepted, tag="m"):
    return {"%s-%d@example.com" % (tag, i) for (i, _, _, _) in accepted}


def wait_same(pair, want, names=("a", "b"), timeout=30):
    for n in names:
        wait_for(lambda: want <= message_ids(pair.node(n)), timeout, interval=0.2,
                 what="every accepted message on node %s" % n)


def raw_imap(node, commands):
    """Sends each command line, returns {tag: tagged reply line}."""
    host, port = node.ports()["imap"][0].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    f = s.makefile("rb")
    f.readline()
    out = {}
    for cmd in commands:
        tag = cmd.split(b" ", 1)[0]
        s.sendall(cmd + b"\r\n")
        while True:
            line = f.readline()
            assert line, "connection closed"
            if line.startswith(tag + b" "):
                out[tag] = line.rstrip()
                break
    s.close()
    return out


def hook_log(node):
    try:
        with open(node.path("hook.log")) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def test_kill_primary_under_load_then_rejoin(args):
    pair = start_pair(args)
    try:
        load = Load(pair, "a")
        wait_for(lambda: len(load.accepted) >= 20, 20, what="deliveries before the kill")
        # Deliveries the primary acknowledged but could not replicate: only
        # the rejoin's copy-back can bring them to the new primary.
        pair.proxies["ab_sync"].cut()
        # A user change other than mail that only the old primary sees: the
        # rejoin must take it back too (SyncClientOptions::reconcile).
        c = imap(pair.node("b"), "fred")
        assert b"INBOX" not in b"".join(x or b"" for x in c.lsub()[1])
        c.logout()
        c = imap(pair.node("a"), "fred")
        typ, _ = c.subscribe("INBOX")
        assert typ == "OK"
        # And a folder with mail in it that only the old primary has.
        assert c.create("INBOX.Split")[0] == "OK"
        assert c.append("INBOX.Split", None, None, b"Subject: split\r\n\r\nonly on a\r\n")[0] == "OK"
        c.logout()
        # And a whole user created there.
        c = imap(pair.node("a"), "admin")
        assert c.create("user.newbie")[0] == "OK"
        assert c.setacl("user.newbie", "admin", "lrswipkxtecda")[0] == "OK"
        assert c.append("user.newbie", None, None, b"Subject: hi\r\n\r\nnew user\r\n")[0] == "OK"
        c.logout()
        n = len(load.accepted)
        wait_for(lambda: len(load.accepted) >= n + 10, 20, what="unreplicated deliveries")
        t_kill = time.monotonic()
        pair.kill("a")
        pair.heal()
        s = pair.wait_role("b", "primary", 1, timeout=15)
        promoted = time.monotonic() - t_kill
        wait_for(lambda: any(n == "b" for (_, n, _, _) in load.accepted), 15, what="a delivery on the new primary")
        first_b = min(t1 for (_, n, _, t1) in load.accepted if n == "b") - t_kill
        assert "primary 1" in hook_log(pair.node("b")), hook_log(pair.node("b"))
        # The old primary comes back: replica of epoch 1, reconciled.
        pair.start("a")
        pair.wait_role("a", "replica", 1, writable=False, timeout=20)
        wait_for(lambda: pair.status("a").get("rejoin") == "no", 30, what="the rejoin to finish")
        accepted = load.finish()
        assert accepted and all(n == "b" for (_, n, t0, _) in accepted if t0 > t_kill)
        want = expected_ids(accepted)
        wait_same(pair, want)
        res = verify(pair, "b")
        assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
        # The unreplicated deliveries came back through the split-brain repair
        # (by the rejoin's reconcile or by the new primary's rolling client).
        log = pair.node("b").log()
        assert "split brain" in log or re.search(r"[1-9][0-9]* copied back", log), "no copy-back in the log"
        c = imap(pair.node("b"), "fred")
        subs = b"".join(x or b"" for x in c.lsub()[1])
        c.logout()
        assert b"INBOX" in subs, subs
        c = imap(pair.node("b"), "fred")
        typ, data = c.select("INBOX.Split", readonly=True)
        assert typ == "OK" and data == [b"1"], (typ, data)
        typ, data = c.fetch("1", "(BODY.PEEK[TEXT])")
        assert typ == "OK" and b"only on a" in data[0][1], data
        c.logout()
        c = imap(pair.node("b"), "admin")
        typ, data = c.select("user.newbie", readonly=True)
        assert typ == "OK" and data == [b"1"], (typ, data)
        c.logout()
        print("  promoted after %.2fs, first delivery on the new primary %.2fs after kill -9, %d delivered"
              % (promoted, first_b, len(accepted)))
    finally:
        pair.close()


def test_partition_isolating_the_primary(args):
    pair = start_pair(args)
    try:
        # Two senders, one per node, each insisting on its node: the test
        # of "never two writers" is on their accepted deliveries' times.
        on_a = Load(pair, "a", tag="a", follow=False)
        on_b = Load(pair, "b", tag="b", follow=False)
        wait_for(lambda: len(on_a.accepted) >= 10, 20, what="deliveries on the primary")
        t_cut = time.monotonic()
        pair.cut_node("a")
        pair.wait_role("b", "primary", 1, timeout=15)
        wait_for(lambda: len(on_b.accepted) >= 5, 15, what="deliveries on the new primary")
        # The isolated node still runs and is reachable by clients, but holds.
        s = pair.status("a")
        assert s.get("role") == "primary" and s.get("writable", "").startswith("no"), s
        last_a = max(t1 for (_, _, _, t1) in on_a.accepted)
        first_b = min(t0 for (_, _, t0, _) in on_b.accepted)
        assert last_a < first_b, "both nodes accepted writes: last on a %.3f, first on b %.3f" % (last_a, first_b)
        assert last_a - t_cut < 1.5, "the isolated primary took writes %.2fs after the cut" % (last_a - t_cut)
        pair.heal()
        pair.wait_role("a", "replica", 1, writable=False, timeout=20)
        wait_for(lambda: pair.status("a").get("rejoin") == "no", 30, what="the rejoin to finish")
        a_acc, b_acc = on_a.finish(), on_b.finish()
        want = expected_ids(a_acc, "a") | expected_ids(b_acc, "b")
        wait_same(pair, want)
        res = verify(pair, "b")
        assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
        print("  isolated primary: last write %.2fs after the cut; new primary's first write %.2fs after it"
              % (last_a - t_cut, first_b - t_cut))
    finally:
        pair.close()


def test_switchover_under_load_and_replica_refusals(args):
    pair = start_pair(args)
    try:
        load = Load(pair, "a", pause=0.01)
        wait_for(lambda: len(load.accepted) >= 20, 20, what="deliveries before the switchover")
        res = pair.failover_cmd("a", "switchover", timeout=60)
        out = res.stdout.decode() + res.stderr.decode()
        assert res.returncode == 0, out
        pause_ms = int(out.split("write_pause_ms")[1].split()[0])
        pair.wait_role("b", "primary", 1, timeout=10)
        pair.wait_role("a", "replica", 1, writable=False, timeout=10)
        wait_for(lambda: sum(1 for (_, n, _, _) in load.accepted if n == "b") >= 10, 20,
                 what="deliveries on the new primary")
        accepted = load.finish()
        want = expected_ids(accepted)
        wait_same(pair, want)
        assert "replica 1" in hook_log(pair.node("a")) and "primary 1" in hook_log(pair.node("b"))
        # The replica refuses writes, each protocol in its own way.
        replies = raw_imap(pair.node("a"), [
            b"a1 LOGIN fred secret", b"a2 SELECT INBOX", b"a3 STORE 1 +FLAGS (\\Seen)",
            b"a4 APPEND INBOX {%d+}\r\n" % len(message(999999, "x")) + message(999999, "x"),
            b"a5 CREATE INBOX.new"])
        assert replies[b"a2"].startswith(b"a2 OK [READ-ONLY]"), replies
        for tag in (b"a3", b"a4", b"a5"):
            assert replies[tag].startswith(tag + b" NO [UNAVAILABLE]"), replies
        from failover_kit import deliver
        code, _, _ = deliver(pair.node("a"), 999998, "x")
        assert 400 <= code < 500, code
        host, port = pair.node("a").ports()["pop3"][0].rsplit(":", 1)
        p = poplib.POP3(host, int(port), timeout=10)
        p.user("fred")
        p.pass_("secret")
        try:
            p.dele(1)
            raise AssertionError("POP3 DELE accepted on a replica")
        except poplib.error_proto as e:
            assert b"-ERR" in e.args[0]
        p.quit()
        res = verify(pair, "b")
        assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
        print("  switchover write pause %d ms, %d delivered, %d refusals retried" % (pause_ms, len(accepted), load.refused))
        assert pause_ms < 5000, pause_ms
    finally:
        pair.close()


def test_sync_mode_kill_loses_no_acknowledged_delivery(args):
    pair = start_pair(args, extra="sync_mode: sync\nsync_timeout: 3s\n")
    try:
        assert pair.status("a").get("sync_mode") == "sync now sync", pair.status("a")
        load = Load(pair, "a")
        wait_for(lambda: len(load.accepted) >= 30, 20, what="deliveries before the kill")
        pair.kill("a")
        pair.wait_role("b", "primary", 1, timeout=15)
        # Before any rejoin: every 250 the old primary gave is already here.
        from_a = {(i, n, t0, t1) for (i, n, t0, t1) in list(load.accepted) if n == "a"}
        missing = expected_ids(from_a) - message_ids(pair.node("b"))
        assert not missing, "acknowledged but lost with sync_mode: sync: %s" % sorted(missing)[:5]
        wait_for(lambda: any(n == "b" for (_, n, _, _) in load.accepted), 15, what="a delivery on the new primary")
        accepted = load.finish()
        # The new primary has no peer now: sync mode falls back to async.
        assert "async" in pair.status("b").get("sync_mode", ""), pair.status("b")
        print("  %d delivered by the old primary, all on the new one before the rejoin; %d in all"
              % (len(from_a), len(accepted)))
    finally:
        pair.close()


def raw_exchange(address, lines, timeout=10):
    """Sends `lines` on one connection to a failover port, after its greeting;
    returns everything received until the server closes (bounded)."""
    s = socket.create_connection(address, timeout=timeout)
    try:
        got = b""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in got and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        for line in lines:
            s.sendall(line + b"\r\n")
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                return got.decode(errors="replace")
            got += chunk
        raise AssertionError("the server kept an unauthenticated connection open: %r" % got)
    finally:
        s.close()


def sealed_exchange(address, request, mac_for=None, timeout=10):
    """Authenticates to a failover port with KIT_SECRET as docs/failover.md
    describes (written here from the description, not with our client) and
    sends `request` sealed with the MAC of `mac_for` (default: of `request`
    itself). Returns everything received until the server closes."""
    secret = KIT_SECRET.encode()
    s = socket.create_connection(address, timeout=timeout)
    try:
        f = s.makefile("rb")
        greeting = f.readline().decode().split()
        assert greeting[:4] == ["OK", "CYRFO", "3", "HMAC-SHA256"], greeting
        ns, nc = greeting[4].encode(), os.urandom(32).hex().encode()
        proof = hmac.new(secret, b"cyrus-failover-3 client\0" + ns + nc, hashlib.sha256).hexdigest()
        s.sendall(b"AUTH HMAC-SHA256 " + nc + b" " + proof.encode() + b"\r\n")
        answer = f.readline().decode()
        sproof = hmac.new(secret, b"cyrus-failover-3 server\0" + ns + nc, hashlib.sha256).hexdigest()
        assert answer.strip() == "OK AUTHENTICATED " + sproof, answer
        key = hmac.new(secret, b"cyrus-failover-3 session\0" + ns + nc, hashlib.sha256).digest()
        mac = hmac.new(key, b"request 0\n" + (mac_for or request), hashlib.sha256).hexdigest()
        s.sendall(b"MAC " + mac.encode() + b" " + request + b"\r\n")
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = f.read1(4096)
            if not chunk:
                return got.decode(errors="replace")
            got += chunk
            if re.search(rb"(^|\n)(OK|NO) [^\n]*\n", got) and mac_for is None:
                return got.decode(errors="replace")
        raise AssertionError("no end of the reply: %r" % got)
    finally:
        s.close()


def test_control_port_needs_the_secret(args):
    pair = start_pair(args)
    try:
        a = pair.node("a")
        assert pair.status("a").get("auth", "").startswith("hmac-sha256"), pair.status("a")
        # The peer's heartbeats (a connection each) are not logged at the
        # default level; a client's connection is.
        imap(a).logout()
        wait_for(lambda: "imap: connection from" in a.log(), 10, what="the IMAP connection logged")
        assert "failover: connection from" not in a.log(), a.log()[-2000:]
        # A stranger's request, without authenticating: refused, connection closed.
        out = raw_exchange(addr_of(a, "failover"), [b"SWITCHOVER"])
        assert out.startswith("OK CYRFO 3 HMAC-SHA256 ") and "NO AUTH-REQUIRED" in out, out
        out = raw_exchange(addr_of(a, "failover"), [b"PING intruder primary 99 1 0 0"])
        assert "NO AUTH-REQUIRED" in out and "PONG" not in out, out
        # A made-up proof is refused too.
        out = raw_exchange(addr_of(a, "failover"), [b"AUTH HMAC-SHA256 " + b"0" * 64 + b" " + b"1" * 64])
        assert "NO AUTH-FAILED" in out, out
        # After authenticating, each request carries its MAC: a sealed
        # STATUS is answered (with the reply's own MAC line first) ...
        out = sealed_exchange(addr_of(a, "failover"), b"STATUS")
        assert re.match(r"\* MAC [0-9a-f]{64}\r\n", out) and "\nOK " in out and "role primary" in out, out
        # ... and one altered on the way (a STATUS made a SWITCHOVER) is
        # refused and the connection closed, nothing done.
        out = sealed_exchange(addr_of(a, "failover"), b"SWITCHOVER", mac_for=b"STATUS")
        assert out.startswith("NO AUTH-FAILED message authentication failed"), out
        wait_for(lambda: "a request whose MAC does not match" in a.log(), 10, what="the refusal logged")
        # The witness grants nothing to a stranger.
        out = raw_exchange(("127.0.0.1", pair.witness.port), [b"ACQUIRE intruder 99 60000"])
        assert "NO AUTH-REQUIRED" in out and "GRANTED" not in out, out
        # cyr_failover with another secret: a clear error, nothing done.
        wrong = os.path.join(a.dir, "wrong.conf")
        with open(wrong, "w") as f:
            f.write("failover_secret: not-the-pair-secret-0123456789\n")
        res = pair.failover_cmd("a", "switchover", conf=wrong, timeout=30)
        assert res.returncode != 0 and b"refused our failover_secret" in res.stderr, res
        pair.wait_role("a", "primary", 0, timeout=5)
        wait_for(lambda: "refused a control connection from 127.0.0.1" in a.log(), 10, what="the refusal logged")
        assert "wrong failover_secret" in a.log(), a.log()[-2000:]
        # b restarted without the secret: it cannot talk to a (nor a to it),
        # both say why, and a stays the primary it was.
        pair.kill("b")
        b = pair.node("b")
        with open(b.imapd_conf) as f:
            text = f.read()
        with open(b.imapd_conf, "w") as f:
            f.write("".join(l + "\n" for l in text.splitlines() if not l.startswith("failover_secret:")))
        pair.start("b")
        wait_for(lambda: "requires failover_secret and this side has none" in b.log(), 15,
                 what="b to say it lacks the secret")
        wait_for(lambda: "the service has no failover_secret but this side has one" in a.log(), 15,
                 what="a to say its peer lacks the secret")
        wait_for(lambda: "the client has no failover_secret" in a.log(), 15, what="a to log b's refused requests")
        sb = pair.status("b")
        assert sb.get("auth", "").startswith("none") and sb.get("role") == "replica", sb
        pair.wait_role("a", "primary", 0, timeout=5)
        # A secret too short to use: a clear error, and no failover side at
        # all rather than an open one.
        pair.kill("b")
        with open(b.imapd_conf, "a") as f:
            f.write("failover_secret: short\n")
        os.rename(b.log_file, b.log_file + ".2")
        b.start()
        wait_for(lambda: re.search(r"controller not started, writes refused: .*failover_secret must be at least 16",
                                   b.log()), 15, what="b to refuse the short secret")
        assert "failover" not in (b.ports() or {}), b.ports()
        print("  refused: requests before AUTH, a made-up proof, a wrong secret, a peer without one, a short secret")
    finally:
        pair.close()


if __name__ == "__main__":
    run_tests([test_kill_primary_under_load_then_rejoin, test_partition_isolating_the_primary,
               test_switchover_under_load_and_replica_refusals, test_sync_mode_kill_loses_no_acknowledged_delivery,
               test_control_port_needs_the_secret])
