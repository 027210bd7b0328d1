"""IMAP IDLE is woken by a write of another process on the same store (an ops
command opening the store as a Secondary beside cyr_master), not only by
sessions of the master: the store's cross-process notification
(store/notify.h). cyr_unexpunge restores an expunged message under a new UID
while a session idles on the mailbox; the session must get EXISTS, and the
restored message must be fetchable. The wait is bounded generously; the
latency seen is printed, never asserted."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import run_tests  # noqa: E402
from test_ops_housekeeping import HkNode  # noqa: E402


def read_until(m, pred, deadline):
    """Lines from the server until pred(line); None once the deadline passes."""
    while time.time() < deadline:
        m.sock.settimeout(max(0.1, deadline - time.time()))
        try:
            line = m.readline()
        except OSError:  # socket.timeout
            return None
        if not line:
            return None
        if pred(line):
            return line
    return None


def test_idle_sees_secondary_process_append(args):
    with HkNode(args) as n:
        n.start()
        n.create("user.cx")
        n.deliver("cx", "cx-1@x")
        n.deliver("cx", "cx-2@x")
        first, second = n.uids("user.cx")
        m = n.imap()
        m.select("user.cx")
        m.uid("STORE", str(first), "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()

        idler = n.imap()
        typ, data = idler.select("user.cx")
        assert typ == "OK" and data[0] == b"1", data
        idler.send(b"I1 IDLE\r\n")
        cont = read_until(idler, lambda l: l.startswith(b"+"), time.time() + 20)
        assert cont is not None, "no continuation for IDLE"

        t0 = time.time()
        out = n.cmd("unexpunge", "-a", "user.cx").stdout
        t_cmd = time.time()
        exists = read_until(idler, lambda l: l.endswith(b"EXISTS\r\n"), time.time() + 20)
        t_seen = time.time()
        assert exists == b"* 2 EXISTS\r\n", (exists, out, n.log()[-2000:])
        print("EXISTS %.1f ms after cyr_unexpunge returned (%.1f ms after it started)" %
              ((t_seen - t_cmd) * 1000, (t_seen - t0) * 1000))
        idler.send(b"DONE\r\n")
        done = read_until(idler, lambda l: l.startswith(b"I1 "), time.time() + 20)
        assert done is not None and done.startswith(b"I1 OK"), done
        typ, data = idler.uid("FETCH", "*", "(UID)")
        assert typ == "OK" and int(data[-1].split(b"UID ")[1].rstrip(b")")) > second, data
        idler.logout()


if __name__ == "__main__":
    run_tests([test_idle_sees_secondary_process_append])
