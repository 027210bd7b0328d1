"""Compression of the rolling replication stream (imapd.conf sync_compress):

- both ends ours: the rolling client inside cyr_master turns on zstd
  (X-CYR-COMPRESS) by itself, and the changes arrive and verify clean;
- a replica that does not advertise it (an older node or Cyrus; here our
  replica behind a proxy that drops that one banner line): the rolling
  client stays uncompressed, says so in its log, and still replicates;
- the one-shot client with sync_compress: yes compresses too, and -z still
  refuses a replica that does not offer it.

"Compressed" is read from the replica's log line for the negotiation and,
for the one-shot client, from its byte counts."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Node, run_tests, wait_for  # noqa: E402
from test_repl import (IMAPD_EXTRA, MASTER_CONF, REPLICA_CONF, addr, count, imap,  # noqa: E402
                       message, ok, set_password, sync_client)

COMPRESS_LINE = b"* X-CYR-COMPRESS zstd\r\n"
ZSTD_ON = "csync: zstd compression on"


class BannerFilter:
    """Forwards 127.0.0.1:<port> to target, dropping the replica's
    "* X-CYR-COMPRESS zstd" banner line; everything else passes unchanged."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.dropped = 0
        self.socks = []
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.lsock.accept()
                s = socket.create_connection(self.target, timeout=30)
            except OSError:
                return
            self.socks += [c, s]
            threading.Thread(target=self.pump, args=(c, s, False), daemon=True).start()
            threading.Thread(target=self.pump, args=(s, c, True), daemon=True).start()

    def pump(self, src, dst, banner):
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if banner:
                    # Line by line until the banner's last line ("* OK ..."); the
                    # banner is small, so the buffer stays bounded.
                    buf += data
                    out = b""
                    while banner and b"\r\n" in buf:
                        line, buf = buf.split(b"\r\n", 1)
                        line += b"\r\n"
                        if line == COMPRESS_LINE:
                            self.dropped += 1
                            continue
                        out += line
                        if line.startswith(b"* OK"):
                            banner = False
                    if not banner:
                        out, buf = out + buf, b""
                    assert len(buf) < 65536, "banner line too long"
                    data = out
                if data:
                    dst.sendall(data)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.lsock.close()
        for x in self.socks:
            try:
                x.close()
            except OSError:
                pass


def rolling_master(args, host, port, compress="yes"):
    master = Node(args.bin, MASTER_CONF, keep=args.keep, imapd_extra=IMAPD_EXTRA +
                  "sync_host: %s:%d\nsync_authname: admin\nsync_password: secret\n"
                  "sync_log: on\nsync_compress: %s\n" % (host, port, compress))
    set_password(master, "admin", "secret")
    master.start()
    return master


def fill(master, user, n, size=4000):
    c = imap(master)
    ok(c.create("user/" + user))
    ok(c.setacl("user/" + user, "admin", "lrswipkxtecda"))
    for i in range(n):
        ok(c.append("user/" + user, None, None, message(i, size)))
    c.logout()


def replica_count(replica, mailbox):
    try:
        return count(replica, mailbox)
    except Exception:  # noqa: BLE001 - not created there yet
        return -1


def wait_verify(master, user, extra=(), timeout=60.0):
    deadline = time.monotonic() + timeout
    res = None
    while time.monotonic() < deadline:
        res = sync_client(master, *extra, "--verify", user)
        if res.returncode == 0:
            return res
        time.sleep(0.3)
    raise AssertionError("--verify not clean after %.0fs: %r" % (timeout, res))


def test_rolling_stream_compressed_when_offered(args):
    replica = Node(args.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    set_password(replica, "admin", "secret")
    replica.start()
    master = rolling_master(args, *addr(replica, "syncserver"))
    try:
        fill(master, "cora", 30)
        # Wait on the replica's own view (no one-shot client yet: its
        # connections must not be what turned compression on).
        wait_for(lambda: replica_count(replica, "user/cora") == 30, 60, what="30 messages on the replica")
        assert ZSTD_ON in replica.log(), replica.log()[-3000:]
        assert "stays uncompressed" not in master.log(), master.log()[-3000:]
        # A later change over the same compressed stream, then agreement.
        c = imap(master)
        ok(c.select("user/cora"))
        ok(c.uid("STORE", "1:4", "+FLAGS", "(\\Deleted)"))
        ok(c.expunge())
        c.logout()
        wait_for(lambda: replica_count(replica, "user/cora") == 26, 60, what="the expunge on the replica")
        wait_verify(master, "cora")
    finally:
        master.stop()
        replica.stop()
        master.cleanup()
        replica.cleanup()


def test_rolling_falls_back_when_not_offered(args):
    replica = Node(args.bin, REPLICA_CONF, imapd_extra=IMAPD_EXTRA, keep=args.keep)
    set_password(replica, "admin", "secret")
    replica.start()
    proxy = BannerFilter(addr(replica, "syncserver"))
    master = rolling_master(args, "127.0.0.1", proxy.port)
    try:
        fill(master, "finn", 25)
        wait_for(lambda: replica_count(replica, "user/finn") == 25, 60, what="25 messages on the replica")
        assert proxy.dropped >= 1, proxy.dropped
        assert ZSTD_ON not in replica.log(), replica.log()[-3000:]
        master.wait_log("stays uncompressed")
        res = wait_verify(master, "finn")
        # The one-shot client follows sync_compress the same way: plain here...
        res = sync_client(master, "-v", "-u", "finn")
        assert res.returncode == 0 and b"over csync\n" in res.stdout, res
        # ...while -z makes compression a requirement, refused by this replica.
        res = sync_client(master, "-z", "-u", "finn")
        assert res.returncode != 0 and b"does not offer" in res.stderr, res
        assert ZSTD_ON not in replica.log()
        # Straight to the replica (it offers zstd), sync_compress alone compresses.
        host, port = addr(replica, "syncserver")
        res = sync_client(master, "-v", "-S", "%s:%d" % (host, port), "-u", "finn")
        assert res.returncode == 0 and b"over csync, zstd" in res.stdout, res
        assert ZSTD_ON in replica.log()
    finally:
        master.stop()
        proxy.close()
        replica.stop()
        master.cleanup()
        replica.cleanup()


if __name__ == "__main__":
    run_tests([test_rolling_stream_compressed_when_offered, test_rolling_falls_back_when_not_offered])
