#!/usr/bin/env python3
"""IMAP load against any IMAP4rev1 server: the same code drives our node,
Cyrus and Dovecot, so their figures can be compared in one run.

    python3 ops/bench/imap_bench.py --port 143 --password pw SCENARIO [...]

Scenarios (each prints one line "RESULT <name> <value> <unit> <details>"):
  append1 N         N APPENDs of 4 KiB on 1 connection (synchronising literal,
                    one command at a time, as imaplib does), msg/s
  appendC N         N APPENDs spread over --conns connections (users
                    first-user .. first-user+conns-1), msg/s
  fetch N           fills the INBOX of --fetch-user to N messages (MULTIAPPEND,
                    only what is missing), then times SELECT and
                    FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), seconds
  idle N            N logged-in connections with INBOX selected, in IDLE;
                    RSS (and PSS) delta of the server's process tree
                    (--rss-pid) per connection; then one APPEND wakes the
                    IDLE sessions of one user and the time until all of them
                    saw EXISTS is printed
Only the Python standard library; every loop is bounded by its count and
every wait by --timeout."""

import argparse
import asyncio
import os
import resource
import socket
import sys
import time

CRLF = b"\r\n"


def make_message(i, size, tag="bench"):
    """A plausible message of exactly `size` bytes (headers for ENVELOPE)."""
    head = ("Date: Mon, 23 Nov 2026 10:%02d:%02d +0000\r\n"
            "From: Sender %d <sender%d@example.org>\r\n"
            "To: Rcpt <rcpt@example.net>\r\n"
            "Cc: other@example.net\r\n"
            "Subject: %s message %d\r\n"
            "Message-ID: <%s.%d.%d@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            % (i // 60 % 60, i % 60, i % 97, i % 97, tag, i, tag, os.getpid(), i)).encode()
    line = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;\r\n"
    body = bytearray()
    while len(head) + len(body) < size:
        body += line
    body = body[: max(0, size - len(head) - 2)] + CRLF
    return bytes(head + body)


class ImapError(Exception):
    pass


class Client:
    """A minimal IMAP client: one command at a time, literals handled."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.n = 0
        self.caps = set()

    async def connect(self, host, port):
        self.r, self.w = await asyncio.wait_for(asyncio.open_connection(host, port, limit=1 << 22),
                                                self.timeout)
        sock = self.w.get_extra_info("socket")
        # imaplib without TCP_NODELAY measures Nagle + delayed ACK, not the server.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        greeting = await self.readline()
        if not greeting.startswith(b"* OK"):
            raise ImapError("greeting: %r" % greeting[:200])
        self._caps_from(greeting)

    def _caps_from(self, line):
        u = line.upper()
        i = u.find(b"[CAPABILITY ")
        if i >= 0:
            self.caps = set(u[i + 12: u.find(b"]", i)].split())

    async def readline(self):
        line = await asyncio.wait_for(self.r.readuntil(CRLF), self.timeout)
        return line

    async def read_response(self, tag):
        """Untagged lines (with literals inlined) up to the tagged one."""
        lines = []
        while True:
            line = await self.readline()
            while line.endswith(b"}\r\n") and b"{" in line:
                n = int(line[line.rfind(b"{") + 1: -3].rstrip(b"+"))
                line += await asyncio.wait_for(self.r.readexactly(n), self.timeout)
                line += await self.readline()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise ImapError(line.decode(errors="replace").strip())
                self._caps_from(line)
                return lines, line
            lines.append(line)

    def next_tag(self):
        self.n += 1
        return b"A%d" % self.n

    async def command(self, text):
        tag = self.next_tag()
        self.w.write(tag + b" " + text + CRLF)
        return await self.read_response(tag)

    async def login(self, user, password):
        await self.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))
        if not self.caps:
            lines, _ = await self.command(b"CAPABILITY")
            for ln in lines:
                if ln.upper().startswith(b"* CAPABILITY "):
                    self.caps = set(ln.upper()[13:].split())

    async def append(self, mailbox, msg):
        """APPEND with a synchronising literal: waits for '+' like imaplib."""
        tag = self.next_tag()
        self.w.write(tag + b" APPEND " + mailbox + b" {%d}\r\n" % len(msg))
        line = await self.readline()
        if not line.startswith(b"+"):
            raise ImapError("APPEND: %r" % line[:200])
        self.w.write(msg + CRLF)
        return await self.read_response(tag)

    async def multiappend(self, mailbox, msgs):
        """One MULTIAPPEND with LITERAL+ (non-synchronising) literals."""
        tag = self.next_tag()
        parts = [tag + b" APPEND " + mailbox]
        for m in msgs:
            parts.append(b" {%d+}\r\n" % len(m))
            parts.append(m)
        parts.append(CRLF)
        self.w.write(b"".join(parts))
        return await self.read_response(tag)

    async def close(self):
        try:
            self.w.close()
            await asyncio.wait_for(self.w.wait_closed(), 5)
        except Exception:
            pass


def user_name(a, i):
    return a.user_format.format(i)


async def logged_in(a, i):
    c = Client(a.timeout)
    await c.connect(a.host, a.port)
    await c.login(user_name(a, i), a.password)
    return c


async def run_appends(a, count, conns):
    clients = [await logged_in(a, a.first_user + k) for k in range(conns)]
    msg = make_message(1, a.size)
    share = [count // conns + (1 if k < count % conns else 0) for k in range(conns)]

    async def worker(c, n):
        for _ in range(n):
            await c.append(b"INBOX", msg)

    start = time.monotonic()
    await asyncio.gather(*(worker(c, n) for c, n in zip(clients, share)))
    elapsed = time.monotonic() - start
    for c in clients:
        await c.command(b"LOGOUT")
        await c.close()
    return elapsed


async def inbox_messages(c):
    lines, _ = await c.command(b"STATUS INBOX (MESSAGES)")
    for ln in lines:
        u = ln.upper()
        if u.startswith(b"* STATUS") and b"MESSAGES" in u:
            return int(u.rsplit(b"MESSAGES", 1)[1].strip(b" )\r\n"))
    raise ImapError("no STATUS MESSAGES answer")


async def fill_and_fetch(a, n):
    user = a.fetch_user
    fillers = [Client(a.timeout) for _ in range(a.fill_conns)]
    for c in fillers:
        await c.connect(a.host, a.port)
        await c.login(user, a.password)
    have = await inbox_messages(fillers[0])
    missing = max(0, n - have)
    fill_start = time.monotonic()
    if missing:
        if b"LITERAL+" not in fillers[0].caps or b"MULTIAPPEND" not in fillers[0].caps:
            raise ImapError("filling needs LITERAL+ and MULTIAPPEND")
        batches = [(s, min(a.fill_batch, missing - s)) for s in range(0, missing, a.fill_batch)]

        async def filler(c, mine):
            for s, k in mine:
                await c.multiappend(b"INBOX", [make_message(have + s + j, a.fill_size, "fill")
                                               for j in range(k)])

        await asyncio.gather(*(filler(c, batches[k::len(fillers)]) for k, c in enumerate(fillers)))
    fill_time = time.monotonic() - fill_start
    for c in fillers:
        await c.command(b"LOGOUT")
        await c.close()
    if missing:
        print("INFO filled %d messages into %s in %.1fs (%.0f msg/s)"
              % (missing, user, fill_time, missing / max(fill_time, 1e-9)), flush=True)

    results = []
    for _ in range(a.fetch_repeat):
        c = Client(a.timeout)
        await c.connect(a.host, a.port)
        await c.login(user, a.password)
        t0 = time.monotonic()
        lines, _ = await c.command(b"SELECT INBOX")
        t_select = time.monotonic() - t0
        exists = 0
        for ln in lines:
            if ln.endswith(b" EXISTS\r\n"):
                exists = int(ln.split()[1])
        # The FETCH response is read raw (not parsed line by line), so the
        # time is the server's, not this script's parser's.
        tag = c.next_tag()
        t0 = time.monotonic()
        c.w.write(tag + b" FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)\r\n")
        buf = bytearray()
        end = CRLF + tag + b" "
        first = None
        i = -1
        while True:
            chunk = await asyncio.wait_for(c.r.read(1 << 20), a.timeout)
            if not chunk:
                raise ImapError("connection closed during FETCH")
            if first is None:
                first = time.monotonic() - t0
            buf += chunk
            if i < 0:
                i = buf.find(end, max(0, len(buf) - len(chunk) - len(end)))
            if i >= 0 and buf.endswith(CRLF):
                break
        t_fetch = time.monotonic() - t0
        status = bytes(buf[i + len(end):]).strip()
        fetched = buf.count(b" FETCH (")
        if not status.startswith(b"OK") or fetched != exists:
            raise ImapError("FETCH: %d of %d answered, %r" % (fetched, exists, status[:100]))
        await c.command(b"LOGOUT")
        await c.close()
        results.append((t_select, t_fetch, first, len(buf), exists))
    return results


def tree_pids(root):
    """root and all its descendants, from /proc."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            ppid = int(st[st.rfind(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_of(root):
    """(RSS KiB, PSS KiB, processes) summed over root's process tree."""
    rss = pss = procs = 0
    for p in tree_pids(root):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            procs += 1
        except OSError:
            continue
    return rss, pss, procs


async def idle_connections(a, n):
    if not a.rss_pid:
        raise SystemExit("idle needs --rss-pid (the server's master process)")
    users = a.idle_users
    before = memory_of(a.rss_pid)
    sem = asyncio.Semaphore(a.login_parallel)
    clients = [None] * n
    errors = {}

    async def one(k):
        async with sem:
            try:
                c = await logged_in(a, a.first_user + k % users)
                await c.command(b"SELECT INBOX")
                tag = c.next_tag()
                c.w.write(tag + b" IDLE\r\n")
                line = await c.readline()
                if not line.startswith(b"+"):
                    raise ImapError("IDLE: %r" % line[:100])
                c.idle_tag = tag
                clients[k] = c
            except (OSError, ImapError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                key = type(e).__name__ + ": " + str(e)[:80]
                errors[key] = errors.get(key, 0) + 1

    t0 = time.monotonic()
    await asyncio.gather(*(one(k) for k in range(n)))
    t_open = time.monotonic() - t0
    reached = sum(1 for c in clients if c)
    await asyncio.sleep(1.0)  # let the server settle (allocator, lazily freed buffers)
    after = memory_of(a.rss_pid)
    for e, cnt in errors.items():
        print("INFO idle: %d x %s" % (cnt, e), flush=True)
    # Wake-up: one APPEND to the first user's INBOX; every IDLE session of
    # that user must see EXISTS.
    watchers = [c for k, c in enumerate(clients) if c and k % users == 0]
    wake = None
    if watchers:
        async def wait_exists(c):
            while True:
                line = await c.readline()
                if line.endswith(b" EXISTS\r\n"):
                    return time.monotonic()

        waits = [asyncio.ensure_future(wait_exists(c)) for c in watchers]
        poster = await logged_in(a, a.first_user)
        t_app = time.monotonic()
        await poster.append(b"INBOX", make_message(0, 1024, "wake"))
        done = await asyncio.gather(*waits, return_exceptions=True)
        ok = [d for d in done if isinstance(d, float)]
        wake = (len(ok), len(watchers), max(ok) - t_app if ok else None)
        await poster.command(b"LOGOUT")
        await poster.close()
    for c in clients:
        if c:
            c.w.close()
    return before, after, reached, t_open, wake


def result(name, value, unit, details=""):
    print("RESULT %s %s %s %s" % (name, ("%.4f" % value) if isinstance(value, float) else value,
                                   unit, details), flush=True)


async def main_async(a):
    for sc in a.scenarios:
        name, _, arg = sc.partition("=")
        count = int(arg) if arg else 0
        if name == "append1":
            t = await run_appends(a, count or 1000, 1)
            result("append1", (count or 1000) / t, "msg/s", "%d x %d B, 1 conn, %.2fs" % (count or 1000, a.size, t))
        elif name == "appendC":
            t = await run_appends(a, count or 4000, a.conns)
            result("append%d" % a.conns, (count or 4000) / t, "msg/s",
                   "%d x %d B, %d conns, %.2fs" % (count or 4000, a.size, a.conns, t))
        elif name == "fetch":
            for t_sel, t_fetch, first, nbytes, exists in await fill_and_fetch(a, count or 100000):
                result("select", t_sel, "s", "%d messages" % exists)
                result("fetch", t_fetch, "s", "%d messages, %d bytes, first byte after %.3fs"
                       % (exists, nbytes, first))
        elif name == "idle":
            before, after, reached, t_open, wake = await idle_connections(a, count or 100)
            per_rss = (after[0] - before[0]) / max(reached, 1)
            per_pss = (after[1] - before[1]) / max(reached, 1)
            result("idle_reached", reached, "conns", "of %d in %.1fs" % (count or 100, t_open))
            result("idle_rss_per_conn", per_rss, "KiB",
                   "RSS %d -> %d KiB, PSS %d -> %d KiB, processes %d -> %d"
                   % (before[0], after[0], before[1], after[1], before[2], after[2]))
            result("idle_pss_per_conn", per_pss, "KiB", "")
            if wake:
                result("idle_wake", wake[2] if wake[2] is not None else -1.0, "s",
                       "%d of %d IDLE sessions of one user saw EXISTS" % (wake[0], wake[1]))
        else:
            raise SystemExit("unknown scenario %r" % sc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user-format", default="u{}", help="user name from a number (default u{})")
    ap.add_argument("--first-user", type=int, default=1)
    ap.add_argument("--password", required=True)
    ap.add_argument("--size", type=int, default=4096, help="APPEND message size")
    ap.add_argument("--conns", type=int, default=16, help="connections of appendC")
    ap.add_argument("--fetch-user", default="u50")
    ap.add_argument("--fill-size", type=int, default=1500)
    ap.add_argument("--fill-batch", type=int, default=250)
    ap.add_argument("--fill-conns", type=int, default=2)
    ap.add_argument("--fetch-repeat", type=int, default=2, help="SELECT+FETCH rounds (first is cold)")
    ap.add_argument("--rss-pid", type=int, help="server process whose tree is measured (idle)")
    ap.add_argument("--idle-users", type=int, default=40, help="idle connections cycle over this many users")
    ap.add_argument("--login-parallel", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("scenarios", nargs="+", help="append1=N appendC=N fetch=N idle=N")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
    except (ValueError, OSError):
        pass
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
