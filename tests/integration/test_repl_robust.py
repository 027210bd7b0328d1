"""Replication robustness between two real nodes on loopback:

- link cut and restored: a small TCP proxy between cyr_sync_client and the
  replica's csync port drops every connection in the middle of an initial
  sync; the client fails; once the link is back, the next sync converges
  and --verify is clean (no lost, no duplicated message).
- conflict: after a sync both nodes take different new messages under the
  same UIDs (split brain); the next sync keeps every message on both nodes.
- kill -9 of the replica mid-sync: the proxy holds the upload back halfway
  (so the kill lands inside the sync, however fast the machine), the
  replica is killed, restarted, and the next sync converges: --verify clean,
  every message there exactly once.
"""

import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import run_tests  # noqa: E402
from test_repl import count, imap, message, ok, start_pair, sync_client  # noqa: E402


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to target. cut() closes every open
    connection and refuses new ones until restore(); cut_after(n) cuts
    once n client-to-server bytes have passed; hold_after(n) forwards n
    client-to-server bytes, then holds the rest back until cut()."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.up = True
        self.forwarded = 0
        self.cut_at = None
        self.cuts = 0
        self.hold_at = None
        self.holding = threading.Event()  # set once the hold point is reached
        self.released = threading.Event()  # set by cut(): held pumps give up
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if not self.up:
                    c.close()
                    continue
            s = socket.create_connection(self.target)
            with self.lock:
                self.conns += [c, s]
            threading.Thread(target=self.pump, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(s, c, False), daemon=True).start()

    def pump(self, src, dst, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream and self.hold_at is not None:
                    with self.lock:
                        room = max(0, self.hold_at - self.forwarded)
                    if len(data) >= room:
                        dst.sendall(data[:room])
                        with self.lock:
                            self.forwarded += room
                        self.holding.set()
                        self.released.wait(120)  # bounded; cut() ends it
                        break
                dst.sendall(data)
                if upstream:
                    with self.lock:
                        self.forwarded += len(data)
                        trip = self.cut_at is not None and self.forwarded >= self.cut_at
                    if trip:
                        self.cut()
                        return
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut_after(self, nbytes):
        with self.lock:
            self.forwarded = 0
            self.cut_at = nbytes

    def hold_after(self, nbytes):
        with self.lock:
            self.forwarded = 0
            self.hold_at = nbytes

    def cut(self):
        self.released.set()
        with self.lock:
            self.up = False
            self.cut_at = None
            self.cuts += 1
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def restore(self):
        with self.lock:
            self.up = True

    def close(self):
        self.cut()
        self.lsock.close()


def addr_of(node, service):
    host, port = node.ports()[service][0].rsplit(":", 1)
    return host, int(port)


def test_link_cut_mid_sync_then_converge(args):
    master, replica = start_pair(args)
    proxy = CuttableProxy(addr_of(replica, "syncserver"))
    via = "127.0.0.1:%d" % proxy.port
    try:
        c = imap(master)
        ok(c.create("user/lena"))
        ok(c.setacl("user/lena", "admin", "lrswipkxtecda"))
        ok(c.create("user/lena/Archive"))
        for i in range(120):
            ok(c.append("user/lena" if i % 2 else "user/lena/Archive", None, None, message(i, 20000)))
        c.logout()
        # Roughly a third of the upload, then the link goes down.
        proxy.cut_after(800 * 1000)
        res = sync_client(master, "-S", via, "-u", "lena")
        assert proxy.cuts == 1, proxy.cuts
        assert res.returncode != 0, res
        # While it is down, nothing gets through either.
        res = sync_client(master, "-S", via, "--verify", "lena")
        assert res.returncode not in (0,), res
        proxy.restore()
        res = sync_client(master, "-S", via, "-u", "lena")
        assert res.returncode == 0, res
        res = sync_client(master, "-S", via, "--verify", "lena")
        assert res.returncode == 0, res
        assert count(replica, "user/lena") == 60
        assert count(replica, "user/lena/Archive") == 60
    finally:
        proxy.close()
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def subjects(node, mailbox):
    c = imap(node)
    ok(c.select(mailbox, readonly=True))
    typ, data = c.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    c.logout()
    out = []
    for item in data:
        if isinstance(item, tuple):
            out.append(item[1].decode().strip())
    return sorted(out)


def test_same_uid_different_messages_on_both_sides(args):
    master, replica = start_pair(args)
    try:
        c = imap(master)
        ok(c.create("user/sam"))
        ok(c.setacl("user/sam", "admin", "lrswipkxtecda"))
        for i in range(5):
            ok(c.append("user/sam", None, None, message(i)))
        c.logout()
        res = sync_client(master, "-u", "sam")
        assert res.returncode == 0, res
        # Split brain: both nodes take new mail; UIDs 6 and 7 clash.
        c = imap(master)
        for i in (100, 101):
            ok(c.append("user/sam", None, None, message(i)))
        c.logout()
        r = imap(replica)
        for i in (200, 201, 202):
            ok(r.append("user/sam", None, None, message(i)))
        r.logout()
        res = sync_client(master, "-v", "-u", "sam")
        assert res.returncode == 0, res
        res = sync_client(master, "--verify", "sam")
        assert res.returncode == 0, res
        want = sorted("Subject: msg %d" % i for i in [0, 1, 2, 3, 4, 100, 101, 200, 201, 202])
        assert subjects(master, "user/sam") == want, subjects(master, "user/sam")
        assert subjects(replica, "user/sam") == want, subjects(replica, "user/sam")
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def test_kill9_replica_mid_sync_then_converge(args):
    master, replica = start_pair(args)
    proxy = CuttableProxy(addr_of(replica, "syncserver"))
    try:
        c = imap(master)
        ok(c.create("user/rex"))
        ok(c.setacl("user/rex", "admin", "lrswipkxtecda"))
        ok(c.create("user/rex/Sent"))
        for i in range(60):
            ok(c.append("user/rex/Sent", None, None, message(i, 2000)))
        c.logout()
        # A first sync: the replica then has records and files of its own
        # that the interrupted second sync must neither lose nor duplicate.
        res = sync_client(master, "-u", "rex")
        assert res.returncode == 0, res
        c = imap(master)
        for i in range(60, 260):
            ok(c.append("user/rex" if i % 3 else "user/rex/Sent", None, None, message(i, 20000)))
        ok(c.select("user/rex/Sent"))
        ok(c.uid("STORE", "1:10", "+FLAGS", "(\\Seen)"))
        c.logout()
        # About half of the ~4 MB upload reaches the replica, then the rest waits.
        proxy.hold_after(2 * 1000 * 1000)
        p = subprocess.Popen([os.path.join(master.bin_dir, "cyr_sync_client"), "-C", master.imapd_conf,
                              "-S", "127.0.0.1:%d" % proxy.port, "-u", "rex"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert proxy.holding.wait(60), "the sync never got halfway"
            assert p.poll() is None, "the sync ended before the kill"
            replica.stop(sig=9)
            proxy.cut()
            assert p.wait(60) != 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        # Restart on the same directory; the old ports file and log survive
        # a kill -9, so wait for the new ones.
        os.unlink(os.path.join(replica.confdir, "ports"))
        replica.start(wait_ready=False)
        replica.wait_log("ready:", count=2)
        replica.wait_ready()
        via = "%s:%d" % addr_of(replica, "syncserver")
        res = sync_client(master, "-S", via, "-u", "rex")
        assert res.returncode == 0, res
        res = sync_client(master, "-S", via, "--verify", "rex")
        assert res.returncode == 0, res
        for mbox in ("user/rex", "user/rex/Sent"):
            want = subjects(master, mbox)
            got = subjects(replica, mbox)
            assert got == want, (mbox, len(got), len(want))
            assert len(set(got)) == len(got), "duplicates on the replica"
        assert len(subjects(replica, "user/rex")) + len(subjects(replica, "user/rex/Sent")) == 260
    finally:
        proxy.close()
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


if __name__ == "__main__":
    run_tests([test_link_cut_mid_sync_then_converge, test_same_uid_different_messages_on_both_sides,
               test_kill9_replica_mid_sync_then_converge])
